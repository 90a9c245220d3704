"""Pure validation of one WRF input file from its header: what it is, whether wrf.exe can use it, and the
facts setup needs from it. No disk access: everything works on ``FileHeader`` values (see headers.py).
"""
from __future__ import annotations

import re
from typing import Any

from orchestrator.wrf.input_specs import (
    BDY_VARIABLES, CORE_VARIABLES, EXPECTED_ATTRIBUTES, FDDA_VARIABLES, GRID_DIMS, LOWINP_VARIABLES,
    NEST_ATTRIBUTES,
    REAL_VARIABLES, REQUIRED_ATTRIBUTES, format_wrf_time, parse_wrf_time,
)
from orchestrator.wrf.types import FileHeader, Problem, Severity

# FileHeader has no field for variable values: read_header stores these few scalars under this attribute key
SCALARS_KEY = "__scalars__"
SCALAR_VARIABLES = ("P_TOP", "T00", "P00", "TLP", "TISO", "LON_LL_T", "LON_UL_T", "LON_UR_T", "LON_LR_T")

INPUT_KINDS = ("wrfinput", "wrfbdy", "wrflowinp", "wrffdda")
_TITLE_VERSION = re.compile(r"\bV(\d+(?:\.\d+)*)")
_DOMAIN_IN_NAME = re.compile(r"_d(\d\d)(?:\b|_|$)")
_GRID_ATTRS = {"west_east_stag": "WEST-EAST_GRID_DIMENSION", "south_north_stag": "SOUTH-NORTH_GRID_DIMENSION",
               "bottom_top_stag": "BOTTOM-TOP_GRID_DIMENSION"}
_GRID_DIM_NAMES = {"west_east": "west_east_stag", "south_north": "south_north_stag", "bottom_top": "bottom_top_stag"}


def scalar(header: FileHeader, name: str) -> float | None:
    """A small (Time)-only variable's first value as read by read_header (P_TOP, T00, TISO…), or None."""
    values = header.attributes.get(SCALARS_KEY) or {}
    return values.get(name)


def title(header: FileHeader) -> str:
    """The TITLE global attribute, e.g. ' OUTPUT FROM REAL_EM V3.9 PREPROCESSOR'."""
    return str(header.attr("TITLE", "") or "")


def producer_version(header: FileHeader) -> str | None:
    """The WRF version of the program that wrote the file, from TITLE (``3.9``, ``3.8.1``…)."""
    match = _TITLE_VERSION.search(title(header))
    return match.group(1) if match else None


def bdy_time_names(header: FileHeader) -> tuple[str | None, str | None]:
    """Names of wrfbdy's THISBDYTIME and NEXTBDYTIME variables (netCDF mangles them to md___…)."""
    this = next((n for n in header.variables if n.lower().startswith("md___thisbdytime")), None)
    nxt = next((n for n in header.variables if n.lower().startswith("md___nextbdytime")), None)
    return this, nxt


def detect_kind(header: FileHeader, filename: str = "") -> str:
    """What the file is, from its content: wrfinput, wrfbdy, wrflowinp, wrffdda, wrfout, wrfrst, met_em or unknown.

    The filename only breaks the tie between wrfout and wrfrst when the content does not.
    """
    names = set(header.variables)
    text = title(header).upper()
    if any(n.endswith("_BXS") for n in names):
        return "wrfbdy"
    if "METGRID" in text or "GEOGRID" in text:
        return "met_em"
    if "OUTPUT FROM WRF" in text:
        restart = "U_2" in names or "MAX_WRF_ALARMS" in header.attributes
        return "wrfrst" if restart or filename.startswith("wrfrst") else "wrfout"
    if any(n.endswith("_NDG_OLD") for n in names):
        return "wrffdda"
    # a wrfinput with some fields missing must still be judged as one, so any 3-D dynamics marker will do
    has_3d = any({"bottom_top", "bottom_top_stag"} & set(v.dimensions) for v in header.variables.values())
    if has_3d and names & {"U", "V", "W", "T", "PH", "PHB", "MU", "MUB", "P", "PB", "QVAPOR", "T_INIT"}:
        return "wrfinput"
    if "SST" in names and not has_3d:
        return "wrflowinp"
    return "unknown"


def detect_domain(header: FileHeader, filename: str = "") -> int | None:
    """The domain number: the GRID_ID attribute, else the ``_d0N`` in the file name."""
    grid_id = header.attr("GRID_ID")
    if isinstance(grid_id, (int, float)) and int(grid_id) >= 1:
        return int(grid_id)
    match = _DOMAIN_IN_NAME.search(filename)
    return int(match.group(1)) if match else None


