"""LocalSlurm against the REAL local Slurm (scripts/slurm-up: 2 nodes, slurmdbd, Open MPI + PMIx).

Jobs are rendered from templates/job.sh.j2, submitted with sbatch and followed with squeue/sacct.
Waits use deadlines against hangs (wait_until), never timing assertions.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.slurm import commands as c
from orchestrator.slurm.client import JobInfo, SchedulerUnavailable, SubmitRejected
from orchestrator.slurm.jobscript import EXIT_FILE, JobSpec, render_job_script
from orchestrator.slurm.local import LocalSlurm
from orchestrator.slurm.states import JobState, classify
from tests.slurm_fixtures import (  # noqa: F401
    SCRIPTS, slurm, slurm_cluster, slurm_jobs, slurm_outage, wait_until,
)

pytestmark = pytest.mark.slurm
# run ids unique per session: squeue/sacct still show jobs of an earlier session (MinJobAge=300 s)
TOKEN = secrets.token_hex(3)

MPI_HELLO = """\
import os, socket
from mpi4py import MPI
comm = MPI.COMM_WORLD
total = comm.allreduce(comm.rank + 1)
print("rank", comm.rank, "size", comm.size, "node", os.environ.get("SLURMD_NODENAME"), "sum", total, flush=True)
"""


def write_job(run_dir: Path, run_id: str, *, executable: str, launch: list[str], ntasks: int = 1,
              nodes: int = 1, minutes: int = 5, **kw: object) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = JobSpec(run_id=f"{run_id}-{TOKEN}", attempt=1, ntasks=ntasks, nodes=nodes, time_limit_minutes=minutes,
                   run_dir=str(run_dir), executable=executable, launch=launch, partition="debug", **kw)
    script = run_dir / "job.sh"
    script.write_text(render_job_script(spec))
    return script


def final_in_squeue(slurm: LocalSlurm, job_id: str) -> JobInfo | None:
    info = slurm.query([job_id]).get(job_id)
    return info if info and info.state.final else None


def in_sacct(slurm: LocalSlurm, job_id: str, final: bool = True) -> JobInfo | None:
    info = slurm.accounting([job_id]).get(job_id)
    # right after a job ends sacct may still hold a provisional record named "allocation" (partial nodes)
    settled = info is not None and info.name != "allocation" and (info.state.final or not final)
    return info if settled else None


def _daemon_pids() -> dict[str, str]:
    files = {"munged": "/run/munge/munged.pid", "slurmdbd": "/run/slurmdbd.pid", "slurmctld": "/run/slurmctld.pid",
             "node1": "/run/slurmd-node1.pid", "node2": "/run/slurmd-node2.pid"}
    return {k: Path(f).read_text().strip() for k, f in files.items()}


def test_slurm_up_is_idempotent_and_describes_the_cluster(slurm_cluster: dict[str, str]) -> None:
    before = _daemon_pids()
    proc = subprocess.run([str(SCRIPTS / "slurm-up")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "slurmctld already running" in proc.stdout and "changed=0" in proc.stdout
    assert _daemon_pids() == before                       # nothing restarted
    assert slurm_cluster["CR_NODES"] == "2" and slurm_cluster["CR_PARTITION"] == "debug"
    sinfo = subprocess.run(["sinfo", "-h", "-N", "-p", "debug", "-o", "%N %c %l"], capture_output=True, text=True).stdout.split()
    assert sinfo == ["node1", "2", "1:00:00", "node2", "2", "1:00:00"]


def test_slurm_up_as_non_root_only_checks(slurm_cluster: dict[str, str]) -> None:
    proc = subprocess.run(["runuser", "-u", "nobody", "--", str(SCRIPTS / "slurm-up")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "not root, but the cluster is already up" in proc.stdout, proc.stdout


def test_mpi_job_over_two_nodes_with_pmix(slurm: LocalSlurm, slurm_jobs: list[str], tmp_path: Path) -> None:
    """A 2-rank mpi4py job through the real job script: srun --mpi=pmix places one rank per node."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "hello.py").write_text(MPI_HELLO)
    script = write_job(run, "t-mpi", executable=sys.executable, ntasks=2, nodes=2,
                       launch=["srun", "--mpi=pmix", "{exe}", str(run / "hello.py")], account="cloudrun")
    job_id = slurm.submit(script, run)
    slurm_jobs.append(job_id)
    done = wait_until(lambda: final_in_squeue(slurm, job_id), f"job {job_id} to finish")
    out = (run / f"slurm-{job_id}.out").read_text()
    assert done.state is JobState.COMPLETED and done.exit_code == 0, out
    assert done.nodes == ["node1", "node2"] and done.num_nodes == 2 and done.ntasks == 2
    assert done.name == f"cloudrun-t-mpi-{TOKEN}-a1" and done.comment == f"cloudrun:t-mpi-{TOKEN}:1"
    ranks = sorted(line.split() for line in out.splitlines() if line.startswith("rank "))
    assert [(r[1], r[3], r[5], r[7]) for r in ranks] == [("0", "2", "node1", "3"), ("1", "2", "node2", "3")], out
    assert (run / EXIT_FILE).read_text() == "0\n"
    assert classify(done.state, done.exit_code, done.reason) == ("done", None)
    acct = wait_until(lambda: in_sacct(slurm, job_id), f"sacct record of {job_id}")
    assert acct.state is JobState.COMPLETED and acct.nodes == ["node1", "node2"] and acct.ntasks == 2


