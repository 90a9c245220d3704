"""The `cloudrun` client's run object, run actions, uploads (streaming, retries, progress) and its isolation from
the backend, against the loopback server of tests/client_support.py."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import cloudrun
from cloudrun import NotFoundError, Run, UnexpectedResponseError, UnexpectedStatusError, WaitTimeoutError

from tests.client_support import (  # noqa: F401  (fixtures: pytest finds them by name; clean_env is autouse)
    FakeAPI, REPO, Req, SleepRecorder, TOKEN, clean_env, client, error_body, make_run, routes, server,
)


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
