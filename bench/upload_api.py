"""Benchmark: a 2 GiB wrfinput uploaded through the real Cloudrun API (`orchestrator serve`: auth, staging,
header validation, atomic rename, database) vs `cp` of the same file on the same disk, beside the machine's
floor (see bench/upload.py); the server's peak RSS before/after. Target: ratio >= 0.5, RSS growth < 100 MB.

The source is a valid WRF input: the factory's header for a ~2 GiB grid, its data region filled with real
(non-sparse) bytes so that `cp` cannot skip holes. The client is curl (as `curl -F file=@wrfinput_d01`).

Usage: .venv/bin/python bench/upload_api.py [--size-mib 2048] [--rounds 5] [--client curl|httpx]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from upload import (MiB, UnderTest, default_client, describe_machine, measure,  # noqa: E402
                    page_reporting_paused, sha256_of)

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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--client", choices=("curl", "httpx"), default=default_client())
    args = parser.parse_args()
    (REPO / "var").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-upload-api-", dir=REPO / "var"))
    try:
        src = work / "wrfinput_d01"
        make_source(src, args.size_mib * MiB)
        want = sha256_of(src)
        print(f"source: {src.stat().st_size / MiB:.0f} MiB wrfinput; client {args.client}; {describe_machine()}")
        dep = Deployment(work / "deploy", f"sqlite:///{work / 'deploy' / 'c.db'}")
        (work / "deploy").mkdir()
        dep.cli("db", "upgrade")
        token = dep.create_user_token("bench")
        server = ApiServer(dep).start()
        try:
            auth = f"Authorization: Bearer {token}"
            run_id = httpx.post(f"{server.url}/wrf", headers={"Authorization": f"Bearer {token}"},
                                data={"version": "3.9"}).json()["id"]

            def check_reply(body: str) -> None:
                files = json.loads(body)["run"]["input_files"]
                if files[0]["status"] != "ready" or files[0]["sha256"] != want:
                    raise SystemExit(f"unexpected reply: {body[:500]}")

            assert server.proc is not None
            under_test = UnderTest(f"{server.url}/wrf/{run_id}/upload", server.proc, None, check_reply, [auth])
            with page_reporting_paused() as vm_note:
                print(vm_note)
                measure(args.rounds, src, work, under_test, args.client)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
