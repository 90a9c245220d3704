"""Service use-cases for the daemon: leases, submission attempts, Slurm observations, progress.

Every status change still goes through ``runs.transition`` (one event each). Submission is exactly-once:
an attempt row (unique per run and attempt) is committed as ``submitting`` before sbatch, the job id is
stored after; a crash between the two leaves a ``submitting`` row that recovery adopts or resubmits.
"""
from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from orchestrator.service import calibration
from orchestrator.service import runs as run_service
from orchestrator.service.lifecycle import Status, next_status
from orchestrator.service.outcome import ACTION_DONE, ACTION_FAILED, ACTION_STOPPED, Outcome
from orchestrator.service.views import touch
from orchestrator.slurm.client import JobInfo
from orchestrator.slurm.jobscript import job_name
from orchestrator.store.models import Job, Run, SchedulerHealth, utcnow
from orchestrator.wrf.decomposition import CostModel
from orchestrator.wrf.namelist import smaller_time_step

ATTENTION = or_(Run.status.in_([Status.starting.value, Status.active.value]),  # type: ignore[attr-defined]
                Run.intent.is_not(None))  # type: ignore[union-attr]


def claim_runs(session: Session, owner: str, lease_s: float) -> list[str]:
    """Take (or renew) the lease on every run needing attention that no live daemon holds; return the
    ids this owner now holds. Two daemons on one database never hold the same run."""
    now = utcnow()
    free = or_(Run.lease_owner.is_(None), Run.lease_owner == owner, Run.lease_until < now)  # type: ignore[union-attr,operator]
    session.execute(update(Run).where(and_(ATTENTION, free))
                    .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s)))
    # drop leases on runs that no longer need anyone
    session.execute(update(Run).where(and_(Run.lease_owner == owner, ~ATTENTION)).values(lease_owner=None,
                                                                                          lease_until=None))
    session.commit()
    return list(session.exec(select(Run.id).where(Run.lease_owner == owner, ATTENTION)).all())


def release_all(session: Session, owner: str) -> None:
    """Give up every lease (clean daemon shutdown), so another daemon takes over at once."""
    session.execute(update(Run).where(Run.lease_owner == owner).values(lease_owner=None, lease_until=None))
    session.commit()


def _locked(session: Session, run_id: str, owner: str) -> Run | None:
    run = session.exec(select(Run).where(Run.id == run_id).with_for_update()).first()
    if run is None or run.lease_owner != owner:
        return None  # the lease moved to another daemon: leave the run alone
    return run


def live_jobs(session: Session, run_ids: list[str]) -> dict[str, Job]:
    """The newest attempt of each run that may still have (or get) a Slurm job."""
    out: dict[str, Job] = {}
    if not run_ids:
        return out
    rows = session.exec(select(Job).where(Job.run_id.in_(run_ids), Job.ended.is_(None),  # type: ignore[attr-defined,union-attr]
                                          Job.submit_state.in_(["submitting", "submitted"]))  # type: ignore[attr-defined]
                        .order_by(Job.attempt)).all()
    for job in rows:
        out[job.run_id] = job
    return out


def begin_attempts(session: Session, run_ids: list[str], owner: str) -> list[Job]:
    """Record a new ``submitting`` attempt for each run that needs one, all in one transaction committed
    before any sbatch (a burst of starts costs a few queries and one commit, not that per run)."""
    if not run_ids:
        return []
    locked = session.exec(select(Run).where(Run.id.in_(run_ids)).with_for_update()).all()  # type: ignore[attr-defined]
    busy = live_jobs(session, run_ids)
    jobs = []
    for run in locked:
        if run.lease_owner != owner or run.status != Status.starting.value or run.intent != "start" \
                or run.id in busy:
            continue
        attempt = run.attempt + 1
        job = Job(run_id=run.id, attempt=attempt, job_name=job_name(run.id, attempt), submit_state="submitting",
                  ntasks=run.cores)
        run.attempt = attempt
        session.add(job)
        session.add(run)
        run_service.record_event(session, run, "submit", owner, from_status=run.status, to_status=run.status,
                                 reason=f"attempt {attempt}, job name {job.job_name}")
        jobs.append(job)
    try:
        session.commit()
    except IntegrityError:  # another daemon recorded one of these attempts first: nothing is submitted now;
        session.rollback()  # the next cycle sees its attempt and leaves the run alone
        return []
    return jobs


