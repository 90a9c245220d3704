"""Slurm job states, their order, and what they mean for a run (DESIGN.md §2, §4).

Pure: no I/O. Modelled on PSI/J's JobState (an enum with an order and a ``final`` flag).
"""

from __future__ import annotations

import enum
import re

# Error codes a job state can give a run (DESIGN.md §2 `error.code`). The service may refine
# FAILED (e.g. to `wrf_fatal` or `cfl`) from rsl output; these are what Slurm alone tells.
ERROR_TIMEOUT = "timeout"
ERROR_NODE_FAIL = "node_fail"
ERROR_OUT_OF_MEMORY = "out_of_memory"
ERROR_PREEMPTED = "preempted"
ERROR_CANCELLED = "cancelled"          # cancelled by someone other than Cloudrun (scancel by an admin)
ERROR_FAILED = "failed"                # non-zero exit / failure Slurm does not explain further
ERROR_LOST = "lost"

# DESIGN.md §4 Recovery: these retry automatically (capped) from the newest restart file.
RETRYABLE_ERRORS = frozenset({ERROR_TIMEOUT, ERROR_NODE_FAIL, ERROR_PREEMPTED})

# Run status hints (the run vocabulary of DESIGN.md §2).
STATUS_STARTING = "starting"
STATUS_ACTIVE = "active"
STATUS_DONE = "done"         # Slurm says success; the service must still check rsl + outputs
STATUS_STOPPED = "stopped"
STATUS_ERROR = "error"


class JobState(enum.Enum):
    """A Slurm job state. ``order`` grows along a job's life; ``final`` means it will not change."""

    UNKNOWN = ("UNKNOWN", 0, False)
    PENDING = ("PENDING", 1, False)
    REQUEUED = ("REQUEUED", 1, False)
    REQUEUE_HOLD = ("REQUEUE_HOLD", 1, False)
    REQUEUE_FED = ("REQUEUE_FED", 1, False)
    CONFIGURING = ("CONFIGURING", 2, False)
    RESIZING = ("RESIZING", 2, False)
    RUNNING = ("RUNNING", 3, False)
    SUSPENDED = ("SUSPENDED", 3, False)
    SIGNALING = ("SIGNALING", 3, False)
    STAGE_OUT = ("STAGE_OUT", 4, False)
    STOPPED = ("STOPPED", 3, False)
    COMPLETING = ("COMPLETING", 4, False)
    COMPLETED = ("COMPLETED", 5, True)
    FAILED = ("FAILED", 5, True)
    CANCELLED = ("CANCELLED", 5, True)
    TIMEOUT = ("TIMEOUT", 5, True)
    NODE_FAIL = ("NODE_FAIL", 5, True)
    PREEMPTED = ("PREEMPTED", 5, True)
    OUT_OF_MEMORY = ("OUT_OF_MEMORY", 5, True)
    BOOT_FAIL = ("BOOT_FAIL", 5, True)
    DEADLINE = ("DEADLINE", 5, True)
    SPECIAL_EXIT = ("SPECIAL_EXIT", 5, True)
    REVOKED = ("REVOKED", 5, True)

    def __init__(self, label: str, order: int, final: bool) -> None:
        self.label = label
        self.order = order
        self.final = final

    @property
    def active(self) -> bool:
        """True while the job holds or waits for resources (not final)."""
        return not self.final

    @classmethod
    def parse(cls, text: str) -> "JobState":
        """Parse squeue/sacct state text: 'RUNNING', 'CANCELLED by 0', 'CANCELLED+', 'CD', 'OOM'.

        Unknown text gives UNKNOWN (never raises): a newer Slurm may add states.
        """
        word = text.strip().split(" ", 1)[0].rstrip("+").upper()
        word = _SHORT.get(word, word)
        try:
            return cls[word]
        except KeyError:
            return cls.UNKNOWN


# squeue's/sacct's compact codes (%t, StateCompact) and sacct's OOM abbreviation.
_SHORT = {
    "PD": "PENDING", "R": "RUNNING", "CG": "COMPLETING", "CD": "COMPLETED", "F": "FAILED",
    "CA": "CANCELLED", "TO": "TIMEOUT", "NF": "NODE_FAIL", "PR": "PREEMPTED", "OOM": "OUT_OF_MEMORY",
    "BF": "BOOT_FAIL", "DL": "DEADLINE", "S": "SUSPENDED", "RQ": "REQUEUED", "RH": "REQUEUE_HOLD",
    "RF": "REQUEUE_FED", "CF": "CONFIGURING", "RS": "RESIZING", "RV": "REVOKED", "SE": "SPECIAL_EXIT",
    "SI": "SIGNALING", "SO": "STAGE_OUT", "ST": "STOPPED",
}

_CANCELLED_BY = re.compile(r"CANCELLED by (\d+)")


def cancelled_by(text: str) -> int | None:
    """The uid in sacct's 'CANCELLED by 0', or None."""
    m = _CANCELLED_BY.search(text)
    return int(m.group(1)) if m else None


def classify(
    state: JobState | str,
    exit_code: int | None = None,
    reason: str | None = None,
    *,
    cancel_requested: bool = False,
) -> tuple[str, str | None]:
    """Map a Slurm state to ``(run_status_hint, error_code)`` per DESIGN.md §4.

    ``cancel_requested``: Cloudrun itself asked for the cancel (stop/delete), so CANCELLED means
    ``stopped``; otherwise a cancel came from outside and is an error ``cancelled``.
    ``done`` only means Slurm saw success: the service must still check rsl and the outputs.
    """
    st = JobState.parse(state) if isinstance(state, str) else state
    if not st.final:
        if st.order >= JobState.RUNNING.order:
            return STATUS_ACTIVE, None
        # PENDING, REQUEUED, CONFIGURING, and UNKNOWN (keep waiting: "lost" is the poller's decision)
        return STATUS_STARTING, None
    if st is JobState.COMPLETED:
        if exit_code:
            return STATUS_ERROR, ERROR_FAILED
        return STATUS_DONE, None
    if st is JobState.CANCELLED:
        if cancel_requested:
            return STATUS_STOPPED, None
        # Slurm cancels jobs whose dependency can never be met, or on a deadline: reason says so.
        if reason and "Deadline" in reason:
            return STATUS_ERROR, ERROR_TIMEOUT
        return STATUS_ERROR, ERROR_CANCELLED
    return STATUS_ERROR, _FINAL_ERRORS.get(st, ERROR_FAILED)


_FINAL_ERRORS = {
    JobState.TIMEOUT: ERROR_TIMEOUT,
    JobState.DEADLINE: ERROR_TIMEOUT,
    JobState.NODE_FAIL: ERROR_NODE_FAIL,
    JobState.BOOT_FAIL: ERROR_NODE_FAIL,
    JobState.OUT_OF_MEMORY: ERROR_OUT_OF_MEMORY,
    JobState.PREEMPTED: ERROR_PREEMPTED,
    JobState.FAILED: ERROR_FAILED,
    JobState.SPECIAL_EXIT: ERROR_FAILED,
    JobState.REVOKED: ERROR_LOST,      # federation moved the job elsewhere: not ours any more
}
