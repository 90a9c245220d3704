"""The `cloudrun` client against a loopback HTTP server with canned answers (tests/client_support.py): the seed's
snippets, configuration, typed errors, retries, pagination. Runs, uploads and isolation: test_client_runs.py.

No timing assertions: retries are checked by counting requests and by the delays the client asked for.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
    UnprocessableEntityError,
)
from cloudrun._http import parse_retry_after

from tests.client_support import (  # noqa: F401  (fixtures: pytest finds them by name; clean_env is autouse)
    DROP, FakeAPI, Handler, Reply, Req, SleepRecorder, TOKEN, clean_env, client, error_body, make_run, routes, server,
)


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
