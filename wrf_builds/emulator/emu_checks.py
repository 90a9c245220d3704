"""Cloudrun WRF emulator: wrf.exe's start-up checks of the inputs against namelist.input.

Texts and order follow wrf-reference/wrf-source-facts.md §1.2 / §1.5 and the real rsl files: V3.9
collects every '---- ERROR' of input_wrf and ends with 'NOTE: N namelist vs input data inconsistencies
found.' + one FATAL block; V3.8.1 stops at the first problem with its own one-line message.
Everything here runs on the monitor rank; the result (lines + fatal) is broadcast to all ranks.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from emu_namelist import get, start_time, wrf_time


@dataclass
class Fatal:
    """A wrf_error_fatal: the text inside the FATAL CALLED block and the 'LINE:' number shown."""

    message: str
    line: int


@dataclass
class CheckResult:
    """Lines wrf.exe prints while reading the input(s), and the fatal error that ends it (if any)."""

    lines: list[str] = field(default_factory=list)
    fatal: Fatal | None = None


@dataclass
class Header:
    """The parts of a wrfinput/wrfbdy/wrfrst the checks need (read with netCDF4; zeros if truncated)."""

    attrs: dict
    dims: dict
    times: list[str]
    scalars: dict
    bdy_times: list[tuple[str, str]]


def read_header(path: str) -> Header | None:
    """Open a WRF netCDF file; None if it cannot be opened (wrf.exe: ierr=-1021)."""
    import netCDF4  # monitor rank only: the other ranks never pay for importing it
    try:
        ds = netCDF4.Dataset(path)
    except (OSError, RuntimeError):
        return None
    with ds:
        attrs = {k: _plain(ds.getncattr(k)) for k in ds.ncattrs()}
        dims = {k: len(v) for k, v in ds.dimensions.items()}
        times = _chars(ds, "Times")
        scalars = {}
        for name in ("P_TOP", "T00", "P00", "TISO"):
            if name in ds.variables:
                try:  # a truncated file reads as zeros (like WRF), or fails: both mean 0 here
                    scalars[name] = float(ds.variables[name][:].ravel()[0])
                except Exception:
                    scalars[name] = 0.0
        this = next((v for v in ds.variables if v.lower().startswith("md___thisbdytime")), None)
        nxt = next((v for v in ds.variables if v.lower().startswith("md___nextbdytime")), None)
        bdy = list(zip(_chars(ds, this), _chars(ds, nxt))) if this and nxt else []
    return Header(attrs, dims, times, scalars, bdy)


def _plain(v):
    if hasattr(v, "tolist"):
        v = v.tolist()
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
    return v


def _chars(ds, name: str | None) -> list[str]:
    if not name or name not in ds.variables:
        return []
    try:
        raw = ds.variables[name][:]
        return ["".join(c.decode() if isinstance(c, bytes) else str(c) for c in row).strip("\x00 ")
                for row in (raw.filled(b"") if hasattr(raw, "filled") else raw)]
    except Exception:
        return []


def input_hash(header: Header, nml: dict) -> str:
    """A stable digest of the input (header + time step): the seed of the synthetic output fields."""
    text = repr(sorted((k, str(v)) for k, v in header.attrs.items())) + repr(sorted(header.dims.items()))
    text += repr(header.times) + repr(get(nml, "domains", "time_step", -1))
    return hashlib.sha256(text.encode()).hexdigest()


def is_ideal(header: Header) -> bool:
    """SIMULATION_INITIALIZATION_TYPE, or START_DATE with year 0001 when absent (facts §1.3)."""
    kind = str(header.attrs.get("SIMULATION_INITIALIZATION_TYPE", "")).strip().upper()
    if kind:
        return kind.startswith("IDEAL")
    return "0001-" in str(header.attrs.get("START_DATE", ""))


class _Collector:
    """3.9: count errors and print them; 3.8.1: the first error becomes the fatal."""

    def __init__(self, version: str, result: CheckResult):
        self.v39 = not version.startswith("3.8")
        self.r = result
        self.count = 0

    def error(self, info: list[str], text39: str, fatal381: str, line381: int) -> None:
        if self.r.fatal:
            return
        if self.v39:
            self.r.lines += info + [f"  ---- ERROR: {text39}"]
            self.count += 1
        else:
            self.r.lines += info
            self.r.fatal = Fatal(fatal381, line381)

    def finish(self) -> None:
        if self.v39 and self.count and not self.r.fatal:
            self.r.lines.append(f"NOTE:  {self.count:6d} namelist vs input data inconsistencies found.")
            self.r.fatal = Fatal("NOTE:  Please check and reset these options", 1142)


def check_input(nml: dict, version: str, index: int, header: Header, fname: str) -> CheckResult:
    """input_wrf's metadata checks (facts §1.2 a,b,d,e,f,h-l) for domain ``index`` (0 = d01)."""
    res = CheckResult(lines=["  med_initialdata_input: calling input_input"])
    col = _Collector(version, res)
    a = header.attrs
    dims = [a.get("WEST-EAST_GRID_DIMENSION"), a.get("SOUTH-NORTH_GRID_DIMENSION"),
            a.get("BOTTOM-TOP_GRID_DIMENSION")]
    if any(d is None for d in dims):
        col.error([], "wrf_get_dom_ti_integer getting dimension information from dataset",
                  "wrf_get_dom_ti_integer getting dimension information from dataset", 338)
        dims = [0, 0, 0]
    want = [int(get(nml, "domains", k, d, index)) for k, d in (("e_we", 32), ("e_sn", 32), ("e_vert", 31))]
    if not res.fatal and [int(d) for d in dims] != want:
        nl = "".join(f"{v:12d}" for v in want)
        fl = "".join(f"{int(v):12d}" for v in dims)
        if col.v39:
            col.error([f"   input_wrf.F: SIZE MISMATCH:  namelist   ide,jde,kde={nl}",
                       f"   input_wrf.F: SIZE MISMATCH:  input file ide,jde,kde={fl}"],
                      "Mismatch between namelist and input file dimensions", "", 0)
        else:
            col.error([], "", f" input_wrf.F: SIZE MISMATCH:  namelist ide,jde,kde={nl} ; input data ide,jde,kde={fl}",
                      848)
    polar = bool(get(nml, "bdy_control", "polar", False, index))
    fdx, fdy = float(a.get("DX", 0) or 0), float(a.get("DY", 0) or 0)
    ndx, ndy = float(get(nml, "domains", "dx", 200.0, index)), float(get(nml, "domains", "dy", 200.0, index))
    if not polar and (_rel(fdx, ndx) > 1e-5 or _rel(fdy, ndy) > 1e-5):
        col.error([f" dx and dy from file     {fdx:16.5f}{fdy:16.5f}",
                   f" dx and dy from namelist {ndx:16.5f}{ndy:16.5f}"],
                  "DX and DY do not match comparing namelist to the input file",
                  "DX and DY do not match comparing namelist to the input file", 363)
    if index > 0:
        _nest_starts(nml, index, a, col)
    nlc = int(get(nml, "physics", "num_land_cat", 21))
    # absent or invalid: 24, or 20 for MODIFIED_IGBP_MODIS_NOAH (facts §1.2 f)
    modis = str(a.get("MMINLU", "")).strip() == "MODIFIED_IGBP_MODIS_NOAH"
    flc = int(a.get("NUM_LAND_CAT", 0) or 0) or (20 if modis else 24)
    if nlc != flc:
        col.error(["----------------- ERROR -------------------", f"namelist    : NUM_LAND_CAT = {nlc:10d}",
                   f"input files : NUM_LAND_CAT = {flc:10d} (from geogrid selections)."],
                  "Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT",
                  "Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT", 566)
    _attr_check(nml, col, a, "physics", "sf_surface_physics", "SF_SURFACE_PHYSICS", index, 645)
    if col.v39:  # PR #185: new in 3.9, each skipped when the attribute is absent
        _attr_check(nml, col, a, "dynamics", "gwd_opt", "GWD_OPT", index, 0)
        _attr_check(nml, col, a, "physics", "sf_ocean_physics", "SF_OCEAN_PHYSICS", index, 0)
        _attr_check(nml, col, a, "physics", "sf_urban_physics", "SF_URBAN_PHYSICS", index, 0)
    if not res.fatal:
        _times(nml, index, header, fname, col)
    col.finish()
    return res


