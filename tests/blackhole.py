"""A blackholed server: accepts TCP connections on a free loopback port and never answers.

The worst way for a dependency to fail: connecting succeeds at once, then every request
waits forever. Used to prove the L2 cache stays within its deadline (tests/integration).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

ACCEPT_POLL_SECONDS = 0.05


class Blackhole:
    """A listening socket whose accepted connections are held open, unread, until stop()."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="blackhole", daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # the listener was closed
                return
            self.accepted.append(conn)  # kept open and never read: requests go nowhere

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for conn in self.accepted:
            with contextlib.suppress(OSError):
                conn.close()


@contextlib.contextmanager
def blackhole() -> Iterator[Blackhole]:
    """A running :class:`Blackhole`, always stopped on exit."""
    server = Blackhole()
    server.start()
    try:
        yield server
    finally:
        server.stop()
