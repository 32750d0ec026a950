"""Reading and checking the ``OTEL_*`` variables that configure tracing export.

:func:`read_config` checks every variable at start (the CLI before it starts workers, each
worker's lifespan again); a bad value raises :class:`TracingConfigError` naming the
variable, where the SDK would log a warning and carry on with a default. What the
variables mean: :mod:`chemagent.observability.tracing` and docs/CONFIGURATION.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler

DEFAULT_SAMPLER = "parentbased_traceidratio"
DEFAULT_RATIO = 0.1
DEFAULT_EXPORT_TIMEOUT_MS = 10_000.0


class TracingConfigError(ValueError):
    """An ``OTEL_*`` variable has a value this service cannot use (the message names it)."""


@dataclass(frozen=True)
class BatchOptions:
    """The batch span processor's ``OTEL_BSP_*`` (defaults: the SDK's)."""

    schedule_delay_millis: int = 5000
    export_timeout_millis: int = 30000
    max_queue_size: int = 2048
    max_export_batch_size: int = 512


@dataclass(frozen=True)
class TracingConfig:
    """What the ``OTEL_*`` variables ask for, checked (see :func:`read_config`)."""

    exporters: tuple[str, ...]
    protocol: str
    sampler: Sampler
    timeout_seconds: float
    batch: BatchOptions = field(default_factory=BatchOptions)
    root_bound: int | None = None
    """Where the server span may decide sampling itself (:mod:`.sampling`): a new trace
    is sampled when its trace id's low 64 bits are below this; None: the SDK decides."""