def _rel(x: float, y: float) -> float:
    return abs(x - y) / max(abs(y), 1e-30)


def _nest_starts(nml: dict, index: int, a: dict, col: _Collector) -> None:
    ni, nj = int(get(nml, "domains", "i_parent_start", 1, index)), int(get(nml, "domains", "j_parent_start", 1, index))
    fi, fj = int(a.get("I_PARENT_START", ni)), int(a.get("J_PARENT_START", nj))
    if (ni, nj) != (fi, fj):
        col.error([f" i_parent_start from namelist.input file = {ni:10d}",
                   f" i_parent_start from gridded input file  = {fi:10d}",
                   f" j_parent_start from namelist.input file = {nj:10d}",
                   f" j_parent_start from gridded input file  = {fj:10d}"],
                  "Nest start locations do not match: namelist.input vs gridded input file",
                  "Nest start locations do not match: namelist.input vs gridded input file", 404)


def _attr_check(nml, col, a, group, name, attr, index, line381) -> None:
    if attr not in a:
        return
    nv, fv = int(get(nml, group, name, 0, index)), int(a[attr])
    if nv == fv or {nv, fv} == {2, 4}:  # Noah and Noah-MP inputs are interchangeable
        return
    src = "wrfinput files"
    col.error([f"namelist    : {name} = {nv:10d}", f"input files : {attr} = {fv:10d} (from {src})."],
              f"Mismatch between namelist and global attribute {attr}",
              f"Mismatch between namelist and global attribute {attr}", line381)


