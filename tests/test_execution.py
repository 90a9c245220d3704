"""End to end on the real Slurm with the WRF emulator under srun/OpenMPI: create, upload, setup, start, poll
until done (Python client and curl), MPI across ranks and nodes, failure classification, stop."""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from cloudrun import Cloudrun
from tests.factory import make_ideal_case
from tests.servers import DAEMON_TEST_ENV, ApiServer, DaemonProcess, Deployment, wait_for
from tests.slurm_fixtures import slurm_cluster  # noqa: F401  (session fixture: scripts/slurm-up)

pytestmark = pytest.mark.slurm
SHORT_RUN = {"time_control": {"run_minutes": 6, "history_interval": 2, "restart_interval": 4}}
EXPECTED_WRFOUT = [f"wrfout_d01_0001-01-01_00:0{m}:00" for m in (0, 2, 4, 6)]


@contextmanager
def serving(tmp_path_factory: pytest.TempPathFactory, name: str,
            extra_env: dict[str, str] | None = None) -> Iterator[tuple[ApiServer, DaemonProcess]]:
    """An API server and a daemon on a fresh SQLite deployment, with the test daemon settings + ``extra_env``."""
    root = tmp_path_factory.mktemp(name)
    dep = Deployment(root, f"sqlite:///{root / 'cloudrun.db'}", {**DAEMON_TEST_ENV, **(extra_env or {})})
    dep.cli("db", "upgrade")
    api = ApiServer(dep).start()
    try:
        daemon = DaemonProcess(dep).start()
        try:
            yield api, daemon
        finally:
            daemon.stop()
    finally:
        api.stop()


@pytest.fixture(scope="module")
def stack(slurm_cluster: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, DaemonProcess]]:  # noqa: F811
    with serving(tmp_path_factory, "exec") as running:
        yield running


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ideal_case(tmp_path_factory.mktemp("ideal"))["wrfinput_d01"]


def storage(api: ApiServer) -> Path:
    return Path(api.deployment.env()["CLOUDRUN_STORAGE_ROOT"])


def ready_run(api: ApiServer, token: str, case: Path, version: str = "3.9", fail: dict | None = None,
              namelist: dict | None = None) -> str:
    """A run set up for a 6-model-minute ideal case (30 steps), optionally told to fail."""
    h = {"Authorization": f"Bearer {token}"}
    run = httpx.post(f"{api.url}/wrf", headers=h, data={"version": version}).json()
    with open(case, "rb") as fh:
        assert httpx.post(f"{api.url}/wrf/{run['id']}/upload", headers=h, files={"file": ("wrfinput_d01", fh)}).status_code == 201
    r = httpx.post(f"{api.url}/wrf/{run['id']}/setup", headers=h, json={"namelist": namelist or SHORT_RUN})
    assert r.status_code == 200, r.text
    if fail:
        (storage(api) / "runs" / run["id"] / "emulator.fail").write_text(json.dumps(fail))
    return run["id"]


def get(api: ApiServer, token: str, run_id: str) -> dict:
    return httpx.get(f"{api.url}/wrf/{run_id}", headers={"Authorization": f"Bearer {token}"}).json()


def events(api: ApiServer, token: str, run_id: str) -> list[tuple[str, str | None, str | None]]:
    rows = httpx.get(f"{api.url}/wrf/{run_id}/events", headers={"Authorization": f"Bearer {token}"}).json()
    return [(e["action"], e["from_status"], e["to_status"]) for e in rows]


def final(api: ApiServer, token: str, run_id: str, timeout: float = 150) -> dict:
    return wait_for(lambda: (r := get(api, token, run_id))["status"] in ("done", "error", "stopped") and r,
                    f"run {run_id} to finish", timeout)


def test_python_client_end_to_end(stack: tuple[ApiServer, DaemonProcess], case: Path) -> None:
    api, _ = stack
    token = api.deployment.create_user_token("ada")
    client = Cloudrun(token, url=api.url)
    run = client.create_run(model="wrf", version="3.9")
    run.upload(file=str(case), progress=False)
    run.setup(namelist=SHORT_RUN)
    assert run.status == "ready" and run.compute_options
    assert run.build == {"label": "emulator", "emulator": True}
    run.start(cores=2)
    seen: list[float] = []

    def finished() -> bool:
        run.refresh()
        if run.percent_complete is not None:
            seen.append(run.percent_complete)
        return run.status in ("done", "error")

    wait_for(finished, "the run to finish", 150, every=0.2)
    assert run.status == "done", run.error
    assert run.percent_complete == 100.0 and run.remaining_time == 0
    assert any(0 < p < 100 for p in seen), seen
    names = {f["filename"] for f in run.output_files}
    assert set(EXPECTED_WRFOUT) <= names
    assert {"rsl.out.0000", "rsl.out.0001", "rsl.error.0000", "rsl.error.0001"} <= names  # both ranks
    assert run.job["state"] == "COMPLETED" and run.job["exit_code"] == "0" and run.job["ntasks"] == 2
    listed = [r for r in client.get_all_runs() if r.id == run.id][0]  # the listing agrees with GET
    assert listed.status == "done" and listed.percent_complete == 100.0 and listed.job == run.job
    moves = events(api, token, run.id)
    assert [m for m in moves if m[1] != m[2]] == [
        ("create", None, "created"), ("setup", "created", "ready"), ("start", "ready", "starting"),
        ("job_running", "starting", "active"), ("job_done", "active", "done")]
    assert ("upload", "created", "created") in moves and ("submit", "starting", "starting") in moves


