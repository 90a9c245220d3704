"""Uploads: filename policy, AtomicFileWriter, and receive_multipart_file under a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from orchestrator.api.upload_stream import receive_multipart_file
from orchestrator.store.uploads import AtomicFileWriter, UploadError, cleanup_stale_temps, sanitize_filename

MiB = 1024 * 1024
BOUNDARY = "----cloudrunTestBoundary7MA4YWxkTrZu0gW"

HOSTILE_NAMES = [
    "../../etc/passwd",
    "/abs",
    "/tmp/evil",
    "a/b",
    "a\\b",
    "..",
    ".",
    "../",
    "..\\..\\x",
    "nul\x00byte",
    "new\nline",
    "carriage\rreturn",
    "esc\x1b[31m",
    "del\x7f",
    "c1\x85ctl",
    "x" * 300,
    "é" * 128,  # 256 bytes in UTF-8
    "",
    " leading",
    "trailing ",
    ".hidden",
    ".upload-0123.part",  # the writer's own temp namespace
    "wrfinput\u202e10d_",  # right-to-left override
    "\u200bwrfinput_d01",  # zero-width space
    "bom\ufeff",
    "\uff0e\uff0e",  # fullwidth dots: NFKC '..'
    "a\uff0fb",  # fullwidth solidus
    "a\u2215b",  # division slash
    "a\u2044b",  # fraction slash
    "line\u2028sep",
    "\ud800surrogate",
]


# --------------------------------------------------------------------------- sanitize_filename
@pytest.mark.parametrize("name", ["wrfinput_d01", "wrfbdy_d01", "namelist.input", "wrflowinp_d02",
                                  "wrfout_d01_2019-01-01_00:00:00", "données_d01", "x" * 255, "a b.nc"])
def test_sanitize_accepts_ordinary_names(name: str) -> None:
    assert sanitize_filename(name) == name


def test_sanitize_returns_nfc() -> None:
    assert sanitize_filename("cafe\u0301") == "caf\u00e9"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_sanitize_refuses_hostile_names(name: str) -> None:
    with pytest.raises(UploadError) as info:
        sanitize_filename(name)
    assert (info.value.status, info.value.code) == (400, "bad_filename")
    assert info.value.message


# --------------------------------------------------------------------------- AtomicFileWriter
def _temps(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.name.startswith(".upload-"))


def test_writer_commit_hash_mode(tmp_path: Path) -> None:
    dest = tmp_path / "wrfinput_d01"
    data = os.urandom(3 * MiB + 17)
    with AtomicFileWriter(dest, max_bytes=10 * MiB) as w:
        assert w.temp_path is not None and w.temp_path.parent == tmp_path
        assert w.temp_path.name.startswith(".upload-") and w.temp_path.name.endswith(".part")
        for i in range(0, len(data), 65536):
            w.write(data[i : i + 65536])
        assert not dest.exists()  # nothing lands before commit
        w.commit()
    assert dest.read_bytes() == data
    assert (w.size, w.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert _temps(tmp_path) == []


def test_writer_write_many(tmp_path: Path) -> None:
    pieces = [os.urandom(100_000), memoryview(os.urandom(70_000))[10:], b"", bytearray(b"tail")]
    expected = b"".join(bytes(p) for p in pieces)
    with AtomicFileWriter(tmp_path / "f", max_bytes=len(expected)) as w:
        w.write_many(pieces)
        w.commit()
    assert (tmp_path / "f").read_bytes() == expected
    assert (w.size, w.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    with AtomicFileWriter(tmp_path / "g", max_bytes=len(expected) - 1) as w2:
        with pytest.raises(UploadError):
            w2.write_many(pieces)
    assert not (tmp_path / "g").exists() and _temps(tmp_path) == []


@pytest.mark.parametrize("finish", ["commit", "abort"])
def test_writer_past_background_flush(tmp_path: Path, finish: str) -> None:
    """Past _FLUSH_EVERY a background fdatasync runs; commit and abort must both wait for it safely."""
    block = os.urandom(MiB)
    total = 70  # MiB, above the 64 MiB flush threshold
    dest = tmp_path / "big"
    with pytest.raises(RuntimeError) if finish == "abort" else contextlib.nullcontext():
        with AtomicFileWriter(dest, max_bytes=100 * MiB) as w:
            for _ in range(total):
                w.write(block)
            if finish == "abort":
                raise RuntimeError("source broke")
            w.commit()
    if finish == "commit":
        assert dest.stat().st_size == total * MiB
        assert w.sha256 == hashlib.sha256(block * total).hexdigest()
    else:
        assert not dest.exists()
    assert _temps(tmp_path) == []


def test_writer_exception_keeps_old_file(tmp_path: Path) -> None:
    dest = tmp_path / "wrfbdy_d01"
    dest.write_bytes(b"old good copy")
    with pytest.raises(RuntimeError):
        with AtomicFileWriter(dest, max_bytes=MiB) as w:
            w.write(b"new partial")
            raise RuntimeError("source broke")
    assert dest.read_bytes() == b"old good copy"
    assert _temps(tmp_path) == []


def test_writer_without_commit_discards(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    with AtomicFileWriter(dest, max_bytes=MiB) as w:
        w.write(b"abc")
    assert not dest.exists() and _temps(tmp_path) == [] and not w.committed


def test_writer_cap_413(tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"previous")
    with AtomicFileWriter(dest, max_bytes=100) as w:
        w.write(b"x" * 100)  # exactly the cap is fine
        with pytest.raises(UploadError) as info:
            w.write(b"y")
    assert (info.value.status, info.value.code) == (413, "file_too_large")
    assert dest.read_bytes() == b"previous" and _temps(tmp_path) == []


def test_cleanup_stale_temps(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    old = tmp_path / ".upload-aaaa.part"
    new = tmp_path / ".upload-bbbb.part"
    nested = sub / ".upload-cccc.part"
    keep = tmp_path / "wrfinput_d01"
    for p in (old, new, nested, keep):
        p.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    target = tmp_path / "victim"
    target.write_bytes(b"v")
    link = tmp_path / ".upload-link.part"
    link.symlink_to(target)
    assert cleanup_stale_temps(tmp_path, older_than=3600) == [old]
    assert new.exists() and nested.exists()
    removed = cleanup_stale_temps(tmp_path, recursive=True)
    assert sorted(removed) == sorted([new, nested])
    assert keep.exists() and link.is_symlink() and target.read_bytes() == b"v"


# --------------------------------------------------------------------------- real uvicorn app
class Server:
    """A FastAPI app under real uvicorn in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def upload_server(tmp_path: Path):
    """POST /upload → receive_multipart_file into tmp_path/run/inputs (cap 4 MiB). Outcomes in .outcomes."""
    dest = tmp_path / "run" / "inputs"
    dest.mkdir(parents=True)
    (tmp_path / "run" / "other").mkdir()
    app = FastAPI()
    outcomes: list[object] = []

    @app.post("/upload")
    async def upload(request: Request):
        try:
            got = await receive_multipart_file(request, dest, 4 * MiB)
        except UploadError as exc:
            outcomes.append(exc)
            return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)
        outcomes.append(got)
        return {"filename": got.filename, "size": got.size, "sha256": got.sha256, "fields": got.fields}

    with Server(app) as srv:
        srv.dest = dest  # type: ignore[attr-defined]
        srv.outcomes = outcomes  # type: ignore[attr-defined]
        srv.url = f"http://127.0.0.1:{srv.port}/upload"  # type: ignore[attr-defined]
        yield srv


