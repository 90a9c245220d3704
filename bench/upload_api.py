"""Benchmark: a 2 GiB wrfinput uploaded through the real Cloudrun API (`orchestrator serve`, auth, staging,
header validation, atomic rename, database) vs `cp` of the same file on the same disk; the server's peak RSS
before/after. Target: throughput ratio >= 0.5, RSS growth < 100 MB.

The source is a valid WRF input: the factory's header for a ~2 GiB grid, its data region filled with real
(non-sparse) bytes so that `cp` cannot skip holes.

Usage: .venv/bin/python bench/upload_api.py [--size-mib 2048] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from upload import MiB, proc_status, time_cp, upload  # noqa: E402

from tests.factory import make_wrfinput  # noqa: E402
from tests.servers import ApiServer, Deployment  # noqa: E402


def make_source(path: Path, size: int) -> None:
    """A wrfinput of about ``size`` bytes whose data region holds real bytes (a random block repeated)."""
    make_wrfinput(path, sparse_bytes=size)
    block = os.urandom(16 * MiB)
    with open(path, "r+b") as f:
        total = path.stat().st_size
        f.seek(MiB)  # the header is a few tens of KiB; everything after 1 MiB is field data
        pos = MiB
        while pos < total:
            n = min(len(block), total - pos)
            f.write(block[:n])
            pos += n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-upload-api-", dir=str(REPO / "var") if (REPO / "var").exists() else None))
    try:
        src = work / "wrfinput_d01"
        make_source(src, args.size_mib * MiB)
        size = src.stat().st_size
        dep = Deployment(work / "deploy", f"sqlite:///{work / 'deploy' / 'c.db'}")
        (work / "deploy").mkdir()
        dep.cli("db", "upgrade")
        token = dep.create_user_token("bench")
        server = ApiServer(dep).start()
        try:
            h = {"Authorization": f"Bearer {token}"}
            run_id = httpx.post(f"{server.url}/wrf", headers=h, data={"version": "3.9"}).json()["id"]
            assert server.proc is not None
            before = proc_status(server.proc.pid)
            t_cp, t_up = [], []
            for _ in range(args.rounds):
                os.sync()
                t_cp.append(time_cp(src, work / "copy.bin", fsync=False))
                os.sync()
                elapsed, reply = upload(server.port, f"/v1/wrf/{run_id}/upload", src, "wrfinput_d01",
                                        [f"Authorization: Bearer {token}"])
                assert reply["run"]["input_files"][0]["status"] == "ready", reply
                t_up.append(elapsed)
            after = proc_status(server.proc.pid)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = statistics.median
    print(f"{size / MiB:.0f} MiB wrfinput, {args.rounds} rounds (medians)")
    print(f"  cp:                 {med(t_cp):6.2f} s  {size / MiB / med(t_cp):7.0f} MiB/s")
    print(f"  upload through API: {med(t_up):6.2f} s  {size / MiB / med(t_up):7.0f} MiB/s")
    print(f"  ratio upload/cp:    {med(t_cp) / med(t_up):.2f}   (target >= 0.5)")
    growth = (after.get("VmHWM", 0) - before.get("VmHWM", 0)) / MiB
    print(f"  server peak RSS:    {before.get('VmHWM', 0) / MiB:.1f} MiB -> {after.get('VmHWM', 0) / MiB:.1f} MiB "
          f"(growth {growth:.1f} MiB; target < 100 MB)")


if __name__ == "__main__":
    main()
