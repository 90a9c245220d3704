"""The daemon under stress on the real Slurm: SIGKILL at each step of submission, a controller outage, two
daemons plus cron reconcile on PostgreSQL, and Slurm calls per poll cycle independent of the run count."""
from __future__ import annotations

import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.factory import make_ideal_case
from tests.servers import DAEMON_TEST_ENV, ApiServer, DaemonProcess, Deployment, wait_for
from tests.slurm_fixtures import slurm_cluster, slurm_ctld  # noqa: F401

pytestmark = pytest.mark.slurm


def short_run(minutes: int) -> dict:
    return {"namelist": {"time_control": {"run_minutes": minutes, "history_interval": minutes,
                                          "restart_interval": minutes}}}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ideal_case(tmp_path_factory.mktemp("ideal"))["wrfinput_d01"]


def start_runs(api: ApiServer, token: str, case: Path, count: int, minutes: int = 2) -> list[str]:
    """``count`` runs created, uploaded, set up and started (one core each)."""
    h = {"Authorization": f"Bearer {token}"}
    ids = []
    with httpx.Client(headers=h, timeout=60) as c:
        for _ in range(count):
            rid = c.post(f"{api.url}/wrf", data={"version": "3.9"}).json()["id"]
            with open(case, "rb") as fh:
                assert c.post(f"{api.url}/wrf/{rid}/upload", files={"file": ("wrfinput_d01", fh)}).status_code == 201
            assert c.post(f"{api.url}/wrf/{rid}/setup", json=short_run(minutes)).status_code == 200
            assert c.post(f"{api.url}/wrf/{rid}/start", data={"cores": "1"}).status_code == 202
            ids.append(rid)
    return ids


def statuses(api: ApiServer, token: str, ids: list[str]) -> dict[str, str]:
    h = {"Authorization": f"Bearer {token}"}
    return {rid: httpx.get(f"{api.url}/wrf/{rid}", headers=h).json()["status"] for rid in ids}


def slurm_jobs_named(run_ids: list[str]) -> Counter[str]:
    """How many Slurm jobs (any state, from accounting and the queue) each run ever had."""
    names = []
    for line in subprocess.run(["sacct", "-X", "-n", "-P", "-S", "now-2hours", "-o", "JobID,JobName"],
                               capture_output=True, text=True, timeout=60).stdout.splitlines():
        job, _, name = line.partition("|")
        names.append((job, name))
    for line in subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%j"], capture_output=True, text=True,
                               timeout=60).stdout.splitlines():
        job, _, name = line.partition("|")
        names.append((job, name))
    per_run: Counter[str] = Counter()
    for job, name in set(names):
        for rid in run_ids:
            if name.startswith(f"cloudrun-{rid}-a"):
                per_run[rid] += 1
    return per_run


def db_jobs(dep: Deployment) -> list:
    engine = create_engine(dep.database_url)
    with engine.connect() as conn:
        rows = list(conn.execute(text("SELECT run_id, attempt, job_id, submit_state FROM jobs")))
    engine.dispose()
    return rows


def deployment(root: Path, url: str, **extra: str) -> Deployment:
    dep = Deployment(root, url, {**DAEMON_TEST_ENV, "CLOUDRUN_EMULATOR_STEP_SECONDS": "0.05", **extra})
    dep.cli("db", "upgrade")
    return dep


