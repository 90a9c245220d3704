"""The cost model refined by measured runs on this cluster (DESIGN §4 "Decomposition and compute options").

When a run finishes in a single attempt, the daemon records on that attempt the seconds per grid-point step
it implies (``wrf.decomposition.measured_seconds_per_point_step``: the estimate's formula solved for its
constant, with Slurm's start and end times as the wall time). Setup then estimates wall time and cost with the
median of the newest such measurements for the run's WRF version, once there are enough of them. Retried
attempts are not measured: they start from a restart file, possibly with a smaller time step, so their model
span is not the run's.
"""
from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from orchestrator.core.config import Settings
from orchestrator.service.outcome import parse_time
from orchestrator.store.models import Job, Run
from orchestrator.wrf.decomposition import CostModel, calibrated, measured_seconds_per_point_step


def cost_model(settings: Settings) -> CostModel:
    """The configured cost model (config ``cost``)."""
    c = settings.cost
    return CostModel(c.seconds_per_point_step, c.parallel_alpha, c.price_per_core_hour)


def domains_of(model_info: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(e_we, e_sn, e_vert) per domain from the run's model info (which stores mass-point counts, z-y-x)."""
    return [(x + 1, y + 1, z + 1) for z, y, x in model_info["domain_shape"]]


def run_seconds_of(model_info: dict[str, Any]) -> float:
    """Model seconds from the run's start to its end."""
    return (parse_time(model_info["end_time"]) - parse_time(model_info["start_time"])).total_seconds()


def measure_attempt(run: Run, job: Job, cost: CostModel) -> float | None:
    """The seconds per grid-point step a finished first attempt measured, or None when it is no clean sample."""
    info = run.model_info or {}
    cores = job.ntasks or run.cores
    if job.attempt != 1 or not cores or job.started is None or job.ended is None or "domain_shape" not in info:
        return None
    wall = (job.ended - job.started).total_seconds()
    return measured_seconds_per_point_step(domains_of(info), run_seconds_of(info), float(info["dt"]), int(cores),
                                           wall, cost)


def recent_samples(session: Session, version: str, window: int) -> list[float]:
    """The newest ``window`` measurements of runs of this WRF version, newest first."""
    rows = session.exec(
        select(Job.seconds_per_point_step).join(Run, Run.id == Job.run_id)  # type: ignore[arg-type]
        .where(Run.version == version, Job.seconds_per_point_step.is_not(None))  # type: ignore[union-attr]
        .order_by(Job.ended.desc()).limit(window)  # type: ignore[union-attr]
    ).all()
    return [float(v) for v in rows]


def cost_model_for(session: Session, settings: Settings, version: str) -> tuple[CostModel, str]:
    """The cost model setup uses for this version, and a sentence saying where its speed constant came from."""
    c = settings.cost
    samples = recent_samples(session, version, c.calibration_window) if c.calibration_min_runs else []
    return calibrated(cost_model(settings), samples, c.calibration_min_runs)