def record_submissions(session: Session, submitted: list[tuple[int, str]]) -> list[int]:
    """Store the job ids of submitted attempts in one transaction. Returns the attempts that already had
    another id (their new job is a duplicate the caller must cancel)."""
    if not submitted:
        return []
    now = utcnow()
    table = Job.__table__
    session.execute(update(table).where(table.c.id == bindparam("pk"), table.c.job_id.is_(None))
                    .values(job_id=bindparam("jid"), submit_state="submitted", submitted=now),
                    [{"pk": pk, "jid": jid} for pk, jid in submitted])
    stored = dict(session.execute(select(table.c.id, table.c.job_id)
                                  .where(table.c.id.in_([pk for pk, _ in submitted]))).all())
    ours = {pk for pk, jid in submitted if stored.get(pk) == jid}
    run_ids = [rid for (rid,) in session.execute(select(table.c.run_id).where(table.c.id.in_(ours)))]
    if run_ids:
        session.execute(update(Run).where(Run.id.in_(run_ids), Run.intent == "start").values(intent=None))  # type: ignore[attr-defined]
        for rid in run_ids:
            touch(session, rid)
    session.commit()
    return [pk for pk, _ in submitted if pk not in ours]


def record_submission(session: Session, job_pk: int, job_id: str) -> bool:
    """Store one job id; False when the attempt already had one (the caller must cancel its duplicate)."""
    return not record_submissions(session, [(job_pk, job_id)])


def record_submit_failure(session: Session, job_pk: int, message: str, owner: str) -> None:
    """sbatch refused the job: the attempt ends and the run is ``error`` with Slurm's reason."""
    job = session.get(Job, job_pk)
    if job is None:
        return
    job.submit_state, job.ended = "failed", utcnow()
    session.add(job)
    run = session.exec(select(Run).where(Run.id == job.run_id).with_for_update()).first()
    if run is not None and run.status == Status.starting.value:
        run_service.transition(session, run, "submit_failed", owner, reason=message[:1000])
        run.error = {"code": "submit_failed", "message": f"Slurm refused the job: {message}", "details": None}
        run.intent = None
        run.time_stopped = utcnow()
    session.commit()


def update_job(job: Job, info: JobInfo) -> None:
    """Copy Slurm's view of a job onto its attempt row."""
    job.state = info.raw_state or info.state.label
    job.reason = info.reason
    job.exit_code = None if info.exit_code is None else str(info.exit_code)
    if info.nodes:
        job.nodes = list(info.nodes)
    job.ntasks = info.ntasks or job.ntasks
    job.started = _aware(info.started) or job.started
    if info.state.final:
        job.ended = _aware(info.ended) or utcnow()
    job.misses = 0


