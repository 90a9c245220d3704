"""Pure argv builders and output parsers for sbatch, squeue, sacct and scancel (Slurm 22.05).

Nothing here runs a process: `local.LocalSlurm` (or an SSH runner) runs the argv and hands stdout/stderr
back to the parsers. Parsers are tested on output captured from a real Slurm (tests/fixtures/slurm/).
Pattern: AiiDA's `_get_*_command` / `_parse_*_output` pairs; Cylc's "batch system = templates + regexes".
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from orchestrator.slurm.client import (
    InvalidJobId, JobInfo, SchedulerUnavailable, SlurmError, SubmitRejected,
)
from orchestrator.slurm.states import JobState

# Field separator for squeue -O / sacct --delimiter. Job names and comments of *other* users may hold "|",
# so use a 3-character sequence; the free-text field (Comment) also goes last and is split at most n-1 times.
SEP = "|#|"

# squeue -O field names (22.05). An unknown name is NOT an error for squeue (it prints a warning and an empty
# column, exit 0: e.g. "ExitCode" is invalid, "exit_code" is right), so tests check these on the real squeue.
# ":0" = no width limit (the default width 20 truncates names/comments).
SQUEUE_FIELDS: tuple[str, ...] = (
    "JobID", "State", "Reason", "exit_code", "NodeList", "NumTasks", "NumNodes", "Name",
    "SubmitTime", "StartTime", "EndTime", "Comment",
)
SACCT_FIELDS: tuple[str, ...] = (
    "JobID", "JobName", "State", "ExitCode", "Reason", "NodeList", "NTasks", "NNodes",
    "Submit", "Start", "End", "Comment",
)

_JOB_ID = re.compile(r"[0-9]+(?:_[0-9]+)?")   # plain or array element ("123_4"); used with fullmatch


def _ids(job_ids: Iterable[str]) -> list[str]:
    """Validated, de-duplicated ids, order kept. Ranges ("1-5") are refused: squeue reads only the first."""
    out: dict[str, None] = {}
    for j in job_ids:
        j = str(j).strip()
        if not _JOB_ID.fullmatch(j):
            raise ValueError(f"invalid Slurm job id {j!r}")
        out[j] = None
    if not out:
        raise ValueError("no job ids given")
    return list(out)


# ------------------------------------------------------------------------------------------ sbatch
def sbatch_argv(script_path: str | Path, cwd: str | Path, extra: Sequence[str] = ()) -> list[str]:
    """argv to submit ``script_path`` with working directory ``cwd`` (``extra``: e.g. ["--hold"])."""
    for a in extra:
        if not a.startswith("--") or "\n" in a:
            raise ValueError(f"sbatch option must be a single --long option, got {a!r}")
    return ["sbatch", "--parsable", f"--chdir={cwd}", *extra, str(script_path)]


def parse_sbatch_output(stdout: str) -> str:
    """Job id from ``sbatch --parsable`` output: "123" or "123;cluster" (federation/-M)."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise SlurmError("sbatch printed no job id")
    job_id = lines[-1].split(";", 1)[0]
    if not _JOB_ID.fullmatch(job_id):
        raise SlurmError(f"sbatch printed something that is not a job id: {lines[-1]!r}")
    return job_id


# ------------------------------------------------------------------------------------------ squeue
def squeue_format() -> str:
    """The -O format: every field unlimited width, followed by SEP."""
    return ",".join(f"{f}:0{SEP}" for f in SQUEUE_FIELDS)


def squeue_argv(job_ids: Iterable[str]) -> list[str]:
    """ONE squeue for many jobs, in any state squeue still holds (finished ones until MinJobAge)."""
    return ["squeue", "--noheader", "--states=all", f"--jobs={','.join(_ids(job_ids))}",
            f"--Format={squeue_format()}"]


def squeue_find_argv(names: Iterable[str] = (), user: str | None = None) -> list[str]:
    """squeue for jobs by name (all if no names); comments are matched after parsing."""
    argv = ["squeue", "--noheader", "--states=all", f"--Format={squeue_format()}"]
    names = list(names)
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", n):
            raise ValueError(f"invalid job name {n!r}")
    if names:
        argv.append(f"--name={','.join(names)}")
    if user:
        argv.append(f"--user={user}")
    return argv


