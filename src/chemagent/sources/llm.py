"""An OpenAI-compatible chat-completions client that answers JSON or nothing.

Ollama (``http://127.0.0.1:11434/v1``), vLLM and OpenAI all serve ``POST
{base}/chat/completions``. The LLM is optional and only ever a fallback, so
:meth:`ChatClient.json_completion` never raises: a timeout, a refused connection, a non-2xx
status, an oversized body or an answer that is not JSON is logged as one warning line
(the reason, never the query) and returns ``None``. What the JSON *means* is checked by the
caller (``chemagent.query.llm.intent_from_llm``).

Every call is reported to an optional :class:`UpstreamTelemetry` (endpoint
``chat_completions``, status: the HTTP code, or ``timeout``, ``connect``, ``invalid``) and
counted by a circuit breaker: after ``breaker_failures`` failed calls in a row the client
skips the LLM for ``breaker_reset_seconds`` (``json_completion`` returns ``None`` at once,
so the rules' answer stands), then lets one probe call through. The breaker logs once per
state change, not once per query.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx

from chemagent.cache.breaker import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1 << 20  # an intent is < 2 KB; 1 MiB bounds a misbehaving server
ENDPOINT = "chat_completions"
# 5 failures in a row (~25 s of 5 s timeouts) is an outage, not bad luck; while open,
# one probe every 30 s costs at most one query's wait.
BREAKER_FAILURES = 5
BREAKER_RESET_SECONDS = 30.0


class UpstreamTelemetry(Protocol):
    """Where an upstream client reports its calls (metrics live in ``observability/``)."""

    def request(self, endpoint: str, status: str, seconds: float) -> None:
        """One call ended: ``status`` is the HTTP code, or timeout, connect or invalid."""
        ...

    def circuit(self, is_open: bool) -> None:
        """The breaker opened (True) or closed (False); called once at start with False."""
        ...


_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


class CompletionError(Exception):
    """Why a completion gave no JSON (internal: ``json_completion`` logs it and returns None).

    ``status`` is the call's status label when the exchange itself failed (a non-2xx code,
    or ``invalid``: a 2xx body that is not a chat completion); None when the upstream
    answered properly and only the model's content is unusable.
    """

    def __init__(self, reason: str, status: str | None = "invalid") -> None:
        super().__init__(reason)
        self.status = status


def content_json(text: str) -> Any:
    """Parse a model's message content as JSON, tolerating a Markdown code fence.

    Args:
        text: the ``choices[0].message.content`` string.

    Returns:
        The parsed JSON value.

    Raises:
        CompletionError: the content is not JSON, even inside a fence or between its
            outermost braces (small models sometimes add a sentence around the object).
    """
    fenced = _FENCE_RE.match(text)
    body = fenced.group(1) if fenced else text.strip()
    try:
        return json.loads(body)
    except ValueError:
        pass
    first, last = body.find("{"), body.rfind("}")
    if 0 <= first < last:
        try:
            return json.loads(body[first : last + 1])
        except ValueError:
            pass
    raise CompletionError("the message content is not JSON", status=None)


def message_content(body: Any) -> str:
    """``choices[0].message.content`` of a chat-completions response body.

    Raises:
        CompletionError: the field is missing or not a string.
    """
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise CompletionError("the response has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise CompletionError("choices[0].message.content is not a string")
    return content


class ChatClient:
    """A chat-completions endpoint asked for JSON answers.

    Args:
        url: the API base URL, e.g. ``http://127.0.0.1:11434/v1`` (``/chat/completions``
            is appended).
        model: the model name sent with each request.
        api_key: sent as ``Authorization: Bearer``; ``None`` sends no header.
        timeout: seconds for one whole call (connect, send, wait, read).
        transport: an httpx transport (tests); ``None`` for the network.
        telemetry: told about every call and breaker change; ``None`` for none.
        breaker_failures: consecutive failed calls that open the breaker.
        breaker_reset_seconds: how long an open breaker skips the LLM before a probe.
        clock: monotonic seconds for the breaker (tests inject a fake).
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        telemetry: UpstreamTelemetry | None = None,
        breaker_failures: int = BREAKER_FAILURES,
        breaker_reset_seconds: float = BREAKER_RESET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout
        # For logs: the endpoint without any user:password a URL may carry.
        self.shown = str(httpx.URL(self.endpoint).copy_with(userinfo=b""))
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout), transport=transport
        )
        self.telemetry = telemetry
        self.breaker = CircuitBreaker(
            failures=breaker_failures,
            reset_seconds=breaker_reset_seconds,
            clock=clock,
            on_transition=self._transition,
        )
        if telemetry is not None:
            telemetry.circuit(False)  # the series exists from the start

    def __repr__(self) -> str:  # no api key in reprs or tracebacks
        return f"ChatClient(endpoint={self.shown!r}, model={self.model!r})"

    async def json_completion(self, messages: Sequence[dict[str, str]]) -> Any | None:
        """Ask for a JSON answer to ``messages``; ``None`` when there is none.

        The whole call is bounded by ``timeout`` (httpx's timeouts are per phase: a server
        that trickles bytes would otherwise hold it much longer). While the breaker is
        open no call is made.

        Args:
            messages: OpenAI-style ``[{"role", "content"}]`` messages.

        Returns:
            The parsed JSON of the first choice's message, or ``None`` (logged once, with
            the reason) on a timeout, a connection error, a non-2xx status, a body that
            is not a chat completion, or content that is not JSON; ``None`` at once (not
            logged) while the breaker is open.
        """
        if not self.breaker.allow():
            return None
        payload = {
            "model": self.model,
            "messages": list(messages),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        try:
            content = await self._call(payload)
            log.debug("LLM answered: %.2000s", content)
            return content_json(content)
        except CompletionError as exc:
            reason = str(exc)
        log.warning("LLM fallback unavailable: %s (%s)", reason, self.shown)
        return None

    async def _call(self, payload: dict[str, Any]) -> str:
        """One timed call: the message content, reported to telemetry and the breaker.

        Raises:
            CompletionError: the call failed (the reason says why).
        """
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                code, body = await self._post(payload)
                content = message_content(body)
        except asyncio.CancelledError:
            self.breaker.abandon()  # the caller went away: neither a success nor a failure
            raise
        except Exception as exc:  # never raise: the LLM is an optional fallback
            status, reason = _failure(exc, self.timeout)
            self._report(status, time.perf_counter() - started)
            raise CompletionError(reason) from exc
        self._report(str(code), time.perf_counter() - started)
        return content

    def _report(self, status: str, seconds: float) -> None:
        if status.startswith("2"):
            self.breaker.success()
        else:
            self.breaker.failure()
        if self.telemetry is not None:
            self.telemetry.request(ENDPOINT, status, seconds)

    def _transition(self, old: BreakerState, new: BreakerState) -> None:
        if new is BreakerState.OPEN and old is BreakerState.CLOSED:
            log.warning(
                "LLM circuit open after %d failed calls in a row: queries the rules cannot "
                "read get the rules' answer for %g s, then one probe (%s)",
                self.breaker.failures,
                self.breaker.reset_seconds,
                self.shown,
            )
        elif new is BreakerState.OPEN:
            log.info(
                "LLM probe failed; skipping the LLM for another %g s", self.breaker.reset_seconds
            )
        elif new is BreakerState.CLOSED:
            log.info("LLM circuit closed: the probe succeeded (%s)", self.shown)
        if self.telemetry is not None and new is not BreakerState.HALF_OPEN:
            self.telemetry.circuit(new is BreakerState.OPEN)

    async def _post(self, payload: dict[str, Any]) -> tuple[int, Any]:
        """POST and read at most MAX_RESPONSE_BYTES of a 2xx JSON body: (status, body)."""
        async with self._client.stream("POST", self.endpoint, json=payload) as response:
            if not response.is_success:
                raise CompletionError(
                    f"HTTP {response.status_code}", status=str(response.status_code)
                )
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    raise CompletionError(f"the response is over {MAX_RESPONSE_BYTES} bytes")
        try:
            return response.status_code, json.loads(bytes(data))
        except ValueError:
            raise CompletionError("the response body is not JSON") from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _failure(exc: Exception, timeout: float) -> tuple[str, str]:
    """``(status label, reason)`` of a failed call."""
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return "timeout", f"no answer within {timeout:g} s"
    if isinstance(exc, CompletionError):
        return exc.status or "invalid", str(exc)
    if isinstance(exc, httpx.TransportError):
        return "connect", f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.HTTPError):
        return "invalid", f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__
    return "invalid", f"unexpected {type(exc).__name__}"
