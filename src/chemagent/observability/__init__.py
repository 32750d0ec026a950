"""Cross-cutting telemetry: request ids, logging (metrics and tracing arrive with issue 5)."""
