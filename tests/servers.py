"""Real Cloudrun processes for tests: the API under uvicorn (and later the daemon), on a fresh database."""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_DSN = os.environ.get("CLOUDRUN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_pg_database() -> tuple[str, str]:
    """A fresh, empty PostgreSQL database: (name, SQLAlchemy URL)."""
    name = "cloudrun_test_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, f"{base}/{name}"


def drop_pg_database(name: str) -> None:
    """Drop a test database, closing its connections first."""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Deployment:
    """A storage root + database + environment that CLI calls and servers share."""

    root: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDRUN_")}
        env.update({
            "CLOUDRUN_DATABASE_URL": self.database_url,
            "CLOUDRUN_STORAGE_ROOT": str(self.root / "storage"),
            "CLOUDRUN_API_RATE_LIMIT_PER_MINUTE": "1000000",
            "CLOUDRUN_UPLOADS_FETCH_ALLOWLIST": "[127.0.0.1/32]",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `orchestrator ARGS` against this deployment."""
        proc = subprocess.run([sys.executable, "-m", "orchestrator", *args], env=self.env(), cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"orchestrator {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def create_user_token(self, name: str) -> str:
        """Add a user (if new) and return a fresh token for them."""
        self.cli("users", "add", name, check=False)
        return self.cli("tokens", "create", name).stdout.strip().splitlines()[-1]


class ApiServer:
    """`orchestrator serve` in a subprocess on a free port; its log is kept for inspection."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/v1"
        self.log_path = deployment.root / f"api-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "ApiServer":
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "serve", "--port", str(self.port)],
                                     env=self.deployment.env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"API server exited early:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"API server did not come up:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tracebacks(self) -> list[str]:
        """Tracebacks the server logged (there should be none for bad input)."""
        return re.findall(r"Traceback \(most recent call last\):", self.log_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class DaemonProcess:
    """`orchestrator daemon` (or any orchestrator command) in a subprocess, killable like a crash."""

    def __init__(self, deployment: Deployment, *args: str, env: dict[str, str] | None = None,
                 name: str = "daemon") -> None:
        self.deployment = deployment
        self.args = args or ("daemon",)
        self.extra = env or {}
        self.log_path = deployment.root / f"{name}-{secrets.token_hex(3)}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "DaemonProcess":
        env = {**self.deployment.env(), **self.extra}
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *self.args], env=env, cwd=REPO,
                                     stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(probe, what: str, timeout: float = 120.0, every: float = 0.3):  # type: ignore[no-untyped-def]
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last probe: {last!r}")


# The daemon settings the execution tests use: fast polls, short minimum time limits, a fast emulator.
DAEMON_TEST_ENV = {
    "CLOUDRUN_DAEMON_POLL_INTERVAL_S": "1",
    "CLOUDRUN_DAEMON_LEASE_S": "15",
    "CLOUDRUN_CLUSTER_MIN_TIME_LIMIT_S": "60",
    "CLOUDRUN_SLURM_COMMAND_TIMEOUT_S": "15",
    "CLOUDRUN_EMULATOR_STEP_SECONDS": "0.2",
    "CLOUDRUN_DAEMON_MAX_AUTO_RETRIES": "0",  # failures stay failures unless a test turns retries on
}


@contextmanager
def static_http_server(directory: Path) -> Iterator[str]:
    """A real http.server on 127.0.0.1 serving ``directory``; yields its base URL."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
