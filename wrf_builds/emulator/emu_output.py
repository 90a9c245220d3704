"""Cloudrun WRF emulator: small wrfout / wrfrst netCDF files (CDF-2, like wrf.exe's io_form 2).

Fields are synthetic and deterministic: a smooth pattern whose phase is a hash of (input digest,
domain, time), so the same inputs give identical files and a restarted run continues exactly.
Every file says it is emulator output (global attribute CLOUDRUN_EMULATOR). Files are written to a
temporary name and renamed, so a reader never sees a half-written file from a clean run.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from datetime import datetime


EMULATOR_NOTE = ("Written by the Cloudrun WRF emulator, a stand-in for wrf.exe: NOT WRF output, "
                 "the fields are synthetic")


@dataclass
class Grid:
    """What a domain's output needs: staggered dims as in the namelist, spacing, identity."""

    domain: int
    e_we: int
    e_sn: int
    e_vert: int
    dx: float
    dy: float
    time_step: float
    seed: str
    version: str
    sim_start: str
    init_type: str = "IDEALIZED DATA"
    num_land_cat: int = 21


def fields(grid: Grid, time: str):
    """(T2, U10) on the mass grid for one time: a function of seed, domain and time only."""
    import numpy as np
    digest = hashlib.sha256(f"{grid.seed}|{grid.domain}|{time}".encode()).digest()
    phase = int.from_bytes(digest[:4], "big") / 2**32 * 2 * math.pi
    amp = 1.0 + digest[4] / 255.0
    ny, nx = max(grid.e_sn - 1, 1), max(grid.e_we - 1, 1)
    j, i = np.mgrid[0:ny, 0:nx].astype(np.float64)
    t2 = 285.0 + 5.0 * amp * np.sin(0.31 * i + phase) * np.cos(0.17 * j + 0.5 * phase)
    u10 = 3.0 * amp * np.cos(0.23 * i - 0.11 * j + phase)
    return t2.astype(np.float32), u10.astype(np.float32)


def _attrs(ds, grid: Grid, start: str) -> None:
    import numpy as np
    ds.setncattr("TITLE", f" OUTPUT FROM WRF V{grid.version} MODEL")
    ds.setncattr("CLOUDRUN_EMULATOR", EMULATOR_NOTE)
    ds.setncattr("CLOUDRUN_EMULATOR_SEED", grid.seed)
    ds.setncattr("START_DATE", start)
    ds.setncattr("SIMULATION_START_DATE", grid.sim_start)
    ds.setncattr("WEST-EAST_GRID_DIMENSION", np.int32(grid.e_we))
    ds.setncattr("SOUTH-NORTH_GRID_DIMENSION", np.int32(grid.e_sn))
    ds.setncattr("BOTTOM-TOP_GRID_DIMENSION", np.int32(grid.e_vert))
    ds.setncattr("DX", np.float32(grid.dx))
    ds.setncattr("DY", np.float32(grid.dy))
    ds.setncattr("DT", np.float32(grid.time_step))
    ds.setncattr("GRID_ID", np.int32(grid.domain))
    ds.setncattr("NUM_LAND_CAT", np.int32(grid.num_land_cat))
    ds.setncattr("SIMULATION_INITIALIZATION_TYPE", grid.init_type)


def _write(path: str, grid: Grid, times: list[str], start: str) -> None:
    import netCDF4  # monitor rank only (see emu_checks.read_header)
    import numpy as np
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.tmp{os.getpid()}")
    ds = netCDF4.Dataset(tmp, "w", format="NETCDF3_64BIT_OFFSET")
    try:
        ds.createDimension("Time", None)
        ds.createDimension("DateStrLen", 19)
        ds.createDimension("west_east", max(grid.e_we - 1, 1))
        ds.createDimension("south_north", max(grid.e_sn - 1, 1))
        ds.createDimension("bottom_top", max(grid.e_vert - 1, 1))
        t = ds.createVariable("Times", "S1", ("Time", "DateStrLen"))
        xtime = ds.createVariable("XTIME", "f4", ("Time",))
        xtime.setncattr("units", f"minutes since {grid.sim_start.replace('_', ' ')}")
        xtime.setncattr("description", "minutes since simulation start")
        out = {}
        for name, desc, units in (("T2", "TEMP at 2 M", "K"), ("U10", "U at 10 M", "m s-1")):
            v = ds.createVariable(name, "f4", ("Time", "south_north", "west_east"))
            for key, val in (("FieldType", np.int32(104)), ("MemoryOrder", "XY "), ("description", desc),
                             ("units", units), ("stagger", ""), ("coordinates", "XLONG XLAT XTIME")):
                v.setncattr(key, val)
            out[name] = v
        _attrs(ds, grid, start)
        for n, time in enumerate(times):
            t[n, :] = netCDF4.stringtochar(np.array([time], dtype="S19"))[0]
            xtime[n] = (_dt(time) - _dt(grid.sim_start)).total_seconds() / 60.0
            t2, u10 = fields(grid, time)
            out["T2"][n] = t2
            out["U10"][n] = u10
    finally:
        ds.close()
    os.replace(tmp, path)


def _dt(time: str) -> datetime:
    return datetime.strptime(time, "%Y-%m-%d_%H:%M:%S")


def write_history(path: str, grid: Grid, times: list[str]) -> None:
    """(Re)write a wrfout file holding ``times`` (all frames of this file so far), atomically."""
    _write(path, grid, times, grid.sim_start)


def write_restart(path: str, grid: Grid, time: str) -> None:
    """Write wrfrst at ``time``; it carries what a restart needs to continue identically."""
    _write(path, grid, [time], grid.sim_start)


def read_restart(path: str) -> tuple[Grid, str] | None:
    """(grid, time) from an emulator wrfrst, or None if it cannot be read as one."""
    import netCDF4
    try:
        with netCDF4.Dataset(path) as ds:
            title = str(ds.getncattr("TITLE"))
            time = netCDF4.chartostring(ds.variables["Times"][:])[-1]
            grid = Grid(
                domain=int(ds.getncattr("GRID_ID")), e_we=int(ds.getncattr("WEST-EAST_GRID_DIMENSION")),
                e_sn=int(ds.getncattr("SOUTH-NORTH_GRID_DIMENSION")),
                e_vert=int(ds.getncattr("BOTTOM-TOP_GRID_DIMENSION")), dx=float(ds.getncattr("DX")),
                dy=float(ds.getncattr("DY")), time_step=float(ds.getncattr("DT")),
                seed=str(ds.getncattr("CLOUDRUN_EMULATOR_SEED")), version=title.split("WRF V")[-1].split()[0],
                sim_start=str(ds.getncattr("SIMULATION_START_DATE")),
                init_type=str(ds.getncattr("SIMULATION_INITIALIZATION_TYPE")),
                num_land_cat=int(ds.getncattr("NUM_LAND_CAT")))
        return grid, str(time)
    except Exception:
        return None
