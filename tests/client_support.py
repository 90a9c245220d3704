"""The loopback API the client tests talk to: a ThreadingHTTPServer on 127.0.0.1 with canned answers, and helpers.

No mocks of httpx: every client test talks HTTP to this server. A test module uses the fixtures (``server``,
and the autouse ``clean_env``) by importing them.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from cloudrun import Cloudrun

REPO = Path(__file__).resolve().parents[1]
TOKEN = "tok-unit-test"


# --------------------------------------------------------------------------------------------- loopback server
@dataclass
class Req:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body_path: Path
    body_size: int

    @property
    def body(self) -> bytes:
        return self.body_path.read_bytes()

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple  # (status, body: dict|bytes|None, headers: dict), or DROP
DROP: Reply = ("drop",)  # close the connection without answering
Handler = Callable[[Req], Reply]


@dataclass
class FakeAPI:
    tmp: Path
    handler: Handler | None = None
    requests: list[Req] = field(default_factory=list)

    def __post_init__(self) -> None:
        api = self
        self._counter = 0
        self._lock = threading.Lock()

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _read_body(self, dest: Path) -> int:
                size = 0
                with dest.open("wb") as out:
                    if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                        while True:
                            n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                            if n == 0:
                                self.rfile.readline()
                                break
                            left = n
                            while left:
                                chunk = self.rfile.read(min(left, 65536))
                                out.write(chunk)
                                left -= len(chunk)
                                size += len(chunk)
                            self.rfile.readline()
                    else:
                        left = int(self.headers.get("Content-Length") or 0)
                        while left:
                            chunk = self.rfile.read(min(left, 65536))
                            if not chunk:
                                break
                            out.write(chunk)
                            left -= len(chunk)
                            size += len(chunk)
                return size

            def _handle(self) -> None:
                with api._lock:
                    api._counter += 1
                    dest = api.tmp / f"body-{api._counter}"
                size = self._read_body(dest)
                parts = urlsplit(self.path)
                req = Req(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body_path=dest,
                    body_size=size,
                )
                with api._lock:
                    api.requests.append(req)
                assert api.handler is not None
                reply = api.handler(req)
                if reply == DROP:
                    self.close_connection = True
                    return
                status, body, headers = reply
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                has_type = any(k.lower() == "content-type" for k in headers)
                if not has_type:
                    self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeAPI]:
    body_dir = tmp_path / "bodies"
    body_dir.mkdir()
    srv = FakeAPI(body_dir)
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDRUN_TOKEN", raising=False)
    monkeypatch.delenv("CLOUDRUN_URL", raising=False)


def make_run(id: str = "r1", status: str = "created", **extra: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": id,
        "model": {
            "name": "wrf",
            "version": "3.9",
            "domains": 1,
            "domain_shape": [[40, 41, 41]],
            "dx": 2000.0,
            "dy": 2000.0,
            "dt": 12.0,
            "start_time": "2026-01-01T00:00:00Z",
            "end_time": "2026-01-01T06:00:00Z",
            "output_interval": 3600,
        },
        "status": status,
        "error": None,
        "input_files": [
            {
                "fileid": "f1",
                "filename": "wrfinput_d01",
                "size": 123,
                "sha256": "ab" * 32,
                "kind": "wrfinput",
                "status": "ready",
                "details": None,
            }
        ],
        "required_input_files": ["wrfbdy_d01"],
        "compute_options": [{"cores": 4, "nodes": 1, "time": 100.0, "cost": 0.1, "recommended": True}],
        "cores": None,
        "percent_complete": None,
        "remaining_time": None,
        "stalled": False,
        "job": None,
        "output_files": [],
        "output_size": 0,
        "disk_usage": 123,
        "time_created": "2026-01-01T00:00:00Z",
        "time_started": None,
        "time_stopped": None,
        "namelist": None,
        "build": {"label": "emulator-3.9", "emulator": True},
        "owner": "alice",
    }
    run.update(extra)
    return run


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def routes(run_status: dict[str, str] | None = None) -> Handler:
    """A small, plausible router for the whole API (enough to run the seed's snippets)."""
    state = {"status": "created"}

    def handle(req: Req) -> Reply:
        p = req.path
        if p == "/v1/wrf" and req.method == "GET":
            return 200, {"runs": [make_run("r1", state["status"])], "next_cursor": None}, {}
        if p == "/v1/wrf" and req.method == "POST":
            return 201, make_run("r1", "created", model={"name": "wrf", "version": req.form["version"][0]}), {}
        if p == "/v1/wrf/r1" and req.method == "GET":
            return 200, make_run("r1", state["status"]), {}
        if p == "/v1/wrf/r1" and req.method == "DELETE":
            return 200, make_run("r1", "deleted"), {}
        if p == "/v1/wrf/r1/upload":
            return 201, {"fileid": "f-up", "run": make_run("r1")}, {}
        if p == "/v1/wrf/r1/upload_url":
            return 202, {"fileid": "f-url", "run": make_run("r1")}, {}
        for action, new in (("setup", "ready"), ("start", "starting"), ("stop", "stopped")):
            if p == f"/v1/wrf/r1/{action}" and req.method == "POST":
                state["status"] = new
                return (200 if action == "setup" else 202), make_run("r1", new), {}
        return 404, error_body("not_found", f"no route {req.method} {p}"), {}

    return handle


def client(server: FakeAPI, **kw: Any) -> Cloudrun:
    return Cloudrun(TOKEN, server.url, **kw)


class SleepRecorder:
    """Records the delays the client asks for; really sleeps only when `real` (to honour Retry-After)."""

    def __init__(self, real: bool) -> None:
        self.real = real
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real:
            time.sleep(seconds)
