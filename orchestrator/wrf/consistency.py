"""Pure namelist-vs-inputs consistency: every start-up check wrf.exe makes (wrf-source-facts §1.2 share/input_wrf.F
and §1.5 dyn_em/start_em.F), each with a clear message and wrf.exe's own text for that version, plus what
wrf.exe does not check but gets wrong (consistency_runtime.py).

Numbers inside ``wrf_message`` follow gfortran list-directed output; their exact spacing is compiler dependent.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from orchestrator.wrf.consistency_runtime import runtime_checks
from orchestrator.wrf.input_specs import format_wrf_time
from orchestrator.wrf.inputs import detect_domain, detect_kind, is_ideal, scalar
from orchestrator.wrf.nml_values import NamelistValues
from orchestrator.wrf.types import FileHeader, Problem, Severity

NAMELIST = "namelist.input"


def _v39(version: str) -> bool:
    return not version.startswith("3.8")


def _ints(*values: int) -> str:
    return "".join(f"{int(v):12d}" for v in values)


def _p(code: str, file: str | None, message: str, wrf: list[str] | None = None,
       severity: Severity = Severity.error) -> Problem:
    return Problem(code=code, file=file, message=message, severity=severity,
                   wrf_message="\n".join(wrf) if wrf else None)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _attr_mismatch(name: str, group: str, nl_name: str, nl: NamelistValues, n: int | None, header: FileHeader,
                   file: str, version: str, v39_only: bool, lines: bool) -> list[Problem]:
    """§1.2 h-k: a physics option stored as a global attribute must equal the namelist (skipped if absent)."""
    nl_value = nl.dom(group, nl_name, n) if n else nl.one(group, nl_name)
    in_file = _num(header.attr(name))
    if in_file is None or _num(nl_value) is None or int(in_file) == int(nl_value):
        return []
    if name == "SF_SURFACE_PHYSICS" and {int(in_file), int(nl_value)} == {2, 4}:
        return []  # wrf.exe accepts Noah and Noah-MP data interchangeably
    how = "sets" if nl.is_set(group, nl_name) else f"does not set it, so WRF {version} uses its default"
    message = (f"{file} was made with {nl_name} = {int(in_file)} but the namelist {how} {nl_name} = "
               f"{int(nl_value)}; rerun real.exe/ideal.exe with the same option or change the namelist.")
    if v39_only and not _v39(version):
        return [_p("physics_mismatch", file, message + " WRF 3.8.1 does not check this, but the "
                   "fields the option needs may be missing from the file.", severity=Severity.warning)]
    wrf = [f"namelist    : {nl_name} = {int(nl_value)}",
           f"input files : {name} = {int(in_file)} (from wrfinput files)."] if lines else []
    tail = f"Mismatch between namelist and global attribute {name}"
    wrf.append(f"---- ERROR: {tail}" if _v39(version) else tail)
    return [_p("physics_mismatch", file, message, wrf)]


def _rotation_angle(header: FileHeader) -> float | None:
    """Largest map rotation (degrees) over the domain corners, for projections where it is computable."""
    proj = _num(header.attr("MAP_PROJ"))
    if proj in (0.0, 3.0):  # Cartesian ideal grid, Mercator: no rotation
        return 0.0
    lons = [scalar(header, n) for n in ("LON_LL_T", "LON_UL_T", "LON_UR_T", "LON_LR_T")]
    stand = _num(header.attr("STAND_LON"))
    if proj not in (1.0, 2.0) or None in lons or stand is None:
        return None
    cone = 1.0
    if proj == 1.0:
        t1, t2 = (math.radians(abs(_num(header.attr(a)) or 0.0)) for a in ("TRUELAT1", "TRUELAT2"))
        if abs(t1 - t2) > math.radians(0.1):
            cone = (math.log10(math.cos(t1)) - math.log10(math.cos(t2))) / (
                math.log10(math.tan(math.pi / 4 - t1 / 2)) - math.log10(math.tan(math.pi / 4 - t2 / 2)))
        else:
            cone = math.sin(t1)
    return max(abs(cone * (((lon - stand + 180.0) % 360.0) - 180.0)) for lon in lons)  # type: ignore[operator]


def _check_wrfinput(nl: NamelistValues, n: int, file: str, header: FileHeader, version: str) -> list[Problem]:
    """§1.2 b, d, e, f, h, i, j, k, l and §1.5 for one wrfinput_d0N wrf.exe reads."""
    v39, out = _v39(version), []
    dims_nl = [int(nl.dom("domains", v, n)) for v in ("e_we", "e_sn", "e_vert")]
    dims_file = [header.attr(a) for a in ("WEST-EAST_GRID_DIMENSION", "SOUTH-NORTH_GRID_DIMENSION",
                                          "BOTTOM-TOP_GRID_DIMENSION")]
    if all(_num(d) is not None for d in dims_file) and [int(d) for d in dims_file] != dims_nl:
        wrf = ([f"input_wrf.F: SIZE MISMATCH:  namelist   ide,jde,kde={_ints(*dims_nl)}",
                f"input_wrf.F: SIZE MISMATCH:  input file ide,jde,kde={_ints(*dims_file)}",
                "---- ERROR: Mismatch between namelist and input file dimensions"] if v39 else
               [f"input_wrf.F: SIZE MISMATCH:  namelist ide,jde,kde={_ints(*dims_nl)} ; input data "
                f"ide,jde,kde={_ints(*dims_file)}"])
        out.append(_p("dimension_mismatch", file,
                      f"The namelist sets e_we, e_sn, e_vert = {', '.join(map(str, dims_nl))} for domain {n}, but "
                      f"{file} has {', '.join(str(int(d)) for d in dims_file)} grid points.", wrf))
    polar = n == 1 and nl.flag("bdy_control", "polar", 1)
    dx_nl, dy_nl = float(nl.dom("domains", "dx", n)), float(nl.dom("domains", "dy", n))
    dx_f, dy_f = _num(header.attr("DX")), _num(header.attr("DY"))
    if not polar and dx_f is not None and dy_f is not None and not (
            math.isclose(dx_f, dx_nl, rel_tol=1e-5) and math.isclose(dy_f, dy_nl, rel_tol=1e-5)):
        tail = "DX and DY do not match comparing namelist to the input file"
        wrf = ([f"dx and dy from file     {dx_f:16.7f}{dy_f:16.7f}", f"dx and dy from namelist {dx_nl:16.7f}"
                f"{dy_nl:16.7f}", f"---- ERROR: {tail}"] if v39 else [tail])
        out.append(_p("grid_spacing_mismatch", file,
                      f"The namelist sets dx, dy = {dx_nl:g}, {dy_nl:g} m for domain {n}, but {file} was made "
                      f"with {dx_f:g}, {dy_f:g} m.", wrf))
    if n >= 2:
        nl_start = [int(nl.dom("domains", v, n)) for v in ("i_parent_start", "j_parent_start")]
        f_start = [_num(header.attr(a)) for a in ("I_PARENT_START", "J_PARENT_START")]
        if None not in f_start and [int(v) for v in f_start] != nl_start:  # type: ignore[arg-type]
            tail = "Nest start locations do not match: namelist.input vs gridded input file"
            wrf = ([f"i_parent_start from namelist.input file = {nl_start[0]}",
                    f"i_parent_start from gridded input file  = {int(f_start[0])}",  # type: ignore[arg-type]
                    f"j_parent_start from namelist.input file = {nl_start[1]}",
                    f"j_parent_start from gridded input file  = {int(f_start[1])}",  # type: ignore[arg-type]
                    f"---- ERROR: {tail}"] if v39 else [tail])
            out.append(_p("nest_start_mismatch", file,
                          f"The namelist places domain {n} at i_parent_start, j_parent_start = {nl_start[0]}, "
                          f"{nl_start[1]}, but {file} was made for {int(f_start[0])}, {int(f_start[1])}.", wrf))  # type: ignore[arg-type]
    land_cat = _num(header.attr("NUM_LAND_CAT"))
    if land_cat is None or land_cat <= 0:  # wrf.exe's fallback when the attribute is absent or invalid
        land_cat = 20.0 if str(header.attr("MMINLU", "")).strip() == "MODIFIED_IGBP_MODIS_NOAH" else 24.0
    nl_cat = int(nl.one("physics", "num_land_cat"))
    if int(land_cat) != nl_cat:
        tail = "Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT"
        wrf = ["----------------- ERROR -------------------", f"namelist    : NUM_LAND_CAT = {nl_cat:10d}",
               f"input files : NUM_LAND_CAT = {int(land_cat):10d} (from geogrid selections).",
               f"---- ERROR: {tail}" if v39 else tail]
        out.append(_p("land_cat_mismatch", file,
                      f"The namelist sets num_land_cat = {nl_cat} but {file} has {int(land_cat)} land-use "
                      "categories (from the geogrid land-use data set).", wrf))
    for attr, group, var, per_domain, v39_only in (
            ("SF_SURFACE_PHYSICS", "physics", "sf_surface_physics", True, False),
            ("GWD_OPT", "dynamics", "gwd_opt", False, True),
            ("SF_OCEAN_PHYSICS", "physics", "sf_ocean_physics", False, True),
            ("SF_URBAN_PHYSICS", "physics", "sf_urban_physics", True, True)):
        out += _attr_mismatch(attr, group, var, nl, n if per_domain else None, header, file, version, v39_only,
                              not v39_only)
    out += _check_start_time(nl, n, file, header, version)
    if is_ideal(header) is False:
        out += _check_base_state(nl, file, header)
    if v39 and int(nl.one("dynamics", "gwd_opt") or 0) == 1:
        angle, limit = _rotation_angle(header), float(nl.one("dynamics", "max_rot_angle_gwd"))
        if angle is not None and angle > limit:
            out.append(_p("gwd_rotation", file,
                          f"gwd_opt = 1 does not work on this map: the grid of domain {n} is rotated by up to "
                          f"{angle:.1f} degrees, more than max_rot_angle_gwd = {limit:g}. Set gwd_opt = 0.",
                          [f"Max projection rotation angle for domain {n} = {angle:8.3f}",
                           "--- ERROR: gwd_opt does not work with this domain"]))
    return out


def _check_start_time(nl: NamelistValues, n: int, file: str, header: FileHeader, version: str) -> list[Problem]:
    """§1.2 l: one Times record must equal the domain's start time (earlier non-matching ones are warnings)."""
    start = nl.start(n)
    if start is None or not header.times:
        return []
    want = format_wrf_time(start)
    if want in header.times:
        if header.times[0] != want:
            return [_p("start_time_not_first", file,
                       f"{file} holds {want} but not as its first record; wrf.exe skips the earlier records "
                       "with warnings.", severity=Severity.warning)]
        return []
    wrf: list[str] = []
    for record in header.times:
        wrf += [f"Time in file: {record}", f"Time on domain: {want}",
                "**WARNING** Time in input file not equal to time on domain **WARNING**",
                f"**WARNING** Trying next time in file {file} ..."]
    wrf.append(f"---- ERROR: Could not find matching time in input file {file}" if _v39(version)
               else f" ... Could not find matching time in input file {file}")
    return [_p("start_time_missing", file,
               f"Domain {n} starts at {want} (namelist start_*), but {file} holds only "
               f"{', '.join(header.times)}. Set the start time to one of these or remake the input.", wrf)]


