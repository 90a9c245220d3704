"""Benchmark: first page of GET /v1/wrf for a user with 10,000 runs, p50/p99 over 1000 requests, beside a
bare FastAPI endpoint returning the same bytes (same machine, same run; the two take turns in blocks of 100).
Target: p99 ratio <= 3.

Usage: .venv/bin/python bench/api_list.py [--runs 10000] [--requests 1000] [--database sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestrator.store.models import InputFile, Run, User  # noqa: E402
from tests.servers import ApiServer, Deployment, create_pg_database, drop_pg_database, free_port  # noqa: E402


def populate(url: str, user: str, count: int) -> None:
    """Insert ``count`` runs (each with one input file) for ``user`` directly, in bulk."""
    engine = create_engine(url)
    with engine.begin() as conn:
        owner = conn.execute(select(User.id).where(User.name == user)).scalar_one()
        base = datetime(2026, 1, 1, tzinfo=timezone.utc)
        runs, files = [], []
        for i in range(count):
            rid = f"r{i:020d}"
            runs.append({"id": rid, "owner_id": owner, "model_name": "wrf", "version": "3.9", "status": "created",
                         "attempt": 0, "retries": 0, "output_size": 0, "disk_usage": 0,
                         "time_created": base + timedelta(seconds=i), "updated_at": base})
            files.append({"id": f"f{i:020d}", "run_id": rid, "filename": "wrfinput_d01", "size": 1000,
                          "sha256": "0" * 64, "kind": "wrfinput", "status": "ready", "details": {"problems": []},
                          "bytes_done": 1000, "created_at": base, "updated_at": base})
        for start in range(0, count, 2000):
            conn.execute(insert(Run), runs[start:start + 2000])
            conn.execute(insert(InputFile), files[start:start + 2000])
    engine.dispose()


def measure(targets: list[tuple[str, dict[str, str]]], n: int, blocks: int = 10) -> list[list[float]]:
    """Latencies (ms) of ``n`` GETs per target over one keep-alive connection each, after a warm-up.

    The targets take turns in ``blocks`` blocks, so that a slow spell of this shared machine falls on
    all of them alike instead of on whichever happened to be measured then."""
    clients = [httpx.Client(headers=headers, timeout=30) for _, headers in targets]
    try:
        for client, (url, _) in zip(clients, targets):
            for _ in range(20):
                client.get(url).raise_for_status()
        out: list[list[float]] = [[] for _ in targets]
        per_block = max(1, n // blocks)
        while len(out[0]) < n:
            for client, (url, _), samples in zip(clients, targets, out):
                for _ in range(min(per_block, n - len(samples))):
                    t0 = time.perf_counter()
                    client.get(url).raise_for_status()
                    samples.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        for client in clients:
            client.close()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def bare_server(body_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A bare FastAPI app under uvicorn returning the given bytes as JSON."""
    port = free_port()
    code = textwrap.dedent(f"""
        import uvicorn
        from fastapi import FastAPI, Response
        body = open({str(body_file)!r}, "rb").read()
        app = FastAPI()
        @app.get("/v1/wrf")
        def page() -> Response:
            return Response(body, media_type="application/json")
        uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning")
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    url = f"http://127.0.0.1:{port}/v1/wrf"
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pg_name = None
        if args.database == "sqlite":
            dep = Deployment(root, f"sqlite:///{root / 'bench.db'}")
        else:
            pg_name, url = create_pg_database()
            dep = Deployment(root, url)
        try:
            dep.cli("db", "upgrade")
            token = dep.create_user_token("bench")
            populate(dep.database_url, "bench", args.runs)
            server = ApiServer(dep).start()
            try:
                headers = {"Authorization": f"Bearer {token}"}
                page = httpx.get(f"{server.url}/wrf", headers=headers)
                body = root / "page.json"
                body.write_bytes(page.content)
                proc, bare_url = bare_server(body)
                try:
                    ours, bare = measure([(f"{server.url}/wrf", headers), (bare_url, {})], args.requests)
                finally:
                    proc.terminate()
                    proc.wait()
            finally:
                server.stop()
        finally:
            if pg_name:
                drop_pg_database(pg_name)
    runs_on_page = len(page.json()["runs"])
    print(f"GET /v1/wrf first page ({runs_on_page} runs, {len(page.content)} bytes) for a user with {args.runs} runs "
          f"on {args.database}, {args.requests} requests")
    print(f"  cloudrun: p50 {pct(ours, 50):.2f} ms  p99 {pct(ours, 99):.2f} ms")
    print(f"  bare    : p50 {pct(bare, 50):.2f} ms  p99 {pct(bare, 99):.2f} ms")
    print(f"  ratio   : p50 {pct(ours, 50) / pct(bare, 50):.2f}  p99 {pct(ours, 99) / pct(bare, 99):.2f}  (target p99 <= 3)")


if __name__ == "__main__":
    main()
