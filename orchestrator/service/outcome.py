"""What one Slurm observation of a run's job means for the run (pure; tested on canned values).

Inputs: the job's Slurm state and exit code, what the rsl files said, the run's pending intent, whether
the expected history files exist. Output: the life-cycle action to apply (or none) and the error to show.
DESIGN.md §2: ``done`` needs Slurm success, SUCCESS COMPLETE WRF in rsl, the model time reached the end
time, and the expected history files; anything else is ``error`` with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from orchestrator.wrf.times import format_wrf_time as format_time
from orchestrator.wrf.times import parse_wrf_time as parse_time
from orchestrator.slurm.states import (STATUS_ACTIVE, STATUS_DONE, STATUS_STARTING, STATUS_STOPPED, JobState,
                                       classify)

ACTION_RUNNING = "job_running"
ACTION_DONE = "job_done"
ACTION_FAILED = "job_failed"
ACTION_STOPPED = "stop_confirmed"

# What each Slurm-side error code (orchestrator.slurm.states.classify) means, for the run's error message.
SLURM_MESSAGES = {
    "timeout": "the job reached its Slurm time limit before WRF finished",
    "node_fail": "a compute node failed while the job ran",
    "out_of_memory": "the job ran out of memory on a compute node",
    "preempted": "the job was preempted by a higher-priority job",
    "cancelled": "the Slurm job was cancelled outside Cloudrun (scancel by an operator or the scheduler)",
    "lost": "the job is no longer managed by this cluster",
}


@dataclass(frozen=True)
class RslSummary:
    """What the daemon learned from the run's rsl files."""

    success: bool = False
    model_time: str | None = None
    failure: tuple[str, str] | None = None  # (code, message) from orchestrator.wrf.rsl.classify_failure


@dataclass(frozen=True)
class Outcome:
    """The action for the life cycle (None = no change) and, for failures, the run's error object."""

    action: str | None
    error: dict[str, Any] | None = None


def _error(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details or None}




def reached_end(model_time: str | None, end_time: str | None) -> bool:
    """True when WRF's last model time is at or past the run's end."""
    if not model_time or not end_time:
        return False
    return parse_time(model_time) >= parse_time(end_time)


def expected_history_files(start_time: str, end_time: str, interval_seconds: int, frames_per_outfile: int = 1,
                           domains: int = 1) -> list[str]:
    """wrfout names WRF writes from start to end: a new file every ``frames_per_outfile`` frames."""
    start, end = parse_time(start_time), parse_time(end_time)
    step = timedelta(seconds=interval_seconds * max(1, frames_per_outfile))
    names = []
    when = start
    while when <= end and interval_seconds > 0:
        for d in range(1, domains + 1):
            names.append(f"wrfout_d{d:02d}_{format_time(when)}")
        when += step
    return names


def judge(state: JobState, exit_code: int | None, intent: str | None, rsl: RslSummary, end_time: str | None,
          missing_outputs: list[str], reason: str | None = None) -> Outcome:
    """Decide what a job observation means: Slurm's view (slurm.states.classify), then WRF's own evidence."""
    status, code = classify(state, exit_code, reason, cancel_requested=intent in ("stop", "delete"))
    if status == STATUS_STARTING:
        return Outcome(None)
    if status == STATUS_ACTIVE:
        return Outcome(ACTION_RUNNING)
    if status == STATUS_STOPPED:
        return Outcome(ACTION_STOPPED)
    if status == STATUS_DONE:
        problems = []
        if not rsl.success:
            problems.append("no 'SUCCESS COMPLETE WRF' in the rsl files")
        if not reached_end(rsl.model_time, end_time):
            problems.append(f"the model reached {rsl.model_time or 'no time at all'}, not the end time {end_time}")
        if missing_outputs:
            problems.append(f"{len(missing_outputs)} expected history file(s) missing, e.g. {missing_outputs[0]}")
        if not problems:
            return Outcome(ACTION_DONE)
        if rsl.failure and rsl.failure[0] in ("wrf_fatal", "cfl"):
            return Outcome(ACTION_FAILED, _error(rsl.failure[0], rsl.failure[1]))
        return Outcome(ACTION_FAILED, _error("wrf_incomplete", "Slurm reports success but the run is incomplete: "
                                             + "; ".join(problems)))
    if code in SLURM_MESSAGES:
        return Outcome(ACTION_FAILED, _error(code, SLURM_MESSAGES[code], model_time=rsl.model_time))
    # a failed job (non-zero exit): WRF's own words first
    if rsl.failure:
        return Outcome(ACTION_FAILED, _error(rsl.failure[0], rsl.failure[1], exit_code=exit_code))
    return Outcome(ACTION_FAILED, _error("failed", f"the job failed with exit code {exit_code} and wrf.exe left "
                                         "no explanation in its rsl files", exit_code=exit_code))
