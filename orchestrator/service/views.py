"""The run object of DESIGN.md §2 as JSON-ready dicts, built with a fixed number of queries per page."""
from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import event, update
from sqlmodel import Session, select

from orchestrator.store.models import InputFile, Job, Run, User

EMPTY_MODEL_KEYS = ("domains", "domain_shape", "dx", "dy", "dt", "start_time", "end_time", "output_interval")


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, or None."""
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def required_input_files(run: Run, files: list[InputFile]) -> list[str]:
    """What is still missing before setup can succeed."""
    ready = {f.filename for f in files if f.status == "ready"}
    needed = ["wrfinput_d01"]
    info = run.model_info or {}
    if info.get("real_data") or any(f.kind == "wrfinput" and ((f.details or {}).get("summary") or {}).get("ideal") is False
                                      for f in files):
        needed.append("wrfbdy_d01")
    return [n for n in needed if n not in ready]


def file_view(f: InputFile) -> dict[str, Any]:
    """One entry of ``input_files``."""
    out: dict[str, Any] = {
        "fileid": f.id, "filename": f.filename, "size": f.size, "sha256": f.sha256, "kind": f.kind,
        "status": f.status, "details": f.details or {},
    }
    if f.source_url is not None:
        out["source_url"] = f.source_url
        out["bytes_done"] = f.bytes_done
    return out


def job_view(job: Job | None) -> dict[str, Any] | None:
    """The raw Slurm view of the newest attempt."""
    if job is None:
        return None
    return {
        "scheduler": "slurm", "job_id": job.job_id, "state": job.state, "reason": job.reason,
        "exit_code": job.exit_code, "nodes": job.nodes or [], "ntasks": job.ntasks, "attempt": job.attempt,
        "submitted": iso(job.submitted), "started": iso(job.started), "ended": iso(job.ended),
    }


def run_view(run: Run, files: list[InputFile], job: Job | None, owner: str | None) -> dict[str, Any]:
    """The run object."""
    model = {"name": run.model_name, "version": run.version, **{k: None for k in EMPTY_MODEL_KEYS}}
    model.update({k: v for k, v in (run.model_info or {}).items() if k in EMPTY_MODEL_KEYS})
    return {
        "id": run.id,
        "model": model,
        "status": run.status,
        "error": run.error,
        "input_files": [file_view(f) for f in files],
        "required_input_files": required_input_files(run, files),
        "compute_options": run.compute_options or [],
        "cores": run.cores,
        "percent_complete": run.percent_complete,
        "remaining_time": run.remaining_time,
        "stalled": bool((run.progress or {}).get("stalled")) if run.status == "active" else False,
        "job": job_view(job),
        "output_files": run.output_files or [],
        "output_size": run.output_size,
        "disk_usage": run.disk_usage,
        "time_created": iso(run.time_created),
        "time_started": iso(run.time_started),
        "time_stopped": iso(run.time_stopped),
        "namelist": run.namelist_text,
        "build": None if run.build_label is None else {"label": run.build_label, "emulator": bool(run.build_emulator)},
        "owner": owner,
    }


def runs_view(session: Session, runs: list[Any]) -> list[dict[str, Any]]:
    """Run objects for many runs: three queries whatever the page size. Rows are read with Core selects
    (plain rows, same attribute names as the models) because building ORM objects dominated list latency."""
    if not runs:
        return []
    ids = [r.id for r in runs]
    files: dict[str, list[Any]] = defaultdict(list)
    file_rows = session.execute(select(InputFile.__table__).where(InputFile.__table__.c.run_id.in_(ids))
                                .order_by(InputFile.__table__.c.filename))
    for f in file_rows:
        files[f.run_id].append(f)
    jobs: dict[str, Any] = {}
    job_rows = session.execute(select(Job.__table__).where(Job.__table__.c.run_id.in_(ids))
                               .order_by(Job.__table__.c.attempt))
    for j in job_rows:
        jobs[j.run_id] = j  # ascending attempts: the last one wins
    owner_ids = {r.owner_id for r in runs}
    owners = dict(session.execute(select(User.__table__.c.id, User.__table__.c.name)
                                  .where(User.__table__.c.id.in_(owner_ids))).all())
    return [run_view(r, files[r.id], jobs.get(r.id), owners.get(r.owner_id)) for r in runs]


def one_run_view(session: Session, run: Run) -> dict[str, Any]:
    """The run object for one run."""
    return runs_view(session, [run])[0]


# ---------------------------------------------------------------- the stored run object (view_json)

TOUCHED = "touched_runs"


def dumps(view: dict[str, Any]) -> str:
    """Compact JSON, as the API sends it."""
    return json.dumps(view, separators=(",", ":"))


def touch(session: Session, run_id: str) -> None:
    """Mark a run whose view must be refreshed at commit (for Core updates that bypass the ORM)."""
    session.info.setdefault(TOUCHED, set()).add(run_id)


def refresh_views(session: Session, run_ids: Iterable[str]) -> dict[str, str]:
    """Recompute and store the run object of these runs; rows are locked first so concurrent refreshes of
    one run serialise and the last one reads every committed change."""
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    table = Run.__table__
    rows = list(session.execute(select(table).where(table.c.id.in_(ids)).with_for_update()))
    out = {}
    for row, view in zip(rows, runs_view(session, rows)):
        out[row.id] = text = dumps(view)
        session.execute(update(table).where(table.c.id == row.id).values(view_json=text))
    return out


def page_json(session: Session, rows: list[Any], next_cursor: str | None) -> bytes:
    """A listing page from the stored run objects (computing any that are missing)."""
    missing = [r.id for r in rows if not r.view_json]  # e.g. rows written before view_json existed
    fresh = refresh_views(session, missing) if missing else {}
    parts = [fresh.get(r.id) or r.view_json for r in rows]
    return ('{"runs":[' + ",".join(parts) + '],"next_cursor":' + json.dumps(next_cursor) + "}").encode()


@event.listens_for(Session, "before_flush")
def _collect_touched(session: Session, _context: Any, _instances: Any) -> None:
    touched = session.info.setdefault(TOUCHED, set())
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Run):
            touched.add(obj.id)
        elif isinstance(obj, (InputFile, Job)):
            touched.add(obj.run_id)


@event.listens_for(Session, "before_commit")
def _refresh_touched(session: Session) -> None:
    session.flush()  # collects the last ORM changes and makes them visible to the refresh's queries
    touched = session.info.pop(TOUCHED, None)
    if touched:
        refresh_views(session, touched)
        session.info.pop(TOUCHED, None)  # the refresh's own writes touch nothing new
