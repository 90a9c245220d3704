"""Helpers for tests/test_emulator.py: run the Cloudrun WRF emulator under Open MPI in a run directory."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import f90nml
import netCDF4

from orchestrator.wrf.rsl import RslState, parse_rsl_chunk
from tests.factory import make_wrfinput

REPO = Path(__file__).resolve().parents[1]
EXE = REPO / "wrf_builds" / "emulator" / "wrf.exe"
MPIRUN = shutil.which("mpirun")

IDEAL_START = "0001-01-01_00:00:00"


def base_namelist(start: str = IDEAL_START, minutes: int = 2, **groups: dict) -> dict:
    """An em_quarter_ss-like namelist: 12 s steps, wrfout every minute, wrfrst every minute."""
    y, mo, d = (int(x) for x in start[:10].split("-"))
    h, mi, s = (int(x) for x in start[11:].split(":"))
    nml = {
        "time_control": {"run_days": 0, "run_hours": 0, "run_minutes": minutes, "run_seconds": 0,
                         "start_year": y, "start_month": mo, "start_day": d, "start_hour": h, "start_minute": mi,
                         "start_second": s, "end_year": y, "end_month": mo, "end_day": d, "end_hour": h,
                         "end_minute": mi + minutes, "end_second": s, "interval_seconds": 21600,
                         "history_interval": 1, "frames_per_outfile": 1000, "restart": False,
                         "restart_interval": 1, "io_form_history": 2, "io_form_restart": 2, "io_form_input": 2,
                         "io_form_boundary": 2, "debug_level": 0},
        "domains": {"time_step": 12, "max_dom": 1, "e_we": 42, "e_sn": 42, "e_vert": 41, "dx": 2000.0,
                    "dy": 2000.0, "grid_id": 1, "parent_id": 0, "i_parent_start": 0, "j_parent_start": 0,
                    "parent_grid_ratio": 1, "parent_time_step_ratio": 1},
        "physics": {"mp_physics": 1, "ra_lw_physics": 0, "ra_sw_physics": 0, "sf_sfclay_physics": 0,
                    "sf_surface_physics": 0, "bl_pbl_physics": 0, "cu_physics": 0, "num_land_cat": 21},
        "dynamics": {"diff_opt": 2, "km_opt": 2, "gwd_opt": 0},
        "bdy_control": {"open_xs": True, "open_xe": True, "open_ys": True, "open_ye": True},
        "namelist_quilt": {"nio_tasks_per_group": 0, "nio_groups": 1},
    }
    for group, values in groups.items():
        nml.setdefault(group, {}).update(values)
    return nml


def write_namelist(d: Path, nml: dict) -> None:
    f90nml.Namelist(nml).write(d / "namelist.input", force=True)


@dataclass
class Run:
    """One emulator run: mpirun's exit status, the run directory, each rank's rsl texts and parsed states."""

    rc: int
    dir: Path
    err: list[str]
    out: list[str]
    states: list[RslState]


def run_emulator(d: Path, version: str | None = "3.9", n: int = 2, env: dict | None = None, timeout: int = 60) -> Run:
    """mpirun -n 2 wrf.exe in ``d`` (as srun would start it in the run directory)."""
    full = dict(os.environ, OMPI_MCA_btl="self,tcp", OMPI_MCA_btl_tcp_if_include="lo",
                CLOUDRUN_EMULATOR_STEP_SECONDS="0.01", CLOUDRUN_EMULATOR_WRF_VERSION=version or "")
    full.pop("CLOUDRUN_EMULATOR_FAIL", None)
    full.update(env or {})
    proc = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", str(n), str(EXE)], cwd=d,
                          env=full, capture_output=True, timeout=timeout)
    err = [(d / f"rsl.error.{r:04d}").read_text() if (d / f"rsl.error.{r:04d}").exists() else "" for r in range(n)]
    out = [(d / f"rsl.out.{r:04d}").read_text() if (d / f"rsl.out.{r:04d}").exists() else "" for r in range(n)]
    return Run(proc.returncode, d, err, out, [parse_rsl_chunk(t) for t in err])


def ideal_case(d: Path, version: str = "3.9", nml: dict | None = None, **wrfinput: object) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    make_wrfinput(d / "wrfinput_d01", version=version, **wrfinput)
    write_namelist(d, nml or base_namelist())
    return d


def times_of(path: Path) -> list[str]:
    with netCDF4.Dataset(path) as ds:
        return [str(t) for t in netCDF4.chartostring(ds["Times"][:])]


def link_tables(d: Path, skip: tuple[str, ...] = ()) -> None:
    """What run-directory staging does: link the build's static tables into the run directory."""
    for table in (REPO / "wrf_builds" / "emulator" / "run").iterdir():
        if table.name not in skip:
            (d / table.name).symlink_to(table)
