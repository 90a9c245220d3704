"""Namelist values that follow from the input files' headers (pure: FileHeader in, plain data out).

wrf.exe compares these with the inputs and stops when they differ (facts 1.2/1.5), so Cloudrun derives them
from the files instead of trusting defaults: grid sizes, DX/DY, nest geometry, NUM_LAND_CAT, the physics
attributes it checks, the start time (a Times record), the boundary interval and coverage of wrfbdy_d01.
"""
from __future__ import annotations

from orchestrator.wrf.times import format_wrf_time as format_time  # noqa: F401
from orchestrator.wrf.times import iso_time  # noqa: F401
from orchestrator.wrf.times import parse_wrf_time as parse_time  # noqa: F401

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.wrf.inputs import SCALARS_KEY
from orchestrator.wrf.types import FileHeader, Problem

_DOMAIN_FILE = re.compile(r"^wrfinput_d(\d\d)$")
# attribute -> (group, variable); the physics options written by ideal.exe/real.exe (facts 1.4)
PHYSICS_ATTRIBUTES = {
    "MP_PHYSICS": ("physics", "mp_physics"), "RA_LW_PHYSICS": ("physics", "ra_lw_physics"),
    "RA_SW_PHYSICS": ("physics", "ra_sw_physics"), "SF_SFCLAY_PHYSICS": ("physics", "sf_sfclay_physics"),
    "SF_SURFACE_PHYSICS": ("physics", "sf_surface_physics"), "BL_PBL_PHYSICS": ("physics", "bl_pbl_physics"),
    "CU_PHYSICS": ("physics", "cu_physics"), "SF_URBAN_PHYSICS": ("physics", "sf_urban_physics"),
    "SF_OCEAN_PHYSICS": ("physics", "sf_ocean_physics"), "GWD_OPT": ("dynamics", "gwd_opt"),
}
SEVEN_PHYSICS = ("mp_physics", "ra_lw_physics", "ra_sw_physics", "sf_sfclay_physics", "sf_surface_physics",
                 "bl_pbl_physics", "cu_physics")
# Dynamics attributes the producer used: not checked by wrf.exe, taken as Cloudrun's default when present
DYNAMICS_ATTRIBUTES = {"DIFF_OPT": "diff_opt", "KM_OPT": "km_opt", "DAMP_OPT": "damp_opt",
                       "DAMPCOEF": "dampcoef", "KHDIF": "khdif", "KVDIF": "kvdif"}


def checked_physics(version: str) -> tuple[str, ...]:
    """Physics/dynamics variables wrf.exe compares with the wrfinput attributes (facts 1.2 h-k)."""
    if version == "3.8.1":
        return ("sf_surface_physics",)
    return ("sf_surface_physics", "gwd_opt", "sf_ocean_physics", "sf_urban_physics")


@dataclass(frozen=True)
class DomainGeometry:
    """One domain as its wrfinput describes it (staggered sizes, like the namelist)."""

    grid_id: int
    e_we: int
    e_sn: int
    e_vert: int
    dx: float
    dy: float
    parent_id: int
    i_parent_start: int
    j_parent_start: int
    parent_grid_ratio: int
    start: datetime | None
    times: tuple[str, ...]
    from_file: bool


@dataclass
class Derived:
    """All values read from the inputs; `problems` lists what could not be read."""

    ideal: bool
    domains: list[DomainGeometry]
    num_land_cat: int | None = None
    physics: dict[str, tuple[str, int]] = field(default_factory=dict)  # var -> (group, value)
    dynamics_hints: dict[str, Any] = field(default_factory=dict)
    num_soil_layers: int | None = None
    interval_seconds: int | None = None
    bdy_start: datetime | None = None
    bdy_end: datetime | None = None
    spec_bdy_width: int | None = None
    p_top: float | None = None
    iso_temp: float | None = None
    problems: list[Problem] = field(default_factory=list)


def _int(header: FileHeader, name: str) -> int | None:
    value = header.attr(name)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float(header: FileHeader, name: str) -> float | None:
    value = header.attr(name)
    try:
        # attributes are float32: keep the 7 digits they carry (0.003, not 0.003000000026077032)
        return float(f"{float(value):.7g}") if value is not None else None
    except (TypeError, ValueError):
        return None


