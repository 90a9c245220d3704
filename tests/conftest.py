"""Shared fixtures: deployments on SQLite and on a fresh PostgreSQL database, live API servers."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ApiServer, Deployment, create_pg_database, drop_pg_database


def _deployment(root: Path, backend: str) -> Iterator[Deployment]:
    if backend == "sqlite":
        dep = Deployment(root, f"sqlite:///{root / 'cloudrun.db'}")
        dep.cli("db", "upgrade")
        yield dep
        return
    name, url = create_pg_database()
    try:
        dep = Deployment(root, url)
        dep.cli("db", "upgrade")
        yield dep
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A migrated database (SQLite and, as a second parameter, a fresh PostgreSQL one) + storage root."""
    yield from _deployment(tmp_path_factory.mktemp(f"dep-{request.param}"), request.param)


@pytest.fixture(scope="module")
def sqlite_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A migrated SQLite deployment (for tests where the database engine does not matter)."""
    yield from _deployment(tmp_path_factory.mktemp("dep-sqlite"), "sqlite")


@pytest.fixture(scope="module")
def pg_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A migrated deployment on a fresh PostgreSQL database."""
    yield from _deployment(tmp_path_factory.mktemp("dep-pg"), "postgresql")


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[ApiServer]:
    """A live API server (real uvicorn) on the parametrised deployment."""
    server = ApiServer(deployment).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_server(sqlite_deployment: Deployment) -> Iterator[ApiServer]:
    """A live API server on SQLite: ``.url`` (ends in /v1), ``.deployment.create_user_token(name)``."""
    server = ApiServer(sqlite_deployment).start()
    yield server
    server.stop()
