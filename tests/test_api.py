"""The HTTP contract against a real uvicorn server, on SQLite and on PostgreSQL: auth, errors, listing,
shares, maintenance, OpenAPI, probes. No bad input may leave a traceback in the server log."""
from __future__ import annotations

import httpx
import pytest

from tests.servers import ApiServer


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def alice(api: ApiServer) -> str:
    return api.deployment.create_user_token("alice")


@pytest.fixture(scope="module")
def bob(api: ApiServer) -> str:
    return api.deployment.create_user_token("bob")


def create(api: ApiServer, token: str, version: str = "3.9") -> dict:
    r = httpx.post(f"{api.url}/wrf", headers=bearer(token), data={"version": version})
    assert r.status_code == 201, r.text
    return r.json()


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()["error"]
    assert set(body) >= {"code", "message"} and body["message"]
    if code:
        assert body["code"] == code, body
    return body


# ---------------------------------------------------------------- auth

def test_auth_refusals(api: ApiServer, alice: str) -> None:
    url = f"{api.url}/wrf"
    assert_error(httpx.get(url), 401, "missing_token")
    assert_error(httpx.get(url, headers={"Authorization": f"Basic {alice}"}), 401, "bad_auth_scheme")
    assert_error(httpx.get(url, headers={"Authorization": "Bearer"}), 401)
    assert_error(httpx.get(url, headers=bearer("cr_" + "A" * 43)), 401, "invalid_token")
    assert_error(httpx.get(url, headers=bearer("not-a-token")), 401, "invalid_token")
    assert httpx.get(url, headers=bearer(alice)).status_code == 200


def test_revoked_token_and_disabled_user(api: ApiServer) -> None:
    token = api.deployment.create_user_token("carol")
    assert httpx.get(f"{api.url}/wrf", headers=bearer(token)).status_code == 200
    api.deployment.cli("tokens", "revoke", token[:12])
    assert_error(httpx.get(f"{api.url}/wrf", headers=bearer(token)), 401, "revoked_token")
    token2 = api.deployment.create_user_token("carol")
    api.deployment.cli("users", "disable", "carol")
    assert_error(httpx.get(f"{api.url}/wrf", headers=bearer(token2)), 401, "user_disabled")


def test_tokens_are_random_and_stored_hashed(api: ApiServer) -> None:
    tokens = {api.deployment.create_user_token("dave") for _ in range(3)}
    assert len(tokens) == 3 and all(len(t) == 46 for t in tokens)
    listing = api.deployment.cli("tokens", "list").stdout
    assert not any(t in listing for t in tokens)


def test_other_users_run_is_404_and_shared_run_is_visible(api: ApiServer, alice: str, bob: str) -> None:
    run = create(api, alice)
    r = httpx.get(f"{api.url}/wrf/{run['id']}", headers=bearer(bob))
    body = assert_error(r, 404, "not_found")
    missing = assert_error(httpx.get(f"{api.url}/wrf/r{'x' * 20}", headers=bearer(bob)), 404)
    assert body["code"] == missing["code"]  # same answer as for a run that does not exist
    assert_error(httpx.post(f"{api.url}/wrf/{run['id']}/setup", headers=bearer(bob)), 404)
    assert all(x["id"] != run["id"] for x in httpx.get(f"{api.url}/wrf", headers=bearer(bob)).json()["runs"])

    api.deployment.cli("share", run["id"], "bob")
    seen = httpx.get(f"{api.url}/wrf/{run['id']}", headers=bearer(bob))
    assert seen.status_code == 200 and seen.json()["owner"] == "alice"
    assert run["id"] in [x["id"] for x in httpx.get(f"{api.url}/wrf", headers=bearer(bob)).json()["runs"]]
    assert_error(httpx.delete(f"{api.url}/wrf/{run['id']}", headers=bearer(bob)), 403, "forbidden")


# ---------------------------------------------------------------- create / bad input

def test_create_returns_the_run_object(api: ApiServer, alice: str) -> None:
    run = create(api, alice, "3.8.1")
    assert run["status"] == "created" and run["model"]["name"] == "wrf" and run["model"]["version"] == "3.8.1"
    assert run["required_input_files"] == ["wrfinput_d01"]
    for key in ("id", "model", "status", "error", "input_files", "required_input_files", "compute_options",
                "cores", "percent_complete", "remaining_time", "job", "output_files", "output_size",
                "disk_usage", "time_created", "time_started", "time_stopped"):
        assert key in run
    assert run["time_created"].endswith("Z")
    assert httpx.get(f"{api.url}/wrf/{run['id']}", headers=bearer(alice)).json() == run


@pytest.mark.parametrize("form,code", [
    ({"version": "4.0"}, "unsupported_version"),
    ({"version": "3.9.1"}, "unsupported_version"),
    ({}, "missing_version"),
    ({"version": "3.9", "model": "mpas"}, "unsupported_model"),
])
def test_create_refusals(api: ApiServer, alice: str, form: dict, code: str) -> None:
    body = assert_error(httpx.post(f"{api.url}/wrf", headers=bearer(alice), data=form), 400, code)
    if code == "unsupported_version":
        assert "3.8.1" in body["message"] and "3.9" in body["message"]


