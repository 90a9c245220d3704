"""Benchmark: one daemon poll cycle with 10, 100 and 1000 active runs (held jobs in the real Slurm) against the
naive way, one `squeue -j ID` per job — wall time and Slurm calls per cycle, ratios printed.
Target: >= 20x fewer calls and faster from 100 runs up.

Usage: .venv/bin/python bench/poll.py [--counts 10,100,1000] [--repeat 3]   (needs scripts/slurm-up)
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from orchestrator.daemon.worker import Worker  # noqa: E402
from orchestrator.slurm.local import LocalSlurm  # noqa: E402
from orchestrator.store.models import Job  # noqa: E402
from tests.poll_support import held_active_runs  # noqa: E402


def naive_cycle(job_ids: list[str]) -> tuple[float, int]:
    """What a per-job poller does: one squeue per job."""
    t0 = time.perf_counter()
    for jid in job_ids:
        subprocess.run(["squeue", "-h", "-t", "all", "-j", jid, "-o", "%i %T %r"], capture_output=True, text=True,
                       check=True, timeout=60)
    return time.perf_counter() - t0, len(job_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'runs':>6} {'cloudrun s':>11} {'calls':>6} {'naive s':>9} {'calls':>6} {'calls ratio':>12} {'time ratio':>11}")
    for count in [int(c) for c in args.counts.split(",")]:
        with tempfile.TemporaryDirectory() as tmp, held_active_runs(Path(tmp), count) as (settings, engine):
            with engine.connect() as conn:
                job_ids = [j for (j,) in conn.execute(select(Job.job_id))]
            ours, naive = [], []
            calls = naive_calls = 0
            for _ in range(args.repeat):
                slurm = LocalSlurm(timeout=60)
                worker = Worker(settings, engine, slurm, owner="bench")
                t0 = time.perf_counter()
                worker.cycle(poll=True)
                ours.append(time.perf_counter() - t0)
                calls = slurm.calls
                seconds, naive_calls = naive_cycle(job_ids)
                naive.append(seconds)
            o, n = statistics.median(ours), statistics.median(naive)
            print(f"{count:>6} {o:>11.3f} {calls:>6} {n:>9.3f} {naive_calls:>6} {naive_calls / calls:>11.0f}x "
                  f"{n / o:>10.1f}x")


if __name__ == "__main__":
    main()
