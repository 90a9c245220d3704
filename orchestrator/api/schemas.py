"""Named schemas for /v1/openapi.json (documentation of the run object and the error shape).

Routes return prebuilt JSON (service.views) for speed; these models describe that JSON.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    code: str = Field(description="machine-readable error code, e.g. invalid_state, unsupported_version")
    message: str = Field(description="what went wrong, in words")
    details: Optional[Any] = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelInfo(BaseModel):
    name: str = "wrf"
    version: str
    domains: Optional[int] = None
    domain_shape: Optional[list[list[int]]] = Field(None, description="[z, y, x] per domain")
    dx: Optional[list[float] | float] = None
    dy: Optional[list[float] | float] = None
    dt: Optional[float] = None
    start_time: Optional[str] = None
    end_time: Optional[str] = None
    output_interval: Optional[int] = Field(None, description="history interval, minutes")


class RunError(BaseModel):
    code: str
    message: str
    details: Optional[Any] = None


class InputFileInfo(BaseModel):
    fileid: str
    filename: str
    size: int
    sha256: Optional[str] = None
    kind: Optional[str] = Field(None, description="wrfinput, wrfbdy, wrflowinp, wrffdda, namelist")
    status: str = Field(description="fetching, ready or invalid")
    details: dict[str, Any] = {}


class ComputeOption(BaseModel):
    cores: int
    nodes: int
    time: float = Field(description="estimated wall time, seconds")
    cost: float
    recommended: bool = False
    estimate_basis: Optional[str] = Field(None, description="where the speed behind time and cost comes from: the "
                                          "default cost model or runs measured on this cluster")


class JobInfo(BaseModel):
    scheduler: str = "slurm"
    job_id: Optional[str] = None
    state: Optional[str] = None
    reason: Optional[str] = None
    exit_code: Optional[str] = None
    nodes: list[str] = []
    ntasks: Optional[int] = None
    attempt: int
    submitted: Optional[str] = None
    started: Optional[str] = None
    ended: Optional[str] = None


class BuildInfo(BaseModel):
    label: str
    emulator: bool


class RunObject(BaseModel):
    id: str
    model: ModelInfo
    status: str = Field(description="created, ready, starting, active, stopped, done, error, deleted")
    error: Optional[RunError] = None
    input_files: list[InputFileInfo]
    required_input_files: list[str]
    compute_options: list[ComputeOption]
    cores: Optional[int] = None
    percent_complete: Optional[float] = None
    remaining_time: Optional[float] = None
    stalled: bool = Field(False, description="an active run whose WRF log has not grown for daemon.stalled_after_s")
    job: Optional[JobInfo] = None
    output_files: list[dict[str, Any]]
    output_size: int
    disk_usage: int
    time_created: str
    time_started: Optional[str] = None
    time_stopped: Optional[str] = None
    namelist: Optional[str] = None
    build: Optional[BuildInfo] = None
    owner: Optional[str] = None


class RunList(BaseModel):
    runs: list[RunObject]
    next_cursor: Optional[str] = Field(None, description="pass as ?cursor= to get the next page; null at the end")


class UploadResult(BaseModel):
    fileid: str
    run: RunObject


class SetupRequest(BaseModel):
    namelist: Optional[dict[str, dict[str, Any]]] = Field(
        None, description='namelist overrides by group, e.g. {"time_control": {"run_hours": 6}}')


class RunEventOut(BaseModel):
    time: str
    actor: str
    action: str
    from_status: Optional[str] = None
    to_status: Optional[str] = None
    reason: Optional[str] = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
