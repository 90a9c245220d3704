"""Client-side behaviour of the `cloudrun` package against a real loopback HTTP server with canned answers.

No mocks of httpx: every test talks HTTP to a ThreadingHTTPServer on 127.0.0.1 started here.
No timing assertions: retries are checked by counting requests and by the delays the client asked for.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

import cloudrun
from cloudrun import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    Cloudrun,
    CloudrunConnectionError,
    CloudrunError,
    ConflictError,
    InternalServerError,
    MethodNotAllowedError,
    MissingTokenError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    Run,
    ServerError,
    ServiceUnavailableError,
    UnexpectedResponseError,
    UnexpectedStatusError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from cloudrun._http import parse_retry_after

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


# --------------------------------------------------------------------------------------------- seed contract
def test_seed_snippets_work_verbatim(server: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python snippets of seed/api-reference.md, as written there, against the loopback server."""
    monkeypatch.setenv("CLOUDRUN_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDRUN_URL", server.url)
    server.handler = routes()
    path_to_file = tmp_path / "wrfinput_d01"
    path_to_file.write_bytes(b"CDF\x01" + b"\0" * 100)
    ns: dict[str, Any] = {
        "os": os,
        "token": TOKEN,
        "id": "r1",
        "path_to_file": str(path_to_file),
        "url_to_file": "http://example.org/wrfinput_d01",
    }
    snippets = [
        "from cloudrun import Cloudrun\n\napi = Cloudrun(token = os.environ['CLOUDRUN_TOKEN'])\n",
        "from cloudrun import Cloudrun\n\napi = Cloudrun(token)\nruns = api.get_all_runs()\n",
        "from cloudrun import Cloudrun\n\napi = Cloudrun(token)\nrun = api.get_run(id)\n",
        "from cloudrun import Cloudrun\n\napi = Cloudrun(token)\nrun = api.create_run(model='wrf',version='3.9')\n",
        "from cloudrun import Cloudrun\n\napi = Cloudrun(token)\nrun = api.create_run(model='wrf',version='3.9')\n"
        "run.upload(file=path_to_file)\n",
        "from cloudrun import Cloudrun\n\napi = Cloudrun(token)\nrun = api.create_run(model='wrf',version='3.9')\n"
        "run.upload(url=url_to_file)\n",
    ]
    for code in snippets:
        exec(code, ns)
    assert isinstance(ns["runs"], list) and isinstance(ns["runs"][0], Run)
    assert ns["run"].model["version"] == "3.9"
    seen = [(r.method, r.path) for r in server.requests]
    assert seen == [
        ("GET", "/v1/wrf"),
        ("GET", "/v1/wrf/r1"),
        ("POST", "/v1/wrf"),
        ("POST", "/v1/wrf"),
        ("POST", "/v1/wrf/r1/upload"),
        ("POST", "/v1/wrf"),
        ("POST", "/v1/wrf/r1/upload_url"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    create = server.requests[2]
    assert create.form == {"model": ["wrf"], "version": ["3.9"]}
    assert server.requests[6].form == {"url": ["http://example.org/wrfinput_d01"]}


# --------------------------------------------------------------------------------------------- configuration
def test_token_and_url_from_environment(server: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDRUN_TOKEN", "env-token")
    monkeypatch.setenv("CLOUDRUN_URL", server.url + "/")
    server.handler = routes()
    api = Cloudrun()
    assert api.url == server.url
    api.get_run("r1")
    assert server.requests[-1].headers["authorization"] == "Bearer env-token"
    assert server.requests[-1].path == "/v1/wrf/r1"


def test_explicit_token_and_url_override_environment(server: FakeAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDRUN_TOKEN", "env-token")
    monkeypatch.setenv("CLOUDRUN_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    server.handler = routes()
    api = Cloudrun(token="explicit", url=server.url)
    api.get_run("r1")
    assert server.requests[-1].headers["authorization"] == "Bearer explicit"


def test_default_url() -> None:
    assert Cloudrun("t").url == "https://api.cloudrun.co/v1" == cloudrun.DEFAULT_URL


@pytest.mark.parametrize("env_token", [None, "", "   "])
def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, env_token: str | None) -> None:
    if env_token is not None:
        monkeypatch.setenv("CLOUDRUN_TOKEN", env_token)
    with pytest.raises(MissingTokenError, match="CLOUDRUN_TOKEN") as info:
        Cloudrun()
    assert isinstance(info.value, CloudrunError)
    with pytest.raises(MissingTokenError):
        Cloudrun(token="")


def test_bad_url_is_rejected() -> None:
    with pytest.raises(cloudrun.ConfigurationError, match="http"):
        Cloudrun("t", "api.cloudrun.co/v1")


def test_connection_refused_is_typed_after_bounded_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = Cloudrun("t", f"http://127.0.0.1:{port}/v1")
    sleeps = SleepRecorder(real=False)
    api._http._sleep = sleeps
    with pytest.raises(CloudrunConnectionError, match="ConnectError"):
        api.create_run(version="3.9")  # never sent, so resent even though POST
    assert sleeps.calls == [0.5, 1.0]
    api0 = Cloudrun("t", f"http://127.0.0.1:{port}/v1", max_retries=0)
    api0._http._sleep = sleeps
    with pytest.raises(CloudrunConnectionError):
        api0.get_run("r1")
    assert sleeps.calls == [0.5, 1.0]


def test_dropped_connection_is_resent_for_get_only(server: FakeAPI) -> None:
    answers = iter([DROP, (200, make_run("r1"), {})])
    server.handler = lambda req: next(answers)
    api = client(server)
    sleeps = SleepRecorder(real=False)
    api._http._sleep = sleeps
    assert api.get_run("r1").id == "r1"
    assert len(server.requests) == 2 and sleeps.calls == [0.5]

    server.handler = lambda req: DROP
    run = Run(make_run("r1"), api)
    with pytest.raises(CloudrunConnectionError):
        run.start()  # a POST that may have been acted on is not resent
    assert len(server.requests) == 3


# --------------------------------------------------------------------------------------------- errors
ERROR_CASES = [
    (400, BadRequestError, ClientError),
    (401, AuthenticationError, ClientError),
    (403, PermissionDeniedError, ClientError),
    (404, NotFoundError, ClientError),
    (405, MethodNotAllowedError, ClientError),
    (409, ConflictError, ClientError),
    (413, PayloadTooLargeError, ClientError),
    (422, UnprocessableEntityError, ClientError),
    (429, RateLimitError, ClientError),
    (500, InternalServerError, ServerError),
    (503, ServiceUnavailableError, ServerError),
]


@pytest.mark.parametrize(("status", "exc_type", "family"), ERROR_CASES)
def test_http_errors_raise_typed_exceptions(
    server: FakeAPI, status: int, exc_type: type[APIError], family: type[APIError]
) -> None:
    details = [{"code": "bad_thing", "message": f"detail for {status}"}]

    def handle(req: Req) -> Reply:
        return status, error_body(f"code_{status}", f"message {status}", details), {"Retry-After": "7"}

    server.handler = handle
    api = client(server, max_retries=0)
    with pytest.raises(exc_type) as info:
        api.get_run("r1")
    err = info.value
    assert type(err) is exc_type
    assert isinstance(err, family) and isinstance(err, APIError) and isinstance(err, CloudrunError)
    assert err.status_code == status
    assert err.code == f"code_{status}"
    assert err.message == f"message {status}"
    assert err.details == details
    assert err.retry_after == 7.0
    assert f"message {status}" in str(err) and f"detail for {status}" in str(err)
    assert len(server.requests) == 1  # max_retries=0: no retry, even for 429/503


def test_every_error_type_is_distinct() -> None:
    assert len({exc for _, exc, _ in ERROR_CASES}) == len(ERROR_CASES)


def test_non_json_error_body(server: FakeAPI) -> None:
    server.handler = lambda req: (502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})
    with pytest.raises(ServerError) as info:
        client(server).get_run("r1")
    assert info.value.status_code == 502
    assert info.value.code == "http_502"
    assert "bad gateway" in info.value.message


def test_setup_problems_are_listed(server: FakeAPI) -> None:
    problems = [
        {"code": "namelist_mismatch", "message": "e_we 42 in namelist, 50 in wrfinput_d01"},
        {"code": "missing_input", "message": "wrfbdy_d01 is required"},
    ]
    server.handler = lambda req: (400, error_body("invalid_input", "setup found 2 problems", problems), {})
    run = Run(make_run("r1"), client(server))
    with pytest.raises(BadRequestError) as info:
        run.setup()
    assert info.value.details == problems
    assert "e_we 42" in str(info.value) and "wrfbdy_d01 is required" in str(info.value)


def test_success_with_garbage_body_is_typed(server: FakeAPI) -> None:
    server.handler = lambda req: (200, b"not json", {"Content-Type": "text/plain"})
    with pytest.raises(UnexpectedResponseError):
        client(server).get_run("r1")


# --------------------------------------------------------------------------------------------- retries
def _flaky(status: int, failures: int, retry_after: str | None) -> Handler:
    count = {"n": 0}

    def handle(req: Req) -> Reply:
        count["n"] += 1
        if count["n"] <= failures:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return status, error_body("slow_down", "try later"), headers
        return 200, make_run("r1"), {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": "30"}

    return handle


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_then_success(server: FakeAPI, status: int) -> None:
    server.handler = _flaky(status, failures=1, retry_after="1")
    api = client(server)
    sleeps = SleepRecorder(real=True)
    api._http._sleep = sleeps
    run = api.get_run("r1")
    assert run.id == "r1"
    assert len(server.requests) == 2
    assert sleeps.calls == [1.0]
    assert api.rate_limit == cloudrun.RateLimit(limit=60, remaining=59, reset=30)


@pytest.mark.parametrize(("status", "exc_type"), [(429, RateLimitError), (503, ServiceUnavailableError)])
def test_retries_are_bounded(server: FakeAPI, status: int, exc_type: type[APIError]) -> None:
    server.handler = _flaky(status, failures=100, retry_after="2")
    api = client(server, max_retries=3)
    sleeps = SleepRecorder(real=False)
    api._http._sleep = sleeps
    with pytest.raises(exc_type) as info:
        api.get_run("r1")
    assert len(server.requests) == 4
    assert sleeps.calls == [2.0, 2.0, 2.0]
    assert info.value.retry_after == 2.0 and info.value.code == "slow_down"


def test_retry_after_is_capped(server: FakeAPI) -> None:
    server.handler = _flaky(429, failures=1, retry_after="3600")
    api = client(server, max_retry_wait=0.25)
    sleeps = SleepRecorder(real=False)
    api._http._sleep = sleeps
    api.get_run("r1")
    assert sleeps.calls == [0.25]


def test_retry_without_retry_after_backs_off(server: FakeAPI) -> None:
    server.handler = _flaky(503, failures=3, retry_after=None)
    api = client(server)
    sleeps = SleepRecorder(real=False)
    api._http._sleep = sleeps
    api.get_run("r1")
    assert sleeps.calls == [0.5, 1.0, 2.0]


def test_other_errors_are_not_retried(server: FakeAPI) -> None:
    server.handler = _flaky(500, failures=1, retry_after="1")
    api = client(server)
    with pytest.raises(InternalServerError):
        api.get_run("r1")
    assert len(server.requests) == 1


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("5", now=now) == 5.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


# --------------------------------------------------------------------------------------------- pagination
def test_get_all_runs_follows_next_cursor(server: FakeAPI) -> None:
    pages = {
        None: (["r5", "r4"], "c2"),
        "c2": (["r3", "r2"], "c3"),
        "c3": (["r1"], None),
    }

    def handle(req: Req) -> Reply:
        cursor = req.query.get("cursor", [None])[0]
        ids, nxt = pages[cursor]
        return 200, {"runs": [make_run(i) for i in ids], "next_cursor": nxt}, {}

    server.handler = handle
    runs = client(server).get_all_runs(status="done", page_size=2)
    assert [r.id for r in runs] == ["r5", "r4", "r3", "r2", "r1"]
    assert all(isinstance(r, Run) for r in runs)
    assert [r.query.get("cursor", [None])[0] for r in server.requests] == [None, "c2", "c3"]
    assert all(r.query["status"] == ["done"] and r.query["limit"] == ["2"] for r in server.requests)
    assert all(r.path == "/v1/wrf" for r in server.requests)


def test_get_all_runs_without_filters_sends_no_params(server: FakeAPI) -> None:
    server.handler = lambda req: (200, {"runs": [], "next_cursor": None}, {})
    assert client(server).get_all_runs() == []
    assert server.requests[0].query == {}


def test_repeated_cursor_does_not_loop_forever(server: FakeAPI) -> None:
    server.handler = lambda req: (200, {"runs": [make_run("r1")], "next_cursor": "same"}, {})
    with pytest.raises(UnexpectedResponseError, match="same"):
        client(server).get_all_runs()
    assert len(server.requests) == 2


# --------------------------------------------------------------------------------------------- run object
def test_run_has_a_property_for_every_field() -> None:
    data = make_run("r9", "active", percent_complete=42.5, future_field={"x": 1})
    run = Run(data)
    for name in cloudrun.RUN_FIELDS:
        assert isinstance(getattr(Run, name), property), name
        assert getattr(run, name) == data[name], name
    assert set(cloudrun.RUN_FIELDS) | {"future_field"} == set(data)
    assert run.extra == {"future_field": {"x": 1}}
    assert run["future_field"] == {"x": 1} and run.get("future_field") == {"x": 1} and "future_field" in run
    assert run.data == data
    entry = run.input_file("f1")
    assert entry is not None and entry["filename"] == "wrfinput_d01" and run.input_file("nope") is None
    text = repr(run)
    assert "r9" in text and "active" in text and "42%" in text and len(text) < 80


def test_sparse_run_object_does_not_break() -> None:
    run = Run({"id": "r1", "status": "created"})
    assert run.model == {} and run.input_files == [] and run.compute_options == []
    assert run.error is None and run.job is None and run.percent_complete is None
    assert "r1" in repr(run)
    with pytest.raises(UnexpectedResponseError):
        Run({"status": "created"})


def test_unbound_run_actions_fail_clearly() -> None:
    with pytest.raises(cloudrun.ConfigurationError, match="not bound"):
        Run(make_run()).refresh()


def test_run_actions_send_the_right_requests(server: FakeAPI) -> None:
    server.handler = routes()
    api = client(server)
    run = api.create_run(model="wrf", version="3.8.1")
    assert run.status == "created" and run.model["version"] == "3.8.1"

    assert run.upload(url="s3://bucket/wrfbdy_d01") == "f-url"
    assert run.setup(namelist={"time_control": {"run_hours": 6}}) is run and run.status == "ready"
    assert run.setup() is run
    assert run.start(cores=8) is run and run.status == "starting"
    assert run.start() is run
    assert run.refresh().status == "starting"
    assert run.stop() is run and run.status == "stopped"
    assert run.delete() is run and run.status == "deleted"

    reqs = server.requests
    assert [(r.method, r.path) for r in reqs] == [
        ("POST", "/v1/wrf"),
        ("POST", "/v1/wrf/r1/upload_url"),
        ("POST", "/v1/wrf/r1/setup"),
        ("POST", "/v1/wrf/r1/setup"),
        ("POST", "/v1/wrf/r1/start"),
        ("POST", "/v1/wrf/r1/start"),
        ("GET", "/v1/wrf/r1"),
        ("POST", "/v1/wrf/r1/stop"),
        ("DELETE", "/v1/wrf/r1"),
    ]
    assert reqs[0].form == {"model": ["wrf"], "version": ["3.8.1"]}
    assert reqs[1].form == {"url": ["s3://bucket/wrfbdy_d01"]}
    assert reqs[2].json == {"namelist": {"time_control": {"run_hours": 6}}}
    assert reqs[2].headers["content-type"] == "application/json"
    assert reqs[3].body == b""
    assert reqs[4].form == {"cores": ["8"]}
    assert reqs[5].body == b""
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in reqs)


def test_run_id_is_escaped_in_paths(server: FakeAPI) -> None:
    server.handler = lambda req: (404, error_body("not_found", "no such run"), {})
    with pytest.raises(NotFoundError):
        client(server).get_run("../admin")
    assert server.requests[0].path == "/v1/wrf/..%2Fadmin"


def test_upload_needs_exactly_one_source(server: FakeAPI, tmp_path: Path) -> None:
    run = Run(make_run(), client(server))
    with pytest.raises(cloudrun.ConfigurationError):
        run.upload()
    with pytest.raises(cloudrun.ConfigurationError):
        run.upload(file=tmp_path / "x", url="http://example.org/x")
    with pytest.raises(cloudrun.ConfigurationError, match="no such file"):
        run.upload(file=tmp_path / "missing")
    assert server.requests == []


def test_wait_polls_until_status(server: FakeAPI) -> None:
    sequence = iter(["starting", "active", "done"])
    server.handler = lambda req: (200, make_run("r1", next(sequence)), {})
    run = Run(make_run("r1", "starting"), client(server))
    assert run.wait("done", interval=0) is run
    assert run.status == "done"
    assert len(server.requests) == 3


def test_wait_raises_when_run_settles_elsewhere(server: FakeAPI) -> None:
    err = {"code": "cfl", "message": "CFL blow-up at step 120", "details": None}
    server.handler = lambda req: (200, make_run("r1", "error", error=err), {})
    run = Run(make_run("r1", "active"), client(server))
    with pytest.raises(UnexpectedStatusError, match="cfl") as info:
        run.wait(["done"], interval=0)
    assert info.value.status == "error" and info.value.error == err


def test_wait_timeout(server: FakeAPI) -> None:
    server.handler = lambda req: (200, make_run("r1", "active"), {})
    run = Run(make_run("r1", "active"), client(server))
    with pytest.raises(WaitTimeoutError):
        run.wait("done", timeout=0, interval=0)
    assert len(server.requests) == 1


# --------------------------------------------------------------------------------------------- uploads
def _write_random_file(path: Path, mib: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for _ in range(mib):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            fh.write(block)
    return digest.hexdigest()


def _multipart_file(req: Req) -> tuple[bytes, str, int]:
    """(part headers, sha256 of the part's content, its length) of a single-part multipart body on disk."""
    ctype = req.headers["content-type"]
    assert ctype.startswith("multipart/form-data")
    boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
    opening = b"--" + boundary + b"\r\n"
    closing = b"\r\n--" + boundary + b"--\r\n"
    with req.body_path.open("rb") as fh:
        head = fh.read(8192)
        assert head.startswith(opening)
        start = head.index(b"\r\n\r\n") + 4
        part_headers = head[len(opening) : start]
        fh.seek(req.body_size - len(closing))
        assert fh.read() == closing
        length = req.body_size - len(closing) - start
        fh.seek(start)
        digest = hashlib.sha256()
        left = length
        while left:
            chunk = fh.read(min(left, 1 << 20))
            digest.update(chunk)
            left -= len(chunk)
    return part_headers, digest.hexdigest(), length


def test_upload_streams_exact_bytes_without_reading_file_into_memory(server: FakeAPI, tmp_path: Path) -> None:
    src = tmp_path / "wrfinput_d01"
    size = 48 * 1024 * 1024
    expected = _write_random_file(src, size // (1024 * 1024))
    server.handler = lambda req: (201, {"fileid": "f-big", "run": make_run("r1")}, {})
    run = Run(make_run("r1"), client(server))

    tracemalloc.start()
    try:
        fileid = run.upload(file=str(src), progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert fileid == "f-big"
    req = server.requests[0]
    assert (req.method, req.path) == ("POST", "/v1/wrf/r1/upload")
    assert "content-length" in req.headers  # sized up front, not chunked
    part_headers, digest, length = _multipart_file(req)
    assert b'name="file"' in part_headers and b'filename="wrfinput_d01"' in part_headers
    assert length == size and digest == expected
    assert peak < size / 8, f"peak traced memory {peak} bytes for a {size}-byte upload"


def test_upload_of_file_object_and_retry_resends_whole_file(server: FakeAPI, tmp_path: Path) -> None:
    src = tmp_path / "wrfbdy_d01"
    expected = _write_random_file(src, 2)
    answers = iter([(429, error_body("rate_limited", "slow down"), {"Retry-After": "0"}),
                    (201, {"fileid": "f2", "run": make_run("r1")}, {})])
    server.handler = lambda req: next(answers)
    api = client(server)
    api._http._sleep = SleepRecorder(real=False)
    run = Run(make_run("r1"), api)
    with src.open("rb") as fh:
        fh.read(1000)  # the client must send from the start regardless
        assert run.upload(fh, filename="renamed_d01", progress=False) == "f2"
        assert not fh.closed
    assert len(server.requests) == 2
    for req in server.requests:
        part_headers, digest, length = _multipart_file(req)
        assert b'filename="renamed_d01"' in part_headers
        assert (digest, length) == (expected, 2 * 1024 * 1024)


def test_text_mode_file_is_refused(server: FakeAPI, tmp_path: Path) -> None:
    src = tmp_path / "namelist.input"
    src.write_text("&time_control\n/\n")
    with src.open("r") as fh, pytest.raises(cloudrun.ConfigurationError, match="binary"):
        Run(make_run("r1"), client(server)).upload(fh)  # type: ignore[arg-type]
    assert server.requests == []


def test_progress_output_respects_flag_when_not_a_terminal(
    server: FakeAPI, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "wrfinput_d01"
    _write_random_file(src, 1)
    server.handler = lambda req: (201, {"fileid": "f", "run": make_run("r1")}, {})
    run = Run(make_run("r1"), client(server))

    run.upload(file=src, progress=False)
    run.upload(file=src)  # auto: stderr is captured, not a terminal → silent
    out, err = capfd.readouterr()
    assert out == "" and err == ""

    run.upload(file=src, progress=True)  # forced: proves this capture would have seen a bar
    out, err = capfd.readouterr()
    assert "wrfinput_d01" in err


def _upload_on_pty(run: Run, src: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> bytes:
    """Upload with sys.stderr on a real pseudo-terminal; return what was written to the terminal."""
    master, slave = os.openpty()
    tty = os.fdopen(slave, "w", buffering=1, encoding="utf-8")
    got: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            got.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", tty)
        m.setenv("TERM", "xterm-256color")
        for var in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
            m.delenv(var, raising=False)
        assert sys.stderr.isatty()
        run.upload(file=src, **kw)
    tty.close()
    reader.join(timeout=10)
    os.close(master)
    return b"".join(got)


def test_progress_bar_on_terminal_and_silenced_by_progress_false(
    server: FakeAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "wrfinput_d01"
    _write_random_file(src, 1)
    server.handler = lambda req: (201, {"fileid": "f", "run": make_run("r1")}, {})
    run = Run(make_run("r1"), client(server))
    shown = _upload_on_pty(run, src, monkeypatch)
    assert b"wrfinput_d01" in shown
    silenced = _upload_on_pty(run, src, monkeypatch, progress=False)
    assert silenced == b""
    assert len(server.requests) == 2


# --------------------------------------------------------------------------------------------- isolation
def test_client_never_imports_orchestrator() -> None:
    for path in sorted((REPO / "cloudrun").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "orchestrator" for n in names), f"{path.name} imports {names}"
    code = "import sys, cloudrun; print(sorted(m for m in sys.modules if m.split('.')[0] == 'orchestrator'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
