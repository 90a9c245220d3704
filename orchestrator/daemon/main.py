"""The daemon process: APScheduler runs a full poll every ``daemon.poll_interval_s`` and, within a fraction of
a second of an API intent (the wake file's mtime changes), an intents-only pass. One worker, one cycle at a
time; a scheduler outage backs off the poll interval up to a minute."""
from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.blocking import BlockingScheduler

from orchestrator.core.config import Settings
from orchestrator.daemon.worker import Worker
from orchestrator.service.execution import release_all
from orchestrator.service.wake import wake_path
from orchestrator.slurm.local import LocalSlurm
from orchestrator.store.db import engine_for, require_migrated

log = logging.getLogger("orchestrator.daemon")
WAKE_CHECK_S = 0.25
MAX_BACKOFF_S = 60.0


def make_slurm(settings: Settings) -> LocalSlurm:
    """The configured Slurm client: local subprocesses, or the same commands over SSH."""
    s = settings.slurm
    if s.backend == "ssh":
        from orchestrator.slurm.ssh import SshSlurm

        return SshSlurm(s.ssh_host, port=s.ssh_port, user=s.ssh_user, key_filename=s.ssh_key or None,
                        known_hosts=s.ssh_known_hosts or None, timeout=s.command_timeout_s,
                        bin_dir=s.bin_dir or None)
    return LocalSlurm(timeout=s.command_timeout_s, bin_dir=s.bin_dir or None)


class Daemon:
    """Schedules the worker's cycles; owns the backoff and the wake check."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = engine_for(settings.effective_database_url)
        require_migrated(self.engine)
        self.worker = Worker(settings, self.engine, make_slurm(settings))
        self.lock = threading.Lock()
        self.wake = wake_path(settings)
        self.wake_mtime = self._mtime()
        self.next_poll_in = 0.0
        self.backoff = settings.daemon.poll_interval_s
        self.unavailable_logged = False

    def _mtime(self) -> float:
        try:
            return self.wake.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def run_cycle(self, poll: bool) -> None:
        """One worker cycle, never two at once; errors are logged, the daemon keeps going."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            report = self.worker.cycle(poll=poll)
            for line in report.lines():
                log.info("%s", line)
            if poll:
                if report.scheduler_available:
                    if self.unavailable_logged:
                        log.warning("scheduler is answering again")
                    self.unavailable_logged = False
                    self.backoff = self.settings.daemon.poll_interval_s
                else:
                    if not self.unavailable_logged:  # logged once per outage, not every cycle
                        log.warning("scheduler unavailable, states kept as they are: %s", report.message)
                    self.unavailable_logged = True
                    self.backoff = min(MAX_BACKOFF_S, self.backoff * 2)
        except Exception:
            log.exception("daemon cycle failed; retrying next cycle")
        finally:
            self.lock.release()

    def tick(self) -> None:
        """Runs every WAKE_CHECK_S: an intents pass on a wake signal, a full poll when due."""
        mtime = self._mtime()
        woken = mtime != self.wake_mtime
        self.wake_mtime = mtime
        self.next_poll_in -= WAKE_CHECK_S
        if self.next_poll_in <= 0:
            self.next_poll_in = self.backoff
            self.run_cycle(poll=True)
        elif woken:
            self.run_cycle(poll=False)

    def serve(self) -> None:
        """Run until SIGTERM/SIGINT, then release this daemon's leases."""
        scheduler = BlockingScheduler()
        scheduler.add_job(self.tick, "interval", seconds=WAKE_CHECK_S, max_instances=1, coalesce=True,
                          misfire_grace_time=None)

        def stop(*_: object) -> None:
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("daemon %s started (poll every %ss)", self.worker.owner, self.settings.daemon.poll_interval_s)
        try:
            scheduler.start()
        finally:
            from sqlmodel import Session

            with Session(self.engine) as session:
                release_all(session, self.worker.owner)
            log.info("daemon %s stopped", self.worker.owner)
