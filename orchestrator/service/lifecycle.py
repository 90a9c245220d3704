"""The run life cycle as data (DESIGN.md §2): which action moves which status where. Pure.

User actions (API/CLI) and system actions (daemon) are listed separately so the 409 message can name
exactly what a user may do next. A pair missing from the tables is refused.
"""
from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """What a run is doing, as users see it."""

    created = "created"
    ready = "ready"
    starting = "starting"
    active = "active"
    stopped = "stopped"
    done = "done"
    error = "error"
    deleted = "deleted"


USER_ACTIONS: tuple[str, ...] = ("upload", "upload_url", "setup", "start", "stop", "delete")

# (status, user action) -> status right after the API call. "stop" on a run whose job may be live only
# records the intent; the daemon moves it to `stopped` when Slurm confirms (see service.stop_run).
USER_TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.created, "upload"): Status.created,
    (Status.created, "upload_url"): Status.created,
    (Status.created, "setup"): Status.ready,
    (Status.created, "delete"): Status.deleted,
    # changing an input after setup invalidates the staged run directory: back to created
    (Status.ready, "upload"): Status.created,
    (Status.ready, "upload_url"): Status.created,
    (Status.ready, "setup"): Status.ready,
    (Status.ready, "start"): Status.starting,
    (Status.ready, "delete"): Status.deleted,
    (Status.starting, "stop"): Status.stopped,
    (Status.starting, "delete"): Status.deleted,
    (Status.active, "stop"): Status.stopped,
    (Status.active, "delete"): Status.deleted,
    # start again = resume from the newest complete restart file where one exists
    (Status.stopped, "start"): Status.starting,
    (Status.stopped, "delete"): Status.deleted,
    (Status.error, "start"): Status.starting,
    (Status.error, "delete"): Status.deleted,
    (Status.done, "delete"): Status.deleted,
}

# (status, system action) -> status. Only the daemon / reconcile pass uses these.
SYSTEM_TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.starting, "job_running"): Status.active,
    (Status.starting, "job_done"): Status.done,
    (Status.active, "job_done"): Status.done,
    (Status.starting, "job_failed"): Status.error,
    (Status.active, "job_failed"): Status.error,
    (Status.starting, "submit_failed"): Status.error,
    (Status.starting, "stop_confirmed"): Status.stopped,
    (Status.active, "stop_confirmed"): Status.stopped,
    (Status.starting, "auto_retry"): Status.starting,
    (Status.active, "auto_retry"): Status.starting,
}

FINAL_STATUSES = frozenset({Status.done, Status.deleted})
LIVE_STATUSES = frozenset({Status.starting, Status.active})


def next_status(status: Status | str, action: str) -> Status | None:
    """The status ``action`` leads to from ``status``, or None when the life cycle refuses it."""
    key = (Status(status), action)
    return USER_TRANSITIONS.get(key) or SYSTEM_TRANSITIONS.get(key)


def allowed_actions(status: Status | str) -> list[str]:
    """The user actions allowed in ``status``, in API order."""
    current = Status(status)
    return [a for a in USER_ACTIONS if (current, a) in USER_TRANSITIONS]


def refusal_message(status: Status | str, action: str) -> str:
    """The 409 sentence: the current status and what is allowed instead."""
    allowed = allowed_actions(status)
    what = ", ".join(allowed) if allowed else "nothing (the run is deleted)"
    return f"cannot {action} a run that is {Status(status).value}; allowed now: {what}"