def _check_base_state(nl: NamelistValues, file: str, header: FileHeader) -> list[Problem]:
    """§1.5 real-data only: P_TOP vs p_top_requested, base state T00/P00, TISO vs iso_temp."""
    out: list[Problem] = []
    p_top, p_req = scalar(header, "P_TOP"), float(nl.one("domains", "p_top_requested"))
    if p_top is not None and not math.isclose(p_top, p_req, rel_tol=1e-5, abs_tol=1e-3):
        out.append(_p("p_top_mismatch", file,
                      f"{file} was made with a model top of {p_top:g} Pa but the namelist sets p_top_requested = "
                      f"{p_req:g} Pa.", ["start_em: p_top from the namelist does not match p_top from the input file."]))
    if nl.flag("dynamics", "use_baseparam_fr_nml"):
        if float(nl.one("dynamics", "base_temp")) <= 100 or float(nl.one("dynamics", "base_pres")) <= 10000:
            out.append(_p("base_state", NAMELIST,
                          "use_baseparam_fr_nml = .true. but base_temp/base_pres in &dynamics are not sensible "
                          "(need base_temp > 100 K and base_pres > 10000 Pa).",
                          ["start_em: BAD BASE STATE for T00 or P00 in namelist.input file"]))
        return out
    t00, p00 = scalar(header, "T00"), scalar(header, "P00")
    if t00 is None or p00 is None or t00 <= 100 or p00 <= 10000:
        out.append(_p("base_state_missing", file,
                      f"{file} holds no usable base state (T00 = {t00}, P00 = {p00}); it was probably made by an "
                      "old real.exe. Set use_baseparam_fr_nml = .true. in &dynamics.",
                      ["start_em: did not find base state parameters in wrfinput. Add use_baseparam_fr_nml = .t. "
                       "in &dynamics and rerun"]))
        return out
    tiso, iso = scalar(header, "TISO"), float(nl.one("dynamics", "iso_temp"))
    if tiso is not None and not math.isclose(tiso, iso, rel_tol=1e-5, abs_tol=1e-3):
        out.append(_p("iso_temp_mismatch", file,
                      f"{file} was made with iso_temp = {tiso:g} K but the namelist sets iso_temp = {iso:g} K.",
                      ["start_em: namelist iso_temp is not equal to iso_temp in wrfinput. Reset nml value and rerun"]))
    return out


