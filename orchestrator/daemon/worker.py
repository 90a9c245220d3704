"""One reconciliation cycle: carry out intents, submit exactly once, poll every active job with one squeue
(and one sacct for those that left the queue), read WRF's progress, settle finished runs.

Used by the daemon (every few seconds, and at once when the API signals a new intent) and by
`orchestrator reconcile` (one pass from cron). Slurm is reached only through a SlurmClient; every state
change goes through orchestrator.service.execution.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.core.config import Settings
from orchestrator.daemon import failpoints
from orchestrator.daemon.progress import ProgressReader, list_outputs, missing_history
from orchestrator.daemon.staging import prepare_attempt
from orchestrator.service import calibration
from orchestrator.service import execution
from orchestrator.service.outcome import judge
from orchestrator.slurm.client import JobInfo, SchedulerUnavailable, SlurmClient, SlurmError, SubmitRejected
from orchestrator.slurm.states import JobState
from orchestrator.store.models import Job, Run
from orchestrator.store.paths import remove_run_files, run_dir

log = logging.getLogger("orchestrator.daemon")
CLUSTER = "default"


def default_owner(kind: str = "daemon") -> str:
    """A lease owner name unique to this process."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


@dataclass
class CycleReport:
    """What one cycle did (reconcile prints it; tests count Slurm calls through the client)."""

    runs: int = 0
    submitted: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    scheduler_available: bool = True
    message: str | None = None

    def lines(self) -> list[str]:
        out = [f"submitted {j}" for j in self.submitted] + [f"adopted {j}" for j in self.adopted]
        return out + [f"cancelled {j}" for j in self.cancelled] + self.changes