def _aware(value: Any) -> Any:
    """Slurm prints the cluster's local time without a zone; this cluster runs in UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


RETRYABLE = frozenset({"timeout", "node_fail", "preempted", "cfl"})


def retry_plan(run: Run, error: dict[str, Any] | None, max_retries: int) -> dict[str, Any] | None:
    """The namelist data for an automatic retry of a failed attempt (DESIGN §4 Recovery), or None when the
    failure is final: only node failures, preemption, time limits and CFL blow-ups, at most ``max_retries``
    times; a CFL retry also takes a smaller time step. The attempt resumes from the newest complete wrfrst."""
    if not error or error.get("code") not in RETRYABLE or run.retries >= max_retries:
        return None
    data = dict(run.namelist_data or {})
    if error["code"] == "cfl":
        smaller = smaller_time_step(data.get("groups") or {})
        if smaller is None:
            return None
        data = {"groups": smaller, "texts": {}}  # texts were rendered for the old time step
    return data


def apply_observation(session: Session, run_id: str, job_pk: int, info: JobInfo | None, outcome: Outcome,
                      owner: str, max_retries: int = 0, cost: CostModel | None = None) -> str | None:
    """Record what Slurm said and move the run per ``outcome`` (or retry it automatically where DESIGN §4
    says so). With ``cost``, a run finished in one attempt also records the speed it measured (calibration).
    Returns the new status if it changed."""
    run = _locked(session, run_id, owner)
    job = session.get(Job, job_pk)
    if run is None or job is None:
        session.rollback()
        return None
    if info is not None:
        update_job(job, info)
        session.add(job)
    changed = None
    action = outcome.action
    if run.status == Status.deleted.value:
        if info is not None and info.state.final:
            run.intent = None  # the job of a deleted run is gone: the daemon may now remove its files
    elif action == ACTION_FAILED and (plan := retry_plan(run, outcome.error, max_retries)) is not None:
        err = outcome.error or {}
        run_service.transition(session, run, "auto_retry", owner,
                               reason=f"retry {run.retries + 1} of {max_retries} after {err.get('code')}: "
                                      f"{err.get('message')}"[:1000])
        run.retries += 1
        run.namelist_data = plan
        run.intent, run.intent_cores = "start", run.cores
        changed = run.status
    elif action and next_status(run.status, action) is not None:
        reason = (outcome.error or {}).get("message") or (info.raw_state if info else None)
        run_service.transition(session, run, action, owner, reason=reason)
        changed = run.status
        if outcome.error:
            run.error = outcome.error
        if action == ACTION_DONE:
            run.percent_complete, run.remaining_time = 100.0, 0.0
            if cost is not None:
                job.seconds_per_point_step = calibration.measure_attempt(run, job, cost)
                session.add(job)
        if run.status in (Status.done.value, Status.error.value, Status.stopped.value):
            run.time_stopped = utcnow()
            run.intent = None
        if action == ACTION_STOPPED:
            run.intent = None
    session.add(run)
    session.commit()
    return changed


def record_miss(session: Session, job_pk: int) -> int:
    """The scheduler answered without this job (neither squeue nor sacct): count it."""
    job = session.get(Job, job_pk)
    if job is None:
        return 0
    job.misses += 1
    session.add(job)
    session.commit()
    return job.misses


def mark_lost(session: Session, run_id: str, job_pk: int, owner: str, misses: int) -> None:
    """Declare a job lost after repeated confirmed absences."""
    info = None
    outcome = Outcome(ACTION_FAILED, {"code": "lost", "message": f"Slurm no longer knows job of this run: absent "
                                      f"from squeue and sacct in {misses} consecutive polls", "details": None})
    job = session.get(Job, job_pk)
    if job is not None:
        job.ended, job.state = utcnow(), "LOST"
        session.add(job)
        session.commit()
    apply_observation(session, run_id, job_pk, info, outcome, owner)


def finish_without_job(session: Session, run_id: str, owner: str) -> str | None:
    """Stop/delete intents on runs whose job never existed (or has ended): settle them now."""
    run = _locked(session, run_id, owner)
    if run is None:
        session.rollback()
        return None
    result = None
    if run.intent == "stop" and run.status in (Status.starting.value, Status.active.value):
        run_service.transition(session, run, ACTION_STOPPED, owner, reason="no live Slurm job")
        run.time_stopped = utcnow()
        result = "stopped"
    elif run.intent == "delete":
        result = "delete_files"
    if run.intent in ("stop", "delete"):
        run.intent = None
    session.add(run)
    session.commit()
    return result


def record_progress(session: Session, run_id: str, owner: str, values: dict[str, Any]) -> None:
    """Progress figures and output listings (no status change)."""
    session.execute(update(Run).where(Run.id == run_id, Run.lease_owner == owner).values(**values))
    touch(session, run_id)
    session.commit()


def set_scheduler_health(session: Session, cluster: str, available: bool, message: str | None) -> None:
    """What the daemon learned about the scheduler this cycle (shown by /readyz)."""
    now = utcnow()
    # Daemons and cron's reconcile all start on a fresh database at once: a plain get-or-create would let
    # all but one fail on the primary key. Create the row idempotently first, then update it under a lock.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(SchedulerHealth).values(cluster=cluster, available=available, message=message,
                                                   since=now, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["cluster"]))
    row = session.exec(select(SchedulerHealth).where(SchedulerHealth.cluster == cluster)
                       .with_for_update().execution_options(populate_existing=True)).one()
    if row.available != available:
        row.since = now
    row.available, row.message, row.updated_at = available, message, now
    session.add(row)
    session.commit()