def is_ideal(header: FileHeader) -> bool:
    """SIMULATION_INITIALIZATION_TYPE decides; without it a START_DATE in year 0001 means ideal (facts 1.3)."""
    kind = header.attr("SIMULATION_INITIALIZATION_TYPE")
    if isinstance(kind, bytes):
        kind = kind.decode(errors="replace")
    if kind:
        return "IDEAL" in str(kind).upper()
    start = header.attr("START_DATE") or (header.times[0] if header.times else "")
    return str(start).startswith("0001-")


def _geometry(grid_id: int, name: str, header: FileHeader, problems: list[Problem]) -> DomainGeometry | None:
    dims = [_int(header, a) for a in ("WEST-EAST_GRID_DIMENSION", "SOUTH-NORTH_GRID_DIMENSION",
                                      "BOTTOM-TOP_GRID_DIMENSION")]
    dx, dy = _float(header, "DX"), _float(header, "DY")
    if None in dims or dx is None or dy is None:
        problems.append(Problem("missing_attribute", f"{name} lacks the grid dimension or DX/DY global "
                                "attributes, so the namelist grid cannot be derived from it.", name))
        return None
    start = None
    if header.times:
        try:
            start = parse_time(header.times[0])
        except ValueError:
            problems.append(Problem("bad_times", f"{name} has an unreadable Times record "
                                    f"{header.times[0]!r}.", name))
    default_parent = 0 if grid_id == 1 else grid_id - 1
    return DomainGeometry(grid_id=grid_id, e_we=dims[0], e_sn=dims[1], e_vert=dims[2], dx=dx, dy=dy,
                          parent_id=_int(header, "PARENT_ID") if grid_id > 1 and _int(header, "PARENT_ID")
                          else default_parent,
                          i_parent_start=_int(header, "I_PARENT_START") or (0 if grid_id == 1 else 1),
                          j_parent_start=_int(header, "J_PARENT_START") or (0 if grid_id == 1 else 1),
                          parent_grid_ratio=_int(header, "PARENT_GRID_RATIO") or 1,
                          start=start, times=header.times, from_file=True)


def _bdy(derived: Derived, header: FileHeader) -> None:
    """Boundary interval and coverage from wrfbdy_d01's THISBDYTIME/NEXTBDYTIME records (facts 2.4)."""
    this = next((v for k, v in header.extra_times.items() if k.lower().startswith("md___thisbdytime")), ())
    nxt = next((v for k, v in header.extra_times.items() if k.lower().startswith("md___nextbdytime")), ())
    try:
        if this and nxt:
            first, last = parse_time(this[0]), parse_time(nxt[-1])
            derived.interval_seconds = int((parse_time(nxt[0]) - first).total_seconds())
            derived.bdy_start, derived.bdy_end = first, last
        elif len(header.times) >= 2:  # no metadata variables: the record spacing is the interval
            first = parse_time(header.times[0])
            derived.interval_seconds = int((parse_time(header.times[1]) - first).total_seconds())
            derived.bdy_start = first
            derived.bdy_end = parse_time(header.times[-1]) + timedelta(seconds=derived.interval_seconds)
    except ValueError:
        derived.problems.append(Problem("bad_times", "wrfbdy_d01 has unreadable boundary time records.",
                                        "wrfbdy_d01"))
    derived.spec_bdy_width = header.dimensions.get("bdy_width")


def soil_layers_for(sf_surface_physics: int) -> int:
    """num_soil_layers that set_physics_rconfigs forces for an LSM (facts 1.4)."""
    return {2: 4, 3: 6, 4: 4, 5: 10, 7: 2, 88: 4}.get(sf_surface_physics, 5)


