"""The optional LLM fallback: a query the rules cannot parse, classified by a model.

Set ``CHEMAGENT_LLM_URL`` (any OpenAI-compatible endpoint: Ollama, vLLM, OpenAI) and the
query service asks the model about queries the rules leave UNKNOWN. The model's answer is
validated into an :class:`~chemagent.query.model.Intent` (``query.llm``); when the model is
down, slow or wrong, :meth:`LLMFallback.classify` returns ``None`` and the rules' answer
stands. Nothing here is required: without the variable there is no fallback at all.

Each classification's result (ok, invalid, unavailable) goes to an optional observer
(``chemagent_llm_classifications_total``); the client reports its calls and its circuit
breaker to an optional :class:`~chemagent.sources.llm.UpstreamTelemetry`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chemagent.query.llm import LLMIntentError, intent_from_llm, messages_for
from chemagent.query.model import Intent
from chemagent.settings import Settings
from chemagent.sources.llm import ChatClient, UpstreamTelemetry

log = logging.getLogger(__name__)

ResultObserver = Callable[[str], None]
"""Called with ``ok``, ``invalid`` or ``unavailable`` after each classification."""


class LLMFallback:
    """Classify queries with a chat model; count the outcomes.

    Attributes:
        ok: answers that became an intent.
        invalid: answers rejected by validation (wrong schema, unknown field, ...).
        unavailable: calls with no usable answer (timeout, refused, non-2xx, not JSON,
            or skipped while the client's circuit breaker is open).
    """

    def __init__(self, client: ChatClient, on_result: ResultObserver | None = None) -> None:
        self.client = client
        self.on_result = on_result
        self.ok = 0
        self.invalid = 0
        self.unavailable = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        upstream: UpstreamTelemetry | None = None,
        on_result: ResultObserver | None = None,
    ) -> LLMFallback | None:
        """The fallback ``settings`` ask for, or ``None`` when ``llm_url`` is unset.

        Args:
            settings: the LLM URL, model, key and timeout.
            upstream: told about every call to the LLM and its breaker's state.
            on_result: told the result of every classification.
        """
        if not settings.llm_url:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        client = ChatClient(
            settings.llm_url,
            settings.llm_model,
            api_key=key,
            timeout=settings.llm_timeout_seconds,
            telemetry=upstream,
        )
        return cls(client, on_result)

    async def classify(self, query: str) -> Intent | None:
        """The model's intent for ``query``, or ``None`` (logged) when there is no valid one.

        Args:
            query: the user's text (the caller has checked its length).

        Returns:
            A validated intent the planner accepts (or OUT_OF_SCOPE / UNKNOWN when that is
            the model's reading), or ``None`` when the model failed or answered invalidly.
        """
        payload = await self.client.json_completion(messages_for(query))
        if payload is None:
            self.unavailable += 1  # json_completion logged why (or its breaker is open)
            self._observe("unavailable")
            return None
        try:
            intent = intent_from_llm(payload, query)
        except LLMIntentError as exc:
            self.invalid += 1
            self._observe("invalid")
            log.warning("LLM answer rejected: %s", exc)
            return None
        self.ok += 1
        self._observe("ok")
        log.info("LLM classified a query as %s (confidence %.2f)", intent.kind, intent.confidence)
        return intent

    def _observe(self, result: str) -> None:
        if self.on_result is not None:
            self.on_result(result)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()
