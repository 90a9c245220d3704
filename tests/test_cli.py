"""The operator CLI: users, tokens, runs, share, maintenance — clear messages and exit codes."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.servers import ApiServer, Deployment


def test_users_and_tokens(sqlite_deployment: Deployment) -> None:
    d = sqlite_deployment
    assert "created" in d.cli("users", "add", "olga").stdout
    dup = d.cli("users", "add", "olga", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr and "Traceback" not in dup.stderr
    bad = d.cli("users", "add", "Bad Name!", check=False)
    assert bad.returncode == 1 and "invalid user name" in bad.stderr
    out = d.cli("tokens", "create", "olga").stdout.strip().splitlines()
    token = out[-1]
    assert token.startswith("cr_") and " " not in token
    assert "olga" in d.cli("users", "list").stdout
    assert token[:10] in d.cli("tokens", "list").stdout and token not in d.cli("tokens", "list").stdout
    missing = d.cli("tokens", "create", "nobody", check=False)
    assert missing.returncode == 1 and "no user called 'nobody'" in missing.stderr
    assert "revoked 1" in d.cli("tokens", "revoke", token).stdout
    assert "already revoked" in d.cli("tokens", "revoke", token).stdout
    assert d.cli("tokens", "revoke", "cr_zzzzzzz", check=False).returncode == 1


def test_runs_share_and_maintenance(live_server: ApiServer) -> None:
    d = live_server.deployment
    token = d.create_user_token("pia")
    d.cli("users", "add", "quinn")
    run = httpx.post(f"{live_server.url}/wrf", headers={"Authorization": f"Bearer {token}"},
                     data={"version": "3.8.1"}).json()
    listing = d.cli("runs", "list", "--user", "pia").stdout
    assert run["id"] in listing and "3.8.1" in listing
    shown = json.loads(d.cli("runs", "show", run["id"]).stdout)
    assert shown["id"] == run["id"] and shown["events"][0]["action"] == "create"
    assert d.cli("runs", "show", "rnope", check=False).returncode == 1
    assert "shared with quinn" in d.cli("share", run["id"], "quinn").stdout
    assert d.cli("share", run["id"], "nobody", check=False).returncode == 1
    assert d.cli("share", run["id"], "pia", check=False).returncode == 1
    assert "ON" in d.cli("maintenance", "on").stdout and d.cli("maintenance", "status").stdout.strip() == "on"
    assert "OFF" in d.cli("maintenance", "off").stdout and d.cli("maintenance", "status").stdout.strip() == "off"
    assert d.cli("maintenance", "maybe", check=False).returncode == 2


@pytest.fixture(scope="module")
def limited(sqlite_deployment: Deployment) -> ApiServer:
    dep = Deployment(sqlite_deployment.root, sqlite_deployment.database_url,
                     {"CLOUDRUN_API_RATE_LIMIT_PER_MINUTE": "60", "CLOUDRUN_API_RATE_LIMIT_BURST": "2"})
    server = ApiServer(dep).start()
    yield server
    server.stop()


def test_rate_limit_per_token(limited: ApiServer) -> None:
    a = limited.deployment.create_user_token("rita")
    b = limited.deployment.create_user_token("sam")
    codes = [httpx.get(f"{limited.url}/wrf", headers={"Authorization": f"Bearer {a}"}) for _ in range(6)]
    refused = [r for r in codes if r.status_code == 429]
    assert refused, [r.status_code for r in codes]
    assert int(refused[0].headers["retry-after"]) >= 1
    assert refused[0].json()["error"]["code"] == "rate_limited"
    # another token has its own budget
    assert httpx.get(f"{limited.url}/wrf", headers={"Authorization": f"Bearer {b}"}).status_code == 200
