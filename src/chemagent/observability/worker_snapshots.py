"""Each worker's snapshot file of slow queries, failures and maxima, for the pod summary.

Under gunicorn every worker writes ``PROMETHEUS_MULTIPROC_DIR/performance_<pid>.json``
(atomic replace) and reads the others'. A file is trusted only as far as it parses:
malformed entries are dropped, an unreadable file is skipped, and a file older than the
pod (left by an earlier run in a reused directory) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from chemagent.observability.exposition import start_time

log = logging.getLogger(__name__)

SNAPSHOT_PREFIX = "performance_"
Entry = dict[str, Any]


def pod_start(fallback: float) -> float:
    """When the pod's server started: the parent's (gunicorn master's) start time.

    Read from ``/proc`` (Linux); ``fallback`` when it cannot be read or lies after it.
    """
    started = start_time(os.getppid())
    return started if started is not None and started <= fallback else fallback


class Snapshots:
    """This worker's snapshot file, and the other workers' (parsed once per change)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"{SNAPSHOT_PREFIX}{os.getpid()}.json"
        self._parsed: dict[str, tuple[tuple[int, int], Entry | None]] = {}

    def write(self, snapshot: Entry) -> None:
        """Replace this worker's file with ``snapshot`` (readers never see half a file)."""
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            temporary.write_text(json.dumps(snapshot, separators=(",", ":")))
            os.replace(temporary, self.path)
        except (OSError, TypeError, ValueError) as exc:
            log.warning("performance snapshot not written to %s: %s", self.path, exc)

    def others(self, pod_started: float) -> list[Entry]:
        """Other workers' snapshots of this run (a file older than the pod is ignored)."""
        try:
            names = [
                n
                for n in os.listdir(self.directory)
                if n.startswith(SNAPSHOT_PREFIX) and n.endswith(".json") and n != self.path.name
            ]
        except OSError:
            return []
        for gone in self._parsed.keys() - set(names):
            del self._parsed[gone]
        found = []
        for name in names:
            snapshot = self._read(name)
            if snapshot is not None and snapshot["started"] >= pod_started - 1.0:
                found.append(snapshot)
        return found

    def _read(self, name: str) -> Entry | None:
        try:
            stat = os.stat(self.directory / name)
        except OSError:
            return None
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == version:
            return cached[1]
        snapshot = None
        with contextlib.suppress(OSError, ValueError):
            snapshot = _valid(json.loads((self.directory / name).read_bytes()))
        self._parsed[name] = (version, snapshot)
        return snapshot


_SLOW = {
    "intent": str,
    "status": str,
    "http_status": int,
    "seconds": float,
    "steps": int,
    "at": float,
}
_FAILURE = {"kind": str, "name": str, "error": str, "status": int, "at": float}


def _entries(raw: Any, fields: dict[str, type]) -> list[Entry]:
    """The well-formed entries of a list read from a file (anything else is dropped)."""
    kept = []
    for item in raw if isinstance(raw, list) else ():
        try:
            entry = {name: kind(item[name]) for name, kind in fields.items()}
            trace_id = item.get("trace_id")
            entry["trace_id"] = trace_id if isinstance(trace_id, str) else None
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        kept.append(entry)
    return kept


def _valid(raw: Any) -> Entry | None:
    """A snapshot read from a file, normalized; None when it is not one."""
    try:
        maxima = {
            group: {str(k): float(v) for k, v in raw["maxima"][group].items()}
            for group in ("intents", "steps")
        }
        return {
            "pid": int(raw["pid"]),
            "started": float(raw["started"]),
            "maxima": maxima,
            "slowest": _entries(raw.get("slowest"), _SLOW),
            "server_errors": _entries(raw.get("server_errors"), _FAILURE),
            "client_errors": _entries(raw.get("client_errors"), _FAILURE),
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
