"""FastAPI dependencies: settings, database session, the authenticated user."""
from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.core.config import Settings
from orchestrator.service import accounts
from orchestrator.store.models import User


def get_settings_dep(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


def get_session(engine: Engine = Depends(get_engine)) -> Iterator[Session]:
    """One session per request, committed when the route returns without error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def current_user(request: Request, session: Session = Depends(get_session)) -> User:
    """The user behind the bearer token (401 otherwise)."""
    return accounts.authenticate(session, request.headers.get("authorization"))