def test_curl_end_to_end_on_two_nodes(stack: tuple[ApiServer, DaemonProcess], case: Path) -> None:
    api, _ = stack
    token = api.deployment.create_user_token("bea")
    env = {"token": token, "PATH": "/usr/bin:/bin"}

    def curl(*args: str) -> dict:
        proc = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {token}", *args], env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    run = curl("-X", "POST", f"{api.url}/wrf", "-F", "version=3.8.1")
    rid = run["id"]
    curl("-X", "POST", f"{api.url}/wrf/{rid}/upload", "-F", f"file=@{case}")
    ready = curl("-X", "POST", f"{api.url}/wrf/{rid}/setup", "-H", "content-type: application/json",
                 "-d", json.dumps({"namelist": SHORT_RUN}))
    four = [o for o in ready["compute_options"] if o["cores"] == 4]
    assert four and four[0]["nodes"] == 2
    assert curl("-X", "POST", f"{api.url}/wrf/{rid}/start", "-F", "cores=4")["status"] == "starting"
    percents = []

    def done() -> dict | None:
        r = curl(f"{api.url}/wrf/{rid}")
        percents.append(r["percent_complete"])
        return r if r["status"] in ("done", "error") else None

    result = wait_for(done, "the curl run to finish", 150, every=0.2)
    assert result["status"] == "done", result["error"]
    assert sorted(result["job"]["nodes"]) == ["node1", "node2"]  # the 2-node job landed on both slurmd nodes
    assert any(p is not None and 0 < p < 100 for p in percents) and result["percent_complete"] == 100.0
    assert set(EXPECTED_WRFOUT) <= {f["filename"] for f in result["output_files"]}
    moves = [(e["action"], e["from_status"], e["to_status"]) for e in curl(f"{api.url}/wrf/{rid}/events")]
    assert [m for m in moves if m[1] != m[2]] == [
        ("create", None, "created"), ("setup", "created", "ready"), ("start", "ready", "starting"),
        ("job_running", "starting", "active"), ("job_done", "active", "done")]
    rsl = sorted(p.name for p in (storage(api) / "runs" / rid).glob("rsl.error.*"))
    assert rsl == [f"rsl.error.000{i}" for i in range(4)]


FAILURES = {
    "fatal": ({"mode": "fatal", "step": 5, "message": "module_emulated: injected fatal for the test"}, "wrf_fatal"),
    "cfl": ({"mode": "cfl", "step": 8}, "cfl"),
    "no_success": ({"mode": "no_success"}, "wrf_incomplete"),
}


def test_failures_are_classified(stack: tuple[ApiServer, DaemonProcess], case: Path) -> None:
    api, _ = stack
    token = api.deployment.create_user_token("cyd")
    h = {"Authorization": f"Bearer {token}"}
    runs = {name: ready_run(api, token, case, fail=spec) for name, (spec, _) in FAILURES.items()}
    runs["hang"] = ready_run(api, token, case, fail={"mode": "hang", "step": 3})
    runs["outside_cancel"] = ready_run(api, token, case, fail={"mode": "hang", "step": 3})
    runs["user_stop"] = ready_run(api, token, case, fail={"mode": "hang", "step": 3})
    for rid in runs.values():
        assert httpx.post(f"{api.url}/wrf/{rid}/start", headers=h, data={"cores": "1"}).status_code == 202
    for name in ("outside_cancel", "user_stop"):
        wait_for(lambda n=name: get(api, token, runs[n])["status"] == "active", f"{name} to run", 90)
    job_id = get(api, token, runs["outside_cancel"])["job"]["job_id"]
    subprocess.run(["scancel", job_id], check=True, timeout=30)
    assert httpx.post(f"{api.url}/wrf/{runs['user_stop']}/stop", headers=h).status_code == 202

    for name, (_, code) in FAILURES.items():
        r = final(api, token, runs[name])
        assert (r["status"], r["error"]["code"]) == ("error", code), (name, r["error"])
    assert "injected fatal for the test" in final(api, token, runs["fatal"])["error"]["message"]
    r = final(api, token, runs["outside_cancel"])
    assert (r["status"], r["error"]["code"]) == ("error", "cancelled")
    r = final(api, token, runs["user_stop"])
    assert r["status"] == "stopped" and r["error"] is None and r["job"]["state"].startswith("CANCELLED")
    # the hang runs into its Slurm time limit (1 minute; Slurm enforces it about 70-80 s after the start)
    r = final(api, token, runs["hang"], timeout=240)
    assert (r["status"], r["error"]["code"]) == ("error", "timeout"), r["error"]


