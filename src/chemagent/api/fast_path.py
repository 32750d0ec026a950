"""A short way through the web stack for the hottest read: ``GET /v1/compounds/{chembl_id}``.

A cached compound lookup is ~25 us of ChemAgent's own work (the step through the runner,
its cache hit, its histogram and span) inside ~150 us of framework: FastAPI's routing
over every route, dependency solving, the body-limit and exception layers, and the
response model. This pure ASGI layer answers that one request shape itself, with the same
code and the same bytes as the FastAPI route:

* the lookup is the route's own call, ``Operations.compound``, so the step still goes
  through the runner (cache tiers, ``chemagent_step_duration_seconds``, the ``step
  compound`` span, ``/v1/performance``);
* the body is the route's serialization (``Compound`` validated and dumped by
  pydantic-core), kept per compound while the cache returns the very same record object,
  so a hot compound is serialized once, not per request;
* errors are rendered by the functions the exception handlers use
  (:mod:`chemagent.api.errors`);
* ``scope["route"]`` is the FastAPI route object, so metrics, span names and the access
  log carry its template.

Anything else goes to FastAPI untouched: other paths and methods (``HEAD`` too), a query
string, an ID longer than the route allows (FastAPI answers its 422), a ``root_path``, or
an app whose lifespan has not run. The route stays in FastAPI, which documents it in the
OpenAPI schema and serves the fall-through cases. ``tests/service/test_fast_path.py``
checks that both give the same status, headers and body.

The request deadline (:class:`~chemagent.api.deadline.RequestDeadline`) sits inside
FastAPI's stack and does not wrap this path: a lookup is one step (two for a library
built with ``--fast``), each bounded by the step deadline.
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
from fastapi.routing import APIRoute

from chemagent.api.errors import domain_error_response, unexpected_error_response
from chemagent.api.models import Compound
from chemagent.api.routes.compounds import MAX_ID_LENGTH
from chemagent.errors import ChemAgentError
from chemagent.observability.context import ASGIApp, Receive, Scope, Send

PREFIX = "/v1/compounds/"
TEMPLATE = PREFIX + "{chembl_id}"
_JSON = b"application/json"


class CompoundBodies:
    """Serialized ``Compound`` bodies, one per recently served ID, valid while the cache
    hands back the same record object (a new object, e.g. after a refresh or from L2, is
    serialized again). Holds at most ``size`` records and bodies (~5 KiB each)."""

    def __init__(self, size: int = 1024) -> None:
        self._bodies: LRUCache[str, tuple[Any, bytes]] = LRUCache(maxsize=size)

    def body(self, chembl_id: str, record: Any) -> bytes:
        entry = self._bodies.get(chembl_id)
        if entry is not None and entry[0] is record:
            return entry[1]
        body = Compound.model_validate(record).model_dump_json().encode()
        self._bodies[chembl_id] = (record, body)
        return body


class CompoundFastPath:
    """Answer ``GET /v1/compounds/{chembl_id}`` without FastAPI's routing; pass on the rest.

    Args:
        app: the FastAPI stack, for every other request.
        route: the FastAPI route this path stands in for (its template names the metrics).
    """

    def __init__(self, app: ASGIApp, route: APIRoute) -> None:
        if route.path != TEMPLATE:
            raise ValueError(f"expected the route {TEMPLATE}, got {route.path}")
        self.app = app
        self.route = route
        self.bodies = CompoundBodies()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chembl_id = self._compound_id(scope)
        state = scope.get("state", {}).get("chemagent") if chembl_id else None
        if chembl_id is None or state is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            record = await state.operations.compound(chembl_id)
            body = self.bodies.body(chembl_id, record)
        except ChemAgentError as exc:
            await domain_error_response(exc)(scope, receive, send)
            return
        except Exception as exc:  # a bug: the same 500 as FastAPI's handler gives
            await unexpected_error_response(exc)(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", _JSON),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _compound_id(scope: Scope) -> str | None:
        """The ID when this request is the plain lookup this path serves, else None."""
        if scope["type"] != "http" or scope.get("method") != "GET":
            return None
        path: str = scope.get("path", "")
        if not path.startswith(PREFIX) or scope.get("query_string") or scope.get("root_path"):
            return None
        chembl_id = path[len(PREFIX) :]
        if not chembl_id or "/" in chembl_id or len(chembl_id) > MAX_ID_LENGTH:
            return None
        return chembl_id


def compound_route(routes: list[Any]) -> APIRoute:
    """The FastAPI route ``GET /v1/compounds/{chembl_id}`` among ``routes``."""
    for route in routes:
        if (
            isinstance(route, APIRoute)
            and route.path == TEMPLATE
            and "GET" in (route.methods or ())
        ):
            return route
    raise LookupError(f"no GET {TEMPLATE} route")
