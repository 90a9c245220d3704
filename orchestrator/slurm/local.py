"""LocalSlurm: the SlurmClient that runs Slurm's commands on this machine (subprocess, never a shell)."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from orchestrator.slurm import commands as cmd
from orchestrator.slurm.client import (
    InvalidJobId, JobInfo, SchedulerUnavailable, SlurmClient, SlurmError,
)

log = logging.getLogger(__name__)


class LocalSlurm(SlurmClient):
    """Runs sbatch/squeue/sacct/scancel locally.

    ``timeout``: seconds per command; a command that takes longer is SchedulerUnavailable (the
    controller is overloaded or gone — the caller keeps states and retries). Clients give up by
    themselves after about MessageTimeout when the controller is down, so keep ``timeout`` above it.
    ``env``: extra environment (e.g. SLURM_CONF); ``bin_dir``: where the Slurm commands live (else PATH).
    ``calls`` counts commands run, ``calls_by_command`` per command name (for benchmarks/tests).
    """

    def __init__(self, timeout: float = 30.0, env: Mapping[str, str] | None = None,
                 bin_dir: str | Path | None = None) -> None:
        self.timeout = timeout
        self.env = dict(env or {})
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self.calls = 0
        self.calls_by_command: dict[str, int] = {}

    # -------------------------------------------------------------------------------- running
    def run(self, argv: Sequence[str], cwd: str | Path | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run one Slurm command (no shell); raise the classified SlurmError if it fails. Transports
        (this class: a local subprocess; SshSlurm: the login node) only differ in ``_execute``."""
        argv = list(argv)
        name = argv[0]
        if self.bin_dir:
            argv[0] = str(self.bin_dir / name)
        self.calls += 1
        self.calls_by_command[name] = self.calls_by_command.get(name, 0) + 1
        proc = self._execute(argv, cwd, self.timeout if timeout is None else timeout)
        if proc.returncode != 0:
            raise cmd.classify_error([name, *argv[1:]], proc.returncode, proc.stderr)
        for w in cmd.stderr_warnings(proc.stderr):
            log.warning("%s: %s", name, w)
        return proc

    def _execute(self, argv: list[str], cwd: str | Path | None, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as a local subprocess; an unanswered command is SchedulerUnavailable."""
        name = Path(argv[0]).name
        env = {**os.environ, **self.env} if self.env else None
        try:
            return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise SchedulerUnavailable(f"Slurm unavailable: {name} did not answer within {timeout:g} s",
                                       argv=argv) from e
        except FileNotFoundError as e:
            raise SlurmError(f"{name} not found ({argv[0]}): is Slurm installed? (scripts/slurm-up)",
                             argv=argv) from e
        except OSError as e:
            raise SlurmError(f"could not run {name}: {e}", argv=argv) from e

    # -------------------------------------------------------------------------------- interface
    def submit(self, script_path: str | Path, cwd: str | Path, extra: Sequence[str] = ()) -> str:
        """sbatch ``script_path`` in ``cwd``; returns the job id. ``extra``: e.g. ["--hold"]."""
        proc = self.run(cmd.sbatch_argv(script_path, cwd, extra), cwd=cwd)
        return cmd.parse_sbatch_output(proc.stdout)

    def cancel(self, job_ids: Iterable[str]) -> None:
        """scancel all ids in one call (no-op for none)."""
        ids = list(job_ids)
        if ids:
            self.run(cmd.scancel_argv(ids))

    def query(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """One squeue for all ids; ids squeue no longer knows (after MinJobAge) are absent."""
        ids = list(dict.fromkeys(str(j) for j in job_ids))
        if not ids:
            return {}
        try:
            proc = self.run(cmd.squeue_argv(ids))
        except InvalidJobId:
            # squeue fails like this only when EVERY listed id is unknown (single id, or all purged)
            return {}
        found = cmd.parse_squeue_output(proc.stdout)
        return {j: found[j] for j in ids if j in found}

    def find_by_name(self, names: Iterable[str] = (), comment_prefix: str | None = None) -> list[JobInfo]:
        """Jobs squeue still shows with one of ``names`` and/or a comment starting with ``comment_prefix``."""
        names = list(names)
        if not names and not comment_prefix:
            raise ValueError("find_by_name needs names or a comment_prefix")
        proc = self.run(cmd.squeue_find_argv(names))
        jobs = list(cmd.parse_squeue_output(proc.stdout).values())
        if comment_prefix:
            jobs = cmd.filter_by_comment(jobs, comment_prefix)
        return jobs

    def accounting(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """One sacct for all ids; ids without a record yet (sacct lags 0.3-5 s) are absent."""
        ids = list(dict.fromkeys(str(j) for j in job_ids))
        if not ids:
            return {}
        proc = self.run(cmd.sacct_argv(ids))
        found = cmd.parse_sacct_output(proc.stdout)
        return {j: found[j] for j in ids if j in found}

    def find_in_accounting(self, names: Iterable[str], comment_prefix: str | None = None,
                           since: str = "now-7days") -> list[JobInfo]:
        """Jobs sacct knows by one of ``names`` (and comment prefix) since ``since``; one sacct call."""
        proc = self.run(cmd.sacct_find_argv(names, since))
        jobs = list(cmd.parse_sacct_output(proc.stdout).values())
        return cmd.filter_by_comment(jobs, comment_prefix) if comment_prefix else jobs

    def ping(self) -> bool:
        """True when the controller answers `scontrol ping` (never raises for an outage)."""
        try:
            proc = self.run(cmd.ping_argv())
        except SlurmError:
            return False
        return cmd.parse_ping_output(proc.stdout)