def is_ideal(header: FileHeader) -> bool | None:
    """True for ideal.exe data, False for real-data; WRF's own rule (SIMULATION_INITIALIZATION_TYPE, else a
    START_DATE in year 0001 means ideal — share/input_wrf.F)."""
    kind = str(header.attr("SIMULATION_INITIALIZATION_TYPE", "") or "").upper()
    if "IDEAL" in kind:
        return True
    if "REAL" in kind:
        return False
    start = str(header.attr("START_DATE", "") or "")
    if start:
        return "0001-" in start
    return None


def _err(code: str, file: str, message: str, severity: Severity = Severity.error) -> Problem:
    return Problem(code=code, file=file, message=message, severity=severity)


def check_variables(header: FileHeader, required: dict[str, tuple[str, ...]], file: str, why: str) -> list[Problem]:
    """A problem for each required variable that is missing or laid out on other dimensions than WRF's."""
    problems: list[Problem] = []
    missing = [n for n in required if n not in header.variables]
    if missing:
        problems.append(_err(
            "missing_variable", file,
            f"{file} lacks {len(missing)} variable(s) that {why}: {', '.join(missing)}. wrf.exe does not "
            "notice missing fields and would run with zeros in their place.",
        ))
    for name, dims in required.items():
        var = header.variables.get(name)
        if var is not None and tuple(var.dimensions) != dims:
            problems.append(_err(
                "variable_shape", file,
                f"{file}: variable {name} has dimensions ({', '.join(var.dimensions)}) but WRF expects "
                f"({', '.join(dims)}); wrf.exe would read it wrongly or as zeros.",
            ))
    return problems


def _check_grid(header: FileHeader, file: str) -> list[Problem]:
    problems: list[Problem] = []
    absent = [a for a in REQUIRED_ATTRIBUTES if a not in header.attributes]
    if absent:
        problems.append(_err(
            "missing_attribute", file,
            f"{file} lacks the global attribute(s) {', '.join(absent)}, which wrf.exe needs to size and place "
            "the grid.",
        ))
    for stag, attr in _GRID_ATTRS.items():
        value = header.attr(attr)
        if stag in header.dimensions and isinstance(value, (int, float)) and header.dimensions[stag] != value:
            problems.append(_err(
                "dimension_mismatch", file,
                f"{file}: dimension {stag} is {header.dimensions[stag]} but the attribute {attr} says {value}; "
                "the file is inconsistent.",
            ))
    for unstag, stag in _GRID_DIM_NAMES.items():
        if unstag in header.dimensions and stag in header.dimensions:
            if header.dimensions[unstag] != header.dimensions[stag] - 1:
                problems.append(_err(
                    "dimension_mismatch", file,
                    f"{file}: dimension {unstag} is {header.dimensions[unstag]} but should be one less than "
                    f"{stag} ({header.dimensions[stag]}).",
                ))
    return problems


def _check_times(header: FileHeader, file: str) -> list[Problem]:
    if "Times" not in header.variables or not header.times:
        return [_err("no_times", file, f"{file} has no Times records, so wrf.exe cannot find its start time in it.")]
    bad = [t for t in header.times if parse_wrf_time(t) is None]
    if bad:
        return [_err("bad_times", file,
                     f"{file} has Times that are not valid dates (YYYY-MM-DD_HH:MM:SS): {', '.join(map(repr, bad[:3]))}"
                     " — the data is probably cut off or corrupt.")]
    return []


def _check_nest(header: FileHeader, file: str) -> list[Problem]:
    grid_id = header.attr("GRID_ID")
    if not isinstance(grid_id, (int, float)) or grid_id < 2:
        return []
    absent = [a for a in NEST_ATTRIBUTES if a not in header.attributes]
    if absent:
        return [_err("missing_attribute", file,
                     f"{file} is a nest (GRID_ID {grid_id}) but lacks {', '.join(absent)}; wrf.exe compares "
                     "them with the namelist.")]
    problems: list[Problem] = []
    ratio = header.attr("PARENT_GRID_RATIO")
    if not isinstance(ratio, (int, float)) or ratio < 1:
        problems.append(_err("nest_geometry", file, f"{file}: PARENT_GRID_RATIO {ratio!r} is not a positive integer."))
    else:
        for attr in ("WEST-EAST_GRID_DIMENSION", "SOUTH-NORTH_GRID_DIMENSION"):
            size = header.attr(attr)
            if isinstance(size, (int, float)) and (int(size) - 1) % int(ratio):
                problems.append(_err(
                    "nest_geometry", file,
                    f"{file}: {attr} {size} minus 1 is not a multiple of PARENT_GRID_RATIO {ratio}; a nest "
                    "must cover whole parent cells.",
                ))
    for attr in ("I_PARENT_START", "J_PARENT_START"):
        value = header.attr(attr)
        if not isinstance(value, (int, float)) or value < 1:
            problems.append(_err("nest_geometry", file, f"{file}: {attr} {value!r} must be 1 or more for a nest."))
    parent = header.attr("PARENT_ID")
    if isinstance(parent, (int, float)) and not 1 <= parent < grid_id:
        problems.append(_err("nest_geometry", file,
                             f"{file}: PARENT_ID {parent} must name an earlier domain than GRID_ID {grid_id}."))
    return problems