class Worker:
    """The reconciliation logic, holding only caches (rsl parse states); the truth is in the database."""

    def __init__(self, settings: Settings, engine: Engine, slurm: SlurmClient, owner: str | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.slurm = slurm
        self.owner = owner or default_owner()
        self.progress = ProgressReader()
        self.cost = calibration.cost_model(settings)  # for the speed a finished run measured

    # ------------------------------------------------------------------ the cycle

    def cycle(self, *, poll: bool = True) -> CycleReport:
        """One pass. ``poll=False`` only carries out intents (the fast path after an API signal)."""
        report = CycleReport()
        with Session(self.engine, expire_on_commit=False) as session:
            ids = execution.claim_runs(session, self.owner, self.settings.daemon.lease_s)
            report.runs = len(ids)
            runs = {r.id: r for r in session.exec(select(Run).where(Run.id.in_(ids))).all()}  # type: ignore[attr-defined]
            jobs = execution.live_jobs(session, ids)
        try:
            self._intents(runs, jobs, report)
            if poll:
                self._recover_submitting(jobs, report)
                self._poll(runs, jobs, report)
            self._health(True, None)
        except SchedulerUnavailable as exc:
            # No state changes on an unanswered query: the runs stay as they were until Slurm answers.
            report.scheduler_available, report.message = False, str(exc)
            self._health(False, str(exc))
        return report

    def _health(self, available: bool, message: str | None) -> None:
        with Session(self.engine) as session:
            execution.set_scheduler_health(session, CLUSTER, available, message)

    # ------------------------------------------------------------------ intents

    def _intents(self, runs: dict[str, Run], jobs: dict[str, Job], report: CycleReport) -> None:
        to_cancel: list[str] = []
        to_start: list[str] = []
        for run in runs.values():
            job = jobs.get(run.id)
            if run.intent == "start" and run.status == "starting" and job is None:
                to_start.append(run.id)
            elif run.intent in ("stop", "delete"):
                if job is not None and job.job_id:
                    to_cancel.append(job.job_id)
                elif job is None:
                    with Session(self.engine, expire_on_commit=False) as session:
                        result = execution.finish_without_job(session, run.id, self.owner)
                    if result == "delete_files":
                        remove_run_files(self.settings.storage_root, run.id)
                    if result:
                        report.changes.append(f"{run.id}: {result}")
        if to_start:
            self._submit([runs[rid] for rid in to_start], report)
        if to_cancel:
            self.slurm.cancel(to_cancel)
            report.cancelled += to_cancel

    def _submit(self, runs: list[Run], report: CycleReport) -> None:
        """Exactly-once submission of a batch: the attempts are committed before any sbatch, the job ids
        stored together after."""
        failpoints.hit("before_record")
        with Session(self.engine, expire_on_commit=False) as session:
            jobs = execution.begin_attempts(session, [r.id for r in runs], self.owner)
        by_id = {r.id: r for r in runs}
        submitted: list[tuple[int, str]] = []
        # Run directories are prepared in worker threads ahead of the sbatch loop, so that file writing
        # overlaps the time each sbatch waits on the controller.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="prepare") as pool:
            scripts = [pool.submit(self._prepare, by_id[job.run_id], job) for job in jobs]
            try:
                for job, script in zip(jobs, scripts):
                    path = script.result()
                    job_id = self._sbatch(by_id[job.run_id], job, path, report) if path else None
                    if job_id:
                        submitted.append((job.id, job_id))  # type: ignore[arg-type]
            finally:  # even when the scheduler goes away mid-batch, keep the ids Slurm already gave
                if submitted:
                    self._store_ids(submitted, report)

    def _store_ids(self, submitted: list[tuple[int, str]], report: CycleReport) -> None:
        with Session(self.engine) as session:
            duplicates = set(execution.record_submissions(session, submitted))
        for job_pk, job_id in submitted:
            if job_pk in duplicates:  # adopted or resubmitted elsewhere meanwhile: ours is the duplicate
                self.slurm.cancel([job_id])
                report.cancelled.append(job_id)
            else:
                report.submitted.append(job_id)

    def _prepare(self, run: Run, job: Job) -> Path | None:
        """Make the run directory ready for this attempt; None (and the run in error) if it cannot be."""
        assert job.id is not None
        try:
            return prepare_attempt(self.settings, run, job.attempt)
        except Exception as exc:  # a broken run directory is the run's error, not the daemon's death
            log.exception("cannot prepare attempt %s of run %s", job.attempt, run.id)
            with Session(self.engine) as session:
                execution.record_submit_failure(session, job.id, f"cannot prepare the run directory: {exc}", self.owner)
            return None

    def _sbatch(self, run: Run, job: Job, script: Path, report: CycleReport) -> str | None:
        """sbatch a prepared attempt: the job id, or None when Slurm refused it (recorded on the run)."""
        assert job.id is not None
        failpoints.hit("before_sbatch")
        try:
            job_id = self.slurm.submit(script, cwd=run_dir(self.settings.storage_root, run.id))
        except SubmitRejected as exc:
            with Session(self.engine) as session:
                execution.record_submit_failure(session, job.id, str(exc), self.owner)
            report.changes.append(f"{run.id}: submit_failed")
            return None
        failpoints.hit("after_sbatch")
        return job_id

    # ------------------------------------------------------------------ crash recovery

    def _recover_submitting(self, jobs: dict[str, Job], report: CycleReport) -> None:
        """Attempts recorded as submitting without a job id: a daemon died around sbatch. Adopt the job Slurm
        has under the attempt's unique name, or submit again if Slurm never saw it. Only after the sbatch
        timeout has passed, so a submission still in flight elsewhere is never duplicated."""
        from datetime import timedelta

        from orchestrator.store.models import utcnow

        grace = timedelta(seconds=self.settings.slurm.command_timeout_s * 2)
        stale = [j for j in jobs.values() if j.submit_state == "submitting" and j.job_id is None
                 and utcnow() - j.created_at > grace]
        if not stale:
            return
        found = {info.name: info for info in self.slurm.find_by_name([j.job_name for j in stale])}
        unseen = [j.job_name for j in stale if j.job_name not in found]
        if unseen:  # a job that already finished has left squeue (MinJobAge) but is in accounting
            found.update({info.name: info for info in self.slurm.find_in_accounting(unseen)})
        for job in stale:
            assert job.id is not None
            info = found.get(job.job_name)
            if info is not None:
                with Session(self.engine) as session:
                    if execution.record_submission(session, job.id, info.job_id):
                        report.adopted.append(info.job_id)
                continue
            with Session(self.engine, expire_on_commit=False) as session:
                run = session.get(Run, job.run_id)
            if run is not None and run.status == "starting" and (script := self._prepare(run, job)):
                job_id = self._sbatch(run, job, script, report)
                if job_id:
                    self._store_ids([(job.id, job_id)], report)

    # ------------------------------------------------------------------ polling

    def _poll(self, runs: dict[str, Run], jobs: dict[str, Job], report: CycleReport) -> None:
        submitted = {j.job_id: j for j in jobs.values() if j.job_id}
        if not submitted:
            return
        seen: dict[str, JobInfo] = self.slurm.query(list(submitted))  # one squeue for every active job
        gone = [jid for jid in submitted if jid not in seen or seen[jid].state.final]
        if gone:
            try:
                accounted = self.slurm.accounting(gone)  # one sacct for those that left the queue
            except SchedulerUnavailable:
                raise
            except SlurmError as exc:
                log.warning("sacct failed: %s", exc)
                accounted = {}
            for jid in gone:
                if jid in accounted and accounted[jid].state.final:
                    seen[jid] = accounted[jid]
        for job_id, job in submitted.items():
            run = runs.get(job.run_id)
            if run is None:
                continue
            info = seen.get(job_id)
            if info is None:
                self._missing(run, job, report)
                continue
            self._observe(run, job, info, report)

    def _missing(self, run: Run, job: Job, report: CycleReport) -> None:
        assert job.id is not None
        with Session(self.engine) as session:
            misses = execution.record_miss(session, job.id)
            if misses >= self.settings.daemon.lost_after_misses:
                execution.mark_lost(session, run.id, job.id, self.owner, misses)
                report.changes.append(f"{run.id}: lost")

    def _observe(self, run: Run, job: Job, info: JobInfo, report: CycleReport) -> None:
        assert job.id is not None
        unchanged_job = (job.state == (info.raw_state or info.state.label) and job.reason == info.reason)
        if info.state.order < JobState.RUNNING.order and unchanged_job and run.intent is None:
            return  # still queued as last time: no files to read, nothing to write (keeps big polls cheap)
        directory = run_dir(self.settings.storage_root, run.id)
        model = run.model_info or {}
        summary = self.progress.read(directory, model.get("start_time"), model.get("end_time"))
        missing: list[str] = []
        if info.state == JobState.COMPLETED:
            missing = missing_history(directory, model, run.namelist_text)
        outcome = judge(info.state, info.exit_code, run.intent, summary.rsl, model.get("end_time"), missing,
                        info.reason)
        values: dict[str, Any] = list_outputs(directory)
        if summary.percent is not None and run.status in ("starting", "active"):
            values.update(percent_complete=summary.percent, remaining_time=summary.remaining)
        if info.state == JobState.RUNNING:  # flagged, not failed: a stall may be slow I/O; Slurm's limit decides
            stalled = summary.idle_s > self.settings.daemon.stalled_after_s
            if stalled != bool((run.progress or {}).get("stalled")):
                log.warning("run %s %s", run.id, f"stalled: no new rsl line for {summary.idle_s:.0f} s"
                            if stalled else "is writing rsl lines again")
                values["progress"] = {"stalled": stalled}
        changed_values = {k: v for k, v in values.items() if getattr(run, k) != v}
        if not changed_values and unchanged_job and outcome.action in (None, "job_running") and \
                (outcome.action is None or run.status == "active"):
            return
        with Session(self.engine) as session:
            if changed_values:
                execution.record_progress(session, run.id, self.owner, changed_values)
            changed = execution.apply_observation(session, run.id, job.id, info, outcome, self.owner,
                                                  self.settings.daemon.max_auto_retries, self.cost)
        if changed:
            report.changes.append(f"{run.id}: {changed}")
        if run.status == "deleted" or run.intent == "delete":
            if info.state.final:
                remove_run_files(self.settings.storage_root, run.id)
