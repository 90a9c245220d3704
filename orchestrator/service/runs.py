"""Run use-cases: the only code that changes a run's status. Every change appends a RunEvent.

The API and the CLI call these with a session; each call takes the run row FOR UPDATE first so that
concurrent requests on one run serialise (PostgreSQL row lock; SQLite serialises writers anyway).
"""
from __future__ import annotations

import base64
import json
import re
import secrets
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, tuple_, union_all
from sqlmodel import Session, select

from orchestrator.service.errors import BadRequest, Conflict, Forbidden, NotFound
from orchestrator.service.lifecycle import LIVE_STATUSES, Status, next_status, refusal_message
from orchestrator.store.models import InputFile, Job, Run, RunEvent, Share, User, utcnow

SUPPORTED_MODELS = {"wrf": ("3.8.1", "3.9")}
RUN_ID_RE = re.compile(r"^r[A-Za-z0-9_-]{20}$")


def new_run_id() -> str:
    """An opaque, unguessable run id (120 random bits)."""
    return "r" + secrets.token_urlsafe(15)


def new_file_id() -> str:
    """An opaque file id."""
    return "f" + secrets.token_urlsafe(15)


def record_event(session: Session, run: Run, action: str, actor: str, *, from_status: str | None,
                 to_status: str | None, reason: str | None = None) -> RunEvent:
    """Append one event to the run's log."""
    event = RunEvent(run_id=run.id, actor=actor, action=action, from_status=from_status,
                     to_status=to_status, reason=reason)
    session.add(event)
    return event


def transition(session: Session, run: Run, action: str, actor: str, reason: str | None = None) -> Run:
    """Move ``run`` by ``action`` per the life cycle, or raise Conflict naming what is allowed."""
    target = next_status(run.status, action)
    if target is None:
        raise Conflict(refusal_message(run.status, action), code="invalid_state",
                       details={"status": run.status, "action": action})
    previous = run.status
    run.status = target.value
    run.updated_at = utcnow()
    session.add(run)
    record_event(session, run, action, actor, from_status=previous, to_status=target.value, reason=reason)
    return run


def ensure_allowed(run: Run, action: str) -> None:
    """Raise Conflict unless ``action`` is allowed in the run's status (without moving it)."""
    if next_status(run.status, action) is None:
        raise Conflict(refusal_message(run.status, action), code="invalid_state",
                       details={"status": run.status, "action": action})


def validate_model(model: str | None, version: str | None) -> tuple[str, str]:
    """Normalise and check the requested model and version (400 naming what is supported)."""
    name = (model or "wrf").strip().lower()
    if name not in SUPPORTED_MODELS:
        raise BadRequest(f"unsupported model {model!r}; supported: {', '.join(SUPPORTED_MODELS)}",
                         code="unsupported_model")
    if not version or not version.strip():
        raise BadRequest("missing form field 'version'; supported WRF versions: 3.8.1, 3.9", code="missing_version")
    version = version.strip()
    if version not in SUPPORTED_MODELS[name]:
        supported = ", ".join(SUPPORTED_MODELS[name])
        raise BadRequest(f"unsupported {name} version {version!r}; supported: {supported}", code="unsupported_version")
    return name, version


def create_run(session: Session, user: User, model: str | None, version: str | None) -> Run:
    """A new run in ``created`` owned by ``user``."""
    name, version = validate_model(model, version)
    run = Run(id=new_run_id(), owner_id=user.id, model_name=name, version=version, status=Status.created.value)
    session.add(run)
    session.flush()
    record_event(session, run, "create", f"user:{user.name}", from_status=None, to_status=run.status)
    return run


def _lock_run(session: Session, run_id: str) -> Run | None:
    return session.exec(select(Run).where(Run.id == run_id).with_for_update()).first()


def load_run(session: Session, user: User, run_id: str, *, write: bool = False) -> Run:
    """The run if ``user`` may see it (owner or shared); 404 otherwise. ``write`` locks it and requires ownership."""
    if not RUN_ID_RE.match(run_id or ""):
        raise NotFound(f"no run with id {run_id!r}")
    run = _lock_run(session, run_id) if write else session.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run with id {run_id!r}")
    if run.owner_id != user.id:
        shared = session.exec(select(Share).where(Share.run_id == run_id, Share.user_id == user.id)).first()
        if shared is None:
            raise NotFound(f"no run with id {run_id!r}")  # someone else's run: no existence leak
        if write:
            raise Forbidden("this run is shared with you read-only; only its owner can change it")
    return run


@dataclass(frozen=True)
class Page:
    """One page of runs and the cursor for the next one (None at the end)."""

    runs: list[Any]  # read-only rows: id, time_created, view_json
    next_cursor: str | None


