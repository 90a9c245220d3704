"""Input files: accepting uploads, background URL fetches, and what each file is (kind, validity).

The bytes land through the atomic writer (orchestrator.store.uploads); this module decides what they are
(orchestrator.wrf: header + checks) and records them on the run.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.core.config import Settings
from orchestrator.service import accounts
from orchestrator.service import runs as run_service
from orchestrator.service.errors import BadRequest
from orchestrator.store.db import session_scope
from orchestrator.store.models import InputFile, Run, User, utcnow
from orchestrator.store.paths import remove_run_files, uploads_dir
from orchestrator.store.uploads import UploadError, sanitize_filename

log = logging.getLogger("orchestrator.inputs")


def precheck_upload(session: Session, authorization: str | None, run_id: str) -> tuple[User, str, str]:
    """Before reading a byte of the body: the caller is authenticated, owns the run, and it accepts uploads.
    Returns (user, run id, WRF version)."""
    user = accounts.authenticate(session, authorization)
    run = run_service.load_run(session, user, run_id, write=True)
    run_service.ensure_allowed(run, "upload")
    return user, run.id, run.version


def inspect_file(path: Path, filename: str, version: str) -> tuple[str | None, str, dict[str, Any]]:
    """What a stored input is: (kind, 'ready' | 'invalid', details with problems and a summary)."""
    from orchestrator.wrf.inspect import inspect_input  # the WRF edge: netCDF header + pure checks

    return inspect_input(path, filename, version)


def judge_upload(received: Any, version: str) -> tuple[str | None, str, dict[str, Any]]:
    """Inspect a received file before it replaces anything; refuse it (400 listing every problem) when
    wrf.exe could not use it, so an earlier good copy of the same name stays."""
    kind, status, details = inspect_file(Path(received.path), received.filename, version)
    if status == "invalid":
        problems = details.get("problems", [])
        reasons = "; ".join(p["message"] for p in problems if p.get("severity") == "error")
        raise BadRequest(f"{received.filename} refused: {reasons}", code="invalid_input", details=problems)
    return kind, status, details


def register_upload(session: Session, settings: Settings, user: User, run_id: str, received: Any,
                    judged: tuple[str | None, str, dict[str, Any]]) -> tuple[str, Run]:
    """Record an accepted file on the run (replacing one of the same name) and move the run per the life cycle."""
    run = run_service.load_run(session, user, run_id, write=True)
    run_service.ensure_allowed(run, "upload")  # the status may have changed while the body streamed in
    # Land the file under the run's row lock, so concurrent uploads of one name leave the disk and the row
    # describing the same bytes (the last registration wins both).
    final = uploads_dir(settings.storage_root, run.id) / received.filename
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(received.path, final)
    kind, status, details = judged
    row = run_service.upsert_input(session, run, filename=received.filename, size=received.size,
                                   sha256=received.sha256, kind=kind, status=status, details=details)
    run_service.note_input_changed(session, run, user, "upload", received.filename)
    return row.id, run


def upload_staging(settings: Settings, run_id: str) -> Path:
    """A private directory that one upload streams into: under the storage root (same file system, so the
    final move is a rename) but outside the run's own directories, which a concurrent delete may remove."""
    incoming = settings.storage_root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=incoming))


def remove_files(settings: Settings, run_id: str) -> None:
    """Remove a deleted run's files."""
    remove_run_files(settings.storage_root, run_id)


@dataclass(frozen=True)
class FetchJob:
    """A URL fetch to carry out in the background."""

    run_id: str
    fileid: str
    url: str
    filename: str
    version: str


def begin_fetch(session: Session, settings: Settings, user: User, run_id: str, url: str) -> tuple[str, Run, FetchJob]:
    """Check the URL's form, record the file as ``fetching`` and return the job for the background fetcher."""
    from orchestrator.fetch.errors import FetchError
    from orchestrator.fetch.fetchers import derive_filename, validate_url

    run = run_service.load_run(session, user, run_id, write=True)
    run_service.ensure_allowed(run, "upload_url")
    try:
        validate_url(url)
        filename = sanitize_filename(derive_filename(url))
    except (UploadError, FetchError) as exc:
        raise BadRequest(exc.message, code=exc.code) from None
    row = run_service.upsert_input(session, run, filename=filename, size=0, sha256=None, kind=None,
                                   status="fetching", details={}, source_url=url)
    run_service.note_input_changed(session, run, user, "upload_url", filename)
    return row.id, run, FetchJob(run.id, row.id, url, filename, run.version)


class BackgroundFetcher:
    """Runs URL fetches in a small thread pool; each updates its file row (bytes done, then ready/invalid)."""

    def __init__(self, settings: Settings, engine: Engine, workers: int = 4) -> None:
        self.settings = settings
        self.engine = engine
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch")
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, job: FetchJob) -> None:
        """Start fetching in the background."""
        with self._lock:
            self._active.add(job.fileid)
        self.pool.submit(self._run, job)

    def shutdown(self) -> None:
        """Stop accepting work; running fetches finish."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _update(self, fileid: str, **values: Any) -> bool:
        with session_scope(self.engine) as session:
            row = session.get(InputFile, fileid)
            if row is None:  # replaced or the run was deleted meanwhile
                return False
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            session.add(row)
            return True

    def _run(self, job: FetchJob) -> None:
        from orchestrator.fetch.fetchers import FetchError, fetch_url, settings_from_config
        from orchestrator.store.uploads import AtomicFileWriter

        dest = uploads_dir(self.settings.storage_root, job.run_id) / job.filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        last = [0.0]

        def progress(done: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5:  # at most two row updates a second
                last[0] = now
                self._update(job.fileid, bytes_done=done)

        try:
            with AtomicFileWriter(dest, self.settings.uploads.fetch_max_bytes) as writer:
                result = fetch_url(job.url, writer, settings=settings_from_config(self.settings), progress=progress)
                writer.commit()
            kind, status, details = inspect_file(dest, job.filename, job.version)
            if status == "invalid":  # the row says why; unusable bytes are not kept
                dest.unlink(missing_ok=True)
            self._update(job.fileid, size=result.size, bytes_done=result.size, sha256=result.sha256, kind=kind,
                         status=status, details=details)
        except (FetchError, UploadError) as exc:
            self._update(job.fileid, status="invalid", details={"problems": [
                {"code": exc.code, "file": job.filename, "severity": "error", "message": exc.message}]})
        except Exception as exc:  # keep the service up; the file says what happened
            log.exception("fetch of %s failed", job.url)
            self._update(job.fileid, status="invalid", details={"problems": [
                {"code": "fetch_failed", "file": job.filename, "severity": "error", "message": str(exc)}]})
        finally:
            with self._lock:
                self._active.discard(job.fileid)


def fail_interrupted_fetches(engine: Engine, older_than_s: float) -> int:
    """Fetches that were running when the service stopped will never finish: mark them invalid.

    Only rows without progress for ``older_than_s`` (a live fetch updates its row twice a second), so a
    second API process starting does not fail another process's running fetches.
    """
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    with session_scope(engine) as session:
        rows = session.exec(select(InputFile).where(InputFile.status == "fetching",
                                                    InputFile.updated_at < cutoff)).all()
        for row in rows:
            row.status = "invalid"
            row.details = {"problems": [{"code": "fetch_interrupted", "file": row.filename, "severity": "error",
                                         "message": "the fetch was interrupted by a service restart; upload the URL again"}]}
            session.add(row)
        return len(rows)
