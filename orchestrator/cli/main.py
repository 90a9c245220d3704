"""The operator CLI `orchestrator` (typer + rich). Clear messages, non-zero exit codes on failure."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, Optional, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, select

from orchestrator.core.config import ConfigError, Settings, get_settings
from orchestrator.service import accounts
from orchestrator.service import runs as run_service
from orchestrator.service.errors import ServiceError
from orchestrator.service.views import iso, one_run_view
from orchestrator.store.db import DatabaseNotMigrated, engine_for, require_migrated, session_scope
from orchestrator.store.models import Run, User

app = typer.Typer(help="Cloudrun orchestrator: operate the WRF service on this cluster.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(runs_app, name="runs")
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> None:
    """Print an error and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def friendly(func: F) -> F:
    """Turn expected failures into one-line messages and exit codes instead of tracebacks."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), 2)
        except DatabaseNotMigrated as exc:
            fail(str(exc), 3)
        except ServiceError as exc:
            fail(exc.message, 1)
        except SQLAlchemyError as exc:
            fail(f"database error: {getattr(exc, 'orig', None) or exc}", 4)

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(config: Optional[str] = typer.Option(None, "--config", help="config file (default: CLOUDRUN_CONFIG or ./config.yaml)")) -> None:
    """Load and validate the configuration before any command runs."""
    if config:
        os.environ["CLOUDRUN_CONFIG"] = config
    get_settings.cache_clear()
    try:
        get_settings()
    except ConfigError as exc:
        fail(str(exc), 2)


def settings() -> Settings:
    """The loaded configuration."""
    return get_settings()


@contextmanager
def db_session(migrated: bool = True) -> Iterator[Session]:
    """A committed-on-success session on the configured database."""
    engine = engine_for(settings().effective_database_url)
    if migrated:
        require_migrated(engine)
    with session_scope(engine) as session:
        yield session


# ---------------------------------------------------------------- serve / daemon / reconcile


@app.command()
@friendly
def serve(host: Optional[str] = typer.Option(None, help="listen address (config api.host)"),
          port: Optional[int] = typer.Option(None, help="listen port (config api.port)")) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from orchestrator.api.app import create_app
    from orchestrator.core.logging import setup_logging

    cfg = settings()
    setup_logging(cfg.log_level)
    api = create_app(cfg)
    uvicorn.run(api, host=host or cfg.api.host, port=port or cfg.api.port, log_level=cfg.log_level.lower(),
                access_log=False)


@app.command()
@friendly
def daemon() -> None:
    """Run the daemon: carry out intents, submit to Slurm, poll jobs and WRF progress."""
    from orchestrator.core.logging import setup_logging
    from orchestrator.daemon.main import Daemon

    cfg = settings()
    setup_logging(cfg.log_level)
    Daemon(cfg).serve()


@app.command()
@friendly
def reconcile() -> None:
    """One pass of the daemon's logic (safe from cron beside a live daemon); prints what it changed."""
    from orchestrator.daemon.main import make_slurm
    from orchestrator.daemon.worker import Worker, default_owner

    cfg = settings()
    engine = engine_for(cfg.effective_database_url)
    require_migrated(engine)
    report = Worker(cfg, engine, make_slurm(cfg), owner=default_owner("reconcile")).cycle(poll=True)
    lines = report.lines()
    for line in lines:
        out.print(line, highlight=False)
    out.print(f"reconcile: {report.runs} run(s) held, {len(lines)} change(s)", highlight=False)
    if not report.scheduler_available:
        fail(f"scheduler unavailable, nothing changed: {report.message}", 5)


builds_app = typer.Typer(help="Registered WRF builds.", no_args_is_help=True)
app.add_typer(builds_app, name="builds")


@builds_app.command("list")
@friendly
def builds_list() -> None:
    """List registered builds (the emulator is labelled as such)."""
    from orchestrator.wrf.builds import load_builds

    errors: list[str] = []
    table = Table("name", "version", "label", "exe", "tables")
    for b in load_builds(settings().builds_dir, errors):
        table.add_row(b.name, b.version, b.display_label, str(b.exe), str(b.tables_dir))
    out.print(table)
    for e in errors:
        err.print(f"[yellow]bad manifest:[/] {e}", highlight=False)


@builds_app.command("check")
@friendly
def builds_check() -> None:
    """Verify every build's files (wrf.exe executable, tables directory, launch line)."""
    from orchestrator.wrf.builds import check_build, load_builds

    errors: list[str] = []
    builds = load_builds(settings().builds_dir, errors)
    bad = len(errors)
    for e in errors:
        err.print(f"[red]bad manifest:[/] {e}", highlight=False)
    for b in builds:
        problems = check_build(b)
        bad += bool(problems)
        out.print(f"{b.name} ({b.display_label}): " + ("ok" if not problems else "; ".join(problems)),
                  highlight=False)
    if not builds and not errors:
        fail(f"no builds registered in {settings().builds_dir}")
    if bad:
        raise typer.Exit(1)


@app.command("config")
@friendly
def config_get(key: str = typer.Argument(..., help="dotted key, e.g. api.port")) -> None:
    """Print one configuration value (after file and environment overrides)."""
    value: Any = settings()
    for part in key.split("."):
        if not hasattr(value, part):
            fail(f"unknown configuration key {key!r}", 2)
        value = getattr(value, part)
    sys.stdout.write(f"{value}\n")


# ---------------------------------------------------------------- users