def parse_squeue_output(stdout: str) -> dict[str, JobInfo]:
    """Records from squeue_argv/squeue_find_argv output, by job id."""
    out: dict[str, JobInfo] = {}
    for f in _records(stdout, len(SQUEUE_FIELDS), trailing=True):
        rec = dict(zip(SQUEUE_FIELDS, f))
        raw = _int(rec["exit_code"])
        exit_code, sig = (None, None)
        state = JobState.parse(rec["State"])
        if raw is not None and state.final:
            # squeue prints the raw wait status: 768 = exit 3, 9 = killed by signal 9
            exit_code, sig = raw >> 8, (raw & 0x7F) or None
        out[rec["JobID"]] = JobInfo(
            job_id=rec["JobID"], name=rec["Name"], comment=_null(rec["Comment"]) or "", state=state,
            reason=_null(rec["Reason"]), exit_code=exit_code, signal=sig,
            nodes=expand_hostlist(rec["NodeList"]), ntasks=_int(rec["NumTasks"]),
            num_nodes=_int(rec["NumNodes"]), submitted=_time(rec["SubmitTime"]),
            started=_time(rec["StartTime"]) if state.order >= JobState.RUNNING.order else None,
            # for a running job squeue's EndTime is the time-limit forecast, not an end
            ended=_time(rec["EndTime"]) if state.final else None,
            raw_state=rec["State"], source="squeue",
        )
    return out


def filter_by_comment(jobs: Iterable[JobInfo], prefix: str) -> list[JobInfo]:
    """Jobs whose comment starts with ``prefix`` (e.g. "cloudrun:<run_id>:")."""
    return [j for j in jobs if j.comment.startswith(prefix)]


# ------------------------------------------------------------------------------------------ sacct
def sacct_argv(job_ids: Iterable[str]) -> list[str]:
    """ONE sacct for many jobs. Text --parsable2 (22.05's --json reports exit 0 for `exit 3`).
    Steps are kept (no -X): a job line alone can hide which step failed."""
    return ["sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", "--allusers",
            f"--jobs={','.join(_ids(job_ids))}", f"--format={','.join(SACCT_FIELDS)}"]


def sacct_find_argv(names: Iterable[str], since: str = "now-7days") -> list[str]:
    """sacct for jobs by name since ``since`` (Slurm time: "now-7days", "2026-12-01T00:00:00").
    Finds jobs squeue forgot (after MinJobAge). Caveat (22.05): a job cancelled before it was ever
    eligible (held) has no eligible time and is never matched by a time window."""
    names = list(names)
    if not names:
        raise ValueError("no job names given")
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", n):
            raise ValueError(f"invalid job name {n!r}")
    if not re.fullmatch(r"now(-[0-9]+(seconds|minutes|hours|days|weeks)?)?|[0-9T:-]+", since):
        raise ValueError(f"invalid sacct start time {since!r}")
    return ["sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", "--allusers",
            f"--starttime={since}", "--endtime=now", f"--name={','.join(names)}",
            f"--format={','.join(SACCT_FIELDS)}"]


def parse_sacct_output(stdout: str) -> dict[str, JobInfo]:
    """Job records (from job lines; steps fill exit code and task count), by job id."""
    jobs: dict[str, dict[str, str]] = {}
    steps: dict[str, list[dict[str, str]]] = {}
    for f in _records(stdout, len(SACCT_FIELDS), trailing=False):
        rec = dict(zip(SACCT_FIELDS, f))
        base, _, step = rec["JobID"].partition(".")
        if step:
            steps.setdefault(base, []).append(rec)
        else:
            jobs[base] = rec
    out: dict[str, JobInfo] = {}
    for job_id, rec in jobs.items():
        exit_code, sig = _exit_pair(rec["ExitCode"])
        state = JobState.parse(rec["State"])
        my_steps = steps.get(job_id, [])
        if state.final and state is not JobState.COMPLETED and not exit_code and not sig:
            # the job line can say FAILED/CANCELLED 0:0 when a step failed or was signalled: worst step
            codes = [_exit_pair(s["ExitCode"]) for s in my_steps]
            exit_code = max((c or 0 for c, _ in codes), default=exit_code)
            sig = max((s or 0 for _, s in codes), default=0) or sig
        ntasks = _int(rec["NTasks"])
        if ntasks is None:
            numbered = [_int(s["NTasks"]) for s in my_steps if s["JobID"].split(".")[1].isdigit()]
            ntasks = max((n for n in numbered if n is not None), default=None)
        out[job_id] = JobInfo(
            job_id=job_id, name=rec["JobName"], comment=_null(rec["Comment"]) or "", state=state,
            reason=_null(rec["Reason"]), exit_code=exit_code if state.final else None, signal=sig,
            nodes=expand_hostlist(rec["NodeList"]), ntasks=ntasks, num_nodes=_int(rec["NNodes"]),
            submitted=_time(rec["Submit"]), started=_time(rec["Start"]),
            ended=_time(rec["End"]) if state.final else None,
            raw_state=rec["State"], source="sacct",
        )
    return out


# ------------------------------------------------------------------------------------------ scancel, ping
def scancel_argv(job_ids: Iterable[str]) -> list[str]:
    """One scancel for many jobs. Unknown or finished ids are silently ignored by scancel (exit 0)."""
    return ["scancel", *_ids(job_ids)]


def ping_argv() -> list[str]:
    """`scontrol ping`: exit 0 and "is UP" when the primary controller answers."""
    return ["scontrol", "ping"]


