"""A real (fake) OpenAI-compatible chat-completions server on 127.0.0.1, for LLM tests.

The server runs in a thread (``ThreadingHTTPServer``) and answers what each test scripts:
a valid intent, content that is not JSON, an intent that breaks the schema, a 500, an
answer slower than the timeout, a body that trickles in. It records every request so the
tests can check what the client sent.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALID = {"kind": "targets", "compounds": ["asprin"], "confidence": 0.75}


def completion(content: str) -> dict[str, Any]:
    """A chat-completions body as OpenAI, vLLM and Ollama shape it."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeLLM:
    """What the fake server answers next, and what it was asked."""

    status: int = 200
    body: bytes = b""
    delay: float = 0.0
    trickle: float = 0.0  # seconds between body bytes (0: send at once)
    requests: list[Recorded] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def answer(self, content: Any, status: int = 200) -> None:
        """Answer with a completion whose message content is ``content`` (JSON unless str)."""
        text = content if isinstance(content, str) else json.dumps(content)
        self.status, self.body = status, json.dumps(completion(text)).encode()

    def raw(self, body: bytes, status: int = 200) -> None:
        self.status, self.body = status, body

    def record(self, request: Recorded) -> None:
        with self.arrived:
            self.requests.append(request)
            self.arrived.notify_all()

    def wait_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` requests have arrived; False after ``timeout`` seconds."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            fake.record(Recorded(self.path, dict(self.headers.items()), body))
            if fake.delay and fake.stopping.wait(fake.delay):
                return
            try:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                if not fake.trickle:
                    self.wfile.write(fake.body)
                    return
                for byte in fake.body:
                    if fake.stopping.wait(fake.trickle):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_fake() -> Iterator[FakeLLM]:
    """The fake server on a free port answering VALID; stopped (handlers released) at exit."""
    state = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-llm", daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    state.answer(VALID)
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def closed_port() -> int:
    """A port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