def _encode_cursor(run: Any) -> str:
    raw = json.dumps([run.time_created.isoformat(), run.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, run_id = json.loads(raw)
        return datetime.fromisoformat(when), str(run_id)
    except Exception:
        raise BadRequest("invalid cursor: pass the next_cursor value of the previous page", code="bad_cursor") from None


@lru_cache(maxsize=4)
def _page_query(by_status: bool, after_cursor: bool) -> Any:
    """The listing statement, built once per shape (building it per request cost more than running it).

    Owned and shared runs come from two index-friendly sub-selects (each already limited) in one UNION ALL,
    instead of one OR that would make the database scan and sort every run of the user for each page."""
    runs = Run.__table__
    shares = Share.__table__
    columns = (runs.c.id, runs.c.time_created, runs.c.view_json)
    owned = select(*columns).where(runs.c.owner_id == bindparam("user_id"))
    shared = select(*columns).join(shares, shares.c.run_id == runs.c.id).where(shares.c.user_id == bindparam("user_id"))
    parts = []
    for query in (owned, shared):
        if by_status:
            query = query.where(runs.c.status == bindparam("status"))
        if after_cursor:
            query = query.where(tuple_(runs.c.time_created, runs.c.id)
                                < tuple_(bindparam("when", type_=runs.c.time_created.type), bindparam("after_id")))
        parts.append(query.order_by(runs.c.time_created.desc(), runs.c.id.desc()).limit(bindparam("limit"))
                     .subquery())
    both = union_all(*(select(p) for p in parts)).subquery()
    return select(both).order_by(both.c.time_created.desc(), both.c.id.desc()).limit(bindparam("limit"))


def list_runs(session: Session, user: User, *, status: str | None, limit: int, cursor: str | None) -> Page:
    """Runs the user owns or that are shared with them, newest first, one page."""
    if status is not None and status not in {s.value for s in Status}:
        raise BadRequest(f"unknown status {status!r}; one of: {', '.join(s.value for s in Status)}", code="bad_status")
    params: dict[str, Any] = {"user_id": user.id, "limit": limit + 1}
    if status:
        params["status"] = status
    if cursor:
        params["when"], params["after_id"] = _decode_cursor(cursor)
    rows: list[Any] = list(session.execute(_page_query(bool(status), bool(cursor)), params).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, _encode_cursor(rows[-1]) if more and rows else None)


def actor_of(user: User) -> str:
    """How a user appears in the event log."""
    return f"user:{user.name}"


def upsert_input(session: Session, run: Run, *, filename: str, size: int, sha256: str | None, kind: str | None,
                 status: str, details: dict | None, source_url: str | None = None) -> InputFile:
    """Insert or replace the input file row of that name (a new upload of the same name replaces it)."""
    old = session.exec(select(InputFile).where(InputFile.run_id == run.id, InputFile.filename == filename)).first()
    if old is not None:  # a replaced file is a new file: new fileid, old row gone
        session.delete(old)
        session.flush()
    row = InputFile(id=new_file_id(), run_id=run.id, filename=filename)
    row.size, row.sha256, row.kind, row.status = size, sha256, kind, status
    row.details, row.source_url = details, source_url
    row.bytes_done = size if status != "fetching" else 0
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def note_input_changed(session: Session, run: Run, user: User, action: str, filename: str) -> None:
    """A new or replaced input: move the run per the life cycle and drop the stale setup results."""
    transition(session, run, action, actor_of(user), reason=f"input {filename}")
    run.error = None
    run.compute_options = None


def start_run(session: Session, user: User, run: Run, cores: int | None) -> Run:
    """Record the start intent (the daemon submits) and move to ``starting``."""
    ensure_allowed(run, "start")
    offered = [o["cores"] for o in (run.compute_options or [])]
    if cores is not None and offered and cores not in offered:
        raise BadRequest(f"cores={cores} is not offered for this run; choose one of {offered}",
                         code="cores_not_offered", details={"offered": offered})
    if cores is None and run.compute_options:
        recommended = [o for o in run.compute_options if o.get("recommended")] or run.compute_options
        cores = recommended[0]["cores"]
    if cores is not None and cores < 1:
        raise BadRequest("cores must be a positive integer", code="bad_cores")
    transition(session, run, "start", actor_of(user), reason=f"cores={cores}")
    run.cores = cores
    run.intent, run.intent_cores = "start", cores
    run.retries = 0  # a user's start gives the run a fresh budget of automatic retries
    run.error = None
    run.time_started = run.time_started or utcnow()
    run.time_stopped = None
    run.percent_complete, run.remaining_time = 0.0, None  # the daemon fills these from WRF's rsl lines
    return run


def _has_live_job(session: Session, run: Run) -> bool:
    """True when a Slurm job of this run may still exist (submitted or mid-submission)."""
    jobs = session.exec(select(Job).where(Job.run_id == run.id, Job.ended == None)).all()  # noqa: E711
    return any(j.submit_state in ("submitting", "submitted") for j in jobs)


def stop_run(session: Session, user: User, run: Run) -> Run:
    """Stop: with a live job, record the intent (the daemon scancels and confirms); without one, stop now."""
    ensure_allowed(run, "stop")
    if _has_live_job(session, run):
        run.intent = "stop"
        session.add(run)
        record_event(session, run, "stop_requested", actor_of(user), from_status=run.status, to_status=run.status)
        return run
    transition(session, run, "stop", actor_of(user), reason="no Slurm job yet")
    run.intent = None
    run.time_stopped = utcnow()
    return run


def delete_run(session: Session, user: User, run: Run) -> tuple[Run, bool]:
    """Mark the run deleted (metadata kept). Returns (run, files_can_go_now): with a live job the daemon
    cancels it first and removes the files afterwards."""
    ensure_allowed(run, "delete")
    live = Status(run.status) in LIVE_STATUSES and _has_live_job(session, run)
    transition(session, run, "delete", actor_of(user))
    run.intent = "delete" if live else None
    run.time_stopped = run.time_stopped or utcnow()
    return run, not live


def events_of(session: Session, run_id: str) -> list[RunEvent]:
    """The run's event log, oldest first."""
    return list(session.exec(select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id)).all())
