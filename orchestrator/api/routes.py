"""The /v1 HTTP routes of the seed API reference. Thin: parse, call the service, serialise."""
from __future__ import annotations

import json
import shutil
from typing import Any, Optional

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from orchestrator.api.deps import current_user, get_session, get_settings_dep
from orchestrator.api.upload_stream import receive_multipart_file
from orchestrator.api.schemas import (ERROR_RESPONSES, RunEventOut, RunList, RunObject, SetupRequest,
                                      UploadResult)
from orchestrator.core.config import Settings
from orchestrator.service import inputs as input_service
from orchestrator.service import runs as run_service
from orchestrator.service import setup as setup_service
from orchestrator.service.errors import BadRequest
from orchestrator.service.wake import notify_daemon
from orchestrator.service.views import iso, one_run_view, page_json
from orchestrator.store.db import session_scope
from orchestrator.store.models import User

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def json_response(payload: Any, status: int = 200) -> Response:
    """Serialise once, without response-model validation (the views already have the documented shape)."""
    return Response(json.dumps(payload, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json")


@router.get("/wrf", response_model=RunList, summary="Get all WRF runs")
def list_runs(request: Request, status: Optional[str] = Query(None, description="only runs in this status"),
              limit: Optional[int] = Query(None, ge=1, description="page size"),
              cursor: Optional[str] = Query(None, description="next_cursor of the previous page"),
              session: Session = Depends(get_session),
              settings: Settings = Depends(get_settings_dep)) -> Response:
    """Runs you own or that are shared with you, newest first."""
    user = current_user(request, session)
    size = min(limit or settings.api.page_size_default, settings.api.page_size_max)
    page = run_service.list_runs(session, user, status=status, limit=size, cursor=cursor)
    body = page_json(session, page.runs, page.next_cursor)
    session.commit()  # keeps any run object computed for this page
    return Response(body, media_type="application/json")


@router.post("/wrf", response_model=RunObject, status_code=201, summary="Create a new run")
def create_run(request: Request, version: Optional[str] = Form(None, description="WRF version: 3.8.1 or 3.9"),
               model: Optional[str] = Form(None, description="model name (only 'wrf')"),
               session: Session = Depends(get_session)) -> Response:
    """Create a run in status ``created``."""
    user = current_user(request, session)
    run = run_service.create_run(session, user, model, version)
    session.commit()
    return json_response(one_run_view(session, run), 201)


@router.get("/wrf/{run_id}", response_model=RunObject, summary="Get a specific WRF run")
def get_run(request: Request, run_id: str, session: Session = Depends(get_session)) -> Response:
    """One run you own or that is shared with you."""
    user = current_user(request, session)
    return json_response(one_run_view(session, run_service.load_run(session, user, run_id)))


@router.get("/wrf/{run_id}/events", response_model=list[RunEventOut], summary="A run's event log")
def get_events(request: Request, run_id: str, session: Session = Depends(get_session)) -> Response:
    """Every state change of the run, oldest first."""
    user = current_user(request, session)
    run_service.load_run(session, user, run_id)
    return json_response([{"time": iso(e.time), "actor": e.actor, "action": e.action, "from_status": e.from_status,
                           "to_status": e.to_status, "reason": e.reason}
                          for e in run_service.events_of(session, run_id)])


@router.post("/wrf/{run_id}/upload", response_model=UploadResult, status_code=201, summary="Upload input file",
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file"],
                 "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
async def upload(run_id: str, request: Request, settings: Settings = Depends(get_settings_dep)) -> Response:
    """Stream a multipart ``file`` to disk (never whole in memory) and validate it from its header."""
    engine = request.app.state.engine
    authorization = request.headers.get("authorization")

    def precheck() -> tuple[User, str, str]:
        with session_scope(engine) as session:
            return input_service.precheck_upload(session, authorization, run_id)

    user, checked_id, version = await run_in_threadpool(precheck)
    staging = await run_in_threadpool(input_service.upload_staging, settings, checked_id)
    try:
        received = await receive_multipart_file(request, staging, settings.uploads.max_file_bytes)
        judged = await run_in_threadpool(input_service.judge_upload, received, version)

        def register() -> dict[str, Any]:
            with session_scope(engine) as session:
                fileid, run = input_service.register_upload(session, settings, user, checked_id, received, judged)
                session.commit()
                return {"fileid": fileid, "run": one_run_view(session, run)}

        return json_response(await run_in_threadpool(register), 201)
    finally:
        await run_in_threadpool(shutil.rmtree, staging, True)


@router.post("/wrf/{run_id}/upload_url", response_model=UploadResult, status_code=202,
             summary="Upload input file by URL")
def upload_url(request: Request, run_id: str, url: Optional[str] = Form(None, description="http(s), ftp or s3 URL"),
               session: Session = Depends(get_session),
               settings: Settings = Depends(get_settings_dep)) -> Response:
    """Accept the URL at once; the fetch runs in the background (file status ``fetching``)."""
    user = current_user(request, session)
    if not url:
        raise BadRequest("missing form field 'url'", code="missing_url")
    fileid, run, job = input_service.begin_fetch(session, settings, user, run_id, url)
    session.commit()
    body = {"fileid": fileid, "run": one_run_view(session, run)}
    request.app.state.fetcher.submit(job)
    return json_response(body, 202)


@router.post("/wrf/{run_id}/setup", response_model=RunObject, summary="Setup your WRF run")
def setup(request: Request, run_id: str, body: Optional[SetupRequest] = Body(None),
          session: Session = Depends(get_session),
          settings: Settings = Depends(get_settings_dep)) -> Response:
    """Validate every input, render namelist.input, stage the run directory, offer compute options."""
    user = current_user(request, session)
    overrides = body.namelist if body else None
    run = setup_service.setup_run(session, settings, user, run_id, overrides)
    session.commit()
    return json_response(one_run_view(session, run))


@router.post("/wrf/{run_id}/start", response_model=RunObject, status_code=202, summary="Start your WRF run")
def start(request: Request, run_id: str, cores: Optional[str] = Form(None, description="one of the offered compute options"),
          session: Session = Depends(get_session),
          settings: Settings = Depends(get_settings_dep)) -> Response:
    """Record the start; the daemon submits the Slurm job."""
    user = current_user(request, session)
    core_count: int | None = None
    if cores is not None and cores.strip():
        if not cores.strip().isdigit():
            raise BadRequest(f"cores must be a whole number, got {cores!r}", code="bad_cores")
        core_count = int(cores.strip())
    run = run_service.load_run(session, user, run_id, write=True)
    run_service.start_run(session, user, run, core_count)
    session.commit()
    notify_daemon(settings)
    return json_response(one_run_view(session, run), 202)


@router.post("/wrf/{run_id}/stop", response_model=RunObject, status_code=202, summary="Stop your WRF run")
def stop(request: Request, run_id: str, session: Session = Depends(get_session),
         settings: Settings = Depends(get_settings_dep)) -> Response:
    """Cancel the run's job; the run becomes ``stopped`` when Slurm confirms."""
    user = current_user(request, session)
    run = run_service.load_run(session, user, run_id, write=True)
    run_service.stop_run(session, user, run)
    session.commit()
    notify_daemon(settings)
    return json_response(one_run_view(session, run), 202)


@router.delete("/wrf/{run_id}", response_model=RunObject, summary="Delete your WRF run")
def delete(request: Request, run_id: str, session: Session = Depends(get_session),
           settings: Settings = Depends(get_settings_dep)) -> Response:
    """Cancel any job, remove the run's files, keep its metadata (status ``deleted``)."""
    user = current_user(request, session)
    run = run_service.load_run(session, user, run_id, write=True)
    run, remove_now = run_service.delete_run(session, user, run)
    session.commit()
    notify_daemon(settings)
    if remove_now:
        input_service.remove_files(settings, run.id)
    return json_response(one_run_view(session, run))
