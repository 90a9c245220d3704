"""Preparing a run directory for one submission attempt: keep the previous attempt's logs, pick the restart
file to resume from, write namelist.input for the chosen core count, render the job script."""
from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import f90nml

from orchestrator.core.config import Settings
from orchestrator.slurm.jobscript import JobSpec, compute_time_limit_minutes, render_job_script
from orchestrator.store.models import Run
from orchestrator.store.paths import run_dir
from orchestrator.wrf.headers import NETCDF_LOCK
from orchestrator.wrf.builds import build_for_version, registered_builds
from orchestrator.wrf.namelist import namelist_for

ATTEMPT_FILES = ("rsl.out.", "rsl.error.", "slurm-", "cloudrun.exit")
RESTART_PREFIX = "wrfrst_d01_"
WRF_TIME = "%Y-%m-%d_%H:%M:%S"


def archive_previous_attempt(directory: Path, attempt: int) -> None:
    """wrf.exe truncates rsl files on start: move the last attempt's logs to attempt-<n>/ first."""
    keep = directory / f"attempt-{attempt - 1}"
    moved = [p for p in directory.iterdir() if p.is_file() and p.name.startswith(ATTEMPT_FILES)]
    if not moved:
        return
    keep.mkdir(exist_ok=True)
    for path in moved:
        shutil.move(str(path), keep / path.name)


def newest_complete_restart(directory: Path) -> str | None:
    """The model time of the newest wrfrst_d01 that opens as netCDF with its Times (a file cut short by a
    dying job does not), or None."""
    import netCDF4

    candidates = sorted((p for p in directory.glob(RESTART_PREFIX + "*") if not p.name.endswith(".part")),
                        key=lambda p: p.name, reverse=True)
    for path in candidates:
        stamp = path.name[len(RESTART_PREFIX):len(RESTART_PREFIX) + 19]
        try:
            datetime.strptime(stamp, WRF_TIME)
            with NETCDF_LOCK, netCDF4.Dataset(path) as ds:
                if "Times" in ds.variables and len(ds.variables["Times"]) > 0:
                    return stamp
        except Exception:
            continue
    return None


def option_for(run: Run) -> dict[str, Any]:
    """The compute option matching the run's core count (or a one-core default)."""
    for option in run.compute_options or []:
        if option.get("cores") == run.cores:
            return option
    return {"cores": run.cores or 1, "nodes": 1, "time": 600.0}


def prepare_attempt(settings: Settings, run: Run, attempt: int) -> Path:
    """Make the run directory ready for ``attempt`` and return the job script's path."""
    directory = run_dir(settings.storage_root, run.id)
    if not directory.is_dir():
        raise FileNotFoundError(f"run directory {directory} is missing: run setup again")
    if attempt > 1:
        archive_previous_attempt(directory, attempt)
    option = option_for(run)
    restart_time = newest_complete_restart(directory) if attempt > 1 else None
    texts = (run.namelist_data or {}).get("texts", {})
    if restart_time or str(option["cores"]) not in texts:
        groups = (run.namelist_data or {}).get("groups") or f90nml.reads(run.namelist_text or "")
        text = namelist_for(groups, option, run.version, restart_time)
    else:
        text = texts[str(option["cores"])]  # rendered at setup for each offered core count
    (directory / "namelist.input").write_text(text)
    build = build_for_version(registered_builds(settings.builds_dir), run.version)
    if build is None:
        raise RuntimeError(f"no WRF {run.version} build is registered")
    c = settings.cluster
    minutes = compute_time_limit_minutes(float(option.get("time") or 600.0), c.time_safety_factor,
                                         c.partition_time_limit_s, c.min_time_limit_s)
    spec = JobSpec(run_id=run.id, attempt=attempt, ntasks=int(option["cores"]), nodes=int(option.get("nodes") or 1),
                   time_limit_minutes=minutes, run_dir=str(directory), executable=str(build.exe),
                   launch=build.launch, partition=c.partition or None, account=c.account or None,
                   qos=c.qos or None, output=f"slurm-%j.a{attempt}.out", env=dict(build.env),
                   modules=list(build.modules))
    script = directory / f"cloudrun-job.a{attempt}.sh"
    script.write_text(render_job_script(spec))
    script.chmod(0o755)
    return script
