"""What wrf.exe does NOT check at start-up but gets wrong later or silently: boundary coverage and spacing,
fields the configured physics needs, soil layers, nest geometry, vertical levels across domains, and the
auxiliary inputs (wrflowinp, wrffdda) the namelist asks for. Pure: namelist values + headers in, problems out.
"""
from __future__ import annotations

from typing import Mapping

from orchestrator.wrf.input_specs import (
    GWD_VARIABLES, LSM_VARIABLES, MASS3D, MP_SPECIES, OCEAN_VARIABLES, SOIL_LAYERS_BY_LSM, URBAN_VARIABLES,
    format_wrf_time, parse_wrf_time,
)
from orchestrator.wrf.inputs import bdy_coverage, check_variables, is_ideal
from orchestrator.wrf.nml_values import NamelistValues
from orchestrator.wrf.types import FileHeader, Problem, Severity

Files = Mapping[tuple[str, int], tuple[str, FileHeader]]
NAMELIST = "namelist.input"


def _p(code: str, file: str | None, message: str, wrf: str | None = None,
       severity: Severity = Severity.error) -> Problem:
    return Problem(code=code, file=file, message=message, severity=severity, wrf_message=wrf)


def _grid_vs_namelist(nl: NamelistValues, n: int, file: str, header: FileHeader) -> list[Problem]:
    """Auxiliary files (wrfbdy, wrflowinp, wrffdda) must be on the domain's grid; wrf.exe never compares them."""
    want = [int(nl.dom("domains", v, n)) for v in ("e_we", "e_sn", "e_vert")]
    have = [header.attr(a) for a in ("WEST-EAST_GRID_DIMENSION", "SOUTH-NORTH_GRID_DIMENSION",
                                     "BOTTOM-TOP_GRID_DIMENSION")]
    if any(not isinstance(h, (int, float)) for h in have) or [int(h) for h in have] == want:
        return []
    return [_p("dimension_mismatch", file,
               f"{file} is on a {'x'.join(str(int(h)) for h in have)} grid but the namelist sets e_we, e_sn, e_vert "
               f"= {', '.join(map(str, want))} for domain {n}; wrf.exe would read it wrongly without any error.")]


def _check_boundary(nl: NamelistValues, files: Files, version: str) -> list[Problem]:
    d01, bdy = files.get(("wrfinput", 1)), files.get(("wrfbdy", 1))
    specified = nl.flag("bdy_control", "specified", 1)
    if not specified:
        if d01 is not None and is_ideal(d01[1]) is False:
            return [_p("boundary_not_specified", NAMELIST,
                       "This is a real-data case but &bdy_control specified is .false. for domain 1, so wrf.exe "
                       "will not read wrfbdy_d01 and the lateral boundaries will not follow the driving data.",
                       severity=Severity.warning)]
        return []
    if bdy is None:
        return [_p("missing_input", "wrfbdy_d01",
                   "The namelist sets specified = .true. for domain 1, so wrf.exe needs the lateral boundary file "
                   "wrfbdy_d01 (made by real.exe), but it was not provided.")]
    file, header = bdy
    out = _grid_vs_namelist(nl, 1, file, header)
    width, spec = header.dimensions.get("bdy_width"), int(nl.one("bdy_control", "spec_bdy_width"))
    if width is not None and width != spec:
        out.append(_p("bdy_width_mismatch", file,
                      f"{file} was written with a boundary zone of {width} rows but the namelist sets spec_bdy_width = "
                      f"{spec}; wrf.exe would misread the boundaries silently."))
    cover = bdy_coverage(header)
    start, end = nl.start(1), nl.run_end()
    if cover["start"] is None or start is None or end is None:
        return out
    if cover["start"] > start:
        out.append(_p("bdy_start_after_run", file,
                      f"{file} starts at {format_wrf_time(cover['start'])}, after the run start "
                      f"{format_wrf_time(start)}; it holds no boundary conditions for the first hours."))
    if cover["end"] < end:
        tail = (f"---- ERROR: Ran out of valid boundary conditions in file {file}" if not version.startswith("3.8")
                else f" ... May have run out of valid boundary conditions in file {file}")
        out.append(_p("bdy_coverage", file,
                      f"The run ends at {format_wrf_time(end)} but {file} only covers until "
                      f"{format_wrf_time(cover['end'])}; shorten the run or make boundaries for the whole period.",
                      tail))
    interval = int(nl.one("time_control", "interval_seconds"))
    if cover["interval_seconds"] and cover["interval_seconds"] != interval:
        note = "" if nl.is_set("time_control", "interval_seconds") else " (not set in the namelist: registry default)"
        out.append(_p("bdy_interval_mismatch", file,
                      f"{file} has boundary records every {cover['interval_seconds']} s but interval_seconds = "
                      f"{interval}{note}; wrf.exe uses interval_seconds for the boundary tendencies and would "
                      "interpolate wrongly."))
    return out