def bdy_coverage(header: FileHeader) -> dict[str, Any]:
    """wrfbdy time coverage: first THISBDYTIME, last NEXTBDYTIME, record spacing (None when irregular)."""
    this_name, next_name = bdy_time_names(header)
    this = [parse_wrf_time(t) for t in header.extra_times.get(this_name or "", ())]
    nxt = [parse_wrf_time(t) for t in header.extra_times.get(next_name or "", ())]
    if not this or not nxt or None in this or None in nxt:
        return {"start": None, "end": None, "interval_seconds": None, "records": len(header.times), "gaps": []}
    spans = {int((b - a).total_seconds()) for a, b in zip(this, nxt)}  # type: ignore[operator]
    gaps = [(nxt[i], this[i + 1]) for i in range(len(this) - 1) if nxt[i] != this[i + 1]]
    return {
        "start": this[0], "end": nxt[-1], "records": len(this), "gaps": gaps,
        "interval_seconds": spans.pop() if len(spans) == 1 else None,
    }


def _check_bdy(header: FileHeader, file: str) -> list[Problem]:
    this_name, next_name = bdy_time_names(header)
    if this_name is None or next_name is None:
        return [_err("bdy_times_missing", file,
                     f"{file} has no THISBDYTIME/NEXTBDYTIME records, so wrf.exe cannot tell which times it covers.")]
    cover = bdy_coverage(header)
    if cover["start"] is None:
        return [_err("bdy_times_invalid", file,
                     f"{file}: the boundary times are unreadable (empty or not dates) — the file may be cut off.")]
    problems: list[Problem] = []
    if cover["interval_seconds"] is None or cover["interval_seconds"] <= 0:
        problems.append(_err("bdy_interval_irregular", file,
                             f"{file}: the boundary records are not evenly spaced; wrf.exe expects one fixed interval."))
    for end, start in cover["gaps"]:
        problems.append(_err("bdy_gap", file,
                             f"{file}: the boundary records leave a gap from {format_wrf_time(end)} to "
                             f"{format_wrf_time(start)}."))
    return problems


def validate_input(header: FileHeader, kind: str, run_version: str, filename: str) -> list[Problem]:
    """Every problem that would make wrf.exe abort or silently read zeros from this one file (no namelist)."""
    file = filename
    problems: list[Problem] = []
    if header.expected_min_size is not None and header.file_size < header.expected_min_size:
        problems.append(_err(
            "truncated", file,
            f"{file} is truncated: it has {header.file_size} bytes but its header describes "
            f"{header.expected_min_size}. wrf.exe would read zeros for the missing data.",
        ))
    if kind in ("wrfout", "wrfrst"):
        what = "history output" if kind == "wrfout" else "a restart file"
        return problems + [_err(
            "not_an_input", file,
            f"{file} is {what} written by wrf.exe ({title(header).strip()}), not an input. Upload the "
            "wrfinput/wrfbdy files made by real.exe or ideal.exe.",
        )]
    if kind == "met_em":
        return problems + [_err("not_an_input", file,
                                f"{file} is metgrid output (met_em); run real.exe on it and upload wrfinput/wrfbdy.")]
    if kind not in INPUT_KINDS:
        return problems + [_err("unknown_kind", file,
                                f"{file} is a netCDF file but not a WRF input (no wrfinput, wrfbdy, wrflowinp or "
                                "wrffdda variables found).")]
    made_by = producer_version(header)
    if made_by and made_by != run_version:
        problems.append(_err(
            "producer_version", file,
            f"{file} was written by WRF {made_by} ({title(header).strip()}) but the run uses WRF {run_version}; "
            "wrf.exe reads it, but fields added or renamed between versions may be missing.",
            Severity.warning,
        ))
    dims = {"wrfinput": GRID_DIMS, "wrfbdy": GRID_DIMS + ("bdy_width",), "wrffdda": GRID_DIMS,
            "wrflowinp": ("Time", "DateStrLen", "west_east", "south_north")}[kind]
    absent = [d for d in dims if d not in header.dimensions]
    if absent:
        problems.append(_err("missing_dimension", file,
                             f"{file} lacks the dimension(s) {', '.join(absent)} that every {kind} file has."))
    problems += _check_grid(header, file) + _check_times(header, file)
    if kind == "wrfinput":
        ideal = is_ideal(header)
        required = CORE_VARIABLES if ideal else {**CORE_VARIABLES, **REAL_VARIABLES}
        problems += check_variables(header, required, file, "wrf.exe reads at start-up")
        absent = [a for a in EXPECTED_ATTRIBUTES if a not in header.attributes]
        if absent:
            problems.append(_err(
                "missing_attribute", file,
                f"{file} lacks the global attribute(s) {', '.join(absent)}; wrf.exe then falls back on built-in "
                "defaults, which may not fit this data.", Severity.warning,
            ))
        if ideal is None:
            problems.append(_err("unknown_initialization", file,
                                 f"{file} says neither whether it is ideal or real data (no "
                                 "SIMULATION_INITIALIZATION_TYPE or START_DATE).", Severity.warning))
        land_cat = header.attr("NUM_LAND_CAT")
        if "land_cat_stag" in header.dimensions and isinstance(land_cat, (int, float)) \
                and header.dimensions["land_cat_stag"] != land_cat:
            problems.append(_err("dimension_mismatch", file,
                                 f"{file}: land_cat_stag is {header.dimensions['land_cat_stag']} but NUM_LAND_CAT "
                                 f"says {land_cat}."))
        problems += _check_nest(header, file)
    elif kind == "wrfbdy":
        problems += check_variables(header, BDY_VARIABLES, file, "wrf.exe reads as lateral boundaries")
        problems += _check_bdy(header, file)
    elif kind == "wrflowinp":
        problems += check_variables(header, LOWINP_VARIABLES, file, "sst_update reads")
    elif kind == "wrffdda":
        problems += check_variables(header, FDDA_VARIABLES, file, "grid nudging reads")
    return problems