def start_run_that_hangs_after_restart(api: ApiServer, token: str, case: Path, wait: bool = True) -> tuple[str, Path]:
    """Start a 1-core run writing wrfrst every 2 model minutes whose first attempt hangs at step 25 (model minute
    5, after wrfrst 00:04); with ``wait``, return once that attempt has written wrfrst 00:04 and hangs."""
    rid = ready_run(api, token, case, fail={"mode": "hang", "step": 25, "once": True},
                    namelist={"time_control": {"run_minutes": 6, "history_interval": 2, "restart_interval": 2}})
    assert httpx.post(f"{api.url}/wrf/{rid}/start", headers={"Authorization": f"Bearer {token}"},
                      data={"cores": "1"}).status_code == 202
    run_dir = storage(api) / "runs" / rid
    if wait:
        wait_for(lambda: (run_dir / "wrfrst_d01_0001-01-01_00:04:00").exists() and
                 (run_dir / "emulator.fail.fired").exists(), "the first attempt to write wrfrst 00:04 and hang", 120)
    return rid, run_dir


def assert_resumed_from_minute_4(run_dir: Path) -> None:
    """The second attempt restarted from wrfrst 00:04 (namelist and its first step) and the first one's log was kept."""
    namelist = (run_dir / "namelist.input").read_text()
    assert "restart = .true." in namelist and "start_minute = 4," in namelist
    first_main = next(line for line in (run_dir / "rsl.error.0000").read_text().splitlines()
                      if line.startswith("Timing for main"))
    assert "0001-01-01_00:04:12" in first_main  # the second attempt began at the restart time
    assert (run_dir / "attempt-1" / "rsl.error.0000").exists()  # the first attempt's log was kept


def auto_retries(api: ApiServer, token: str, run_id: str) -> list[dict]:
    """The run's auto_retry events."""
    rows = httpx.get(f"{api.url}/wrf/{run_id}/events", headers={"Authorization": f"Bearer {token}"}).json()
    return [e for e in rows if e["action"] == "auto_retry"]


def test_stop_then_start_resumes_from_restart_file(stack: tuple[ApiServer, DaemonProcess], case: Path) -> None:
    api, _ = stack
    token = api.deployment.create_user_token("dot")
    h = {"Authorization": f"Bearer {token}"}
    rid, run_dir = start_run_that_hangs_after_restart(api, token, case)
    assert httpx.post(f"{api.url}/wrf/{rid}/stop", headers=h).status_code == 202
    assert final(api, token, rid)["status"] == "stopped"
    assert httpx.post(f"{api.url}/wrf/{rid}/start", headers=h, data={"cores": "1"}).status_code == 202
    r = final(api, token, rid)
    assert r["status"] == "done", r["error"]
    assert r["job"]["attempt"] == 2
    assert_resumed_from_minute_4(run_dir)


@pytest.fixture(scope="module")
def retry_stack(slurm_cluster: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:  # noqa: F811
    with serving(tmp_path_factory, "retry", {"CLOUDRUN_DAEMON_MAX_AUTO_RETRIES": "1"}) as (api, _):
        yield api


def test_cfl_blow_up_retries_from_restart_with_a_smaller_time_step(retry_stack: ApiServer, case: Path) -> None:
    api = retry_stack
    token = api.deployment.create_user_token("eli")
    h = {"Authorization": f"Bearer {token}"}
    # wrfrst every minute; the emulator blows up (CFL) at step 8 (model 00:01:36) while time_step >= 12 s
    rid = ready_run(api, token, case, fail={"mode": "cfl", "step": 8, "min_time_step": 12},
                    namelist={"time_control": {"run_minutes": 6, "history_interval": 2, "restart_interval": 1}})
    assert httpx.post(f"{api.url}/wrf/{rid}/start", headers=h, data={"cores": "1"}).status_code == 202
    r = final(api, token, rid)
    assert r["status"] == "done", r["error"]
    assert r["job"]["attempt"] == 2 and r["error"] is None
    retry = auto_retries(api, token, rid)
    assert len(retry) == 1 and "cfl" in retry[0]["reason"]
    namelist = (storage(api) / "runs" / rid / "namelist.input").read_text()
    assert "time_step = 10," in namelist and "restart = .true." in namelist and "start_minute = 1," in namelist


def test_timeout_retries_from_restart_file(retry_stack: ApiServer, case: Path) -> None:
    api = retry_stack
    token = api.deployment.create_user_token("fay")
    # the hung first attempt runs into Slurm's 1-minute time limit; the retry must resume from wrfrst 00:04,
    # not start over, and finish
    rid, run_dir = start_run_that_hangs_after_restart(api, token, case, wait=False)
    r = final(api, token, rid, timeout=300)
    assert r["status"] == "done", r["error"]
    assert r["job"]["attempt"] == 2 and r["error"] is None
    retry = auto_retries(api, token, rid)
    assert len(retry) == 1 and "after timeout" in retry[0]["reason"], retry
    assert_resumed_from_minute_4(run_dir)


def _resume_node(node: str) -> None:
    """Put a node the test set DOWN back into service (it may already be back: ReturnToService=2)."""
    subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], capture_output=True, timeout=30)
    wait_for(lambda: "down" not in subprocess.run(["sinfo", "-h", "-N", "-n", node, "-o", "%T"], capture_output=True,
                                                  text=True, timeout=30).stdout, f"{node} back in service", 60)


