"""500 mutating calls from 20 concurrent clients on PostgreSQL: no duplicate, lost or half-written row. Also:
the first scheduler-health writes of several daemons racing on a fresh database (SQLite and PostgreSQL).

Each client creates 6 runs, uploads twice to 3 of them and deletes the other 3 (20 x 15 = 300 calls), then all 20 fight over a shared pool
of 10 runs (200 calls: uploads of one file name with client-specific bytes, and deletes). Afterwards the
database must agree with the answers the clients got, and with the bytes on disk.
"""
from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from orchestrator.service.execution import set_scheduler_health
from orchestrator.store.db import make_engine
from orchestrator.store.models import SchedulerHealth
from tests.servers import ApiServer, Deployment

CLIENTS = 20


@pytest.fixture(scope="module")
def pg_api(pg_deployment: Deployment) -> Iterator[ApiServer]:
    server = ApiServer(pg_deployment).start()
    yield server
    server.stop()


def namelist_bytes(tag: str) -> bytes:
    return f"&time_control\n run_hours = 6\n/\n! {tag}\n".encode()


def test_500_mutations_from_20_clients(pg_api: ApiServer) -> None:
    tokens = [pg_api.deployment.create_user_token(f"conc{i}") for i in range(CLIENTS)]
    url = pg_api.url
    results: list[tuple[str, str, int, str]] = []  # (action, run_id, status code, sha or "")

    def own_runs(i: int) -> list[tuple[str, str, int, str]]:
        out = []
        h = {"Authorization": f"Bearer {tokens[i]}"}
        with httpx.Client(timeout=60) as c:
            ids = []
            for _ in range(6):
                r = c.post(f"{url}/wrf", headers=h, data={"version": "3.9"})
                out.append(("create", r.json()["id"] if r.status_code == 201 else "", r.status_code, ""))
                ids.append(out[-1][1])
            for n, run_id in enumerate(ids[:3]):
                for k in range(2):  # the second upload replaces the first
                    body = namelist_bytes(f"client {i} run {n} v{k}")
                    r = c.post(f"{url}/wrf/{run_id}/upload", headers=h, files={"file": ("namelist.input", body)})
                    out.append(("upload", run_id, r.status_code, hashlib.sha256(body).hexdigest()))
            for run_id in ids[3:6]:
                r = c.delete(f"{url}/wrf/{run_id}", headers=h)
                out.append(("delete", run_id, r.status_code, ""))
        return out

    with ThreadPoolExecutor(CLIENTS) as pool:
        for part in pool.map(own_runs, range(CLIENTS)):
            results += part

    # the shared pool: one owner, its token given to all 20 clients
    owner = pg_api.deployment.create_user_token("poolowner")
    h = {"Authorization": f"Bearer {owner}"}
    pool_ids = [httpx.post(f"{url}/wrf", headers=h, data={"version": "3.9"}).json()["id"] for _ in range(10)]

    def contend(i: int) -> list[tuple[str, str, int, str]]:
        rng = random.Random(i)
        out = []
        with httpx.Client(timeout=60) as c:
            for k in range(10):
                run_id = rng.choice(pool_ids)
                if rng.random() < 0.2:
                    r = c.delete(f"{url}/wrf/{run_id}", headers=h)
                    out.append(("delete", run_id, r.status_code, ""))
                else:
                    body = namelist_bytes(f"contender {i} call {k}")
                    r = c.post(f"{url}/wrf/{run_id}/upload", headers=h, files={"file": ("namelist.input", body)})
                    out.append(("upload", run_id, r.status_code, hashlib.sha256(body).hexdigest()))
        return out

    with ThreadPoolExecutor(CLIENTS) as pool:
        for part in pool.map(contend, range(CLIENTS)):
            results += part

    assert len(results) == 500
    assert all(code in (200, 201, 409) for _, _, code, _ in results), Counter(c for *_, c, _ in results)

    engine = create_engine(pg_api.deployment.database_url)
    with engine.connect() as db:
        runs = {r.id: r.status for r in db.execute(text("SELECT id, status FROM runs"))}
        ev = list(db.execute(text("SELECT run_id, action, from_status, to_status FROM run_events ORDER BY id")))
        files = list(db.execute(text("SELECT run_id, filename, sha256 FROM input_files")))
    engine.dispose()

    created = [rid for a, rid, code, _ in results if a == "create" and code == 201]
    assert len(created) == len(set(created)) == CLIENTS * 6
    assert set(created) | set(pool_ids) <= set(runs)

    # every successful call left exactly one event, every refused one none
    ok_calls = Counter((a, rid) for a, rid, code, _ in results if code in (200, 201))
    ev_calls = Counter((e.action, e.run_id) for e in ev if e.action in ("create", "upload", "delete"))
    for key, count in ok_calls.items():
        assert ev_calls[key] == count, key
    # event chains are unbroken: each move starts where the previous one ended
    last: dict[str, str | None] = {}
    for e in ev:
        if e.run_id in last:
            assert e.from_status == last[e.run_id], e
        last[e.run_id] = e.to_status
    for rid, status in last.items():
        assert runs[rid] == status

    # one row per (run, file name); for live runs it describes the bytes on disk, and they were a success's
    assert len({(f.run_id, f.filename) for f in files}) == len(files)
    storage = Path(pg_api.deployment.env()["CLOUDRUN_STORAGE_ROOT"])
    uploaded = {sha for a, _, code, sha in results if a == "upload" and code == 201}
    for f in files:
        if runs[f.run_id] == "deleted":
            continue
        on_disk = storage / "uploads" / f.run_id / f.filename
        assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == f.sha256
        assert f.sha256 in uploaded
    for rid in pool_ids:
        deletes = sum(1 for e in ev if e.run_id == rid and e.action == "delete")
        assert deletes <= 1
        if deletes:
            assert runs[rid] == "deleted" and not (storage / "uploads" / rid).exists()
    assert pg_api.tracebacks() == []


def test_first_scheduler_health_writes_race_without_error(deployment: Deployment) -> None:
    """Daemons and cron's reconcile start on a fresh database together: each records scheduler health first.
    They used to get-or-create the row, and all but one failed on its primary key (cron's reconcile then
    exited with a database error)."""
    engine = make_engine(deployment.database_url)
    cluster = f"race-{random.randrange(10**9)}"
    start = threading.Barrier(8)

    def record(i: int) -> None:
        with Session(engine) as session:
            start.wait(10)
            set_scheduler_health(session, cluster, i % 2 == 0, f"writer {i}")

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(record, range(8)))  # re-raises any writer's error
        with Session(engine) as session:
            rows = session.exec(select(SchedulerHealth).where(SchedulerHealth.cluster == cluster)).all()
        assert len(rows) == 1 and rows[0].message.startswith("writer ")
    finally:
        engine.dispose()