def _check_nest_namelist(nl: NamelistValues, ideal_d01: bool | None, wrfinputs: Mapping[int, str]) -> list[Problem]:
    """§1.5: nest sizes must be whole parent cells; an ideal d01 cannot have a nest input file."""
    out: list[Problem] = []
    for n in range(2, nl.max_dom + 1):
        ratio = int(nl.dom("domains", "parent_grid_ratio", n))
        e_we, e_sn = int(nl.dom("domains", "e_we", n)), int(nl.dom("domains", "e_sn", n))
        if ratio >= 1 and ((e_we - 1) % ratio or (e_sn - 1) % ratio):
            out.append(_p("nest_dimensions", NAMELIST,
                          f"Domain {n}: e_we - 1 = {e_we - 1} and e_sn - 1 = {e_sn - 1} must both be multiples of "
                          f"parent_grid_ratio = {ratio}.",
                          [f"Nested dimensions are illegal for domain {n}:  Both MOD({e_we - 1},{ratio}) and "
                           f"MOD({e_sn - 1},{ratio}) must = 0"]))
        if ideal_d01 and nl.flag("time_control", "input_from_file", n) and n in wrfinputs:
            out.append(_p("ideal_nest_input", wrfinputs[n],
                          f"Domain 1 is an idealized case, which cannot read a separate input file for nest {n}; set "
                          f"input_from_file = .false. for domain {n}.",
                          ["start_domain: Idealized case cannot have a separate nested input file"]))
    return out


