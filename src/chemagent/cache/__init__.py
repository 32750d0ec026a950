"""Caches and stores shared across requests: query sessions (and the step cache tiers)."""