def multipart_body(filename: bytes | str, data: bytes, *, field: str = "file", extra: bytes = b"") -> bytes:
    """A multipart/form-data body built by hand, so hostile names reach the server byte for byte."""
    if isinstance(filename, str):
        filename = filename.encode("utf-8")
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"".encode()
        + filename
        + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    return extra + head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


FIRST_PART_UNCLOSED = multipart_body("wrfinput_d01", b"one")[: -len(f"--{BOUNDARY}--\r\n")]


def post(url: str, body: bytes, content_type: str | None = None) -> httpx.Response:
    headers = {"Content-Type": content_type or f"multipart/form-data; boundary={BOUNDARY}"}
    return httpx.post(url, content=body, headers=headers, timeout=30)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_upload_normal_and_sha256(upload_server) -> None:
    data = os.urandom(3 * MiB + 12345)  # several parser batches
    r = httpx.post(upload_server.url, files={"file": ("wrfinput_d01", data)}, data={"note": "hi"}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["filename"] == "wrfinput_d01" and body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["fields"] == {"note": "hi"}
    assert (upload_server.dest / "wrfinput_d01").read_bytes() == data
    assert tree(upload_server.dest) == {"wrfinput_d01"}


def test_upload_chunked_body_without_content_length(upload_server) -> None:
    data = os.urandom(2 * MiB + 1)
    body = multipart_body("namelist.input", data)

    def gen():
        for i in range(0, len(body), 100_000):
            yield body[i : i + 100_000]

    r = httpx.post(upload_server.url, content=gen(), timeout=30,
                   headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert r.status_code == 200, r.text
    assert (upload_server.dest / "namelist.input").read_bytes() == data


def test_upload_replace_keeps_only_new(upload_server) -> None:
    for content in (b"version one" * 1000, b"version two!"):
        r = httpx.post(upload_server.url, files={"file": ("wrfbdy_d01", content)}, timeout=30)
        assert r.status_code == 200, r.text
    assert tree(upload_server.dest) == {"wrfbdy_d01"}
    assert (upload_server.dest / "wrfbdy_d01").read_bytes() == b"version two!"


def test_upload_size_cap_streaming_413(upload_server) -> None:
    (upload_server.dest / "wrfinput_d01").write_bytes(b"earlier")
    data = b"z" * (4 * MiB + 1)  # under the Content-Length envelope allowance: caught while streaming
    r = post(upload_server.url, multipart_body("wrfinput_d01", data))
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    assert (upload_server.dest / "wrfinput_d01").read_bytes() == b"earlier"
    assert tree(upload_server.dest) == {"wrfinput_d01"}


def test_upload_size_cap_early_by_content_length(upload_server) -> None:
    # Only the headers are sent: a 413 without reading any body proves the early refusal.
    with socket.create_connection(("127.0.0.1", upload_server.port), timeout=10) as s:
        s.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10737418240\r\n"
            b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode() + b"\r\n\r\n"
        )
        reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert tree(upload_server.dest) == set()


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if "\n" not in n and "\r" not in n and n != ""
                                  and "\ud800" not in n])
