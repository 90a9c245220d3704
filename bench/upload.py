"""Upload throughput vs `cp` of the same file on the same disk, and the server's peak memory.

    .venv/bin/python bench/upload.py                       # 2 GiB, built-in minimal app
    .venv/bin/python bench/upload.py --size-mib 512 --dir /data/bench
    .venv/bin/python bench/upload.py --app orchestrator.api.app:app --path /v1/wrf/RUNID/upload \
        --header "Authorization: Bearer TOKEN"              # the real API instead

What it does: writes a source file of random-ish bytes (a 16 MiB random block repeated: real data
blocks, not sparse, cheap to make), times `cp` of it into the same directory (and `cp` + fsync,
since the upload writer fsyncs before its rename), then starts uvicorn in a *separate process*
(so its memory can be read from /proc/<pid>/status), streams the file as multipart/form-data with
httpx from a generator (never read whole), and prints the throughput ratio upload/cp and the
server's VmHWM before/after. It prints numbers; it asserts nothing. Files are removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from starlette.requests import Request  # module level: FastAPI resolves the string annotation here

MiB = 1024 * 1024
BOUNDARY = "----cloudrunBenchBoundary"
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- server side
def build_app(dest: Path, max_bytes: int):
    """The minimal app: POST /upload → receive_multipart_file(dest) (the building block under test)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from orchestrator.api.upload_stream import receive_multipart_file
    from orchestrator.store.uploads import UploadError

    app = FastAPI()

    @app.post("/upload")
    async def upload(request: Request):
        try:
            got = await receive_multipart_file(request, dest, max_bytes)
        except UploadError as exc:
            return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)
        return {"filename": got.filename, "size": got.size, "sha256": got.sha256}

    @app.post("/drain")
    async def drain(request: Request):
        """Reads and discards the body: the ceiling uvicorn itself puts on any upload."""
        n = 0
        async for chunk in request.stream():
            n += len(chunk)
        return {"received": n}

    return app


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    sys.path.insert(0, str(REPO))
    app = args.app or build_app(Path(args.dest), 64 * 1024**3)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="auto" if args.app else "off")


# --------------------------------------------------------------------------- client side
def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process, in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def make_source(path: Path, size: int) -> None:
    block = os.urandom(16 * MiB)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def time_cp(src: Path, dst: Path, fsync: bool) -> float:
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if fsync:
        fd = os.open(dst, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    elapsed = time.perf_counter() - t0
    dst.unlink()
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def upload(port: int, path: str, src: Path, filename: str, headers: list[str]) -> tuple[float, dict]:
    import httpx

    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = src.stat().st_size

    def body():
        yield head
        with open(src, "rb") as f:
            while chunk := f.read(4 * MiB):
                yield chunk
        yield tail

    hdrs = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(head) + size + len(tail))}
    for h in headers:
        k, _, v = h.partition(":")
        hdrs[k.strip()] = v.strip()
    t0 = time.perf_counter()
    r = httpx.post(f"http://127.0.0.1:{port}{path}", content=body(), headers=hdrs, timeout=600)
    elapsed = time.perf_counter() - t0
    if r.status_code >= 300:
        raise SystemExit(f"upload failed: {r.status_code} {r.text[:500]}")
    return elapsed, r.json()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=2048)
    p.add_argument("--dir", default=str(REPO / "var" / "bench-upload"), help="work directory (one disk)")
    p.add_argument("--app", default=None, help="ASGI app import string; default: the built-in minimal app")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--path", default="/upload")
    p.add_argument("--header", action="append", default=[], help="extra request header 'Name: value'")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--dest", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args)
        return

    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    dest = work / "dest"
    dest.mkdir(exist_ok=True)
    src = work / "source.bin"
    size = args.size_mib * MiB
    print(f"source: {size / MiB:.0f} MiB in {work}")
    make_source(src, size)
    want_sha = hashlib.sha256()
    with open(src, "rb") as f:  # also warms the page cache for every contender alike
        while chunk := f.read(16 * MiB):
            want_sha.update(chunk)

    impl = ("httptools" if importlib.util.find_spec("httptools") else "h11") + (
        " + uvloop" if importlib.util.find_spec("uvloop") else " + asyncio")
    load = Path("/proc/loadavg").read_text().split()[0] + f" on {os.cpu_count()} CPUs"
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--port", str(port), "--dest", str(dest)]
    if args.app:
        cmd += ["--app", args.app]
    proc = subprocess.Popen(cmd, cwd=str(REPO))
    t_cp: list[float] = []
    t_cp_sync: list[float] = []
    t_up: list[float] = []
    t_drain: list[float] = []
    replies: list[dict] = []
    try:
        wait_listening(port, proc)
        before = proc_status(proc.pid)
        # Page-cache and writeback behaviour varies a lot between runs on a VM: alternate the
        # contenders, flush dirty pages before each (os.sync), and compare medians.
        for _ in range(args.rounds):
            os.sync()
            t_cp.append(time_cp(src, work / "copy.bin", fsync=False))
            os.sync()
            t_cp_sync.append(time_cp(src, work / "copy.bin", fsync=True))
            os.sync()
            elapsed, reply = upload(port, args.path, src, "wrfinput_d01", args.header)
            t_up.append(elapsed)
            replies.append(reply)
            if not args.app:
                os.sync()
                t_drain.append(upload(port, "/drain", src, "wrfinput_d01", [])[0])
        after = proc_status(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)

    ok = all(r.get("sha256") in (None, want_sha.hexdigest()) for r in replies)
    med = statistics.median
    mbps = lambda t: size / MiB / t  # noqa: E731
    fmt = lambda ts: " ".join(f"{t:.2f}" for t in ts)  # noqa: E731
    print(f"rounds: {args.rounds} (times in s; medians compared); uvicorn http: {impl}; "
          f"load average at start: {load}")
    print(f"cp:            median {med(t_cp):6.2f} s {mbps(med(t_cp)):7.0f} MiB/s   [{fmt(t_cp)}]")
    print(f"cp + fsync:    median {med(t_cp_sync):6.2f} s {mbps(med(t_cp_sync)):7.0f} MiB/s   [{fmt(t_cp_sync)}]")
    print(f"upload (API):  median {med(t_up):6.2f} s {mbps(med(t_up)):7.0f} MiB/s   [{fmt(t_up)}]"
          f"   sha256 {'matches' if ok else 'MISMATCH'}")
    if t_drain:
        print(f"uvicorn drain: median {med(t_drain):6.2f} s {mbps(med(t_drain)):7.0f} MiB/s   [{fmt(t_drain)}]"
              "   (body read and discarded: the server's own ceiling)")
    print(f"ratio upload/cp:          {med(t_cp) / med(t_up):.2f}   (target >= 0.5)")
    print(f"ratio upload/(cp+fsync):  {med(t_cp_sync) / med(t_up):.2f}   (the upload fsyncs before its rename)")
    if t_drain:
        print(f"ratio upload/drain:       {med(t_drain) / med(t_up):.2f}   (share of the server's ceiling reached)")
    growth = after["VmHWM"] - before["VmHWM"]
    print(f"server RSS: before {before['VmRSS'] / MiB:.0f} MiB (peak {before['VmHWM'] / MiB:.0f}), "
          f"peak after {after['VmHWM'] / MiB:.0f} MiB, growth {growth / MiB:.1f} MiB   (target < 100 MiB)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
