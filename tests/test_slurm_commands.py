"""Pure tests: argv builders and parsers on output captured from the real Slurm (tests/fixtures/slurm,
regenerate with capture.sh), state classification, job script rendering (incl. shell-injection attempts)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.slurm import commands as c
from orchestrator.slurm.client import InvalidJobId, SchedulerUnavailable, SlurmError, SubmitRejected
from orchestrator.slurm.jobscript import (
    EXIT_FILE, JobSpec, compute_time_limit_minutes, job_comment, job_name, parse_job_comment, render_job_script,
    spec_from_build,
)
from orchestrator.slurm.states import JobState, cancelled_by, classify

FIX = Path(__file__).parent / "fixtures" / "slurm"


def fixture(name: str) -> str:
    return (FIX / name).read_text()


@pytest.fixture(scope="module")
def ids() -> dict[str, str]:
    """Role -> job id of the captured jobs (ids change when the fixtures are regenerated)."""
    return dict(line.split() for line in fixture("ids.txt").splitlines() if line.strip())


@pytest.fixture(scope="module")
def rcs() -> dict[str, int]:
    return {k: int(v) for k, v in (ln.split() for ln in fixture("returncodes.txt").splitlines() if ln.strip())}


# ------------------------------------------------------------------------------------------ builders
def test_squeue_argv_is_one_call_for_many_ids_with_all_states() -> None:
    argv = c.squeue_argv(["12", "10", "12", "11_3"])
    assert argv[0] == "squeue"
    assert "--jobs=12,10,11_3" in argv            # comma list, de-duplicated, order kept
    assert "--states=all" in argv and "--noheader" in argv
    fmt = next(a for a in argv if a.startswith("--Format="))
    assert fmt.count(c.SEP) == len(c.SQUEUE_FIELDS) and "exit_code:0" in fmt


@pytest.mark.parametrize("bad", ["1-5", "12;rm -rf /", "", "$(id)", "12 13", "-1"])
def test_job_ids_are_validated(bad: str) -> None:
    with pytest.raises(ValueError):
        c.squeue_argv([bad])
    with pytest.raises(ValueError):
        c.sacct_argv(["1", bad])
    with pytest.raises(ValueError):
        c.scancel_argv([bad])


def test_empty_id_list_is_refused() -> None:
    with pytest.raises(ValueError):
        c.squeue_argv([])


def test_sacct_and_scancel_argv() -> None:
    argv = c.sacct_argv(["5", "6"])
    assert argv[:3] == ["sacct", "--noheader", "--parsable2"]
    assert "--jobs=5,6" in argv and f"--delimiter={c.SEP}" in argv
    assert "-X" not in argv and "--json" not in argv    # steps kept; json reports wrong exit codes in 22.05
    assert argv[-1].endswith(",Comment")                   # free text last: may contain the separator
    assert c.scancel_argv(["5", "6", "5"]) == ["scancel", "5", "6"]


def test_sbatch_argv_and_options() -> None:
    assert c.sbatch_argv("/r/job.sh", "/r") == ["sbatch", "--parsable", "--chdir=/r", "/r/job.sh"]
    assert c.sbatch_argv("/r/job.sh", "/r", ["--hold"])[-2] == "--hold"
    with pytest.raises(ValueError):
        c.sbatch_argv("/r/job.sh", "/r", ["-n 5"])


def test_squeue_find_argv() -> None:
    argv = c.squeue_find_argv(["cloudrun-a-a1", "cloudrun-b-a2"])
    assert "--name=cloudrun-a-a1,cloudrun-b-a2" in argv
    assert not any(a.startswith("--jobs") for a in argv)
    with pytest.raises(ValueError):
        c.squeue_find_argv(["x;y"])


def test_sacct_find_argv() -> None:
    argv = c.sacct_find_argv(["cloudrun-a-a1"], "now-2days")
    assert "--name=cloudrun-a-a1" in argv and "--starttime=now-2days" in argv and "--endtime=now" in argv
    for bad in (([], "now"), (["a b"], "now"), (["a"], "now; id")):
        with pytest.raises(ValueError):
            c.sacct_find_argv(*bad)


# ------------------------------------------------------------------------------------------ sbatch
def test_parse_sbatch_output_real_and_federated() -> None:
    real = fixture("sbatch_parsable.txt")
    assert c.parse_sbatch_output(real) == real.strip()
    assert c.parse_sbatch_output("4242;cloudrun\n") == "4242"
    for junk in ("", "Submitted batch job\n", "abc;x"):
        with pytest.raises(SlurmError):
            c.parse_sbatch_output(junk)


# ------------------------------------------------------------------------------------------ squeue
def test_parse_squeue_live(ids: dict[str, str]) -> None:
    jobs = c.parse_squeue_output(fixture("squeue_live.txt"))
    assert set(jobs) == {ids[r] for r in ("timeout", "running", "pending", "held", "cancelled-pending")}
    run = jobs[ids["running"]]
    assert run.state is JobState.RUNNING and run.reason is None and run.exit_code is None
    assert run.ntasks == 2 and run.num_nodes == 1 and len(run.nodes) == 1 and run.nodes[0].startswith("node")
    assert run.name == "cloudrun-capture-running-a1" and run.comment == "cloudrun:capture-running:1"
    assert isinstance(run.started, datetime) and run.ended is None   # EndTime of a running job is a forecast
    pend = jobs[ids["pending"]]
    assert pend.state is JobState.PENDING and pend.reason in ("Resources", "Priority")   # Priority: others queued first
    assert pend.nodes == [] and pend.ntasks == 4 and pend.num_nodes == 2 and pend.started is None
    held = jobs[ids["held"]]
    assert held.state is JobState.PENDING and held.reason == "JobHeldUser"
    assert jobs[ids["cancelled-pending"]].state is JobState.CANCELLED


def test_parse_squeue_final(ids: dict[str, str]) -> None:
    jobs = c.parse_squeue_output(fixture("squeue_final.txt"))
    assert len(jobs) == 9
    done = jobs[ids["completed"]]
    assert done.state is JobState.COMPLETED and done.exit_code == 0 and done.nodes == ["node1", "node2"]
    failed = jobs[ids["failed"]]
    assert (failed.state, failed.exit_code, failed.signal, failed.reason) == (
        JobState.FAILED, 3, None, "NonZeroExitCode")          # squeue prints the wait status 768
    sig = jobs[ids["signalled"]]
    assert (sig.state, sig.exit_code, sig.signal) == (JobState.FAILED, 0, 9)
    to = jobs[ids["timeout"]]
    assert (to.state, to.reason, to.signal) == (JobState.TIMEOUT, "TimeLimit", 15)
    assert to.ended is not None and to.started is not None and to.ended > to.started
    assert jobs[ids["cancelled-running"]].state is JobState.CANCELLED
    assert jobs[ids["held"]].ntasks is None                    # NO_VAL (4294967294) is not a count


def test_parse_squeue_find_and_comment_filter(ids: dict[str, str]) -> None:
    jobs = list(c.parse_squeue_output(fixture("squeue_find.txt")).values())
    assert {j.job_id for j in jobs} == {ids["running"], ids["held"]}
    hit = c.filter_by_comment(jobs, "cloudrun:capture-held:")
    assert [j.job_id for j in hit] == [ids["held"]]
    assert c.filter_by_comment(jobs, "cloudrun:nope:") == []


def test_squeue_parser_survives_separator_and_newline_in_foreign_comment() -> None:
    line = c.SEP.join(["77", "PENDING", "Priority", "0", "", "1", "1", "x", "N/A", "N/A", "N/A",
                       f"evil{c.SEP}comment\nsecond line"]) + c.SEP
    line2 = c.SEP.join(["78", "RUNNING", "None", "0", "node2", "1", "1", "y", "N/A", "N/A", "N/A", ""]) + c.SEP
    jobs = c.parse_squeue_output(line + "\n" + line2 + "\n")
    assert set(jobs) == {"77", "78"}
    assert jobs["77"].comment == f"evil{c.SEP}comment\nsecond line"
    assert jobs["78"].nodes == ["node2"]


def test_parse_squeue_empty_and_noise() -> None:
    assert c.parse_squeue_output("") == {}
    assert c.parse_squeue_output("squeue: warning: something\n") == {}


# ------------------------------------------------------------------------------------------ sacct
def test_parse_sacct_final(ids: dict[str, str]) -> None:
    jobs = c.parse_sacct_output(fixture("sacct_final.txt"))
    assert len(jobs) == 9 and all(j.source == "sacct" for j in jobs.values())
    assert "." not in "".join(jobs)                            # steps fold into their job
    done = jobs[ids["completed"]]
    assert (done.state, done.exit_code, done.ntasks, done.nodes) == (
        JobState.COMPLETED, 0, 2, ["node1", "node2"])        # ntasks from the srun step
    assert done.comment == "cloudrun:capture-completed:1" and done.name == "cloudrun-capture-completed-a1"
    assert (jobs[ids["failed"]].state, jobs[ids["failed"]].exit_code) == (JobState.FAILED, 3)
    assert jobs[ids["signalled"]].signal == 9
    cr = jobs[ids["cancelled-running"]]
    assert cr.state is JobState.CANCELLED and cr.raw_state == "CANCELLED by 0"
    assert cancelled_by(cr.raw_state) == 0 and cr.signal == 15   # from the .batch step (0:15)
    to = jobs[ids["timeout"]]
    assert to.state is JobState.TIMEOUT and to.ended is not None
    cp = jobs[ids["pending"]]
    assert cp.state is JobState.CANCELLED and cp.nodes == [] and cp.started is None   # "None assigned", "None"
    assert jobs[ids["held"]].reason == "JobHeldUser"


def test_parse_sacct_live_shows_the_allocation_pitfall(ids: dict[str, str]) -> None:
    # Just after a job starts sacct can still say PENDING with JobName=allocation: sacct is for jobs
    # that LEFT the queue; squeue is the authority while a job is queued or running.
    j = c.parse_sacct_output(fixture("sacct_live.txt"))[ids["running"]]
    assert not j.state.final and j.exit_code is None and j.ended is None


def test_sacct_parser_handles_separator_in_comment() -> None:
    line = c.SEP.join(["9", "n", "FAILED", "2:0", "None", "node1", "", "1", "2026-01-01T00:00:00",
                       "2026-01-01T00:00:01", "2026-01-01T00:00:02", f"a{c.SEP}b"])
    j = c.parse_sacct_output(line + "\n")["9"]
    assert j.comment == f"a{c.SEP}b" and j.exit_code == 2


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("name, argv0, exc, text", [
    ("outage_squeue", "squeue", SchedulerUnavailable, "Unable to contact slurm controller"),
    ("outage_sbatch", "sbatch", SchedulerUnavailable, "Unable to contact slurm controller"),
    ("outage_scancel", "scancel", SchedulerUnavailable, "Unable to contact slurm controller"),
    ("squeue_invalid_id", "squeue", InvalidJobId, "Invalid job id specified"),
    ("sbatch_too_many_cpus", "sbatch", SubmitRejected, "More processors requested than permitted"),
    ("sbatch_time_too_long", "sbatch", SubmitRejected, "Requested time limit is invalid"),
    ("sbatch_bad_partition", "sbatch", SubmitRejected, "Invalid partition name specified"),
])
def test_classify_error_on_real_error_texts(name: str, argv0: str, exc: type, text: str,
                                            rcs: dict[str, int]) -> None:
    err = c.classify_error([argv0, "x"], rcs[name], fixture(f"{name}.stderr.txt"))
    assert type(err) is exc
    assert text in str(err) and rcs[name] != 0
    assert err.returncode == rcs[name] and err.argv[0] == argv0


def test_sacct_without_slurmdbd_is_unavailable() -> None:
    err = c.classify_error(["sacct"], 1, "sacct: error: Problem talking to the database: Connection refused\n")
    assert isinstance(err, SchedulerUnavailable)


def test_unknown_error_is_plain_slurm_error_with_context() -> None:
    err = c.classify_error(["squeue", "-x"], 2, "")
    assert type(err) is SlurmError and "squeue" in str(err) and "exit 2" in str(err)


def test_ping_output(rcs: dict[str, int]) -> None:
    assert c.parse_ping_output(fixture("scontrol_ping.txt")) is True
    assert c.parse_ping_output(fixture("outage_scontrol_ping.txt")) is False
    assert rcs["outage_scontrol_ping"] != 0 and rcs["scontrol_ping"] == 0


def test_expand_hostlist() -> None:
    assert c.expand_hostlist("node[1-3,5],gpu[08-10]x,login") == [
        "node1", "node2", "node3", "node5", "gpu08x", "gpu09x", "gpu10x", "login"]
    assert c.expand_hostlist("None assigned") == [] and c.expand_hostlist("") == []


# ------------------------------------------------------------------------------------------ states
@pytest.mark.parametrize("text, state", [
    ("RUNNING", JobState.RUNNING), ("CANCELLED by 0", JobState.CANCELLED), ("CANCELLED+", JobState.CANCELLED),
    ("CD", JobState.COMPLETED), ("OOM", JobState.OUT_OF_MEMORY), ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY),
    ("PD", JobState.PENDING), ("something_new", JobState.UNKNOWN), ("node_fail", JobState.NODE_FAIL),
])
def test_state_parse(text: str, state: JobState) -> None:
    assert JobState.parse(text) is state


def test_state_order_and_final() -> None:
    assert JobState.PENDING.order < JobState.RUNNING.order < JobState.COMPLETING.order < JobState.COMPLETED.order
    finals = {s for s in JobState if s.final}
    assert finals >= {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT,
                      JobState.NODE_FAIL, JobState.PREEMPTED, JobState.OUT_OF_MEMORY, JobState.BOOT_FAIL,
                      JobState.DEADLINE}
    assert not ({JobState.PENDING, JobState.RUNNING, JobState.COMPLETING, JobState.SUSPENDED,
                 JobState.REQUEUED, JobState.UNKNOWN} & finals)


@pytest.mark.parametrize("state, exit_code, reason, kw, expected", [
    ("PENDING", None, "Resources", {}, ("starting", None)),
    ("REQUEUED", None, None, {}, ("starting", None)),
    ("RUNNING", None, None, {}, ("active", None)),
    ("COMPLETING", 0, None, {}, ("active", None)),
    ("SUSPENDED", None, None, {}, ("active", None)),
    ("COMPLETED", 0, None, {}, ("done", None)),
    ("FAILED", 3, "NonZeroExitCode", {}, ("error", "failed")),
    ("TIMEOUT", 0, "TimeLimit", {}, ("error", "timeout")),
    ("DEADLINE", 0, None, {}, ("error", "timeout")),
    ("NODE_FAIL", 0, None, {}, ("error", "node_fail")),
    ("BOOT_FAIL", 0, None, {}, ("error", "node_fail")),
    ("OUT_OF_MEMORY", 0, None, {}, ("error", "out_of_memory")),
    ("PREEMPTED", 0, None, {}, ("error", "preempted")),
    ("CANCELLED by 0", 0, None, {}, ("error", "cancelled")),
    ("CANCELLED by 0", 0, None, {"cancel_requested": True}, ("stopped", None)),
])
def test_classify(state: str, exit_code: int | None, reason: str | None, kw: dict,
                  expected: tuple[str, str | None]) -> None:
    assert classify(state, exit_code, reason, **kw) == expected


def test_classify_real_records(ids: dict[str, str]) -> None:
    jobs = c.parse_sacct_output(fixture("sacct_final.txt"))
    got = {role: classify(jobs[i].state, jobs[i].exit_code, jobs[i].reason) for role, i in ids.items()}
    assert got["completed"] == ("done", None)
    assert got["failed"] == ("error", "failed") and got["signalled"] == ("error", "failed")
    assert got["timeout"] == ("error", "timeout")
    assert got["cancelled-running"] == ("error", "cancelled")


# ------------------------------------------------------------------------------------------ job script
def spec(tmp: Path | str = "/srv/runs/r1", **kw: object) -> JobSpec:
    base: dict = dict(run_id="r1-x_2", attempt=2, ntasks=4, nodes=2, time_limit_minutes=45, run_dir=str(tmp),
                      executable="/opt/wrf/main/wrf.exe", launch=["srun", "--mpi=pmix", "{exe}"],
                      partition="debug", account="cloudrun", qos="normal", output="slurm-%j.out",
                      env={"OMP_NUM_THREADS": "1"}, modules=["openmpi/4.1"])
    base.update(kw)
    return JobSpec(**base)


def test_render_job_script_directives_and_launch() -> None:
    text = render_job_script(spec())
    directives = [ln for ln in text.splitlines() if ln.startswith("#SBATCH")]
    assert directives == [
        "#SBATCH --job-name=cloudrun-r1-x_2-a2", "#SBATCH --comment=cloudrun:r1-x_2:2", "#SBATCH --ntasks=4",
        "#SBATCH --nodes=2", "#SBATCH --time=45", "#SBATCH --partition=debug", "#SBATCH --account=cloudrun",
        "#SBATCH --qos=normal", "#SBATCH --output=slurm-%j.out", "#SBATCH --no-requeue"]
    assert text.startswith("#!/bin/bash\n")
    assert "srun --mpi=pmix /opt/wrf/main/wrf.exe &" in text
    assert "module load openmpi/4.1 || exit 96" in text and "export OMP_NUM_THREADS=1" in text
    assert EXIT_FILE in text and "trap " in text


def test_spec_from_the_registered_emulator_build() -> None:
    from orchestrator.wrf.builds import load_builds
    build = next(b for b in load_builds(Path(__file__).parents[1] / "wrf_builds") if b.version == "3.9")
    js = spec_from_build(build, run_id="r9", attempt=1, ntasks=4, nodes=2, time_limit_minutes=10,
                         run_dir="/srv/runs/r9")
    text = render_job_script(js)
    assert f"srun --mpi=pmix {build.exe} &" in text
    assert "export CLOUDRUN_EMULATOR_WRF_VERSION=3.9" in text


def test_optional_directives_are_left_out() -> None:
    text = render_job_script(spec(partition=None, account="", qos=None, modules=[], env={}))
    assert "--partition" not in text and "--account" not in text and "--qos" not in text
    assert "module load" not in text and "export " not in text


def test_names_and_comments_round_trip() -> None:
    assert job_name("abc", 3) == "cloudrun-abc-a3"
    assert parse_job_comment(job_comment("abc-1", 3)) == ("abc-1", 3)
    assert parse_job_comment("cloudrun:abc") is None and parse_job_comment("other:abc:1") is None


@pytest.mark.parametrize("estimate, factor, cap, minimum, expected", [
    (600, 2.0, 3600, 60, 20),        # 10 min × 2
    (3000, 2.0, 3600, 60, 60),       # 100 min capped by the partition's 60
    (10, 1.5, 3600, 300, 5),         # at least the minimum
    (61, 1.0, None, 60, 2),          # rounded up, no cap
])
def test_time_limit(estimate: float, factor: float, cap: int | None, minimum: int, expected: int) -> None:
    assert compute_time_limit_minutes(estimate, factor, cap, minimum) == expected


@pytest.mark.parametrize("field, value", [
    ("run_id", "a b"), ("run_id", ""), ("attempt", 0), ("attempt", True), ("ntasks", 0), ("nodes", 5),
    ("time_limit_minutes", 0), ("run_dir", "relative/dir"), ("run_dir", "/a/../etc"), ("executable", "wrf.exe"),
    ("partition", "debug,gpu"), ("account", "a b"), ("qos", "q\n"), ("output", "../x.out"), ("output", "a b"),
    ("env", {"1BAD": "x"}), ("env", {"A-B": "x"}), ("modules", ["mpi; id"]), ("launch", []), ("launch", ["{exe}"]),
])
def test_invalid_values_raise_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError) as e:
        spec(**{field: value})
    name = {"env": "env", "modules": "module"}.get(field, field)
    assert name in str(e.value)


PAYLOADS = ["$(touch {s})", "`touch {s}`", "x; touch {s}", "x' ; touch {s} ; '", 'x" ; touch {s} ; "',
            "x\ntouch {s}\n", "x && touch {s} #", "$((1+1))${{IFS}}|touch {s}"]
USER_FIELDS = ["run_id", "partition", "account", "qos", "output", "run_dir", "executable", "env_key",
               "env_value", "module", "launch_arg", "launcher"]


def _with_payload(base: JobSpec, field: str, payload: str, tmp: Path) -> JobSpec:
    if field == "run_dir":
        return replace(base, run_dir=str(tmp / "runs" / payload))
    if field == "executable":
        return replace(base, executable=f"/opt/{payload}")
    if field == "env_key":
        return replace(base, env={payload: "1"})
    if field == "env_value":
        return replace(base, env={"CLOUDRUN_X": payload})
    if field == "module":
        return replace(base, modules=[payload])
    if field == "launch_arg":
        return replace(base, launch=["srun", "--mpi=pmix", "{exe}", payload])
    if field == "launcher":
        return replace(base, launch=[payload, "{exe}"])
    return replace(base, **{field: payload})


@pytest.mark.parametrize("field", USER_FIELDS)
def test_shell_metacharacters_in_every_user_field_are_refused_or_inert(field: str, tmp_path: Path) -> None:
    """Render with each payload; if accepted, RUN the script with bash where srun is a PATH shim that
    records its argv and environment: no payload may execute, every value must arrive verbatim."""
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    (shim_dir / "srun").write_text(
        '#!/bin/sh\nprintf \'%s\\0\' "$@" > "$CLOUDRUN_SHIM_OUT/argv"\n'
        'env -0 > "$CLOUDRUN_SHIM_OUT/env"\nexit 0\n')
    (shim_dir / "srun").chmod(0o755)
    accepted = 0
    for i, template in enumerate(PAYLOADS):
        sentinel = tmp_path / f"pwned{i}"
        payload = template.format(s=sentinel)
        base = spec(tmp_path / "run", partition=None, account=None, qos=None, modules=[], env={})
        try:
            js = _with_payload(base, field, payload, tmp_path)
        except ValueError:
            continue                                  # refused: fine
        accepted += 1
        text = render_job_script(js)
        directives = [ln for ln in text.splitlines() if ln.startswith("#SBATCH")]
        assert len(directives) == 7 and str(sentinel) not in "".join(directives)
        Path(js.run_dir).mkdir(parents=True, exist_ok=True)
        out = tmp_path / f"out{i}"
        out.mkdir()
        script = tmp_path / f"job{i}.sh"
        script.write_text(text)
        env = {"PATH": f"{shim_dir}:/usr/bin:/bin", "CLOUDRUN_SHIM_OUT": str(out), "HOME": str(tmp_path)}
        proc = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=30)
        assert not sentinel.exists(), f"{field}={payload!r} executed: {proc.stdout}{proc.stderr}"
        assert not list(tmp_path.glob("pwned*"))
        exit_text = (Path(js.run_dir) / EXIT_FILE).read_text()
        assert exit_text == f"{proc.returncode}\n"
        if field == "launcher":
            assert proc.returncode == 127              # the literal string is not a command: nothing ran
            continue
        assert proc.returncode == 0, proc.stderr
        argv = (out / "argv").read_text().split("\0")[:-1]
        assert argv[:2] == ["--mpi=pmix", js.executable]
        if field == "launch_arg":
            assert argv[2] == payload
        if field == "env_value":
            shim_env = dict(kv.split("=", 1) for kv in (out / "env").read_text().split("\0") if "=" in kv)
            assert shim_env["CLOUDRUN_X"] == payload
    expected_accepting = {"run_dir", "executable", "env_value", "launch_arg", "launcher"}
    assert (accepted > 0) == (field in expected_accepting)