def test_upload_hostile_filename_400_nothing_written(upload_server, tmp_path: Path, name: str) -> None:
    before = tree(tmp_path)
    raw = name.encode("utf-8")
    r = post(upload_server.url, multipart_body(raw, b"PAYLOAD" * 100))
    assert r.status_code == 400, (name, r.status_code, r.text)
    assert r.json()["error"]["code"] == "bad_filename"
    assert tree(tmp_path) == before  # nothing created anywhere under the test's tree
    assert not Path("/abs").exists() and not Path("/tmp/evil").exists()


def test_upload_filename_not_utf8_400(upload_server) -> None:
    r = post(upload_server.url, multipart_body(b"bad\xff\xfename", b"x"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_filename"
    assert tree(upload_server.dest) == set()


@pytest.mark.parametrize(
    "body, ctype, status, code",
    [
        (b'{"file": 1}', "application/json", 400, "not_multipart"),
        (b"x", "multipart/form-data", 400, "bad_multipart"),  # no boundary
        (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--{BOUNDARY}--\r\n'.encode(),
         None, 422, "missing_file"),
        (multipart_body("", b"data"), None, 400, "missing_filename"),
        (multipart_body("wrfinput_d01", b"data", field="other"), None, 400, "unexpected_file"),
        (multipart_body("wrfinput_d02", b"two", extra=FIRST_PART_UNCLOSED), None, 400, "too_many_files"),
        (b"this is not multipart at all", None, 400, "bad_multipart"),
        (multipart_body("wrfinput_d01", b"data")[:-10], None, 400, "incomplete_upload"),
    ],
)
def test_upload_refusals(upload_server, body: bytes, ctype: str | None, status: int, code: str) -> None:
    r = post(upload_server.url, body, ctype)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert tree(upload_server.dest) == set()


def test_client_disconnect_keeps_earlier_version_no_temps(upload_server) -> None:
    dest_file = upload_server.dest / "wrfinput_d01"
    r = httpx.post(upload_server.url, files={"file": ("wrfinput_d01", b"earlier good version")}, timeout=30)
    assert r.status_code == 200
    upload_server.outcomes.clear()
    body = multipart_body("wrfinput_d01", os.urandom(3 * MiB))
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
    ).encode()
    s = socket.create_connection(("127.0.0.1", upload_server.port), timeout=10)
    s.sendall(head + body[: len(body) // 2])
    saw_temp = False
    for _ in range(200):  # wait until the server is mid-write (its temp file exists)
        if _temps(upload_server.dest):
            saw_temp = True
            break
        time.sleep(0.05)
    s.close()
    for _ in range(200):
        if upload_server.outcomes:
            break
        time.sleep(0.05)
    assert saw_temp, "the upload never reached the temp file; the test would prove nothing"
    assert len(upload_server.outcomes) == 1
    outcome = upload_server.outcomes[0]
    assert isinstance(outcome, UploadError) and outcome.code == "incomplete_upload"
    assert dest_file.read_bytes() == b"earlier good version"
    assert tree(upload_server.dest) == {"wrfinput_d01"}