def classify(headers: Mapping[str, FileHeader]) -> dict[tuple[str, int], tuple[str, FileHeader]]:
    """Index the uploaded headers by (kind, domain) from their content (file name only as a fallback)."""
    out: dict[tuple[str, int], tuple[str, FileHeader]] = {}
    for name, header in headers.items():
        kind, dom = detect_kind(header, name), detect_domain(header, name)
        out.setdefault((kind, dom or 1), (name, header))
    return out


def check_consistency(namelist: Mapping[str, Any], headers: Mapping[str, FileHeader], version: str) -> list[Problem]:
    """Every namelist-vs-input problem wrf.exe would stop on (with its text), and those it would silently get wrong."""
    try:
        return _check_all(namelist, headers, version)
    except (TypeError, ValueError) as exc:  # e.g. e_we = 'abc': wrf.exe would not even read such a namelist
        return [_p("namelist_invalid_value", NAMELIST,
                   f"The namelist holds a value of the wrong type, so it cannot be compared with the inputs: {exc}.")]


def _check_inventory(nl: NamelistValues, headers: Mapping[str, FileHeader],
                     files: Mapping[tuple[str, int], tuple[str, FileHeader]]) -> list[Problem]:
    """Two files claiming the same role, and inputs the namelist will never read."""
    out: list[Problem] = []
    for name, header in headers.items():
        kind, dom = detect_kind(header, name), detect_domain(header, name) or 1
        kept = files.get((kind, dom))
        if kept is not None and kept[0] != name:
            out.append(_p("duplicate_input", name, f"{name} and {kept[0]} are both a {kind} for domain {dom}; "
                                                   f"only {kept[0]} would be used. Remove one of them."))
        elif kind in ("wrfinput", "wrflowinp", "wrffdda") and dom > nl.max_dom:
            out.append(_p("unused_input", name, f"{name} is a {kind} for domain {dom}, but max_dom = {nl.max_dom}: "
                                                "wrf.exe will not read it.", severity=Severity.warning))
    return out


def _check_all(namelist: Mapping[str, Any], headers: Mapping[str, FileHeader], version: str) -> list[Problem]:
    nl = NamelistValues(namelist, version)
    files = classify(headers)
    problems: list[Problem] = _check_inventory(nl, headers, files)
    restart = nl.flag("time_control", "restart")
    wrfinputs: dict[int, str] = {}
    for n in range(1, nl.max_dom + 1):
        if restart or not (n == 1 or nl.flag("time_control", "input_from_file", n)):
            continue  # a restart reads wrfrst files instead; a nest without input_from_file is interpolated
        found = files.get(("wrfinput", n))
        if found is None:
            name = f"wrfinput_d{n:02d}"
            problems.append(_p("missing_input", name,
                               f"Domain {n} needs {name} (made by real.exe or ideal.exe) but it was not provided.",
                               [f"program wrf: error opening {name} for reading ierr=       -1021"] if n == 1 else None))
            continue
        wrfinputs[n] = found[0]
        problems += _check_wrfinput(nl, n, found[0], found[1], version)
    d01 = files.get(("wrfinput", 1))
    cartesian = d01 is not None and _num(d01[1].attr("MAP_PROJ")) == 0.0  # WRF's test for an ideal case here
    problems += _check_nest_namelist(nl, cartesian, wrfinputs)
    problems += runtime_checks(nl, files, wrfinputs, version)
    return problems + nl.notes
