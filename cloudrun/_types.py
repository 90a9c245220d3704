"""Typed shapes of the nested parts of the run object (plain dicts at runtime; for IDEs and type checkers)."""

from __future__ import annotations

from typing import Any, TypedDict


class ModelInfo(TypedDict, total=False):
    """``run.model``: filled in by setup from the inputs and the namelist."""

    name: str
    version: str
    domains: int | None
    domain_shape: list[list[int]] | None
    dx: float | None
    dy: float | None
    dt: float | None
    start_time: str | None
    end_time: str | None
    output_interval: Any


class RunErrorInfo(TypedDict, total=False):
    """``run.error``: why the run failed (``code`` is machine-readable, e.g. ``cfl``, ``wrf_fatal``)."""

    code: str
    message: str
    details: Any


class InputFile(TypedDict, total=False):
    """One entry of ``run.input_files``; ``status`` is ``fetching``, ``ready`` or ``invalid``."""

    fileid: str
    filename: str
    size: int | None
    sha256: str | None
    kind: str | None
    status: str
    details: Any


class ComputeOption(TypedDict, total=False):
    """One entry of ``run.compute_options``: a feasible core count with estimated wall time (s) and cost."""

    cores: int
    nodes: int
    time: float
    cost: float
    recommended: bool
    estimate_basis: str  # the default cost model, or runs measured on this cluster


class JobInfo(TypedDict, total=False):
    """``run.job``: the raw scheduler (Slurm) view of the run's current job."""

    scheduler: str
    job_id: str | None
    state: str | None
    reason: str | None
    exit_code: Any
    nodes: Any
    ntasks: int | None
    attempt: int | None
    submitted: str | None
    started: str | None
    ended: str | None


class BuildInfo(TypedDict, total=False):
    """``run.build``: which registered WRF build runs this run (``emulator`` true for the test emulator)."""

    label: str
    emulator: bool
