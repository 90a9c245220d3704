"""Shared by the URL-fetch tests: a connect observer (safety net), fetch settings, a canary socket, and a
real http.server on loopback with a small router.

Every outgoing connect of this process is observed through a Python audit hook (``socket.connect``):
tests assert that a refused URL produced *no* connect at all, and, as a safety net, the hook blocks
any connect to a non-loopback address so no test can ever send traffic off the machine. A test module
uses the autouse ``connects`` fixture by importing it.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from orchestrator.fetch.fetchers import FetchSettings

MiB = 1024 * 1024
LOOPBACK_ONLY = ("127.0.0.1/32",)


# --------------------------------------------------------------------------- connect observer
_CONNECTS: list[str] = []
_OBSERVE = threading.Event()


def _audit(event: str, args: tuple) -> None:
    if event != "socket.connect" or not _OBSERVE.is_set():
        return
    addr = args[1]
    if not isinstance(addr, tuple):
        return
    host = str(addr[0]).split("%", 1)[0]
    _CONNECTS.append(host)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConnectionRefusedError(f"test safety net: connect to non-loopback {host} blocked")


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def connects():
    """The list of addresses this test connected to (only observed while the test runs)."""
    _CONNECTS.clear()
    _OBSERVE.set()
    yield _CONNECTS
    _OBSERVE.clear()


def settings(**kw) -> FetchSettings:
    base = dict(max_bytes=8 * MiB, connect_timeout=5.0, read_timeout=5.0, total_timeout=30.0,
                max_redirects=5, allowlist=LOOPBACK_ONLY)
    base.update(kw)
    return FetchSettings(**base)


def temps(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".upload-")]


class Canary:
    """A listening socket nobody should reach: the kernel queues any connect, accept() reveals it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        n = 0
        for _ in range(100):
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                break
            conn.close()
            n += 1
        return n

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def canary():
    c = Canary()
    yield c
    c.close()


# --------------------------------------------------------------------------- http.server
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: C901 - a small router
        srv = self.server
        srv.hits.append((self.path, self.headers.get("Host")))
        path, _, query = self.path.partition("?")
        stop: threading.Event = srv.stop
        try:
            if path.startswith("/files/"):
                data = srv.files.get(path[len("/files/"):])
                self._send(404, b"no such file") if data is None else self._send(200, data)
            elif path.startswith("/redirect/"):
                _, _, n, name = path.split("/", 3)
                hops = int(n)
                target = f"/redirect/{hops - 1}/{name}" if hops > 1 else f"/files/{name}"
                self._send((301, 302, 307, 308)[hops % 4], headers={"Location": target})
            elif path == "/loop":
                self._send(302, headers={"Location": "/loop"})
            elif path == "/to":
                self._send(302, headers={"Location": unquote(query)})
            elif path.startswith("/status/"):
                self._send(int(path.rsplit("/", 1)[1]), b"status page")
            elif path == "/huge-length":
                self._send(200, b"x" * 1000, headers={"Content-Length": str(10**12)})
            elif path == "/short":
                self._send(200, b"y" * 500, headers={"Content-Length": "1000"})
                self.close_connection = True
            elif path == "/endless":  # no Content-Length, close-delimited, until the client gives up
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                block = b"e" * 65536
                for _ in range(4096):  # ≤ 256 MiB, then stop by itself
                    if stop.is_set():
                        break
                    self.wfile.write(block)
                self.close_connection = True
            elif path == "/slow":  # trickles forever-ish: only the total time cap stops it
                self.send_response(200)
                self.send_header("Content-Length", str(MiB))  # never reached: ≤ 100 kB are sent
                self.end_headers()
                for _ in range(1000):  # ≤ ~20 s
                    if stop.wait(0.02):
                        break
                    self.wfile.write(b"s" * 100)
                    self.wfile.flush()
                self.close_connection = True
            elif path == "/stall":  # a few bytes, then silence: the read timeout stops it
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"z" * 10)
                self.wfile.flush()
                stop.wait(20)
                self.close_connection = True
            else:
                self._send(404)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class HTTPServerThread:
    def __init__(self, host: str) -> None:
        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.server.files = {}
        self.server.hits = []
        self.server.stop = threading.Event()
        self.host, self.port = host, self.server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def files(self) -> dict[str, bytes]:
        return self.server.files

    @property
    def hits(self) -> list[tuple[str, str]]:
        return self.server.hits

    def close(self) -> None:
        self.server.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def http_server():
    srv = HTTPServerThread("127.0.0.1")
    yield srv
    srv.close()


@pytest.fixture
def http_server_alias():
    """The same server on the loopback alias 127.0.0.2 (allow-listed alone in the redirect tests)."""
    srv = HTTPServerThread("127.0.0.2")
    yield srv
    srv.close()