def derive_from_inputs(inputs: dict[str, FileHeader]) -> Derived:
    """Read domains, physics attributes, start times and boundary coverage from the inputs by filename."""
    problems: list[Problem] = []
    numbered = sorted((int(m.group(1)), name) for name in inputs if (m := _DOMAIN_FILE.match(name)))
    d01 = inputs.get("wrfinput_d01")
    if d01 is None:
        return Derived(ideal=False, domains=[], problems=[Problem(
            "missing_input", "wrfinput_d01 is needed to build namelist.input.", "wrfinput_d01")])
    domains = [g for gid, name in numbered if (g := _geometry(gid, name, inputs[name], problems))]
    derived = Derived(ideal=is_ideal(d01), domains=domains, problems=problems)
    ids = [g.grid_id for g in domains]
    if ids and ids != list(range(1, len(ids) + 1)):
        problems.append(Problem("missing_input", f"nest input files must be numbered d01..d{len(ids):02d} "
                                f"without gaps; got {', '.join(f'd{i:02d}' for i in ids)}.", None))
    for g in domains[1:]:  # start_em / check_a_mundo stop on these (facts 1.5, 1.7)
        name = f"wrfinput_d{g.grid_id:02d}"
        if (g.e_we - 1) % g.parent_grid_ratio or (g.e_sn - 1) % g.parent_grid_ratio:
            problems.append(Problem("nest_dimensions", f"{name}: e_we-1 = {g.e_we - 1} and e_sn-1 = {g.e_sn - 1} "
                                    f"must both be multiples of parent_grid_ratio {g.parent_grid_ratio}.", name,
                                    wrf_message=f"Nested dimensions are illegal for domain {g.grid_id}"))
        if g.e_vert != domains[0].e_vert:
            problems.append(Problem("nest_dimensions", f"{name} has {g.e_vert} vertical levels, d01 has "
                                    f"{domains[0].e_vert}; all domains need the same e_vert.", name,
                                    wrf_message=f"--- ERROR: e_vert differs on grid ids 1 and {g.grid_id}"))
    derived.num_land_cat = _int(d01, "NUM_LAND_CAT")
    for attr, (group, var) in PHYSICS_ATTRIBUTES.items():
        value = _int(d01, attr)
        if value is not None:
            derived.physics[var] = (group, value)
    for attr, var in DYNAMICS_ATTRIBUTES.items():
        value = _float(d01, attr) if var in ("dampcoef", "khdif", "kvdif") else _int(d01, attr)
        if value is not None:
            derived.dynamics_hints[var] = value
    if "soil_layers_stag" in d01.dimensions:
        derived.num_soil_layers = d01.dimensions["soil_layers_stag"]
    scalars = d01.attributes.get(SCALARS_KEY) or {}
    if not derived.ideal:
        derived.p_top, derived.iso_temp = scalars.get("P_TOP"), scalars.get("TISO")
    if "wrfbdy_d01" in inputs:
        _bdy(derived, inputs["wrfbdy_d01"])
    return derived


def time_step_for(dx_m: float, history_seconds: int) -> tuple[int, int, int]:
    """(time_step, time_step_fract_num, time_step_fract_den): the largest whole second ≤ 6·dx(km) that divides
    the history interval (README.namelist's 6·dx rule, made to land exactly on output times); below one
    second a fraction 1/den with den = ceil(1/(6·dx_km)) (time_step = 0)."""
    limit = 6.0 * dx_m / 1000.0
    if limit >= 1.0:
        for step in range(int(math.floor(limit + 1e-9)), 0, -1):
            if history_seconds % step == 0:
                return step, 0, 1
    return 0, 1, int(math.ceil(1.0 / limit))


def expand(value: Any, count: int) -> list[Any]:
    """A per-domain value as exactly `count` entries: one value repeats, a short list repeats its last."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        return []
    return (values + [values[-1]] * count)[:count]


def date_fields(prefix: str, when: datetime, count: int) -> dict[str, list[int]]:
    """start_year.. or end_year.. entries for `count` domains."""
    parts = dict(year=when.year, month=when.month, day=when.day, hour=when.hour, minute=when.minute,
                 second=when.second)
    return {f"{prefix}_{k}": [v] * count for k, v in parts.items()}


def read_date(group: dict[str, Any], prefix: str, index: int = 0) -> datetime | None:
    """The start_/end_ date of domain `index` from a &time_control dict, or None if incomplete/invalid."""
    parts = []
    for unit in ("year", "month", "day", "hour", "minute", "second"):
        value = group.get(f"{prefix}_{unit}")
        if value is None:
            return None
        values = expand(value, index + 1)
        parts.append(values[index])
    try:
        year, month, day, hour, minute, second = (int(p) for p in parts)
        # WRF normalises e.g. end_minute = 120 (the shipped em_quarter_ss namelists do exactly that)
        return datetime(year, month, day) + timedelta(hours=hour, minutes=minute, seconds=second)
    except (TypeError, ValueError):
        return None


def run_length(group: dict[str, Any]) -> timedelta | None:
    """run_days/hours/minutes/seconds as a timedelta when any is > 0 (they take precedence for d01)."""
    parts = {u: int(expand(group.get(f"run_{u}", 0), 1)[0] or 0) for u in ("days", "hours", "minutes", "seconds")}
    if not any(v > 0 for v in parts.values()):
        return None
    return timedelta(**parts)
