"""An OpenAI-compatible chat-completions client that answers JSON or nothing.

Ollama (``http://127.0.0.1:11434/v1``), vLLM and OpenAI all serve ``POST
{base}/chat/completions``. The LLM is optional and only ever a fallback, so
:meth:`ChatClient.json_completion` never raises: a timeout, a refused connection, a non-2xx
status, an oversized body or an answer that is not JSON is logged as one warning line
(the reason, never the query) and returns ``None``. What the JSON *means* is checked by the
caller (``chemagent.query.llm.intent_from_llm``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import httpx

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1 << 20  # an intent is < 2 KB; 1 MiB bounds a misbehaving server
_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)


class CompletionError(Exception):
    """Why a completion gave no JSON (internal: ``json_completion`` logs it and returns None)."""


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
    raise CompletionError("the message content is not JSON")


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
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
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

    def __repr__(self) -> str:  # no api key in reprs or tracebacks
        return f"ChatClient(endpoint={self.shown!r}, model={self.model!r})"

    async def json_completion(self, messages: Sequence[dict[str, str]]) -> Any | None:
        """Ask for a JSON answer to ``messages``; ``None`` when there is none.

        The whole call is bounded by ``timeout`` (httpx's timeouts are per phase: a server
        that trickles bytes would otherwise hold it much longer).

        Args:
            messages: OpenAI-style ``[{"role", "content"}]`` messages.

        Returns:
            The parsed JSON of the first choice's message, or ``None`` (logged once, with
            the reason) on a timeout, a connection error, a non-2xx status, a body that
            is not a chat completion, or content that is not JSON.
        """
        payload = {
            "model": self.model,
            "messages": list(messages),
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._post(payload)
            content = message_content(body)
            log.debug("LLM answered: %.2000s", content)
            return content_json(content)
        except TimeoutError:
            reason = f"no answer within {self.timeout:g} s"
        except CompletionError as exc:
            reason = str(exc)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__
        except Exception as exc:  # never raise: the LLM is an optional fallback
            reason = f"unexpected {type(exc).__name__}"
        log.warning("LLM fallback unavailable: %s (%s)", reason, self.shown)
        return None

    async def _post(self, payload: dict[str, Any]) -> Any:
        """POST and read at most MAX_RESPONSE_BYTES of a 2xx JSON body."""
        async with self._client.stream("POST", self.endpoint, json=payload) as response:
            if not response.is_success:
                raise CompletionError(f"HTTP {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    raise CompletionError(f"the response is over {MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(bytes(data))
        except ValueError:
            raise CompletionError("the response body is not JSON") from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
