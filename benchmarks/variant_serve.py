"""``chemagent serve`` with an experimental change patched in at run time (src untouched).

Usage: ``python benchmarks/variant_serve.py VARIANT serve --host ... --port ...``

Variants (each is a candidate fix measured by ``bench_variants.py``, not a change to src):

- ``stock``: no change.
- ``release-in-worker``: ``StepRunner._compute`` decrements its pending count in the worker
  thread (under a lock) instead of waking the event loop with ``call_soon_threadsafe``
  once more per step.
- ``one-hop``: ``Operations.similarity`` runs the ``resolve`` and ``similarity`` step
  functions back to back in one executor submission for a SMILES query (one thread
  round trip instead of two; bypasses the runner, so for measurement only).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any


def _release_in_worker() -> None:
    from chemagent.errors import Overloaded
    from chemagent.execution import runner

    lock = threading.Lock()

    async def _compute(self: Any, fn: Any, step: Any, *, deadline: float) -> Any:
        if self._pending >= self._max_pending:
            raise Overloaded(f"{self._pending} steps are already queued on this worker.")
        with lock:
            self._pending += 1

        def work() -> Any:
            try:
                return fn(self.context, step.input, step.param_map)
            finally:
                with lock:
                    self._pending -= 1

        future = self._executor.submit(work)
        return await asyncio.wait_for(asyncio.wrap_future(future), deadline)

    runner.StepRunner._compute = _compute  # type: ignore[method-assign]


def _one_hop() -> None:
    from chemagent.execution.operations import Operations
    from chemagent.steps.registry import get_kind

    original = Operations.similarity

    async def similarity(
        self: Any, query: str, threshold: float, top_k: int | None, limit: int, offset: int
    ) -> dict[str, Any]:
        ctx = self.runner.context
        resolve, search = get_kind("resolve").fn, get_kind("similarity").fn

        def both() -> Any:
            resolved = resolve(ctx, query.strip(), {"as": "auto"})
            if resolved["matches"] or not resolved["molecule"]:
                return None
            params = {"threshold": threshold, **({"top_k": top_k} if top_k else {})}
            return search(ctx, resolved["molecule"]["parent_smiles"], params)

        found = await asyncio.get_running_loop().run_in_executor(self.runner._executor, both)
        if found is None:
            return await original(self, query, threshold, top_k, limit, offset)
        return {
            "query": query,
            "query_compound": None,
            "query_smiles": found["query_smiles"],
            "threshold": threshold,
            "top_k": top_k,
            "total": found["total"],
            "limit": limit,
            "offset": offset,
            "results": found["hits"][offset : offset + limit],
        }

    Operations.similarity = similarity  # type: ignore[method-assign]


VARIANTS = {"stock": lambda: None, "release-in-worker": _release_in_worker, "one-hop": _one_hop}


def main() -> None:
    variant = sys.argv[1]
    VARIANTS[variant]()
    from chemagent.cli import app

    sys.argv = ["chemagent", *sys.argv[2:]]
    app()


if __name__ == "__main__":
    main()
