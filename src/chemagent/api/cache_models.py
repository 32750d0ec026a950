"""Request and response models of the cache administration endpoints.

``GET /v1/cache/stats``, ``DELETE /v1/cache`` and ``POST /v1/cache/warm``; the rest of
the v1 contract is in :mod:`chemagent.api.models`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chemagent.api.models import RequestBody


class CacheNamespaceInfo(BaseModel):
    """The versioned key prefix: a new RDKit or library starts an empty namespace."""

    prefix: str = Field(
        description="Every cache key of this deployment starts with it "
        "(`chemagent:v{schema}:{build}:`); keys look like `{prefix}{kind}:{version}:{digest}`.",
        examples=["chemagent:v1:0123abcd4567:"],
    )
    schema_version: int = Field(description="Key and codec schema.")
    build: str = Field(description="12 hex characters hashing the RDKit and library versions.")
    rdkit_version: str
    library_name: str
    library_version: str = Field(
        description="The library version, build time and result cap folded into keys."
    )


class CachePolicyInfo(BaseModel):
    """How long each step kind is cached and how it is protected (CHEMAGENT_CACHE_*)."""

    default_ttl_seconds: float = Field(description="Fresh seconds of kinds without their own.")
    ttl_seconds: dict[str, float] = Field(description="Fresh seconds per step kind.")
    negative_ttl_seconds: float = Field(description='How long a "not found" is cached.')
    stale_while_revalidate_seconds: dict[str, float] = Field(
        description="Per kind: seconds past expiry served while one refresh runs."
    )
    stale_if_error_seconds: dict[str, float] = Field(
        description="Per kind: seconds past expiry served when recomputing fails."
    )
    l1_max_ttl_seconds: float | None = Field(
        description="Most seconds an entry stays in a worker's L1, whatever its TTL."
    )
    l1_max_entries: int = Field(description="L1 capacity per worker; 0: L1 is off.")
    uncacheable: list[str] = Field(description="Kinds computed every time.")
    local_only: list[str] = Field(description="Kinds cached in L1 only (cheaper than Redis).")
    expensive: list[str] = Field(
        description="Kinds whose cold misses take the cross-pod lock (one pod computes)."
    )


class L1TierStats(BaseModel):
    """This worker's in-process tier, counted since start."""

    model_config = ConfigDict(extra="allow")

    hits: int
    misses: int
    stale: int = Field(description="Served past their TTL (stale windows).")
    latency_count: int
    latency_seconds_sum: float
    entries: int = Field(description="Entries held now.")
    evictions: int = Field(description="Entries evicted to make room (expiries excluded).")
    maxsize: int


class L2TierStats(BaseModel):
    """The shared Redis tier as this worker sees it, counted since start."""

    model_config = ConfigDict(extra="allow")

    state: Literal["ok", "degraded", "disabled"] = Field(
        description="degraded: Redis is failing or skipped by the breaker (requests are "
        "still served, from L1 and by computing)."
    )
    hits: int
    misses: int
    errors: int = Field(description="Reads that failed (timeout, connection, breaker open).")
    stale: int
    corrupt: int = Field(description="Values that did not decode: treated as misses.")
    latency_count: int
    latency_seconds_sum: float
    store: dict[str, float | int] = Field(
        description="The Redis client's own numbers: calls, failures, latency quantiles, breaker."
    )


class CacheCounters(BaseModel):
    """Computations and protections of this worker since start."""

    model_config = ConfigDict(extra="allow")

    computes: int = Field(description="Steps computed (every tier missed).")
    compute_errors: int
    compute_seconds_sum: float
    coalesced: int = Field(description="Callers that joined a computation in flight.")
    bypassed: int = Field(description="Lookups of uncacheable kinds.")
    encode_errors: int = Field(description="Values that could not be encoded: served uncached.")
    negative_stored: int
    negative_hits: int
    refreshes: int = Field(description="Background refreshes (early refresh, stale windows).")
    refresh_errors: int
    stale_if_error: int = Field(description="Expired values served because recomputing failed.")
    locks_acquired: int
    lock_waits: int = Field(description="Cold misses that waited for another pod's result.")
    lock_wait_hits: int
    in_flight: int = Field(description="Computations running now.")


class WarmItemError(BaseModel):
    item: str = Field(description="The item (shortened past 200 characters).")
    error: str = Field(description="The error code, as in error bodies.")
    detail: str


class WarmReportBody(BaseModel):
    """What a cache warm did (or is doing, while ``running``)."""

    items: int = Field(description="Distinct items to warm.")
    source: str = Field(description="api, file (CHEMAGENT_CACHE_WARM_FILE) or cli.")
    ok: int = Field(description="Items warmed.")
    failed: int = Field(description="Items that failed; the first 10 are in errors.")
    steps_computed: int = Field(description="Steps computed because no tier had them.")
    steps_cached: int = Field(description="Steps a cache tier already had.")
    seconds: float
    running: bool
    cancelled: bool = Field(description="Stopped before the end (shutdown).")
    started_at: float = Field(description="Unix time.")
    duplicates: int = Field(description="Blank or repeated items dropped.")
    errors: list[WarmItemError]


class CacheStats(BaseModel):
    """The cache as this worker sees it: each worker (process) has its own L1 and counters."""

    namespace: CacheNamespaceInfo
    policy: CachePolicyInfo
    l1: L1TierStats
    l2: L2TierStats
    counters: CacheCounters
    broadcast: dict[str, int] | None = Field(
        None,
        description="The invalidation broadcast between workers (with Redis; null without): "
        "subscribed (0/1), attempts, disconnects, resyncs (L1 cleared after a reconnect), "
        "published, publish_failures, received (applied), apply_errors, and the ignored "
        "own, foreign (another namespace) and malformed messages.",
    )
    warm: WarmReportBody | None = Field(
        description="The running warm of this worker, else its last one; null if none."
    )


class CacheInvalidation(BaseModel):
    deleted: int = Field(
        description="Entries removed: the larger of this worker's L1 count and Redis's."
    )
    scope: Literal["key", "kind", "all"]
    target: str | None = Field(description="The key or kind removed; null for all.")
    l2: Literal["ok", "degraded", "disabled"] = Field(
        description="Redis state after the call: degraded means Redis could not be "
        "cleared; retry when it is back."
    )


class WarmRequest(RequestBody):
    """Items to compute into the cache: ChEMBL IDs, SMILES or plain-English queries."""

    items: list[Annotated[str, Field(min_length=1, max_length=100_000)]] = Field(
        min_length=1,
        max_length=1000,
        description="1 to 1,000 items, each at most CHEMAGENT_MAX_SMILES_LENGTH or "
        "CHEMAGENT_MAX_QUERY_LENGTH characters (the larger). An ID (CHEMBL25) warms the "
        "compound, a SMILES its property panel, anything else is answered as a query.",
        examples=[["CHEMBL25", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "compounds similar to aspirin"]],
    )
    wait: bool = Field(
        True,
        description="true: answer with the report when done (200). false: start it and "
        "answer at once (202); follow it in GET /v1/cache/stats.",
    )


class WarmStarted(BaseModel):
    status: Literal["started"] = "started"
    items: int = Field(description="Distinct items to warm.")
    progress: str = Field(
        description="Where to follow it: its report is `warm` in this worker's stats.",
        examples=["/v1/cache/stats"],
    )
    detail: str