def _first(env: Mapping[str, str], *names: str) -> tuple[str, str]:
    """``(variable, value)`` of the first of ``names`` set non-empty, else the last, ''."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return names[-1], ""


def _exporter_names(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in ("otlp", "console", "none")]
    if unknown or ("none" in names and len(names) > 1):
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={raw!r}: use otlp, console, both (otlp,console) or none."
        )
    return names


def export_requested(env: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables in ``env`` ask for spans to be exported.

    Raises:
        TracingConfigError: ``OTEL_SDK_DISABLED`` is not a boolean, or an unknown exporter.
    """
    disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower()
    if disabled not in ("", "true", "false"):
        raise TracingConfigError(f"OTEL_SDK_DISABLED={disabled!r} must be true or false.")
    names = _exporter_names(env)
    if disabled == "true" or names == ("none",):
        return False
    return bool(names) or bool(
        _first(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")[1]
    )


def sampler_from(env: Mapping[str, str]) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER``/``_ARG`` name (default: parent-based 10%).

    Raises:
        TracingConfigError: an unknown sampler name or a ratio outside 0..1.
    """
    from opentelemetry.sdk.trace import sampling

    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or DEFAULT_SAMPLER
    fixed: dict[str, Sampler] = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "parentbased_always_on": sampling.ParentBased(sampling.ALWAYS_ON),
        "parentbased_always_off": sampling.ParentBased(sampling.ALWAYS_OFF),
    }
    if name in fixed:
        return fixed[name]
    if name not in ("traceidratio", "parentbased_traceidratio"):
        known = ", ".join([*fixed, "traceidratio", "parentbased_traceidratio"])
        raise TracingConfigError(f"OTEL_TRACES_SAMPLER={name!r} is not one of: {known}.")
    ratio_sampler = sampling.TraceIdRatioBased(_ratio(env))
    return ratio_sampler if name == "traceidratio" else sampling.ParentBased(ratio_sampler)


def _ratio(env: Mapping[str, str]) -> float:
    raw = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    try:
        ratio = float(raw) if raw else DEFAULT_RATIO
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise TracingConfigError(
            f"OTEL_TRACES_SAMPLER_ARG={raw!r} must be a ratio between 0 and 1, e.g. 0.1."
        )
    return ratio


def root_bound(env: Mapping[str, str]) -> int | None:
    """The trace-id bound of a parent-based ratio sampler (0 for ``parentbased_always_off``)
    when the caller's context comes only in W3C ``traceparent`` (the default propagators);
    None for every other sampler or propagator, whose decisions the SDK takes.

    The bound is ``TraceIdRatioBased``'s: ``round(ratio * 2**64)``, compared with the low
    64 bits of the trace id, so a decision taken with it is the SDK's for the same id.
    """
    propagators = {
        p.strip().lower() for p in env.get("OTEL_PROPAGATORS", "").split(",") if p.strip()
    } or {"tracecontext", "baggage"}
    if "tracecontext" not in propagators or propagators - {"tracecontext", "baggage"}:
        return None
    name = env.get("OTEL_TRACES_SAMPLER", "").strip().lower() or DEFAULT_SAMPLER
    if name == "parentbased_always_off":
        return 0
    if name != "parentbased_traceidratio":
        return None
    return round(_ratio(env) * (1 << 64))


def _protocol(env: Mapping[str, str]) -> str:
    name, value = _first(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    protocol = value.lower() or "http/protobuf"
    if protocol not in ("http/protobuf", "grpc"):
        raise TracingConfigError(
            f"{name}={value!r} is not supported; use http/protobuf or grpc "
            "(the Python exporter has no http/json)."
        )
    return protocol


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if not value >= minimum:  # also refuses NaN
        raise TracingConfigError(f"{name}={raw!r} must be a number >= {minimum:g}.")
    return value


def _timeout_seconds(env: Mapping[str, str]) -> float:
    name, _ = _first(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    return _number(env, name, DEFAULT_EXPORT_TIMEOUT_MS, minimum=1) / 1000


def _batch(env: Mapping[str, str]) -> BatchOptions:
    """The batch span processor's arguments from ``OTEL_BSP_*``."""
    default = BatchOptions()
    batch = BatchOptions(
        *(
            int(_number(env, f"OTEL_BSP_{name}", getattr(default, attribute), minimum=1))
            for name, attribute in (
                ("SCHEDULE_DELAY", "schedule_delay_millis"),
                ("EXPORT_TIMEOUT", "export_timeout_millis"),
                ("MAX_QUEUE_SIZE", "max_queue_size"),
                ("MAX_EXPORT_BATCH_SIZE", "max_export_batch_size"),
            )
        )
    )
    if batch.max_export_batch_size > batch.max_queue_size:
        raise TracingConfigError(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not exceed OTEL_BSP_MAX_QUEUE_SIZE "
            f"({batch.max_export_batch_size} > {batch.max_queue_size})."
        )
    return batch


def _check_endpoint(env: Mapping[str, str]) -> None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = env.get(name, "").strip()
        if not value:
            continue
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # The value is not echoed: a URL may carry credentials.
            raise TracingConfigError(
                f"{name} must be an http:// or https:// URL with a host and an optional "
                "port, e.g. http://otel-collector:4318."
            )


_HEADER_KEY = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _check_other_variables(env: Mapping[str, str]) -> None:
    """Headers, booleans, files, compression, propagators, resource attributes."""
    for name in ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        items = [i for i in env.get(name, "").split(",") if i.strip()]
        if any(not _HEADER_KEY.match(i.partition("=")[0].strip()) or "=" not in i for i in items):
            # The value is not echoed: headers carry API keys.
            raise TracingConfigError(f"{name} must be key=value pairs separated by commas.")
    for name in ("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"):
        if env.get(name, "").strip().lower() not in ("", "true", "false"):
            raise TracingConfigError(f"{name}={env[name]!r} must be true or false.")
    for name in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"):
        for variable in (f"OTEL_EXPORTER_OTLP_TRACES_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
            path = env.get(variable, "").strip()
            if path and not Path(path).is_file():
                raise TracingConfigError(f"{variable}={path!r} is not a readable file.")
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"):
        if env.get(variable, "").strip().lower() not in ("", "none", "gzip", "deflate"):
            raise TracingConfigError(f"{variable}={env[variable]!r}: use none, gzip or deflate.")
    _check_propagators(env.get("OTEL_PROPAGATORS", ""))
    attributes = [i for i in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",") if i.strip()]
    if any("=" not in i or not i.partition("=")[0].strip() for i in attributes):
        raise TracingConfigError("OTEL_RESOURCE_ATTRIBUTES must be key=value pairs.")


def _check_propagators(raw: str) -> None:
    from importlib.metadata import entry_points

    known = {e.name for e in entry_points(group="opentelemetry_propagator")} | {"none"}
    unknown = [n.strip() for n in raw.split(",") if n.strip() and n.strip() not in known]
    if unknown:
        raise TracingConfigError(
            f"OTEL_PROPAGATORS names {', '.join(unknown)}, which is not installed; "
            f"known: {', '.join(sorted(known))}."
        )


def read_config(env: Mapping[str, str] | None = None) -> TracingConfig | None:
    """The checked tracing configuration of ``env`` (default ``os.environ``).

    The CLI calls this before starting workers so a bad value stops ``chemagent serve``
    with one line; each worker's lifespan calls it again through :func:`configure_tracing`.

    Returns:
        None when export is off (then nothing else is read).

    Raises:
        TracingConfigError: a value this service or the SDK cannot use; the message
            names the variable (and never echoes headers or URLs, which may hold secrets).
    """
    env = os.environ if env is None else env
    if not export_requested(env):
        return None
    _check_endpoint(env)
    _check_other_variables(env)
    return TracingConfig(
        exporters=tuple(n for n in _exporter_names(env) if n != "none") or ("otlp",),
        protocol=_protocol(env),
        sampler=sampler_from(env),
        timeout_seconds=_timeout_seconds(env),
        batch=_batch(env),
        root_bound=root_bound(env),
    )


def exporter_for(name: str, config: TracingConfig) -> Any:
    """The span exporter ``name`` (otlp over the configured protocol, or console)."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(timeout=config.timeout_seconds)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return HTTPSpanExporter(timeout=config.timeout_seconds)


def resource_for(service_version: str, env: Mapping[str, str]) -> Any:
    """The spans' resource: ``OTEL_*`` attributes, plus name and version when unset."""
    from opentelemetry.sdk.resources import Resource

    # Resource.create lets these attributes win over OTEL_SERVICE_NAME and
    # OTEL_RESOURCE_ATTRIBUTES: add each only when the operator did not set it.
    given = {
        item.partition("=")[0].strip()
        for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(",")
        if item.strip()
    }
    attributes = {}
    if "service.version" not in given:
        attributes["service.version"] = service_version
    if not env.get("OTEL_SERVICE_NAME") and "service.name" not in given:
        attributes["service.name"] = "chemagent"
    return Resource.create(attributes)
