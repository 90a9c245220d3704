"""Upload throughput vs `cp` of the same file on the same disk, the machine's floor, and the server's peak memory.

    .venv/bin/python bench/upload.py                       # 2 GiB, through receive_multipart_file
    .venv/bin/python bench/upload.py --size-mib 512 --rounds 5 --client httpx

Contenders, each timed from the client's first byte to the server's reply, on one source file:
- ``cp``          the file copied on the same disk (page cache to page cache: one in-kernel copy);
- ``cp + fsync``  the same, made durable, as the upload is before it answers;
- ``floor``       what *any* server could do on this machine: a raw TCP socket (no HTTP parsing, no
                  framework) that receives the body into a buffer pool, sha256-hashes it and writes it
                  in two helper threads (both release the GIL: this is C speed), then fsyncs and renames.
                  It does the same unavoidable work as the upload (receive, hash, write, fsync, rename)
                  and nothing else, so ``floor / cp`` is the highest ratio reachable here;
- ``upload``      multipart through the streaming receiver under uvicorn (``bench/upload_api.py`` runs
                  the whole API: auth, database, header validation).

The client is curl (what users run: ``curl -F file=@...``) unless ``--client httpx``. CPU seconds of
server and client are printed per contender: on a 2-vCPU machine, wall time cannot beat CPU / 2.
Page allocation on a VM is bimodal (a page the hypervisor reclaimed costs a fault to get back), so
one untimed warm-up round runs first, the contenders alternate, and the median is compared.
It prints numbers; it asserts nothing. Files are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request  # module level: FastAPI resolves the string annotation here

MiB = 1024 * 1024
BOUNDARY = "----cloudrunBenchBoundary"
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- servers
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

    return app


def serve_uvicorn(port: int, dest: Path) -> None:
    import uvicorn

    sys.path.insert(0, str(REPO))
    uvicorn.run(build_app(dest, 64 * 1024**3), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


# --------------------------------------------------------------------------- measuring
def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process, in bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def proc_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_source(path: Path, size: int) -> None:
    """Real data blocks (a 16 MiB random block repeated), not sparse: cp cannot skip holes."""
    block = os.urandom(16 * MiB)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def sha256_of(path: Path) -> str:
    """Also warms the page cache for every contender alike."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(16 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def time_cp(src: Path, dst: Path, fsync: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``cp src dst`` (+ fsync of dst); dst is removed afterwards."""
    cpu0 = children_cpu_seconds() + self_cpu_seconds()
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if fsync:
        fd = os.open(dst, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    elapsed = time.perf_counter() - t0
    cpu = children_cpu_seconds() + self_cpu_seconds() - cpu0
    dst.unlink()
    return elapsed, cpu


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


def _post_curl(url: str, src: Path, filename: str, headers: list[str]) -> tuple[int, str]:
    cmd = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Expect:", "-F", f"file=@{src};filename={filename}", url]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def _post_httpx(url: str, src: Path, filename: str, headers: list[str]) -> tuple[int, str]:
    import httpx

    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body():
        yield head
        with open(src, "rb") as f:
            while chunk := f.read(4 * MiB):
                yield chunk
        yield tail

    hdrs = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(head) + src.stat().st_size + len(tail))}
    for h in headers:
        k, _, v = h.partition(":")
        hdrs[k.strip()] = v.strip()
    r = httpx.post(url, content=body(), headers=hdrs, timeout=600)
    return r.status_code, r.text


def upload(url: str, src: Path, filename: str, headers: list[str], client: str = "curl") -> tuple[float, float, str]:
    """POST ``src`` as multipart; return (wall seconds, client CPU seconds, reply body). Exits on an HTTP error."""
    post: Callable[..., tuple[int, str]] = _post_curl if client == "curl" else _post_httpx
    cpu0 = children_cpu_seconds() + self_cpu_seconds()
    t0 = time.perf_counter()
    status, body = post(url, src, filename, headers)
    elapsed = time.perf_counter() - t0
    cpu = children_cpu_seconds() + self_cpu_seconds() - cpu0
    if status >= 300:
        raise SystemExit(f"upload to {url} failed: {status} {body[:500]}")
    return elapsed, cpu, body


