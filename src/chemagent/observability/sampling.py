"""The server span's sampling decision, taken before the SDK is called.

At the default sampler (``parentbased_traceidratio``, 0.1) 9 requests in 10 are not
sampled, and for those the SDK's work (extracting the context through the propagators,
running the sampler, building a non-recording span) buys nothing but a trace id: the
measured cost was ~4 us in-process per request, about twice that in a loaded server.
So, for the samplers whose decision is a plain function of the caller's flag and the
trace id (:func:`~chemagent.observability.tracing_config.root_bound`), the server span
decides first:

* a caller's ``traceparent`` that is not sampled: not sampled (parent-based);
* no caller: draw the trace id here; sampled when its low 64 bits are below the ratio's
  bound, exactly ``TraceIdRatioBased``'s rule, so the decision is the SDK's for that id.

Only a sampled request (or a sampled caller) reaches the SDK, and a new trace then gets
the trace id it was sampled with through :class:`ChosenTraceIds`, the provider's id
generator. Any other sampler or propagator leaves every decision to the SDK.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.id_generator import IdGenerator

LOW_64 = (1 << 64) - 1
_chosen = threading.local()  # the trace id the next root span gets, per thread


def sampled_root(trace_id: int, bound: int) -> bool:
    """``TraceIdRatioBased``'s decision for a new trace: the low 64 bits below the bound."""
    return trace_id & LOW_64 < bound


def choose_trace_id(trace_id: int) -> None:
    """Make ``trace_id`` the id of the next root span this thread starts (0: none)."""
    _chosen.trace_id = trace_id


def id_generator(source: random.Random) -> IdGenerator:
    """The provider's id generator: ids from ``source``, and a root span's trace id as
    chosen by :func:`choose_trace_id` (imports the SDK: call only when it is configured)."""
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class ChosenTraceIds(IdGenerator):
        def generate_span_id(self) -> int:
            return source.getrandbits(64) or 1

        def generate_trace_id(self) -> int:
            chosen: int = getattr(_chosen, "trace_id", 0)
            if chosen:
                _chosen.trace_id = 0
                return chosen
            return source.getrandbits(128) or 1

    return ChosenTraceIds()
