"""Alembic: `orchestrator db upgrade` on empty SQLite and PostgreSQL, downgrade then upgrade, and the service
refusing an unmigrated database with the command to run."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.servers import REPO, Deployment, create_pg_database, drop_pg_database

TABLES = {"users", "api_tokens", "runs", "jobs", "input_files", "shares", "run_events", "scheduler_health"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    if request.param == "sqlite":
        yield Deployment(tmp_path, f"sqlite:///{tmp_path / 'db' / 'fresh.db'}")
        return
    name, url = create_pg_database()
    try:
        yield Deployment(tmp_path, url)
    finally:
        drop_pg_database(name)


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty: Deployment) -> None:
    proc = empty.cli("users", "list", check=False)
    assert proc.returncode == 3 and "orchestrator db upgrade" in proc.stderr and "Traceback" not in proc.stderr
    empty.cli("db", "upgrade")
    assert TABLES <= tables(empty.database_url)
    current = empty.cli("db", "current").stdout  # "database: <rev>; code needs: <rev>"
    have, need = (part.split(":")[1].strip() for part in current.strip().split(";"))
    assert have == need != "empty"
    empty.cli("db", "downgrade", "base")
    assert not (TABLES & tables(empty.database_url))
    empty.cli("db", "upgrade")
    assert TABLES <= tables(empty.database_url)
    empty.cli("users", "add", "zed")
    assert "zed" in empty.cli("users", "list").stdout


def test_serve_refuses_unmigrated_database(empty: Deployment) -> None:
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "serve", "--port", "1"], env=empty.env(), cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert "orchestrator db upgrade" in proc.stderr
