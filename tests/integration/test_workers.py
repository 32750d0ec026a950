"""``chemagent serve --workers 2``: uvicorn's multi-process mode."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import ServeFn

pytestmark = pytest.mark.integration

PROC = Path("/proc")
LINUX_PROC = (PROC / "net" / "tcp").exists()


def _children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (from /proc/*/stat)."""
    children = set()
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in (PROC / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _accepted_socket(server_port: int, client_port: int) -> int | None:
    """Inode of the server side of the established connection from ``client_port``."""
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if (
            state == "01"  # ESTABLISHED
            and int(local.split(":")[1], 16) == server_port
            and int(remote.split(":")[1], 16) == client_port
        ):
            return int(fields[9])
    return None


def _client_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def test_two_workers_serve_and_stop_cleanly(serve: ServeFn) -> None:
    server = serve(args=["--workers", "2"], env={"CHEMAGENT_MAX_WORKERS": "2"})
    # Worker processes hold sockets; the multiprocessing resource tracker does not.
    workers = {pid for pid in _children(server.pid) if _socket_inodes(pid)} if LINUX_PROC else set()
    if LINUX_PROC:
        assert len(workers) == 2, f"worker processes: {workers}"
    served: dict[int, int] = dict.fromkeys(workers, 0)

    # Sequential requests, each on a new connection. /proc tells which worker accepted it.
    # /readyz answered once the first worker was up; the second may still be loading its
    # library (~3 s), so keep going past 50 until both have served or 20 s have passed.
    deadline = time.monotonic() + 20
    sent = 0
    while sent < 50 or (not all(served.values()) and time.monotonic() < deadline):
        with server.client(timeout=10) as http:
            response = http.get("/v1/compounds/CHEMBL25")
            assert response.status_code == 200, response.text
            assert response.json()["pref_name"] == "ASPIRIN"
            sent += 1
            if LINUX_PROC:
                inode = _accepted_socket(server.port, _client_port(response))
                owners = [pid for pid in workers if inode in _socket_inodes(pid)]
                assert len(owners) == 1, f"connection {inode} owned by {owners}"
                served[owners[0]] += 1
    assert all(served.values()), f"requests per worker after {sent}: {served}"

    started = time.monotonic()
    server.terminate()
    code = server.wait(timeout=15)
    assert code == 0, server.stderr()
    assert time.monotonic() - started < 15
    assert not [pid for pid in workers if (PROC / str(pid)).exists()], "a worker outlived the stop"
