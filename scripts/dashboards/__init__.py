"""ChemAgent's Grafana dashboards as code: one module per dashboard, written to JSON by
``scripts/gen_dashboards.py``."""
