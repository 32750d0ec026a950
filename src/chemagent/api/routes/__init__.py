"""Routers, one per use-case group. Each route validates, calls one operation, returns."""