def _times(nml: dict, index: int, header: Header, fname: str, col: _Collector) -> None:
    want = wrf_time(start_time(nml, index))
    for t in header.times:
        if t == want:
            return
        col.r.lines += [f" Time in file: {t}", f" Time on domain: {want}",
                        "**WARNING** Time in input file not equal to time on domain **WARNING**",
                        f"**WARNING** Trying next time in file {fname} ..."]
    col.error([], f"Could not find matching time in input file {fname}",
              f" ... Could not find matching time in input file {fname}", 953)


def check_start_em(nml: dict, header: Header) -> Fatal | None:
    """start_em's value checks (facts §1.5), immediately fatal in both versions.

    A P_TOP that reads as 0 (a truncated file reads zeros, as observed with real WRF 3.9) fails
    even for ideal input; the namelist comparisons apply to real-data input only.
    """
    ptop = header.scalars.get("P_TOP")
    real = not is_ideal(header)
    wanted = float(get(nml, "domains", "p_top_requested", 5000.0))
    if ptop is not None and (ptop <= 0.0 or (real and abs(ptop - wanted) > 0.5)):
        return Fatal("start_em: p_top from the namelist does not match p_top from the input file.", 543)
    if real and not bool(get(nml, "dynamics", "use_baseparam_fr_nml", False)):
        if header.scalars.get("T00", 0.0) < 100.0 or header.scalars.get("P00", 0.0) < 10000.0:
            return Fatal("start_em: did not find base state parameters in wrfinput. Add use_baseparam_fr_nml = .t. "
                         "in &dynamics and rerun", 551)
        iso = float(get(nml, "dynamics", "iso_temp", 200.0))
        if "TISO" in header.scalars and abs(header.scalars["TISO"] - iso) > 1e-3:
            return Fatal("start_em: namelist iso_temp is not equal to iso_temp in wrfinput. "
                         "Reset nml value and rerun", 559)
    return None


def nest_dims_fatal(nml: dict, index: int) -> Fatal | None:
    """start_em: (e_we-1) and (e_sn-1) of a nest must divide by parent_grid_ratio."""
    r = int(get(nml, "domains", "parent_grid_ratio", 1, index))
    we, sn = int(get(nml, "domains", "e_we", 32, index)), int(get(nml, "domains", "e_sn", 32, index))
    if r > 0 and ((we - 1) % r or (sn - 1) % r):
        return Fatal(f"Nested dimensions are illegal for domain {index + 1:2d}:  Both MOD(({we:5d}-1),{r:3d}) "
                     f"and MOD(({sn:5d}-1),{r:3d}) must = 0", 198)
    return None


def missing_file_fatal(fname: str) -> Fatal:
    """mediation_wrfmain.F: what wrf.exe prints when wrfinput cannot be opened."""
    return Fatal(f" program wrf: error opening {fname} for reading ierr={-1021:12d}", 70)


def exists(path: str) -> bool:
    return os.path.isfile(path)


# phy_init's table opens (facts §6): (needed?, file, wrf.exe's fatal text). Checked in the run directory.
def missing_table_fatal(nml: dict, real: bool, directory: str = ".") -> Fatal | None:
    """The first static table the chosen d01 physics opens that is absent, as wrf.exe reports it."""
    lsm = int(get(nml, "physics", "sf_surface_physics", 0))
    urb = int(get(nml, "physics", "sf_urban_physics", 0))
    lw, sw = int(get(nml, "physics", "ra_lw_physics", 0)), int(get(nml, "physics", "ra_sw_physics", 0))
    noah = "module_sf_noahlsm.F: soil_veg_gen_parm: failure opening {}"
    needs = [
        (real, "LANDUSE.TBL", "module_physics_init.F: LANDUSE_INIT: open failure for LANDUSE.TBL", 1474),
        (lsm in (2, 3), "VEGPARM.TBL", noah.format("VEGPARM.TBL"), 1903),
        (lsm in (2, 3, 4), "SOILPARM.TBL", noah.format("SOILPARM.TBL"), 2037),
        (lsm in (2, 3, 4), "GENPARM.TBL", noah.format("GENPARM.TBL"), 2110),
        (lsm == 4, "MPTABLE.TBL", "STOP in Noah-MP read_mp_veg_parameters", 9232),
        (urb in (1, 2, 3), "URBPARM.TBL", "ERROR OPEN URBPARM.TBL", 1995),
        (lw == 1, "RRTM_DATA", "module_ra_rrtm: error opening RRTM_DATA on unit         10", 7623),
        (lw in (4, 24), "RRTMG_LW_DATA", "module_ra_rrtmg_lw: error opening RRTMG_LW_DATA on unit         10", 12879),
        (sw in (4, 24), "RRTMG_SW_DATA", "module_ra_rrtmg_sw: error opening RRTMG_SW_DATA on unit         10", 11193),
    ]
    for needed, name, message, line in needs:
        if needed and not os.path.exists(os.path.join(directory, name)):
            return Fatal(message, line)
    return None