@dataclass
class Series:
    """Wall and CPU seconds of one contender over the timed rounds."""

    name: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    def median(self) -> float:
        return statistics.median(self.wall)

    def best(self) -> float:
        return min(self.wall)

    def line(self, size: int, note: str = "") -> str:
        med = self.median()
        walls = " ".join(f"{t:.2f}" for t in self.wall)
        return (f"{self.name:<11} median {med:5.2f} s {size / MiB / med:5.0f} MiB/s, best {size / MiB / self.best():5.0f} "
                f"MiB/s; CPU {min(self.cpu):5.2f} s   [{walls}]{note}")


def start_server(args: list[str]) -> tuple[subprocess.Popen, int]:
    """This script in a server mode, in its own process (its memory and CPU are read from /proc)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args, "--port", str(port)],
                            cwd=str(REPO))
    wait_listening(port, proc)
    return proc, port


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(15)


PAGE_REPORTING_ORDER = Path("/sys/module/page_reporting/parameters/page_reporting_order")


@contextlib.contextmanager
def page_reporting_paused() -> Iterator[str]:
    """Pause the guest's free-page reporting for the measurement, if this VM has it; restore it after.

    On a VM with free-page reporting (Firecracker here), freed memory is handed back to the host,
    and a page cache page that lands on such memory costs a host fault: writing then runs at about
    400 MB/s instead of several GB/s. Which contender gets those pages depends on what ran just
    before it, not on its code (cp measured 0.5 s or 5 s for the same 2 GiB). Reporting only
    considers free blocks of at least ``page_reporting_order``; an order above the allocator's
    largest (10) pauses it, as pyperf's ``system tune`` pins CPU frequency.
    """
    try:
        saved = PAGE_REPORTING_ORDER.read_text().strip()
        PAGE_REPORTING_ORDER.write_text("11")
    except OSError:
        yield "free-page reporting: not present or not writable, left as is"
        return
    try:
        yield f"free-page reporting paused for the measurement (page_reporting_order {saved} -> 11, restored after)"
    finally:
        PAGE_REPORTING_ORDER.write_text(saved)


def settle(*leftovers: Path) -> None:
    """Remove the previous round's outputs and flush dirty pages, so no contender pays for another."""
    for path in leftovers:
        path.unlink(missing_ok=True)
    os.sync()


def report(size: int, cp: Series, cp_sync: Series, floor: Series, up: Series) -> None:
    """The ratios; ``up`` is the upload under test."""
    print(cp.line(size))
    print(cp_sync.line(size))
    print(floor.line(size, "   (raw TCP + sha256 + write + fsync, C speed)"))
    print(up.line(size))
    def ratio(name: str, base: Series, other: Series, why: str) -> None:
        print(f"ratio {name:<18} median {base.median() / other.median():5.2f}, best {base.best() / other.best():5.2f}"
              f"   ({why})")

    met = cp.median() / up.median() >= 0.5
    ratio("upload/cp:", cp, up, f"target >= 0.5: {'met' if met else 'NOT met'}")
    ratio("floor/cp:", cp, floor, "the most any server can reach on this machine")
    ratio("upload/floor:", floor, up, "share of that ceiling the upload reaches")
    ratio("upload/(cp+fsync):", cp_sync, up, "like for like: both durable")


def default_client() -> str:
    return "curl" if shutil.which("curl") else "httpx"


def describe_machine() -> str:
    impl = ("httptools" if importlib.util.find_spec("httptools") else "h11") + (
        " + uvloop" if importlib.util.find_spec("uvloop") else " + asyncio")
    load = Path("/proc/loadavg").read_text().split()[0]
    return f"uvicorn http: {impl}; {os.cpu_count()} CPUs, load average {load}"


