"""Database tables (SQLModel). Only the service layer and the daemon write these rows.

Runs hold their user-visible state; each Slurm submission attempt is a ``Job`` row (unique per run and
attempt) so that exactly-once submission can be proven from the database; every status change appends a
``RunEvent`` (never updated or deleted).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now in UTC (SQLModel stores aware datetimes and returns them in UTC)."""
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=64)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(unique=True, max_length=64)  # sha256 hex of the token; the token itself is never stored
    prefix: str = Field(max_length=16)  # first characters, to tell tokens apart in listings
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: Optional[datetime] = None


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_owner_created", "owner_id", "time_created", "id"),)
    id: str = Field(primary_key=True, max_length=32)
    owner_id: int = Field(foreign_key="users.id", index=True)
    model_name: str = Field(default="wrf", max_length=16)
    version: str = Field(max_length=16)
    status: str = Field(default="created", max_length=16, index=True)
    error: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    model_info: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    compute_options: Optional[list[dict[str, Any]]] = Field(default=None, sa_column=Column(JSON))
    namelist_text: Optional[str] = Field(default=None, sa_column=Column(Text))
    namelist_overrides: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    namelist_data: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))  # parsed form of namelist_text
    build_label: Optional[str] = Field(default=None, max_length=64)
    build_emulator: Optional[bool] = None
    cores: Optional[int] = None
    percent_complete: Optional[float] = None
    remaining_time: Optional[float] = None
    progress: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))  # rsl offsets, speed, stalled
    intent: Optional[str] = Field(default=None, max_length=16, index=True)  # start / stop / delete, for the daemon
    intent_cores: Optional[int] = None
    attempt: int = 0
    retries: int = 0
    output_files: Optional[list[dict[str, Any]]] = Field(default=None, sa_column=Column(JSON))
    output_size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    disk_usage: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    lease_owner: Optional[str] = Field(default=None, max_length=64)
    lease_until: Optional[datetime] = None
    # The run object as JSON, refreshed in the same transaction as any change to the run, its files or jobs
    # (orchestrator.service.views); listings serve it as is instead of rebuilding 50 objects per page.
    view_json: Optional[str] = Field(default=None, sa_column=Column(Text))
    time_created: datetime = Field(default_factory=utcnow)
    time_started: Optional[datetime] = None
    time_stopped: Optional[datetime] = None
    updated_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """One Slurm submission attempt of a run. ``submit_state``: submitting → submitted (or failed)."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("run_id", "attempt", name="uq_jobs_run_attempt"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    attempt: int
    job_name: str = Field(max_length=128, index=True)
    submit_state: str = Field(default="submitting", max_length=16)
    job_id: Optional[str] = Field(default=None, max_length=32, index=True)
    state: Optional[str] = Field(default=None, max_length=32)
    reason: Optional[str] = Field(default=None, max_length=256)
    exit_code: Optional[str] = Field(default=None, max_length=16)
    nodes: Optional[list[str]] = Field(default=None, sa_column=Column(JSON))
    ntasks: Optional[int] = None
    misses: int = 0
    restart_from: Optional[str] = Field(default=None, max_length=32)
    submitted: Optional[datetime] = None
    started: Optional[datetime] = None
    ended: Optional[datetime] = None
    # What this attempt measured, when it finished the run: wall seconds per grid-point step on one core
    # (the cost model's constant, see wrf/decomposition.py); setup takes the median of recent ones.
    seconds_per_point_step: Optional[float] = None
    created_at: datetime = Field(default_factory=utcnow)


class InputFile(SQLModel, table=True):
    __tablename__ = "input_files"
    __table_args__ = (UniqueConstraint("run_id", "filename", name="uq_input_files_run_filename"),)
    id: str = Field(primary_key=True, max_length=32)  # the fileid shown to users
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    filename: str = Field(max_length=255)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    sha256: Optional[str] = Field(default=None, max_length=64)
    kind: Optional[str] = Field(default=None, max_length=16)
    status: str = Field(default="ready", max_length=16)  # fetching / ready / invalid
    details: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    source_url: Optional[str] = Field(default=None, sa_column=Column(Text))
    bytes_done: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Share(SQLModel, table=True):
    __tablename__ = "shares"
    __table_args__ = (UniqueConstraint("run_id", "user_id", name="uq_shares_run_user"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class RunEvent(SQLModel, table=True):
    """Append-only log: every state change of a run, with time, actor and reason."""

    __tablename__ = "run_events"
    id: Optional[int] = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True, max_length=32)
    time: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=64)  # "user:alice", "daemon:<host>:<pid>", "cli", "reconcile"
    action: str = Field(max_length=32)
    from_status: Optional[str] = Field(default=None, max_length=16)
    to_status: Optional[str] = Field(default=None, max_length=16)
    reason: Optional[str] = Field(default=None, sa_column=Column(Text))


class SchedulerHealth(SQLModel, table=True):
    """What the daemon last learned about the scheduler (one row per cluster); /readyz shows it."""

    __tablename__ = "scheduler_health"
    cluster: str = Field(primary_key=True, max_length=64)
    available: bool = True
    message: Optional[str] = Field(default=None, sa_column=Column(Text))
    since: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
