"""The SlurmClient interface, its records and its errors.

Callers (the daemon) depend on this module only; implementations live beside it
(`local.LocalSlurm` runs commands by subprocess; an SSH one can run the same argv remotely).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from orchestrator.slurm.states import JobState


@dataclass(frozen=True)
class JobInfo:
    """One Slurm job as squeue or sacct saw it (the raw view behind the run's ``job`` object)."""

    job_id: str
    name: str
    comment: str
    state: JobState
    reason: str | None = None          # squeue's pending/hold reason ("Resources", "JobHeldUser"); None if "None"
    exit_code: int | None = None       # process exit status; None while unknown (pending/running)
    nodes: list[str] = field(default_factory=list)   # expanded: ["node1", "node2"]
    ntasks: int | None = None
    num_nodes: int | None = None
    submitted: datetime | None = None  # naive local time as Slurm prints it (the cluster's clock)
    started: datetime | None = None
    ended: datetime | None = None
    signal: int | None = None          # signal that ended the job (sacct "0:15" -> 15), if any
    raw_state: str = ""                # as printed, e.g. "CANCELLED by 0"
    source: str = "squeue"             # "squeue" or "sacct"

    def to_dict(self) -> dict[str, object]:
        """The run's ``job`` view (DESIGN.md §2), JSON-friendly."""
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None
        return {
            "scheduler": "slurm", "job_id": self.job_id, "state": self.state.label,
            "reason": self.reason, "exit_code": self.exit_code, "nodes": list(self.nodes),
            "ntasks": self.ntasks, "submitted": iso(self.submitted), "started": iso(self.started),
            "ended": iso(self.ended),
        }


class SlurmError(Exception):
    """A Slurm command failed in a way that is neither an outage nor a refused submission."""

    def __init__(self, message: str, *, argv: Iterable[str] = (), returncode: int | None = None,
                 stderr: str = "") -> None:
        super().__init__(message)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class SchedulerUnavailable(SlurmError):
    """Slurm did not answer (timeout, controller down): keep job states as they were and retry later."""


class SubmitRejected(SlurmError):
    """sbatch refused the job with a Slurm error (e.g. too many CPUs, bad partition): do not retry as-is."""


class InvalidJobId(SlurmError):
    """Slurm does not know the job id (squeue after MinJobAge, scancel of an unknown id)."""


class SlurmClient(abc.ABC):
    """What the daemon needs from a Slurm cluster. Every method is one Slurm command (or none)."""

    calls: int   # number of Slurm commands run so far (benchmarks assert calls per poll cycle)

    @abc.abstractmethod
    def submit(self, script_path: str | Path, cwd: str | Path, extra: Sequence[str] = ()) -> str:
        """sbatch the script in ``cwd`` (``extra``: e.g. ["--hold"]); return the job id.
        Raises SubmitRejected (Slurm refused it) or SchedulerUnavailable (no answer: state unknown —
        reconcile by name/comment before submitting again)."""

    @abc.abstractmethod
    def cancel(self, job_ids: Iterable[str]) -> None:
        """scancel all ``job_ids`` in one call; already-finished or unknown ids are not an error."""

    @abc.abstractmethod
    def query(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """One squeue call for all ids; ids Slurm no longer knows are absent from the result."""

    @abc.abstractmethod
    def find_by_name(self, names: Iterable[str] = (), comment_prefix: str | None = None) -> list[JobInfo]:
        """Jobs (any state squeue still shows) with one of ``names`` and/or a comment starting with
        ``comment_prefix`` — used to adopt a job after a crash between sbatch and recording its id."""

    @abc.abstractmethod
    def accounting(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """One sacct call for all ids: the final record of jobs that left the queue."""

    @abc.abstractmethod
    def find_in_accounting(self, names: Iterable[str], comment_prefix: str | None = None,
                           since: str = "now-7days") -> list[JobInfo]:
        """Like find_by_name, from sacct: for jobs squeue has already forgotten (after MinJobAge)."""

    @abc.abstractmethod
    def ping(self) -> bool:
        """True when the controller answers."""