def _fail_node(node: str) -> None:
    subprocess.run(["scontrol", "update", f"NodeName={node}", "State=DOWN", "Reason=cloudrun-test"],
                   check=True, timeout=30)


def _preempt_on(node: str) -> None:
    # scripts/slurm-up's higher-tier partition (PreemptMode=CANCEL): a job needing the whole node evicts ours
    subprocess.run(["sbatch", "--parsable", "--partition=debug-urgent", f"--nodelist={node}", "--nodes=1",
                    "--exclusive", "--time=1", "--output=/dev/null", "--wrap=sleep 1"], check=True, timeout=30,
                   capture_output=True)


@pytest.mark.parametrize("disrupt, code", [(_fail_node, "node_fail"), (_preempt_on, "preempted")],
                         ids=["node_fail", "preempted"])
def test_lost_node_retries_from_restart_file(retry_stack: ApiServer, case: Path, disrupt, code: str) -> None:
    api = retry_stack
    token = api.deployment.create_user_token(f"gus-{code}")
    # Once the first attempt hangs after wrfrst 00:04, its node is marked DOWN (Slurm reports NODE_FAIL) or a
    # higher-tier job takes the node (PREEMPTED). The retry must resume from wrfrst 00:04 and finish.
    rid, run_dir = start_run_that_hangs_after_restart(api, token, case)
    job_id = get(api, token, rid)["job"]["job_id"]
    node = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%N"], capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()
    assert node, "the job is not running on any node"
    try:
        disrupt(node)
        r = final(api, token, rid)
    finally:
        _resume_node(node)
    assert r["status"] == "done", r["error"]
    assert r["job"]["attempt"] == 2 and r["error"] is None
    retry = auto_retries(api, token, rid)
    assert len(retry) == 1 and f"after {code}" in retry[0]["reason"], retry
    assert_resumed_from_minute_4(run_dir)


@pytest.fixture(scope="module")
def calibration_stack(slurm_cluster: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:  # noqa: F811
    with serving(tmp_path_factory, "calibration", {"CLOUDRUN_COST_CALIBRATION_MIN_RUNS": "2"}) as (api, _):
        yield api


def test_finished_runs_refine_the_estimates(calibration_stack: ApiServer, case: Path) -> None:
    api = calibration_stack
    token = api.deployment.create_user_token("hal")
    h = {"Authorization": f"Bearer {token}"}
    first, second = ready_run(api, token, case), ready_run(api, token, case)
    default = {o["cores"]: o for o in get(api, token, first)["compute_options"]}
    assert default[1]["estimate_basis"].startswith("default cost model")
    for rid in (first, second):
        assert httpx.post(f"{api.url}/wrf/{rid}/start", headers=h, data={"cores": "1"}).status_code == 202
    for rid in (first, second):
        assert final(api, token, rid)["status"] == "done"
    engine = create_engine(api.deployment.database_url)
    try:
        with engine.connect() as conn:
            measured = conn.execute(text("SELECT seconds_per_point_step FROM jobs WHERE run_id IN (:a, :b)"),
                                    {"a": first, "b": second}).scalars().all()
    finally:
        engine.dispose()
    assert len(measured) == 2 and all(m is not None and m > 0 for m in measured), measured
    # the next setup of the same case estimates with the median of the two measured speeds
    third = {o["cores"]: o for o in get(api, token, ready_run(api, token, case))["compute_options"]}
    assert third[1]["estimate_basis"].startswith("measured on this cluster: median of the last 2")
    median = sum(measured) / 2
    default_constant = float(api.deployment.cli("config", "cost.seconds_per_point_step").stdout.strip())
    assert third[1]["time"] == pytest.approx(default[1]["time"] * median / default_constant, rel=1e-2)