def test_malformed_and_oversized_bodies(api: ApiServer, alice: str) -> None:
    h = bearer(alice)
    run = create(api, alice)
    big = "x" * 200_000
    assert_error(httpx.post(f"{api.url}/wrf", headers=h, data={"version": big}), 413, "body_too_large")
    assert_error(httpx.post(f"{api.url}/wrf/{run['id']}/setup", headers={**h, "content-type": "application/json"},
                            content=b'{"namelist": '), 422, "validation_error")
    assert_error(httpx.post(f"{api.url}/wrf/{run['id']}/setup", headers=h, json={"namelist": "run_hours=6"}),
                 422, "validation_error")
    assert_error(httpx.post(f"{api.url}/wrf", headers={**h, "content-type": "multipart/form-data; boundary=zz"},
                            content=b"--zz\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n3.9"),
                 400)

    def chunked():  # no Content-Length: the cap is enforced while reading
        for _ in range(20):
            yield b"version=" + b"9" * 10_000

    assert_error(httpx.post(f"{api.url}/wrf", headers={**h, "content-type": "application/x-www-form-urlencoded"},
                            content=chunked()), 413)
    assert_error(httpx.post(f"{api.url}/wrf/{run['id']}/start", headers=h, data={"cores": "two"}), 400, "bad_cores")


@pytest.mark.parametrize("run_id", ["..%2F..%2Fetc%2Fpasswd", "r" + "x" * 20, "nope", "%00", "r" * 300,
                                    "..", "r12345678901234567890%2F"])
def test_unknown_or_path_like_run_ids(api: ApiServer, alice: str, run_id: str) -> None:
    assert_error(httpx.get(f"{api.url}/wrf/{run_id}", headers=bearer(alice)), 404)


def test_unknown_routes_and_wrong_methods(api: ApiServer, alice: str) -> None:
    h = bearer(alice)
    run = create(api, alice)
    assert_error(httpx.get(f"{api.url}/nothing", headers=h), 404, "not_found")
    assert_error(httpx.get(f"{api.base}/v2/wrf", headers=h), 404)
    assert_error(httpx.put(f"{api.url}/wrf", headers=h), 405, "method_not_allowed")
    assert_error(httpx.get(f"{api.url}/wrf/{run['id']}/start", headers=h), 405)
    assert_error(httpx.patch(f"{api.url}/wrf/{run['id']}", headers=h), 405)


# ---------------------------------------------------------------- listing

def test_list_paginates_newest_first_and_filters(api: ApiServer) -> None:
    token = api.deployment.create_user_token("erin")
    h = bearer(token)
    made = [create(api, token)["id"] for _ in range(7)]
    httpx.delete(f"{api.url}/wrf/{made[0]}", headers=h)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = httpx.get(f"{api.url}/wrf", headers=h, params=params).json()
        seen += [r["id"] for r in body["runs"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made)) and pages == 3
    deleted = httpx.get(f"{api.url}/wrf", headers=h, params={"status": "deleted"}).json()["runs"]
    assert [r["id"] for r in deleted] == [made[0]]
    assert_error(httpx.get(f"{api.url}/wrf", headers=h, params={"status": "sleeping"}), 400, "bad_status")
    assert_error(httpx.get(f"{api.url}/wrf", headers=h, params={"cursor": "garbage!"}), 400, "bad_cursor")
    assert_error(httpx.get(f"{api.url}/wrf", headers=h, params={"limit": 0}), 422)


# ---------------------------------------------------------------- maintenance, OpenAPI, probes, log

def test_maintenance_mode(api: ApiServer, alice: str) -> None:
    api.deployment.cli("maintenance", "on")
    try:
        r = httpx.post(f"{api.url}/wrf", headers=bearer(alice), data={"version": "3.9"})
        assert_error(r, 503, "maintenance")
        assert int(r.headers["retry-after"]) > 0
        assert httpx.get(f"{api.url}/wrf", headers=bearer(alice)).status_code == 200
    finally:
        api.deployment.cli("maintenance", "off")
    assert httpx.post(f"{api.url}/wrf", headers=bearer(alice), data={"version": "3.9"}).status_code == 201


def test_openapi_has_named_schemas_and_every_endpoint(api: ApiServer) -> None:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("RunObject", "RunList", "UploadResult", "ErrorResponse", "ComputeOption", "JobInfo"):
        assert name in schemas
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/v1/wrf"])
    assert {"get", "delete"} <= set(paths["/v1/wrf/{run_id}"])
    for action in ("upload", "upload_url", "setup", "start", "stop"):
        assert "post" in paths[f"/v1/wrf/{{run_id}}/{action}"]


def test_probes_and_rate_headers(api: ApiServer, alice: str) -> None:
    assert httpx.get(f"{api.base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api.base}/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    r = httpx.get(f"{api.url}/wrf", headers=bearer(alice))
    assert int(r.headers["x-ratelimit-limit"]) > 0 and "x-ratelimit-remaining" in r.headers


def test_no_traceback_in_server_log(api: ApiServer) -> None:
    """Runs last in this module: every bad request above was answered without a logged traceback."""
    assert api.tracebacks() == [], api.log_text()[-3000:]
