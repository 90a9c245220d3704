"""Inputs through the real API: bad files refused with a reason and nothing left behind, hostile names,
a client vanishing mid-upload, URL uploads, and setup refusing what wrf.exe would reject."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
from pathlib import Path

import httpx
import netCDF4
import pytest

from tests.factory import make_real_case, make_wrfinput, make_wrfout
from tests.servers import ApiServer

REAL_INPUT = Path(__file__).resolve().parents[2] / "shared" / "wrf-reference" / "inputs" / "wrfinput_d01.v3.9.em_quarter_ss.gz"


@pytest.fixture(scope="module")
def token(live_server: ApiServer) -> str:
    return live_server.deployment.create_user_token("ines")


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_run(api: ApiServer, token: str, version: str = "3.9") -> str:
    return httpx.post(f"{api.url}/wrf", headers=h(token), data={"version": version}).json()["id"]


def upload(api: ApiServer, token: str, run_id: str, path: Path, name: str | None = None) -> httpx.Response:
    with open(path, "rb") as fh:
        return httpx.post(f"{api.url}/wrf/{run_id}/upload", headers=h(token),
                          files={"file": (name or path.name, fh)}, timeout=60)


def storage(api: ApiServer) -> Path:
    return Path(api.deployment.env()["CLOUDRUN_STORAGE_ROOT"])


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def bad_files(tmp: Path) -> dict[str, Path]:
    out = {}
    (tmp / "empty").write_bytes(b"")
    out["empty"] = tmp / "empty"
    (tmp / "random").write_bytes(os.urandom(300_000))
    out["random"] = tmp / "random"
    good = make_wrfinput(tmp / "full")
    cut = tmp / "half"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out["truncated_factory"] = cut
    if REAL_INPUT.exists():
        real = gzip.decompress(REAL_INPUT.read_bytes())
        (tmp / "real_half").write_bytes(real[: len(real) // 2])
        out["truncated_real"] = tmp / "real_half"
    with netCDF4.Dataset(tmp / "h5", "w", format="NETCDF4") as ds:
        ds.createDimension("x", 10)
        ds.createVariable("temperature", "f4", ("x",))
        ds.title = "not WRF"
    out["hdf5_not_wrf"] = tmp / "h5"
    out["wrfout"] = make_wrfout(tmp / "wrfout_d01_0001-01-01_00:00:00")
    (tmp / "nl").write_text("&time_control\n run_hours = 6,\n history_interval = 60,\n")  # no closing '/'
    out["namelist_syntax"] = tmp / "nl"
    return out


def test_bad_files_are_refused_and_leave_nothing(live_server: ApiServer, token: str, tmp_path: Path) -> None:
    run_id = new_run(live_server, token)
    good = make_wrfinput(tmp_path / "wrfinput_d01")
    assert upload(live_server, token, run_id, good).status_code == 201
    good_sha = hashlib.sha256(good.read_bytes()).hexdigest()
    before = all_files(storage(live_server) / "uploads") | all_files(storage(live_server) / "incoming")
    reasons = {}
    for what, path in bad_files(tmp_path).items():
        name = "namelist.input" if what == "namelist_syntax" else "wrfinput_d01"
        r = upload(live_server, token, run_id, path, name)
        assert r.status_code == 400, (what, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_input" and error["message"] and error["details"], (what, error)
        reasons[what] = error["message"]
        after = all_files(storage(live_server) / "uploads") | all_files(storage(live_server) / "incoming")
        assert after == before, what  # nothing new on disk, no temp file
        run = httpx.get(f"{live_server.url}/wrf/{run_id}", headers=h(token)).json()  # the server keeps running
        kept = [f for f in run["input_files"] if f["filename"] == "wrfinput_d01"][0]
        assert kept["sha256"] == good_sha
    on_disk = storage(live_server) / "uploads" / run_id / "wrfinput_d01"
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == good_sha
    assert "empty" in reasons["empty"]
    assert "truncated" in reasons["truncated_factory"]
    assert "not an input" in reasons["wrfout"] or "history output" in reasons["wrfout"]
    assert "namelist" in reasons["namelist_syntax"].lower()
    assert live_server.tracebacks() == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "a/b", "..", ".hidden", "a\\b", "x\x01y",
                                  "n" * 300, "wrfinput\u2215d01"])
def test_hostile_filenames(live_server: ApiServer, token: str, tmp_path: Path, name: str) -> None:
    run_id = new_run(live_server, token)
    good = make_wrfinput(tmp_path / "g")
    root = storage(live_server).parent
    before = all_files(root)
    # the multipart body is built by hand: httpx would percent-encode control characters in the name
    body = (b"--B0UND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + name.encode()
            + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + good.read_bytes() + b"\r\n--B0UND--\r\n")
    r = httpx.post(f"{live_server.url}/wrf/{run_id}/upload", content=body,
                   headers={**h(token), "Content-Type": "multipart/form-data; boundary=B0UND"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_filename", r.text
    new = all_files(root) - before
    assert all(p.name.endswith(".log") for p in new), new  # only the server's own log may have grown


def test_disconnect_mid_upload_keeps_earlier_version(live_server: ApiServer, token: str, tmp_path: Path) -> None:
    run_id = new_run(live_server, token)
    good = make_wrfinput(tmp_path / "wrfinput_d01")
    assert upload(live_server, token, run_id, good).status_code == 201
    target = storage(live_server) / "uploads" / run_id / "wrfinput_d01"
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    body_start = (b"--BOUND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"wrfinput_d01\"\r\n"
                  b"Content-Type: application/octet-stream\r\n\r\n")
    length = len(body_start) + 50_000_000
    host, port = "127.0.0.1", live_server.port
    with socket.create_connection((host, port)) as sock:
        sock.sendall((f"POST /v1/wrf/{run_id}/upload HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                      f"Content-Type: multipart/form-data; boundary=BOUND\r\nContent-Length: {length}\r\n\r\n").encode())
        sock.sendall(body_start + os.urandom(2_000_000))
    wait = __import__("tests.servers", fromlist=["wait_for"]).wait_for
    wait(lambda: not any((storage(live_server) / "incoming").rglob("*.part")), "temp files to go", 30)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert not [p for p in target.parent.iterdir() if p.name != "wrfinput_d01"]
    assert httpx.get(f"{live_server.url}/wrf/{run_id}", headers=h(token)).status_code == 200


def test_real_case_setup_and_refusals(live_server: ApiServer, token: str, tmp_path: Path) -> None:
    files = make_real_case(tmp_path / "real", hours=12)
    run_id = new_run(live_server, token)
    assert upload(live_server, token, run_id, files["wrfinput_d01"]).status_code == 201
    run = httpx.get(f"{live_server.url}/wrf/{run_id}", headers=h(token)).json()
    assert run["required_input_files"] == ["wrfbdy_d01"]  # a real-data case needs its boundaries
    r = httpx.post(f"{live_server.url}/wrf/{run_id}/setup", headers=h(token))
    assert r.status_code == 400 and "wrfbdy_d01" in r.json()["error"]["message"]
    assert httpx.get(f"{live_server.url}/wrf/{run_id}", headers=h(token)).json()["status"] == "created"
    assert upload(live_server, token, run_id, files["wrfbdy_d01"]).status_code == 201
    # running past the boundary file's coverage is refused before anything is queued
    r = httpx.post(f"{live_server.url}/wrf/{run_id}/setup", headers=h(token),
                   json={"namelist": {"time_control": {"run_hours": 24}}})
    assert r.status_code == 400, r.text
    assert any("bdy" in p["code"] or "boundary" in p["message"] for p in r.json()["error"]["details"])
    stored = httpx.get(f"{live_server.url}/wrf/{run_id}", headers=h(token)).json()
    assert stored["status"] == "created" and stored["error"]["details"]
    # a grid size that contradicts the input is refused naming it
    r = httpx.post(f"{live_server.url}/wrf/{run_id}/setup", headers=h(token),
                   json={"namelist": {"domains": {"e_we": [50]}}})
    assert r.status_code == 400 and "e_we" in r.text
    r = httpx.post(f"{live_server.url}/wrf/{run_id}/setup", headers=h(token),
                   json={"namelist": {"physics": {"gwd_opt": 1}}})
    assert r.status_code == 400 and "dynamics" in r.text  # wrong group, named
    ok = httpx.post(f"{live_server.url}/wrf/{run_id}/setup", headers=h(token))
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["status"] == "ready" and body["model"]["end_time"] and body["compute_options"]
    assert "interval_seconds = 21600" in body["namelist"] and "&namelist_quilt" in body["namelist"]
    run_dir = storage(live_server) / "runs" / run_id
    assert {"wrfinput_d01", "wrfbdy_d01", "namelist.input", "cloudrun-manifest.json"} <= {p.name for p in run_dir.iterdir()}
    offered = [o["cores"] for o in body["compute_options"]]
    bad = httpx.post(f"{live_server.url}/wrf/{run_id}/start", headers=h(token), data={"cores": "3" if 3 not in offered else "999"})
    assert bad.status_code == 400 and str(offered[0]) in bad.json()["error"]["message"]
    shutil.rmtree(tmp_path / "real")
