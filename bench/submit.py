"""Benchmark: 200 runs from `start` to a Slurm job id through the daemon's submission path (attempt record,
run-directory preparation, job script, sbatch, job id stored) against a plain loop of sbatch on the same
scripts. Jobs are submitted held and cancelled afterwards. Target: ratio <= 1.5.

Usage: .venv/bin/python bench/submit.py [--runs 200]   (needs scripts/slurm-up)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select, update  # noqa: E402
from sqlmodel import Session  # noqa: E402

from orchestrator.core.config import load_settings  # noqa: E402
from orchestrator.daemon.worker import Worker  # noqa: E402
from orchestrator.service import accounts, runs as run_service  # noqa: E402
from orchestrator.service.setup import setup_run  # noqa: E402
from orchestrator.slurm.local import LocalSlurm  # noqa: E402
from orchestrator.store.db import engine_for, session_scope, upgrade  # noqa: E402
from orchestrator.store.models import Job, Run  # noqa: E402
from tests.factory import make_ideal_case  # noqa: E402


class HeldSlurm(LocalSlurm):
    """Submits with --hold so the benchmark's jobs never use the cluster."""

    def submit(self, script_path, cwd, extra=()):  # type: ignore[no-untyped-def]
        return super().submit(script_path, cwd, ["--hold", *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'submit.db'}"
        settings = load_settings(environ={"CLOUDRUN_DATABASE_URL": url, "CLOUDRUN_STORAGE_ROOT": str(root / "st")})
        upgrade(url)
        engine = engine_for(url)
        case = make_ideal_case(root / "case")["wrfinput_d01"]
        from orchestrator.service import inputs as input_service

        with session_scope(engine) as session:
            user = accounts.add_user(session, "bench")
        ids = []
        for _i in range(args.runs):  # prepare runs up to `start` (not timed)
            with session_scope(engine) as session:
                user = accounts.get_user(session, "bench")
                run = run_service.create_run(session, user, "wrf", "3.9")
                staged = root / "st" / "incoming" / run.id
                staged.mkdir(parents=True)
                copy = staged / "wrfinput_d01"
                copy.write_bytes(case.read_bytes())
                received = type("R", (), {"path": str(copy), "filename": "wrfinput_d01", "size": copy.stat().st_size,
                                          "sha256": None})()
                judged = input_service.judge_upload(received, "3.9")
                input_service.register_upload(session, settings, user, run.id, received, judged)
                ids.append(run.id)
            with session_scope(engine) as session:
                setup_run(session, settings, accounts.get_user(session, "bench"), ids[-1], None)
            with session_scope(engine) as session:
                run = session.get(Run, ids[-1])
                run_service.start_run(session, accounts.get_user(session, "bench"), run, 1)
        slurm = HeldSlurm(timeout=60)
        worker = Worker(settings, engine, slurm, owner="bench")
        t0 = time.perf_counter()
        report = worker.cycle(poll=False)  # every start intent: record, prepare, sbatch, store id
        ours = time.perf_counter() - t0
        with engine.connect() as conn:
            job_ids = [j for (j,) in conn.execute(select(Job.job_id)) if j]
        scripts = sorted((root / "st" / "runs").glob("*/cloudrun-job.a1.sh"))
        t0 = time.perf_counter()
        plain_ids = []
        for script in scripts:
            out = subprocess.run(["sbatch", "--parsable", "--hold", str(script)], cwd=script.parent,
                                 capture_output=True, text=True, check=True, timeout=60)
            plain_ids.append(out.stdout.strip().split(";")[0])
        plain = time.perf_counter() - t0
        for batch in (job_ids, plain_ids):
            for start in range(0, len(batch), 500):
                subprocess.run(["scancel", *batch[start:start + 500]], capture_output=True, timeout=120)
    assert len(report.submitted) == args.runs == len(job_ids), (len(report.submitted), len(job_ids))
    print(f"{args.runs} runs start -> Slurm job id: cloudrun {ours:.2f} s ({ours / args.runs * 1000:.1f} ms/run), "
          f"plain sbatch loop {plain:.2f} s ({plain / args.runs * 1000:.1f} ms/run)")
    print(f"  ratio {ours / plain:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