def _physics_fields(nl: NamelistValues, n: int, file: str, header: FileHeader) -> list[Problem]:
    """Fields the configured physics reads from wrfinput; missing ones become zeros without an error."""
    out: list[Problem] = []
    mp = int(nl.dom("physics", "mp_physics", n))
    if MP_SPECIES.get(mp):
        out += check_variables(header, {s: MASS3D for s in MP_SPECIES[mp]}, file, f"mp_physics = {mp} needs")
    if int(nl.one("dynamics", "gwd_opt") or 0) == 1:
        out += check_variables(header, GWD_VARIABLES, file, "gravity-wave drag (gwd_opt = 1) needs")
    lsm = int(nl.dom("physics", "sf_surface_physics", n))
    if lsm in LSM_VARIABLES:
        out += check_variables(header, LSM_VARIABLES[lsm], file, f"sf_surface_physics = {lsm} needs")
    if int(nl.one("physics", "sf_ocean_physics") or 0) == 1:
        out += check_variables(header, OCEAN_VARIABLES, file, "the ocean mixed layer (sf_ocean_physics = 1) needs")
    if int(nl.dom("physics", "sf_urban_physics", n) or 0) > 0:
        out += check_variables(header, URBAN_VARIABLES, file, "the urban canopy model needs")
    return out


def _soil_layers(nl: NamelistValues, n: int, file: str, header: FileHeader) -> list[Problem]:
    """wrf.exe overrides num_soil_layers from sf_surface_physics(1) (§1.4); the file must have that many."""
    lsm = int(nl.dom("physics", "sf_surface_physics", 1))
    derived = SOIL_LAYERS_BY_LSM.get(lsm)
    if lsm == 3:
        asked = int(nl.one("physics", "num_soil_layers"))
        derived = asked if asked in (6, 9) else 6
    have = header.dimensions.get("soil_layers_stag")
    if derived is None or have is None or have == derived:
        return []
    return [_p("soil_layers_mismatch", file,
               f"{file} has {have} soil layers but sf_surface_physics = {lsm} uses {derived}; wrf.exe sets "
               f"num_soil_layers = {derived} and would read the soil fields wrongly. Remake the input with the same "
               "land-surface model.")]


