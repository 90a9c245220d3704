"""Fixtures for tests against the real local Slurm (import into conftest: `from tests.slurm_fixtures import *`).

`slurm_cluster` runs scripts/slurm-up once per session (idempotent: ~1 s when already up) and fails the
test, with slurm-up's output, if the cluster cannot be brought up. `slurm` is a fresh LocalSlurm per test;
`slurm_jobs` collects job ids a test submits and cancels whatever is left at the end.

The cluster is shared by every test session on the machine. A test that stops the controller must use
`slurm_outage()`: it takes an exclusive lock, while the `slurm` fixture holds a shared one for the test's
duration, so no session's test sees another session's deliberate outage.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest

from orchestrator.slurm.client import SchedulerUnavailable
from orchestrator.slurm.local import LocalSlurm

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
T = TypeVar("T")

LOCK_FILE = Path("/tmp/cloudrun-slurm-outage.lock")
__all__ = ["slurm_cluster", "slurm", "slurm_jobs", "wait_until", "slurm_ctld", "slurm_outage", "cluster_lock",
           "SCRIPTS"]


def _env_settings() -> dict[str, str]:
    out = subprocess.run([str(SCRIPTS / "slurm-env")], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="session")
def slurm_cluster() -> dict[str, str]:
    """Bring the local Slurm up (scripts/slurm-up) and return its settings (scripts/slurm-env)."""
    proc = subprocess.run([str(SCRIPTS / "slurm-up")], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"scripts/slurm-up failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return _env_settings()


@contextmanager
def cluster_lock(exclusive: bool, deadline_s: float = 300.0) -> Iterator[None]:
    """Shared (normal tests) or exclusive (controller outage) lock on the shared cluster, across sessions."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    end = time.monotonic() + deadline_s
    try:
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    pytest.fail(f"cluster lock {LOCK_FILE} not free after {deadline_s:g} s")
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)          # closing the descriptor releases the lock


@pytest.fixture
def slurm(slurm_cluster: dict[str, str]) -> Iterator[LocalSlurm]:
    """A LocalSlurm with a timeout well above the cluster's MessageTimeout (shared cluster lock held)."""
    with cluster_lock(exclusive=False):
        yield LocalSlurm(timeout=30.0)


@pytest.fixture
def slurm_jobs(slurm_cluster: dict[str, str]) -> Iterator[list[str]]:
    """Append the ids you submit; whatever is still queued or running is cancelled afterwards."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60)


def slurm_ctld(action: str) -> None:
    """Stop or start only slurmctld (scripts/slurm-ctld) to simulate a controller outage."""
    subprocess.run([str(SCRIPTS / "slurm-ctld"), action], check=True, capture_output=True, timeout=180)


@contextmanager
def slurm_outage(before: Callable[[], T] | None = None) -> Iterator[T | None]:
    """Controller outage for the block: exclusive cluster lock, slurmctld stopped, restarted after.
    ``before`` runs under the lock while the controller is still up (e.g. submit a job); the block
    gets its result. Not inside a test using the `slurm` fixture (that holds the shared lock)."""
    with cluster_lock(exclusive=True):
        result = before() if before else None
        slurm_ctld("stop")
        try:
            yield result
        finally:
            slurm_ctld("start")


def wait_until(probe: Callable[[], T | None], what: str, deadline_s: float = 90.0, every_s: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``deadline_s``.
    A deadline against hangs, not a timing assertion: Slurm's own delays vary widely."""
    end = time.monotonic() + deadline_s
    last: T | None = None
    while time.monotonic() < end:
        try:
            last = probe()
        except SchedulerUnavailable:
            last = None       # someone else's outage: keep waiting, as the daemon would
        if last:
            return last
        time.sleep(every_s)
    pytest.fail(f"gave up waiting for {what} after {deadline_s:g} s (last: {last!r})")
