"""The cost model refined by measured runs: the measurement of one finished attempt (pure), the median rule
(pure), and the newest measurements of a version read back from a real database (SQLite and PostgreSQL, through
the shared ``deployment`` fixture)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from orchestrator.core.config import load_settings
from orchestrator.service import calibration
from orchestrator.store.db import make_engine
from orchestrator.store.models import Job, Run, User
from orchestrator.wrf.decomposition import (
    ClusterShape, CostModel, calibrated, compute_options, measured_seconds_per_point_step, point_steps)
from tests.servers import Deployment

GRID = [(201, 201, 41)]  # ~200x200, 40 levels
BIG = ClusterShape(cores_per_node=8, memory_per_node_mb=10**9, max_nodes=4, partition_time_limit_s=10**9)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_point_steps_by_hand() -> None:
    # 6 model hours at dt 60 s = 360 d01 steps; d01 201x201x41 points, a nest 100x100x41 taking 3 steps per d01 step
    assert point_steps(GRID, 6 * 3600, 60.0) == 360 * 201 * 201 * 41
    assert point_steps(GRID + [(100, 100, 41)], 6 * 3600, 60.0, [1, 3]) == 360 * (201 * 201 * 41 + 3 * 100 * 100 * 41)


@pytest.mark.parametrize("cores", [1, 4, 8, 16])
def test_measurement_inverts_the_estimate(cores: int) -> None:
    # a run that took exactly what the model predicted measures the model's own constant back
    cost = CostModel(seconds_per_point_step=3.7e-6)
    option = {o.cores: o for o in compute_options(GRID, 6 * 3600, 60.0, BIG, cost)}[cores]
    measured = measured_seconds_per_point_step(GRID, 6 * 3600, 60.0, cores, option.time, cost)
    assert measured == pytest.approx(3.7e-6, rel=1e-3)  # option.time is rounded to the millisecond
    # twice the wall time means half the speed
    assert measured_seconds_per_point_step(GRID, 6 * 3600, 60.0, cores, 2 * option.time, cost) == \
        pytest.approx(7.4e-6, rel=1e-3)


def test_nothing_to_learn_from_an_empty_attempt() -> None:
    assert measured_seconds_per_point_step(GRID, 0, 60.0, 4, 100.0, CostModel()) is None
    assert measured_seconds_per_point_step(GRID, 3600, 60.0, 4, 0.0, CostModel()) is None


def test_median_replaces_the_default_once_there_are_enough_runs() -> None:
    cost = CostModel(seconds_per_point_step=2e-6)
    same, basis = calibrated(cost, [1e-6, 3e-6], 3)
    assert same == cost and "default" in basis and "2 measured run(s)" in basis and "3 needed" in basis
    odd, basis = calibrated(cost, [5e-6, 1e-6, 3e-6], 3)
    assert odd.seconds_per_point_step == 3e-6 and odd.parallel_alpha == cost.parallel_alpha
    assert "measured on this cluster" in basis and "3 finished run(s)" in basis
    even, _ = calibrated(cost, [1e-6, 3e-6, 4e-6, 100e-6], 3)  # one outlier does not drag the median
    assert even.seconds_per_point_step == pytest.approx(3.5e-6)
    off, basis = calibrated(cost, [1e-6] * 10, 0)
    assert off == cost and "default" in basis


def _run(run_id: str, version: str, owner: int) -> Run:
    return Run(id=run_id, owner_id=owner, model_name="wrf", version=version, status="done", cores=4,
               model_info={"domain_shape": [[40, 200, 200]], "dt": 60, "start_time": "2026-01-01T00:00:00Z",
                           "end_time": "2026-01-01T06:00:00Z"})


def _job(run_id: str, attempt: int, wall_s: float, ended_at: int) -> Job:
    ended = T0 + timedelta(hours=ended_at)
    return Job(run_id=run_id, attempt=attempt, job_name=f"cr-{run_id}-{attempt}", submit_state="submitted",
               job_id=str(ended_at), ntasks=4, started=ended - timedelta(seconds=wall_s), ended=ended)


def test_measure_attempt_reads_the_run_and_its_job() -> None:
    cost = CostModel()
    run, job = _run("r1", "3.9", 1), _job("r1", 1, 600.0, 1)
    expected = measured_seconds_per_point_step(GRID, 6 * 3600, 60.0, 4, 600.0, cost)
    assert calibration.measure_attempt(run, job, cost) == pytest.approx(expected)
    assert calibration.measure_attempt(run, _job("r1", 2, 600.0, 1), cost) is None  # a retry: no clean sample
    assert calibration.measure_attempt(run, Job(run_id="r1", attempt=1, job_name="x"), cost) is None  # no times


def test_newest_measurements_of_the_version_are_used(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in deployment.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLOUDRUN_COST_CALIBRATION_WINDOW", "3")
    settings = load_settings()
    engine = make_engine(deployment.database_url)
    try:
        with Session(engine) as session:
            user = User(name="cal")
            session.add(user)
            session.flush()
            for i, (version, value) in enumerate([("3.9", 9e-6), ("3.9", 1e-6), ("3.9", 2e-6), ("3.9", 4e-6),
                                                  ("3.8.1", 50e-6)]):
                session.add(_run(f"r{i}", version, user.id))  # type: ignore[arg-type]
                session.flush()
                job = _job(f"r{i}", 1, 600.0, i)
                job.seconds_per_point_step = value
                session.add(job)
            session.add(_run("r9", "3.9", user.id))  # type: ignore[arg-type]
            session.flush()
            session.add(_job("r9", 1, 600.0, 9))  # finished but not measured: ignored
            session.commit()
            # newest first, this version only, unmeasured ones skipped, the window respected
            assert calibration.recent_samples(session, "3.9", 3) == [4e-6, 2e-6, 1e-6]
            cost, basis = calibration.cost_model_for(session, settings, "3.9")
            assert cost.seconds_per_point_step == 2e-6 and "median of the last 3" in basis
            cost, basis = calibration.cost_model_for(session, settings, "3.8.1")  # one run: not enough yet
            assert cost.seconds_per_point_step == settings.cost.seconds_per_point_step and "default" in basis
    finally:
        engine.dispose()
