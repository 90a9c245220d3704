"""Many 'active' runs backed by real held Slurm jobs, for counting the Slurm calls of a poll cycle
(tests/test_daemon.py) and timing it (bench/poll.py)."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from orchestrator.core.config import Settings, load_settings
from orchestrator.daemon.worker import Worker
from orchestrator.service.accounts import add_user
from orchestrator.slurm.local import LocalSlurm
from orchestrator.store.db import engine_for, session_scope, upgrade
from orchestrator.store.models import Job, Run, User, utcnow


def submit_held(names: list[str], workdir: Path) -> list[str]:
    """sbatch --hold one trivial job per name (held jobs stay PENDING: active runs with no CPU used)."""
    ids = []
    for name in names:
        out = subprocess.run(["sbatch", "--parsable", "--hold", "-J", name, "-o", "/dev/null", "--time=5",
                              "--wrap", "true"], cwd=workdir, capture_output=True, text=True, check=True, timeout=60)
        ids.append(out.stdout.strip().split(";")[0])
    return ids


@contextmanager
def held_active_runs(root: Path, count: int) -> Iterator[tuple[Settings, Engine]]:
    """A database with ``count`` active runs, each with a submitted attempt whose job is held in Slurm."""
    root.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{root / 'poll.db'}"
    settings = load_settings(environ={"CLOUDRUN_DATABASE_URL": url, "CLOUDRUN_STORAGE_ROOT": str(root / "storage")})
    upgrade(url)
    engine = engine_for(url)
    run_ids = [f"r{i:020d}" for i in range(count)]
    job_ids = submit_held([f"cloudrun-{rid}-a1" for rid in run_ids], root)
    try:
        with session_scope(engine) as session:
            add_user(session, "poller")
        with engine.begin() as conn:
            owner = conn.execute(select(User.id)).scalar_one()
            now = utcnow()
            conn.execute(insert(Run), [{"id": rid, "owner_id": owner, "model_name": "wrf", "version": "3.9",
                                        "status": "starting", "attempt": 1, "retries": 0, "cores": 1,
                                        "output_size": 0, "disk_usage": 0, "time_created": now,
                                        "updated_at": now} for rid in run_ids])
            conn.execute(insert(Job), [{"run_id": rid, "attempt": 1, "job_name": f"cloudrun-{rid}-a1",
                                        "submit_state": "submitted", "job_id": jid, "misses": 0,
                                        "submitted": now, "created_at": now}
                                       for rid, jid in zip(run_ids, job_ids)])
        yield settings, engine
    finally:
        for start in range(0, len(job_ids), 500):
            subprocess.run(["scancel", *job_ids[start:start + 500]], capture_output=True, timeout=120)


def one_cycle_calls(settings: Settings, engine: Engine) -> dict[str, int]:
    """Slurm commands run by one full daemon cycle, by name."""
    slurm = LocalSlurm(timeout=30)
    Worker(settings, engine, slurm, owner="counter").cycle(poll=True)
    return dict(slurm.calls_by_command)
