"""Write ChemAgent's Grafana dashboards: grafana/dashboards/chemagent-*.json.

Five dashboards, one question each (the modules in ``scripts/dashboards/``): is the
service healthy (overview), which step costs what (steps), is the cache earning its keep
(cache), are the upstreams healthy (upstream), which queries are slow (queries).

The committed JSON is what this script writes (``tests/unit/test_dashboards.py`` checks);
``tests/integration/test_prometheus_dashboards.py`` runs every expression against a real
Prometheus scraping the real service. Run ``python scripts/gen_dashboards.py`` after an
edit (``--check`` only reports).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboards import cache, overview, queries, steps, upstream
from gen_alerts import write_or_check

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "grafana" / "dashboards"

DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "overview": overview.build,
    "steps": steps.build,
    "cache": cache.build,
    "upstream": upstream.build,
    "queries": queries.build,
}


def outputs() -> dict[Path, str]:
    """Each dashboard file and its text."""
    return {
        OUT / f"chemagent-{name}.json": json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    return write_or_check(outputs(), argv, __doc__.split("\n", 1)[0])


if __name__ == "__main__":
    sys.exit(main())