def test_four_ranks_fit_two_nodes_of_two_cpus(slurm: LocalSlurm, slurm_jobs: list[str], tmp_path: Path) -> None:
    run = tmp_path / "run4"
    run.mkdir()
    (run / "hello.py").write_text(MPI_HELLO)
    script = write_job(run, "t-mpi4", executable=sys.executable, ntasks=4, nodes=2,
                       launch=["srun", "--mpi=pmix", "{exe}", str(run / "hello.py")])
    job_id = slurm.submit(script, run)
    slurm_jobs.append(job_id)
    done = wait_until(lambda: final_in_squeue(slurm, job_id), f"job {job_id} to finish")
    out = (run / f"slurm-{job_id}.out").read_text()
    assert done.state is JobState.COMPLETED, out
    nodes = sorted(line.split()[5] for line in out.splitlines() if line.startswith("rank "))
    assert nodes == ["node1", "node1", "node2", "node2"] and "sum 10" in out


def test_failed_job_exit_code_in_squeue_sacct_and_exit_file(slurm: LocalSlurm, slurm_jobs: list[str],
                                                             tmp_path: Path) -> None:
    run = tmp_path / "fail"
    script = write_job(run, "t-fail", executable="/bin/sh", launch=["srun", "{exe}", "-c", "exit 3"])
    job_id = slurm.submit(script, run)
    slurm_jobs.append(job_id)
    done = wait_until(lambda: final_in_squeue(slurm, job_id), f"job {job_id} to finish")
    assert (done.state, done.exit_code) == (JobState.FAILED, 3)
    assert (run / EXIT_FILE).read_text() == "3\n"
    acct = wait_until(lambda: in_sacct(slurm, job_id), f"sacct record of {job_id}")
    assert (acct.state, acct.exit_code) == (JobState.FAILED, 3)
    found = slurm.find_in_accounting([done.name], comment_prefix=f"cloudrun:t-fail-{TOKEN}:")
    assert [(j.job_id, j.state) for j in found] == [(job_id, JobState.FAILED)]
    assert slurm.find_in_accounting([done.name], comment_prefix="cloudrun:other:") == []
    assert classify(acct.state, acct.exit_code, acct.reason) == ("error", "failed")


def test_held_job_reason_find_and_cancel(slurm: LocalSlurm, slurm_jobs: list[str], tmp_path: Path) -> None:
    run = tmp_path / "held"
    script = write_job(run, "t-held", executable="/bin/true", launch=["srun", "{exe}"])
    job_id = slurm.submit(script, run, extra=["--hold"])
    slurm_jobs.append(job_id)
    info = slurm.query([job_id])[job_id]
    assert info.state is JobState.PENDING and info.reason == "JobHeldUser" and info.nodes == []
    assert classify(info.state, info.exit_code, info.reason) == ("starting", None)
    by_name = slurm.find_by_name([f"cloudrun-t-held-{TOKEN}-a1"])
    by_comment = slurm.find_by_name(comment_prefix=f"cloudrun:t-held-{TOKEN}:")
    assert [j.job_id for j in by_name] == [job_id] and [j.job_id for j in by_comment] == [job_id]
    assert slurm.find_by_name(comment_prefix="cloudrun:no-such-run:") == []
    slurm.cancel([job_id])
    gone = wait_until(lambda: final_in_squeue(slurm, job_id), f"job {job_id} cancelled")
    assert gone.state is JobState.CANCELLED
    assert classify(gone.state, gone.exit_code, gone.reason, cancel_requested=True) == ("stopped", None)
    slurm.cancel([job_id])                        # cancelling a finished job again is not an error
    acct = wait_until(lambda: in_sacct(slurm, job_id), f"sacct record of {job_id}")
    assert acct.state is JobState.CANCELLED and acct.raw_state.startswith("CANCELLED by")