def summarize_input(header: FileHeader, kind: str | None = None, filename: str = "") -> dict[str, Any]:
    """What setup needs from a file: grid, spacing, times, physics attributes, soil/land categories, bdy cover."""
    kind = kind or detect_kind(header, filename)
    attr = header.attr
    physics = {name.lower(): attr(name) for name in (
        "MP_PHYSICS", "RA_LW_PHYSICS", "RA_SW_PHYSICS", "SF_SFCLAY_PHYSICS", "SF_SURFACE_PHYSICS",
        "BL_PBL_PHYSICS", "CU_PHYSICS", "SF_LAKE_PHYSICS", "SF_URBAN_PHYSICS", "SF_OCEAN_PHYSICS", "GWD_OPT",
        "SST_UPDATE", "GRID_FDDA", "USE_THETA_M", "HYBRID_OPT", "HYPSOMETRIC_OPT", "DIFF_OPT", "KM_OPT",
        "DAMP_OPT") if name in header.attributes}
    out: dict[str, Any] = {
        "kind": kind,
        "domain": detect_domain(header, filename),
        "producer": title(header).strip(),
        "producer_version": producer_version(header),
        "ideal": is_ideal(header),
        "e_we": attr("WEST-EAST_GRID_DIMENSION"),
        "e_sn": attr("SOUTH-NORTH_GRID_DIMENSION"),
        "e_vert": attr("BOTTOM-TOP_GRID_DIMENSION"),
        "dx": attr("DX"),
        "dy": attr("DY"),
        "times": list(header.times),
        "start": header.times[0] if header.times else attr("START_DATE"),
        "num_land_cat": attr("NUM_LAND_CAT"),
        "num_soil_layers": header.dimensions.get("soil_layers_stag"),
        "mminlu": attr("MMINLU"),
        "map_proj": attr("MAP_PROJ"),
        "physics": physics,
        "p_top": scalar(header, "P_TOP"),
    }
    for name in ("GRID_ID", "PARENT_ID", "I_PARENT_START", "J_PARENT_START", "PARENT_GRID_RATIO", "CEN_LAT",
                 "CEN_LON", "TRUELAT1", "TRUELAT2", "STAND_LON", "MOAD_CEN_LAT", "POLE_LAT", "POLE_LON"):
        out[name.lower()] = attr(name)
    if kind == "wrfbdy":
        cover = bdy_coverage(header)
        out.update(
            bdy_start=cover["start"] and format_wrf_time(cover["start"]),
            bdy_end=cover["end"] and format_wrf_time(cover["end"]), bdy_interval_seconds=cover["interval_seconds"],
            bdy_records=cover["records"], bdy_width=header.dimensions.get("bdy_width"),
        )
    return out
