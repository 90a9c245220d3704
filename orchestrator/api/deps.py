"""FastAPI dependencies: settings, database session, the authenticated user."""
from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.core.config import Settings
from orchestrator.service import accounts
from orchestrator.store.models import User


async def get_settings_dep(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


async def get_session(engine: Engine = Depends(get_engine)) -> AsyncIterator[Session]:
    """One session per request. Async on purpose: creating it does no I/O, and each sync dependency would
    cost a thread hop. Routes commit explicitly; whatever is left uncommitted is rolled back on close."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


def current_user(request: Request, session: Session) -> User:
    """The user behind the bearer token (401 otherwise). Called at the top of each route, inside the route's
    own worker thread, rather than as a sync dependency with a thread hop of its own."""
    return accounts.authenticate(session, request.headers.get("authorization"))
