"""The typed state the lifespan yields; dependencies read it from the request."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chemagent.cache.sessions import SessionStore
from chemagent.cache.tiered import TieredCache
from chemagent.execution.operations import Operations
from chemagent.execution.query_service import QueryService
from chemagent.execution.runner import StepRunner
from chemagent.library.library import Library
from chemagent.observability.performance import PerformanceStore
from chemagent.settings import Settings


@dataclass
class AppState:
    """Every long-lived resource of one app instance (one per worker process)."""

    settings: Settings
    library: Library
    executor: ThreadPoolExecutor
    runner: StepRunner
    cache: TieredCache
    operations: Operations
    sessions: SessionStore
    queries: QueryService
    performance: PerformanceStore = field(default_factory=PerformanceStore)
    """Slow queries, failures and maxima of this worker; the pod's summary."""
    started_at: float = field(default_factory=time.time)
    draining: bool = False
    """True from the SIGTERM on (see :mod:`chemagent.api.draining`): ``/readyz`` is 503."""