def parse_ping_output(stdout: str) -> bool:
    """True if any controller reports UP."""
    return bool(re.search(r"\bis UP\b", stdout))


# ------------------------------------------------------------------------------------------ errors
# Texts seen from 22.05 clients when the controller (or slurmdbd, for sacct) does not answer.
_UNAVAILABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Connection refused|Connection timed out|"
    r"Problem talking to the database|slurmdbd.*(down|not running)|Transport endpoint is not connected|"
    r"Zero Bytes were transmitted or received|in standby mode|Slurm controller not responding",
    re.IGNORECASE,
)
_INVALID_ID = re.compile(r"Invalid job id specified", re.IGNORECASE)
_SUBMIT_FAILED = re.compile(r"Batch job submission failed:\s*(.*)", re.IGNORECASE)


def classify_error(argv: Sequence[str], returncode: int | None, stderr: str) -> SlurmError:
    """The exception for a failed Slurm command, with a message that says what failed and why."""
    text = stderr.strip()
    cmd = argv[0] if argv else "slurm command"
    detail = text.splitlines()[-1] if text else f"exit status {returncode}, no error text"
    msg = f"{cmd} failed (exit {returncode}): {detail}"
    kw = {"argv": argv, "returncode": returncode, "stderr": stderr}
    if _UNAVAILABLE.search(text):
        return SchedulerUnavailable(f"Slurm unavailable: {msg}", **kw)
    if _INVALID_ID.search(text):
        return InvalidJobId(msg, **kw)
    m = _SUBMIT_FAILED.search(text)
    if m:
        return SubmitRejected(f"sbatch refused the job: {m.group(1).strip()}", **kw)
    if cmd == "sbatch" and "error:" in text:
        return SubmitRejected(f"sbatch refused the job: {detail}", **kw)
    return SlurmError(msg, **kw)


def stderr_warnings(stderr: str) -> list[str]:
    """Non-fatal `error:` lines a command printed while exiting 0 (e.g. an invalid squeue field)."""
    return [ln.strip() for ln in stderr.splitlines() if "error:" in ln]


# ------------------------------------------------------------------------------------------ helpers
def _records(stdout: str, nfields: int, trailing: bool) -> list[list[str]]:
    """Split records (squeue ends every field with SEP, sacct only separates them).
    A record starts with a job id; any other line continues the previous record's last field
    (a foreign job's comment may contain a newline), and that last field may contain SEP itself."""
    starts = re.compile(r"^[0-9]+(?:_[0-9]+)?(?:\.[A-Za-z0-9_+-]+)?" + re.escape(SEP))
    raw: list[str] = []
    for line in stdout.splitlines():
        if starts.match(line) or not raw:
            raw.append(line)
        else:
            raw[-1] += "\n" + line
    out: list[list[str]] = []
    for rec in raw:
        body = rec[:-len(SEP)] if trailing and rec.endswith(SEP) else rec
        fields = body.split(SEP, nfields - 1)
        if len(fields) == nfields:   # anything shorter is noise (a warning line), not a job
            out.append(fields)
    return out


def _null(v: str) -> str | None:
    v = v.strip()
    return None if v in ("", "(null)", "None", "N/A") else v


def _int(v: str) -> int | None:
    """Integer field; "", "N/A" and Slurm's NO_VAL/INFINITE markers (0xfffffffe, 0xffffffff) -> None."""
    v = v.strip()
    if not v.isdigit():
        return None
    n = int(v)
    return None if n >= 0xFFFFFFFE else n


def _time(v: str) -> datetime | None:
    v = v.strip()
    if v in ("", "N/A", "None", "Unknown", "(null)"):
        return None
    try:
        return datetime.fromisoformat(v)
    except ValueError:
        return None


def _exit_pair(v: str) -> tuple[int | None, int | None]:
    """sacct "3:0" -> (3, None); "0:15" -> (0, 15); "" -> (None, None)."""
    code, _, sig = v.strip().partition(":")
    c, s = _int(code), _int(sig)
    return c, (s or None)


def expand_hostlist(text: str) -> list[str]:
    """ "node[1-3,5],gpu01" -> ["node1", "node2", "node3", "node5", "gpu01"] (zero padding kept)."""
    text = text.strip()
    if text in ("", "(null)", "None", "None assigned", "N/A"):
        return []
    items, depth, cur = [], 0, ""
    for ch in text:   # split at commas outside brackets
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    hosts: list[str] = []
    for item in items:
        m = re.fullmatch(r"([^\[]*)\[([^\]]+)\](.*)", item)
        if not m:
            hosts.append(item)
            continue
        prefix, ranges, suffix = m.groups()
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            if not hi:
                hosts.extend(expand_hostlist(f"{prefix}{lo}{suffix}"))
                continue
            for n in range(int(lo), int(hi) + 1):
                hosts.extend(expand_hostlist(f"{prefix}{str(n).zfill(len(lo))}{suffix}"))
    return hosts
