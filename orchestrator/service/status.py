"""Read-side status of the moving parts (scheduler health as last seen by the daemon)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.store.models import SchedulerHealth, utcnow

HEARTBEAT_STALE = timedelta(minutes=5)


def scheduler_status(engine: Engine) -> str:
    """'ok', 'unavailable since <time>: <why>', or 'unknown: ...' when no daemon reported lately."""
    try:
        with Session(engine) as session:
            row = session.exec(select(SchedulerHealth)).first()
    except Exception as exc:
        return f"unknown: {type(exc).__name__}"
    if row is None:
        return "unknown: no daemon has polled the scheduler yet"
    if utcnow() - row.updated_at > HEARTBEAT_STALE:
        return f"unknown: no daemon heartbeat since {row.updated_at.isoformat(timespec='seconds')}"
    if row.available:
        return "ok"
    return f"unavailable since {row.since.isoformat(timespec='seconds')}: {row.message or 'no answer'}"