def _nest_geometry(nl: NamelistValues) -> list[Problem]:
    out: list[Problem] = []
    e_vert1 = int(nl.dom("domains", "e_vert", 1))
    for n in range(2, nl.max_dom + 1):
        parent = int(nl.dom("domains", "parent_id", n))
        if not 1 <= parent < n:
            out.append(_p("nest_parent", NAMELIST, f"Domain {n} has parent_id = {parent}; it must be an earlier "
                                                   "domain (1 … n-1)."))
            continue
        e_vert = int(nl.dom("domains", "e_vert", n))
        if e_vert != e_vert1 and not nl.dom("domains", "vert_refine_method", n):
            out.append(_p("e_vert_mismatch", NAMELIST, f"Domain {n} has e_vert = {e_vert} but domain 1 has "
                                                       f"{e_vert1}; all domains need the same vertical levels."))
        ratio = max(int(nl.dom("domains", "parent_grid_ratio", n)), 1)
        for axis, start_var in (("e_we", "i_parent_start"), ("e_sn", "j_parent_start")):
            size, start = int(nl.dom("domains", axis, n)), int(nl.dom("domains", start_var, n))
            parent_size = int(nl.dom("domains", axis, parent))
            if start < 1 or start + (size - 1) // ratio > parent_size - 1:
                out.append(_p("nest_outside_parent", NAMELIST,
                              f"Domain {n} does not fit inside domain {parent}: {start_var} = {start} plus "
                              f"({axis} - 1) / parent_grid_ratio = {(size - 1) // ratio} parent cells goes past the "
                              f"parent's {parent_size - 1} cells."))
    return out


def _aux_start_time(nl: NamelistValues, n: int, file: str, header: FileHeader) -> list[Problem]:
    """Auxiliary input streams get the same time matching as wrfinput (§1.2 l): the start must be a record."""
    start = nl.start(n)
    if start is None or not header.times or format_wrf_time(start) in header.times:
        return []
    tail = (f"---- ERROR: Could not find matching time in input file {file}" if not nl.version.startswith("3.8")
            else f" ... Could not find matching time in input file {file}")
    return [_p("start_time_missing", file,
               f"Domain {n} starts at {format_wrf_time(start)} but {file} holds no record for that time (it has "
               f"{header.times[0]} to {header.times[-1]}).", tail)]


def _aux_inputs(nl: NamelistValues, files: Files, wrfinputs: Mapping[int, str]) -> list[Problem]:
    """wrflowinp for sst_update = 1 and wrffdda for grid_fdda = 1, on the right grid and covering the run."""
    out: list[Problem] = []
    start, end = nl.start(1), nl.run_end()
    for n in sorted(wrfinputs):
        if int(nl.one("physics", "sst_update") or 0) == 1:
            found = files.get(("wrflowinp", n))
            if found is None:
                out.append(_p("missing_input", f"wrflowinp_d{n:02d}",
                              f"sst_update = 1 needs wrflowinp_d{n:02d} (made by real.exe) but it was not provided."))
            else:
                out += _grid_vs_namelist(nl, n, *found)
                out += _aux_start_time(nl, n, *found)
                times = [parse_wrf_time(t) for t in found[1].times]
                if times and None not in times and start and end and (times[0] > start or times[-1] < end):
                    out.append(_p("lowinp_coverage", found[0],
                                  f"{found[0]} covers {found[1].times[0]} to {found[1].times[-1]} but the run goes "
                                  f"from {format_wrf_time(start)} to {format_wrf_time(end)}.", severity=Severity.warning))
        if int(nl.dom("fdda", "grid_fdda", n) or 0) == 1:
            found = files.get(("wrffdda", n))
            if found is None:
                out.append(_p("missing_input", f"wrffdda_d{n:02d}",
                              f"grid_fdda = 1 for domain {n} needs wrffdda_d{n:02d} (made by real.exe) but it was "
                              "not provided."))
            else:
                out += _grid_vs_namelist(nl, n, *found)
    return out


def runtime_checks(nl: NamelistValues, files: Files, wrfinputs: Mapping[int, str], version: str) -> list[Problem]:
    """All checks wrf.exe itself does not make at start-up (see module docstring)."""
    out = _check_boundary(nl, files, version) + _nest_geometry(nl) + _aux_inputs(nl, files, wrfinputs)
    for n, file in sorted(wrfinputs.items()):
        header = files[("wrfinput", n)][1]
        out += _physics_fields(nl, n, file, header) + _soil_layers(nl, n, file, header)
    return out