@users_app.command("add")
@friendly
def users_add(name: str) -> None:
    """Create a user."""
    with db_session() as session:
        accounts.add_user(session, name)
    out.print(f"user {name} created")


@users_app.command("list")
@friendly
def users_list() -> None:
    """List users."""
    with db_session() as session:
        rows = session.exec(select(User).order_by(User.name)).all()
        table = Table("name", "disabled", "created")
        for u in rows:
            table.add_row(u.name, "yes" if u.disabled else "no", iso(u.created_at) or "")
    out.print(table)


@users_app.command("disable")
@friendly
def users_disable(name: str) -> None:
    """Disable a user: their tokens stop working."""
    with db_session() as session:
        accounts.set_user_disabled(session, name, True)
    out.print(f"user {name} disabled")


@users_app.command("enable")
@friendly
def users_enable(name: str) -> None:
    """Re-enable a disabled user."""
    with db_session() as session:
        accounts.set_user_disabled(session, name, False)
    out.print(f"user {name} enabled")


# ---------------------------------------------------------------- tokens


@tokens_app.command("create")
@friendly
def tokens_create(name: str) -> None:
    """Issue a token for a user. The token is printed once, alone on the last line."""
    with db_session() as session:
        token = accounts.create_token(session, name)
    out.print(f"token for {name} (shown once; store it now):", highlight=False)
    sys.stdout.write(token + "\n")


@tokens_app.command("revoke")
@friendly
def tokens_revoke(token_or_prefix: str) -> None:
    """Revoke a token (the whole token, or the prefix `tokens list` shows)."""
    with db_session() as session:
        count = accounts.revoke_token(session, token_or_prefix)
    out.print(f"revoked {count} token(s)" if count else "already revoked")


@tokens_app.command("list")
@friendly
def tokens_list() -> None:
    """List tokens by prefix (the tokens themselves are not stored)."""
    with db_session() as session:
        table = Table("prefix", "user", "created", "revoked")
        for tok, user in accounts.list_tokens(session):
            table.add_row(tok.prefix + "…", user.name, iso(tok.created_at) or "", iso(tok.revoked_at) or "")
    out.print(table)


# ---------------------------------------------------------------- runs / share


@runs_app.command("list")
@friendly
def runs_list(status: Optional[str] = typer.Option(None, help="only this status"),
              user: Optional[str] = typer.Option(None, help="only this owner"),
              limit: int = typer.Option(100, help="at most this many, newest first")) -> None:
    """List runs across all users."""
    with db_session() as session:
        query = select(Run, User).where(Run.owner_id == User.id)
        if status:
            query = query.where(Run.status == status)
        if user:
            query = query.where(User.name == user)
        rows = session.exec(query.order_by(Run.time_created.desc()).limit(limit)).all()  # type: ignore[attr-defined]
        table = Table("id", "owner", "version", "status", "cores", "progress", "created")
        for run, owner in rows:
            progress = "" if run.percent_complete is None else f"{run.percent_complete:.1f}%"
            table.add_row(run.id, owner.name, run.version, run.status, str(run.cores or ""), progress,
                          iso(run.time_created) or "")
    out.print(table)


@runs_app.command("show")
@friendly
def runs_show(run_id: str) -> None:
    """Show one run as JSON, with its event log."""
    import json

    with db_session() as session:
        run = session.get(Run, run_id)
        if run is None:
            fail(f"no run with id {run_id!r}")
        view = one_run_view(session, run)
        view["events"] = [{"time": iso(e.time), "actor": e.actor, "action": e.action, "from": e.from_status,
                           "to": e.to_status, "reason": e.reason} for e in run_service.events_of(session, run_id)]
    out.print_json(json.dumps(view))


@app.command()
@friendly
def share(run_id: str, user: str) -> None:
    """Share a run read-only with another user."""
    with db_session() as session:
        accounts.share_run(session, run_id, user)
    out.print(f"run {run_id} shared with {user}")


# ---------------------------------------------------------------- db / maintenance


@db_app.command("upgrade")
@friendly
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or migrate the schema."""
    from orchestrator.store.db import upgrade

    url = settings().effective_database_url
    upgrade(url, revision)
    out.print(f"database at revision {revision}")


@db_app.command("downgrade")
@friendly
def db_downgrade(revision: str = typer.Argument(..., help="target revision, or 'base' for an empty schema")) -> None:
    """Revert the schema to an older revision."""
    from orchestrator.store.db import downgrade

    downgrade(settings().effective_database_url, revision)
    out.print(f"database at revision {revision}")


@db_app.command("current")
@friendly
def db_current() -> None:
    """Print the schema revision of the database and the one the code needs."""
    from orchestrator.store.db import current_revision, head_revision

    current = current_revision(engine_for(settings().effective_database_url))
    out.print(f"database: {current or 'empty'}; code needs: {head_revision()}")


@app.command()
@friendly
def maintenance(state: str = typer.Argument(..., help="on, off or status")) -> None:
    """Maintenance mode: the API answers changes with 503 (reads keep working)."""
    flag = settings().maintenance_path
    if state == "on":
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("maintenance\n")
        out.print("maintenance mode ON: mutating API calls get 503")
    elif state == "off":
        flag.unlink(missing_ok=True)
        out.print("maintenance mode OFF")
    elif state == "status":
        out.print("on" if flag.exists() else "off")
    else:
        fail(f"unknown state {state!r}: use on, off or status", 2)


if __name__ == "__main__":
    app()