def test_cancel_running_job_writes_exit_file(slurm: LocalSlurm, slurm_jobs: list[str], tmp_path: Path) -> None:
    run = tmp_path / "long"
    script = write_job(run, "t-long", executable="/bin/sleep", launch=["srun", "{exe}", "300"])
    job_id = slurm.submit(script, run)
    slurm_jobs.append(job_id)
    wait_until(lambda: slurm.query([job_id])[job_id].state is JobState.RUNNING, f"job {job_id} running")
    slurm.cancel([job_id])
    wait_until(lambda: final_in_squeue(slurm, job_id), f"job {job_id} cancelled")
    status = wait_until(lambda: (run / EXIT_FILE).exists() and (run / EXIT_FILE).read_text(), "exit file")
    # scancel signals the batch step and the srun step; Slurm does not order the two. 143: the batch shell got
    # SIGTERM first and its trap wrote it; 1: the srun step was killed first and srun reported that. Either
    # way the file is written and never says 0 (success).
    assert status in ("143\n", "1\n"), status


def test_one_squeue_and_one_sacct_for_many_jobs(slurm: LocalSlurm, slurm_jobs: list[str], tmp_path: Path) -> None:
    run = tmp_path / "many"
    ids = []
    for i in range(6):
        script = write_job(run / str(i), f"t-many-{i}", executable="/bin/true", launch=["srun", "{exe}"])
        ids.append(slurm.submit(script, run / str(i), extra=["--hold"]))
    slurm_jobs.extend(ids)
    before = slurm.calls
    seen = slurm.query([*ids, "999999"])
    assert slurm.calls - before == 1 and slurm.calls_by_command["squeue"] == 1
    assert sorted(seen) == sorted(ids)            # the unknown id is simply absent
    assert all(j.state is JobState.PENDING for j in seen.values())
    slurm.cancel(ids)
    assert slurm.calls - before == 2 and slurm.calls_by_command["scancel"] == 1
    wait_until(lambda: all(j.state.final for j in slurm.query(ids).values()), "all cancelled")
    n = slurm.calls
    wait_until(lambda: len(slurm.accounting(ids)) == len(ids), "sacct records")
    assert slurm.calls_by_command["sacct"] == slurm.calls - n   # one sacct per lookup, whatever the count


def test_query_of_only_unknown_ids_is_empty(slurm: LocalSlurm) -> None:
    assert slurm.query(["999998"]) == {}          # squeue: "Invalid job id specified", exit 1
    assert slurm.query([]) == {} and slurm.calls == 1


def test_squeue_format_fields_are_all_valid(slurm: LocalSlurm) -> None:
    # squeue warns about an unknown -O field on stderr but exits 0 with an empty column
    proc = slurm.run(c.squeue_find_argv())
    assert "error" not in proc.stderr.lower(), proc.stderr


@pytest.mark.parametrize("ntasks, minutes, text", [
    (100, 5, "More processors requested than permitted"),
    (1, 600, "time limit"),
])
def test_submit_rejected(slurm: LocalSlurm, tmp_path: Path, ntasks: int, minutes: int, text: str) -> None:
    script = write_job(tmp_path, "t-reject", executable="/bin/true", launch=["srun", "{exe}"],
                       ntasks=ntasks, nodes=1, minutes=minutes)
    with pytest.raises(SubmitRejected) as e:
        slurm.submit(script, tmp_path)
    assert text in str(e.value)


def test_controller_down_is_scheduler_unavailable(slurm_cluster: dict[str, str], slurm_jobs: list[str],
                                                  tmp_path: Path) -> None:
    slurm = LocalSlurm(timeout=30.0)   # not the `slurm` fixture: its shared lock would block the outage
    script = write_job(tmp_path, "t-outage", executable="/bin/true", launch=["srun", "{exe}"])
    with slurm_outage(lambda: slurm.submit(script, tmp_path, extra=["--hold"])) as job_id:
        assert job_id
        slurm_jobs.append(job_id)
        assert slurm.ping() is False
        with pytest.raises(SchedulerUnavailable) as e:
            slurm.query([job_id])
        assert "Unable to contact slurm controller" in str(e.value)
        with pytest.raises(SchedulerUnavailable):
            slurm.submit(script, tmp_path)
        with pytest.raises(SchedulerUnavailable) as e:     # our own timeout, shorter than MessageTimeout
            LocalSlurm(timeout=1.0).query([job_id])
        assert "did not answer within 1 s" in str(e.value)
    assert slurm.ping() is True
    assert slurm.query([job_id])[job_id].state is JobState.PENDING   # state survived the restart
