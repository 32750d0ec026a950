"""One typed settings object, read from ``CHEMAGENT_*`` environment variables.

Built once in :func:`chemagent.app.create_app` (or the CLI) and passed down; nothing in the
package reads the environment at import time, so tests can build apps with other settings.
A bad value fails at start with pydantic's message, which names the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every knob of the service. Each field is the env var ``CHEMAGENT_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="CHEMAGENT_", extra="ignore", frozen=True, validate_default=True
    )

    library: Annotated[
        Path | None,
        Field(
            description="Library to serve: an index directory built by `chemagent library "
            "build`, or a .smi/.csv/.sdf file (indexed at start). Unset: the bundled "
            "ChEMBL approved drugs."
        ),
    ] = None
    redis_url: Annotated[
        str | None, Field(description="Redis URL for the shared L2 cache. Unset: L1 only.")
    ] = None
    chembl_url: Annotated[
        str | None,
        Field(description="ChEMBL REST API base URL (or a mirror). Unset: offline."),
    ] = None
    admin_token: Annotated[
        SecretStr | None,
        Field(description="Bearer token for the admin endpoints. Unset: admin calls are refused."),
    ] = None
    cache_l1_size: Annotated[
        int,
        Field(ge=0, le=10_000_000, description="Step results kept in each worker's L1; 0: no L1."),
    ] = 10_000
    cache_l1_max_bytes: Annotated[
        int,
        Field(
            ge=1024,
            le=1 << 40,
            description="Most estimated bytes of step results in each worker's L1 (JSON "
            "size; Python objects take ~1.2x). Larger results are not kept in L1.",
        ),
    ] = 128 * 1024 * 1024
    cache_ttl_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=30 * 86400,
            description="How long a step result stays fresh, unless its kind has its own TTL.",
        ),
    ] = 86400.0
    cache_kind_ttls: Annotated[
        dict[str, Annotated[float, Field(gt=0, le=30 * 86400)]],
        Field(
            description='Fresh seconds per step kind, as JSON: {"similarity": 600}. Merged '
            'over the defaults ({"targets": 3600}).'
        ),
    ] = Field(default_factory=dict)
    cache_negative_ttl_seconds: Annotated[
        float, Field(gt=0, le=86400, description='How long a "not found" is cached.')
    ] = 60.0
    cache_l1_max_ttl_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=30 * 86400,
            description="Most seconds an entry stays in a worker's L1: bounds how long "
            "other workers serve what an invalidation removed.",
        ),
    ] = 300.0
    cache_warm_file: Annotated[
        Path | None,
        Field(
            description="A file of queries, ChEMBL IDs or SMILES (one per line, or a JSON "
            "list) computed into the cache at start-up, in the background."
        ),
    ] = None
    cache_lock_above_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=600,
            description="A cold miss of an expensive step kind (searches, upstream calls) "
            "takes the cross-pod Redis lock only while that kind's computations average at "
            "least this long; 0: always.",
        ),
    ] = 0.005
    redis_timeout_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=10,
            description="Deadline of one Redis call, connection wait included (no retries).",
        ),
    ] = 0.05
    redis_max_connections: Annotated[
        int, Field(ge=1, le=10_000, description="Redis connection pool size per worker.")
    ] = 50
    redis_breaker_failures: Annotated[
        int, Field(ge=1, le=1000, description="Consecutive Redis failures that open the breaker.")
    ] = 5
    redis_breaker_reset_seconds: Annotated[
        float,
        Field(gt=0, le=600, description="Seconds Redis is skipped before one probe call."),
    ] = 5.0
    max_workers: Annotated[
        int,
        Field(ge=1, le=256, description="Threads for CPU work (RDKit, FPSim2) per process."),
    ] = Field(default_factory=lambda: min(8, (os.cpu_count() or 1) + 2))
    request_timeout_seconds: Annotated[
        float, Field(gt=0, le=600, description="Deadline for one request or query.")
    ] = 30.0
    step_timeout_seconds: Annotated[
        float, Field(gt=0, le=600, description="Deadline for one step of work.")
    ] = 10.0
    drain_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=300,
            description="After SIGTERM, seconds a worker keeps serving with /readyz at 503 "
            "before it stops accepting connections (see docs/OPERATIONS.md). 0: stop at once.",
        ),
    ] = 5.0
    max_body_bytes: Annotated[
        int, Field(ge=1024, le=1 << 30, description="Largest accepted request body.")
    ] = 1 << 20
    max_smiles_length: Annotated[
        int, Field(ge=10, le=1_000_000, description="Longest accepted SMILES/SMARTS.")
    ] = 2000
    max_heavy_atoms: Annotated[
        int, Field(ge=1, le=100_000, description="Most heavy atoms in an input molecule.")
    ] = 500
    max_batch_size: Annotated[
        int, Field(ge=1, le=100_000, description="Most items in one /v1/batch call.")
    ] = 100
    max_top_k: Annotated[
        int, Field(ge=1, le=1_000_000, description="Largest top_k / limit for searches.")
    ] = 1000
    max_query_length: Annotated[
        int, Field(ge=10, le=100_000, description="Longest accepted plain-English query.")
    ] = 2000
    session_ttl_seconds: Annotated[
        float,
        Field(gt=0, le=30 * 86400, description="A query session's lifetime since its last use."),
    ] = 1800.0
    session_max_count: Annotated[
        int,
        Field(ge=1, le=10_000_000, description="Most sessions kept in-process (without Redis)."),
    ] = 10_000
    llm_url: Annotated[
        str | None,
        Field(
            description="OpenAI-compatible chat-completions base URL for queries the rules "
            "cannot parse (Ollama, vLLM, OpenAI). Unset: rules only."
        ),
    ] = None
    llm_model: Annotated[
        str, Field(max_length=200, description="Model name sent to the LLM endpoint.")
    ] = "llama3.1"
    llm_api_key: Annotated[
        SecretStr | None, Field(description="Bearer token for the LLM endpoint, if it needs one.")
    ] = None
    llm_timeout_seconds: Annotated[
        float, Field(gt=0, le=120, description="Deadline for one LLM classification.")
    ] = 5.0
    log_level: Annotated[LogLevel, Field(description="Log level.")] = "INFO"
    log_format: Annotated[LogFormat, Field(description="json (containers) or console.")] = "console"
    access_log: Annotated[
        bool,
        Field(
            description="One log line per request (logger chemagent.access): method, "
            "route, status, duration, cache outcome, request and trace ids."
        ),
    ] = True
    host: Annotated[str, Field(description="Bind address for `chemagent serve`.")] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535, description="Port for `chemagent serve`.")] = 8000
    git_commit: Annotated[
        str, Field(max_length=64, description="Commit shown by /version (set by the image build).")
    ] = "unknown"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("redis_url", "chembl_url", "llm_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cache_kind_ttls")
    @classmethod
    def _kind_names(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [kind for kind in value if not kind or ":" in kind or not kind.isascii()]
        if bad:
            raise ValueError(f"not step kind names: {bad}")
        return value

    @field_validator("cache_warm_file")
    @classmethod
    def _warm_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no file at {value}")
        return value

    @field_validator("library", "cache_warm_file", mode="before")
    @classmethod
    def _blank_path_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("library")
    @classmethod
    def _library_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"no file or directory at {value}")
        if value is not None and value.is_dir() and not (value / "manifest.json").exists():
            raise ValueError(
                f"{value} is a directory that is not a library index (no manifest.json); "
                "build one with `chemagent library build INPUT -o DIR`"
            )
        return value