@pytest.mark.parametrize("failpoint", ["before_record", "before_sbatch", "after_sbatch"])
def test_sigkill_during_submission(slurm_cluster: dict, case: Path, tmp_path: Path, failpoint: str) -> None:  # noqa: F811
    dep = deployment(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", CLOUDRUN_SLURM_COMMAND_TIMEOUT_S="4")
    api = ApiServer(dep).start()
    try:
        token = dep.create_user_token("kim")
        ids = start_runs(api, token, case, 2)
        doomed = DaemonProcess(dep, env={"CLOUDRUN_FAILPOINTS": failpoint}).start()
        assert doomed.wait(60) == -9  # it killed itself at the failpoint
        recorded = {r.run_id: r for r in db_jobs(dep)}
        if failpoint == "before_record":
            assert not recorded
        else:
            assert recorded and all(r.job_id is None and r.submit_state == "submitting" for r in recorded.values())
        daemon = DaemonProcess(dep).start()
        try:
            wait_for(lambda: set(statuses(api, token, ids).values()) == {"done"}, "runs to complete", 150)
        finally:
            daemon.stop()
        rows = db_jobs(dep)
        assert sorted(r.run_id for r in rows) == sorted(ids)  # one attempt each
        assert all(r.job_id and r.submit_state == "submitted" for r in rows)
        assert wait_for(lambda: (c := slurm_jobs_named(ids)) and all(c[r] == 1 for r in ids) and c,
                        "one Slurm job per run in accounting", 30)
    finally:
        api.stop()


@pytest.mark.timeout(600)
def test_controller_outage(slurm_cluster: dict, case: Path, tmp_path: Path) -> None:  # noqa: F811
    dep = deployment(tmp_path, f"sqlite:///{tmp_path / 'o.db'}", CLOUDRUN_EMULATOR_STEP_SECONDS="0.5",
                     CLOUDRUN_CLUSTER_MIN_TIME_LIMIT_S="900",
                     CLOUDRUN_SLURM_COMMAND_TIMEOUT_S="8")
    api = ApiServer(dep).start()
    daemon = DaemonProcess(dep).start()
    try:
        token = dep.create_user_token("lou")
        ids = start_runs(api, token, case, 3, minutes=30)  # 150 steps x 0.5 s: longer than the outage
        wait_for(lambda: set(statuses(api, token, ids).values()) == {"active"}, "runs to be active", 90)
        slurm_ctld("stop")
        try:
            seen = set()
            unavailable = False

            def observe() -> bool:
                nonlocal unavailable
                seen.update(statuses(api, token, ids).values())
                ready = httpx.get(f"{api.base}/readyz").json()["checks"]["scheduler"]
                unavailable = unavailable or ready.startswith("unavailable")
                return False

            try:
                wait_for(observe, "a minute of outage", 60, every=2)
            except AssertionError:
                pass  # the probe never says yes: it watches for the whole minute
            assert seen == {"active"}, seen  # nothing moved while Slurm could not answer
            assert unavailable
        finally:
            slurm_ctld("start")
        wait_for(lambda: set(statuses(api, token, ids).values()) == {"done"}, "runs to complete after the outage", 240)
        assert httpx.get(f"{api.base}/readyz").json()["checks"]["scheduler"] == "ok"
        assert daemon.log_text().count("scheduler unavailable") == 1, daemon.log_text()  # once, not every cycle
    finally:
        daemon.stop()
        api.stop()


@pytest.mark.timeout(600)
def test_two_daemons_and_cron_on_postgres(slurm_cluster: dict, case: Path, pg_deployment: Deployment) -> None:  # noqa: F811
    dep = Deployment(pg_deployment.root, pg_deployment.database_url,
                     {**DAEMON_TEST_ENV, "CLOUDRUN_EMULATOR_STEP_SECONDS": "0.02"})
    api = ApiServer(dep).start()
    daemons = [DaemonProcess(dep, name="d1").start(), DaemonProcess(dep, name="d2").start()]
    stop_cron = threading.Event()
    cron_runs: list[int] = []

    def cron() -> None:
        while not stop_cron.is_set():
            cron_runs.append(dep.cli("reconcile", check=False).returncode)
            stop_cron.wait(2)

    cron_thread = threading.Thread(target=cron, daemon=True)
    cron_thread.start()
    try:
        token = dep.create_user_token("max")
        ids = start_runs(api, token, case, 50, minutes=1)
        wait_for(lambda: set(statuses(api, token, ids).values()) == {"done"}, "50 runs to complete", 420, every=2)
    finally:
        stop_cron.set()
        cron_thread.join(60)
        for d in daemons:
            d.stop()
        api.stop()
    rows = db_jobs(dep)
    assert Counter(r.run_id for r in rows) == Counter({rid: 1 for rid in ids})
    assert all(r.job_id for r in rows) and len({r.job_id for r in rows}) == 50
    counts = wait_for(lambda: (c := slurm_jobs_named(ids)) and sum(c.values()) == 50 and c,
                      "accounting to list the 50 jobs", 60)
    assert all(counts[rid] == 1 for rid in ids)
    assert cron_runs and set(cron_runs) <= {0}


def test_slurm_calls_per_cycle_do_not_grow_with_runs(slurm_cluster: dict, tmp_path: Path) -> None:  # noqa: F811
    from tests.poll_support import held_active_runs, one_cycle_calls

    for count in (1, 200):
        with held_active_runs(tmp_path / f"n{count}", count) as (settings, engine):
            calls = one_cycle_calls(settings, engine)
        assert calls == {"squeue": 1}, (count, calls)
