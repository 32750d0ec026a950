"""The compose load balancer's config (deploy/compose/nginx.conf), run by a real nginx.

In compose, Docker's DNS (127.0.0.11) answers ``api`` with one A record per replica. Here
a tiny DNS server on a loopback address does the same for two HTTP backends on two more
loopback addresses, and nginx runs the unchanged config except for those addresses and
the ports. Checked: requests reach both replicas, a replica that is down (refused
connection, as while it restarts) costs no failed request, and the request headers the
API relies on are passed.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

NGINX_CONFIG = Path(__file__).resolve().parents[2] / "deploy/compose/nginx.conf"
DNS_IP, REPLICA_IPS = "127.0.83.1", ("127.0.83.2", "127.0.83.3")


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def serve_dns(sock: socket.socket, addresses: tuple[str, ...]) -> None:
    """Answer every A query with ``addresses`` (TTL 1 s) until the socket is closed."""
    while True:
        try:
            query, client = sock.recvfrom(512)
        except OSError:
            return
        end = query.index(b"\x00", 12) + 5  # the question: labels, root, type, class
        header = query[:2] + struct.pack(">HHHHH", 0x8180, 1, len(addresses), 0, 0)
        answers = b"".join(
            struct.pack(">HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(ip) for ip in addresses
        )
        sock.sendto(header + query[12:end] + answers, client)


class Replica(BaseHTTPRequestHandler):
    """Says which replica answered and the headers it got."""

    def do_GET(self) -> None:
        body = json.dumps(
            {"replica": self.server.server_address[0], "headers": dict(self.headers)}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def load_balancer(tmp_path: Path) -> Iterator[tuple[str, list[ThreadingHTTPServer]]]:
    """nginx with the compose config in front of two replicas; yields its URL and them."""
    api_port, lb_port = free_port(REPLICA_IPS[0]), free_port("127.0.0.1")
    dns_port = free_port(DNS_IP, socket.SOCK_DGRAM)
    replicas = [ThreadingHTTPServer((ip, api_port), Replica) for ip in REPLICA_IPS]
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns.bind((DNS_IP, dns_port))
    threads = [threading.Thread(target=r.serve_forever, daemon=True) for r in replicas]
    threads.append(threading.Thread(target=serve_dns, args=(dns, REPLICA_IPS), daemon=True))
    for thread in threads:
        thread.start()

    config = NGINX_CONFIG.read_text()
    for compose_value, local_value in [
        ("listen 8000;", f"listen 127.0.0.1:{lb_port};"),
        ("resolver 127.0.0.11 ", f"resolver {DNS_IP}:{dns_port} "),
        ("http://api:8000;", f"http://api:{api_port};"),
    ]:
        assert compose_value in config, f"{compose_value!r} no longer in {NGINX_CONFIG}"
        config = config.replace(compose_value, local_value)
    (tmp_path / "default.conf").write_text(config)
    temp_paths = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; master_process off; pid {tmp_path / 'nginx.pid'}; error_log stderr;\n"
        f"events {{}}\nhttp {{ {temp_paths} access_log off; include default.conf; }}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{lb_port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", lb_port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "nginx did not listen within 10 s"
                time.sleep(0.05)
        yield url, replicas
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
        for replica in replicas:
            replica.shutdown()
            replica.server_close()
        dns.close()


def test_requests_reach_both_replicas(load_balancer: tuple[str, list[ThreadingHTTPServer]]) -> None:
    url, _ = load_balancer
    with httpx.Client(base_url=url, timeout=5) as client:
        answers = [client.get("/healthz").json() for _ in range(10)]
    assert {answer["replica"] for answer in answers} == set(REPLICA_IPS)
    headers = {name.lower(): value for name, value in answers[0]["headers"].items()}
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["host"] == url.removeprefix("http://")


def test_a_replica_that_is_down_costs_no_request(
    load_balancer: tuple[str, list[ThreadingHTTPServer]],
) -> None:
    url, replicas = load_balancer
    replicas[0].shutdown()
    replicas[0].server_close()  # connections to it are now refused, as while it restarts
    with httpx.Client(base_url=url, timeout=5) as client:
        responses = [client.get("/v1/compounds/CHEMBL25") for _ in range(10)]
    assert [response.status_code for response in responses] == [200] * 10
    assert {response.json()["replica"] for response in responses} == {REPLICA_IPS[1]}
