"""Every (status, user action) pair through the real HTTP API: it moves as DESIGN.md §2 says and writes an
event, or it is refused with 409 naming the current status and the allowed actions (and writes nothing)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.factory import make_ideal_case
from tests.servers import static_http_server, ApiServer

STATUSES = ["created", "ready", "starting", "active", "stopped", "done", "error", "deleted"]
ACTIONS = ["upload", "upload_url", "setup", "start", "stop", "delete"]
# DESIGN.md §2 written out independently of orchestrator.service.lifecycle.
MOVES = {
    ("created", "upload"): "created", ("created", "upload_url"): "created", ("created", "setup"): "ready",
    ("created", "delete"): "deleted",
    ("ready", "upload"): "created", ("ready", "upload_url"): "created", ("ready", "setup"): "ready",
    ("ready", "start"): "starting", ("ready", "delete"): "deleted",
    ("starting", "stop"): "stopped", ("starting", "delete"): "deleted",
    ("active", "stop"): "stopped", ("active", "delete"): "deleted",
    ("stopped", "start"): "starting", ("stopped", "delete"): "deleted",
    ("error", "start"): "starting", ("error", "delete"): "deleted",
    ("done", "delete"): "deleted",
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ideal_case(tmp_path_factory.mktemp("case"))["wrfinput_d01"]


@pytest.fixture(scope="module")
def file_server(inputs: Path) -> Iterator[str]:
    with static_http_server(inputs.parent) as base:
        yield f"{base}/wrfinput_d01"


@pytest.fixture(scope="module")
def token(api: ApiServer) -> str:
    return api.deployment.create_user_token("mach")


def force_status(api: ApiServer, run_id: str, status: str) -> None:
    engine = create_engine(api.deployment.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE runs SET status = :s WHERE id = :i"), {"s": status, "i": run_id})
    engine.dispose()


def events(api: ApiServer, token: str, run_id: str) -> list[dict]:
    r = httpx.get(f"{api.url}/wrf/{run_id}/events", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def act(api: ApiServer, token: str, run_id: str, action: str, inputs: Path, url: str) -> httpx.Response:
    h = {"Authorization": f"Bearer {token}"}
    base = f"{api.url}/wrf/{run_id}"
    if action == "upload":
        with open(inputs, "rb") as fh:
            return httpx.post(f"{base}/upload", headers=h, files={"file": ("wrfinput_d01", fh)})
    if action == "upload_url":
        return httpx.post(f"{base}/upload_url", headers=h, data={"url": url})
    if action == "delete":
        return httpx.delete(base, headers=h)
    return httpx.post(f"{base}/{action}", headers=h)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_pair(api: ApiServer, token: str, inputs: Path, file_server: str, status: str, action: str) -> None:
    h = {"Authorization": f"Bearer {token}"}
    run = httpx.post(f"{api.url}/wrf", headers=h, data={"version": "3.9"}).json()
    with open(inputs, "rb") as fh:  # a valid input, so that setup can succeed where it is allowed
        assert httpx.post(f"{api.url}/wrf/{run['id']}/upload", headers=h,
                          files={"file": ("wrfinput_d01", fh)}).status_code == 201
    force_status(api, run["id"], status)
    before = events(api, token, run["id"])
    r = act(api, token, run["id"], action, inputs, file_server)
    after = events(api, token, run["id"])
    now = httpx.get(f"{api.url}/wrf/{run['id']}", headers=h).json()
    expected = MOVES.get((status, action))
    if expected is None:
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_state"
        assert f"that is {status}" in error["message"]
        for allowed in [a for (s, a) in MOVES if s == status]:
            assert allowed in error["message"]
        assert now["status"] == status and after == before
    else:
        assert r.status_code in (200, 201, 202), r.text
        assert now["status"] == expected
        new = after[len(before):]
        assert len(new) == 1 and new[0]["action"] == action
        assert (new[0]["from_status"], new[0]["to_status"]) == (status, expected)
        assert new[0]["actor"] == "user:mach" and new[0]["time"]