@dataclass
class UnderTest:
    """The upload being measured: where to POST, the server process, and how to check its reply."""

    url: str
    server: subprocess.Popen
    lands_at: Path | None  # the file each upload creates, removed between rounds (None: a service's own file)
    check_reply: Callable[[str], None]
    headers: list[str] = field(default_factory=list)


def measure(rounds: int, src: Path, work: Path, under_test: UnderTest, client: str) -> None:
    """Time cp, cp + fsync, the floor and the upload under test, alternating; print the report and RSS."""
    size = src.stat().st_size
    floor_proc, floor_port = start_server(["--serve", "floor", "--dest", str(work)])
    cp, cp_sync, floor, up = Series("cp"), Series("cp + fsync"), Series("floor"), Series("upload")
    copy = work / "copy.bin"
    server = under_test.server
    try:
        before = proc_status(server.pid)
        for round_no in range(rounds + 1):  # round 0 warms up and is not counted
            timed = round_no > 0
            settle(copy)
            wall, cpu = time_cp(src, copy, fsync=False)
            if timed:
                cp.add(wall, cpu)
            settle(copy)
            wall, cpu = time_cp(src, copy, fsync=True)
            if timed:
                cp_sync.add(wall, cpu)
            settle(work / "floor.bin")
            server_cpu = proc_cpu_seconds(floor_proc.pid)
            wall, cpu, _ = upload(f"http://127.0.0.1:{floor_port}/", src, src.name, [], client)
            if timed:
                floor.add(wall, cpu + proc_cpu_seconds(floor_proc.pid) - server_cpu)
            settle(*[under_test.lands_at] if under_test.lands_at else [])
            server_cpu = proc_cpu_seconds(server.pid)
            wall, cpu, body = upload(under_test.url, src, src.name, under_test.headers, client)
            if timed:
                up.add(wall, cpu + proc_cpu_seconds(server.pid) - server_cpu)
            under_test.check_reply(body)
        after = proc_status(server.pid)
    finally:
        stop_server(floor_proc)
    print(f"{rounds} timed rounds after one warm-up; times in s; medians compared; CPU = server + client")
    report(size, cp, cp_sync, floor, up)
    growth = after["VmHWM"] - before["VmHWM"]
    print(f"server RSS: before {before['VmRSS'] / MiB:.0f} MiB (peak {before['VmHWM'] / MiB:.0f}), "
          f"peak after {after['VmHWM'] / MiB:.0f} MiB, growth {growth / MiB:.1f} MiB   (target < 100 MiB)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=2048)
    p.add_argument("--dir", default=str(REPO / "var" / "bench-upload"), help="work directory (one disk)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--client", choices=("curl", "httpx"), default=default_client())
    p.add_argument("--serve", choices=("uvicorn", "floor"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--dest", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        if args.serve == "floor":
            from upload_floor import serve_floor  # bench/ is on sys.path: this script's directory

            serve_floor(args.port, Path(args.dest))
        else:
            serve_uvicorn(args.port, Path(args.dest))
        return

    work = Path(args.dir)
    dest = work / "dest"
    dest.mkdir(parents=True, exist_ok=True)
    src = work / "wrfinput_d01"
    try:
        make_source(src, args.size_mib * MiB)
        want = sha256_of(src)
        print(f"source: {args.size_mib} MiB in {work}; client {args.client}; {describe_machine()}")

        def check_reply(body: str) -> None:
            if want not in body:
                raise SystemExit(f"sha256 mismatch: {body[:300]}")

        app, port = start_server(["--serve", "uvicorn", "--dest", str(dest)])
        try:
            with page_reporting_paused() as vm_note:
                print(vm_note)
                under_test = UnderTest(f"http://127.0.0.1:{port}/upload", app, dest / src.name, check_reply)
                measure(args.rounds, src, work, under_test, args.client)
        finally:
            stop_server(app)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
