"""The FastAPI application: routes under /v1, health probes, error shape, guard middleware."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from orchestrator.api.errors import install_error_handlers
from orchestrator.api.guard import GuardMiddleware, TokenBuckets
from orchestrator.api.routes import router
from orchestrator.core.config import Settings
from orchestrator.service.inputs import BackgroundFetcher, fail_interrupted_fetches
from orchestrator.service.status import scheduler_status
from orchestrator.store.db import engine_for, require_migrated

log = logging.getLogger("orchestrator.api")


def create_app(settings: Settings, *, check_migrations: bool = True) -> FastAPI:
    """Build the API for ``settings``; refuses an unmigrated database (DatabaseNotMigrated)."""
    engine = engine_for(settings.effective_database_url)
    if check_migrations:
        require_migrated(engine)
    settings.storage_root.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fail_interrupted_fetches(engine, older_than_s=settings.uploads.fetch_read_timeout * 2)
        yield
        app.state.fetcher.shutdown()

    app = FastAPI(title="Cloudrun API", version="1.0", openapi_url="/v1/openapi.json", docs_url="/v1/docs",
                  redoc_url=None, lifespan=lifespan, redirect_slashes=False,
                  description="WRF runs as a service. Authenticate with `Authorization: Bearer <token>`.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.fetcher = BackgroundFetcher(settings, engine)
    install_error_handlers(app)
    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["scheduler"] = scheduler_status(engine)
        ready = checks["database"] == "ok"
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)

    buckets = TokenBuckets(settings.api.rate_limit_per_minute, settings.api.rate_limit_burst) \
        if settings.api.rate_limit_per_minute else None
    app.add_middleware(GuardMiddleware, buckets=buckets, maintenance_path=settings.maintenance_path,
                       max_form_bytes=settings.api.max_form_bytes)
    return app
