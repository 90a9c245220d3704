"""The rules behind render_namelist (orchestrator/wrf/namelist.py): which values are "hard" (compared with
the inputs by wrf.exe), which are only suggested by the inputs, and how the user's values, the run's times,
output intervals, time step and per-domain lengths are settled. Pure functions on plain dicts.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.wrf.namelist_derive import (
    SEVEN_PHYSICS, Derived, checked_physics, date_fields, expand, format_time, read_date, run_length,
    soil_layers_for, time_step_for)
from orchestrator.wrf.namelist_registry import NAMELIST_FILE, VersionSpec, error
from orchestrator.wrf.types import Problem, Severity

Namelist = dict[str, dict[str, Any]]
TIME_UNITS = ("year", "month", "day", "hour", "minute", "second")


@dataclass
class Hard:
    """One value wrf.exe checks against the inputs, and why (used in messages)."""

    value: Any
    why: str


def same_value(var: str, a: Any, b: Any) -> bool:
    """Equality as wrf.exe judges it: DX/DY within 1e-5 relative, Noah (2) and Noah-MP (4) interchangeable."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if var == "sf_surface_physics" and {a, b} <= {2, 4}:
            return True
        return abs(a - b) <= 1e-5 * max(abs(a), abs(b), 1.0)
    return a == b


def hard_values(spec: VersionSpec, d: Derived, start: datetime) -> dict[tuple[str, str], Hard]:
    """Every value wrf.exe compares with the inputs, per (group, variable); per-domain ones as lists."""
    n = len(d.domains)
    names = [f"wrfinput_d{g.grid_id:02d}" for g in d.domains]
    hard: dict[tuple[str, str], Hard] = {("domains", "max_dom"): Hard(n, f"{n} wrfinput file(s) given")}
    for var, attr in (("e_we", "WEST-EAST_GRID_DIMENSION"), ("e_sn", "SOUTH-NORTH_GRID_DIMENSION"),
                      ("e_vert", "BOTTOM-TOP_GRID_DIMENSION"), ("dx", "DX"), ("dy", "DY"),
                      ("parent_id", "PARENT_ID"), ("i_parent_start", "I_PARENT_START"),
                      ("j_parent_start", "J_PARENT_START"), ("parent_grid_ratio", "PARENT_GRID_RATIO")):
        values = [getattr(g, var) for g in d.domains]
        hard[("domains", var)] = Hard(values, f"{attr} of {', '.join(names)} is "
                                      f"{', '.join(str(v) for v in values)}")
    hard[("domains", "grid_id")] = Hard(list(range(1, n + 1)), "domains are numbered d01..")
    if d.num_land_cat is not None:
        hard[("physics", "num_land_cat")] = Hard(d.num_land_cat, f"NUM_LAND_CAT of wrfinput_d01 is "
                                                 f"{d.num_land_cat}")
    for var in checked_physics(spec.version):
        if var in d.physics:
            group, value = d.physics[var]
            entries = [value] * n if spec.known[group][var].per_domain else value
            hard[(group, var)] = Hard(entries, f"{var.upper()} of wrfinput_d01 is {value} and wrf.exe "
                                      f"{spec.version} stops on a mismatch")
    hard[("time_control", "input_from_file")] = Hard([True] * n, "every domain has its wrfinput file")
    for unit in TIME_UNITS:
        hard[("time_control", f"start_{unit}")] = Hard(
            [getattr(g.start or start, unit) for g in d.domains], "the start must be a Times record of the "
            f"inputs ({', '.join(format_time(g.start or start) for g in d.domains)})")
    nested = [False] + [True] * (n - 1)
    hard[("bdy_control", "nested")] = Hard(nested, "nests take their boundaries from the parent")
    if d.ideal:
        hard[("bdy_control", "specified")] = Hard([False] * n, "an ideal case has no wrfbdy_d01")
    else:
        hard[("bdy_control", "specified")] = Hard([True] + [False] * (n - 1), "real-data d01 reads wrfbdy_d01")
        if d.interval_seconds:
            hard[("time_control", "interval_seconds")] = Hard(d.interval_seconds, "wrfbdy_d01 records are "
                                                              f"{d.interval_seconds} s apart")
        if d.spec_bdy_width:
            hard[("bdy_control", "spec_bdy_width")] = Hard(d.spec_bdy_width, "bdy_width of wrfbdy_d01 is "
                                                           f"{d.spec_bdy_width}")
        if d.p_top is not None:
            hard[("domains", "p_top_requested")] = Hard(d.p_top, f"P_TOP of wrfinput_d01 is {d.p_top:g}")
        if d.iso_temp is not None:
            hard[("dynamics", "iso_temp")] = Hard(d.iso_temp, f"TISO of wrfinput_d01 is {d.iso_temp:g}")
    return hard


def soft_values(spec: VersionSpec, d: Derived) -> Namelist:
    """Values from the inputs that wrf.exe does not check: the other physics, dynamics hints, soil layers."""
    n = len(d.domains)
    out: Namelist = {"physics": {}, "dynamics": dict(d.dynamics_hints)}
    for var in SEVEN_PHYSICS:
        # in 3.9 every one of the seven is written explicitly: a missing one defaults to -1 (facts 1.7)
        value = d.physics.get(var, ("physics", 0))[1]
        out["physics"][var] = [value] * n
    for var, (group, value) in d.physics.items():
        spec_var = spec.known[group].get(var)
        if spec_var is not None:
            out[group].setdefault(var, [value] * n if spec_var.per_domain else value)
    surface = d.physics.get("sf_surface_physics", ("physics", 0))[1]
    out["physics"]["num_soil_layers"] = d.num_soil_layers or soil_layers_for(surface)
    dx_km = d.domains[0].dx / 1000.0
    out["physics"]["radt"] = [max(1, round(dx_km))] * n  # README.namelist: 1 min per km of dx, same on nests
    out["domains"] = {"parent_time_step_ratio": [g.parent_grid_ratio for g in d.domains]}
    if d.ideal:
        out["bdy_control"] = {f"open_{side}": [True] + [False] * (n - 1) for side in ("xs", "xe", "ys", "ye")}
        # unused without wrfbdy, but always written: its default changed 43200 -> 10800 in 3.9 (facts 3.3)
        out["time_control"] = {"interval_seconds": spec.registry_defaults.get("time_control", {}).get(
            "interval_seconds", 10800)}
    else:
        out["bdy_control"] = {"relax_zone": (d.spec_bdy_width or 5) - 1}
    return out


def merge(base: Namelist, layer: Namelist) -> None:
    """Copy a layer's values over base, group by group (later layers win)."""
    for group, names in layer.items():
        base.setdefault(group, {}).update(copy.deepcopy(names))


def fmt(value: Any) -> str:
    """A value as shown in messages (lists comma-separated)."""
    return "unset" if value is None else (", ".join(map(str, value)) if isinstance(value, list) else str(value))


def correction(group: str, var: str, old: Any, new: Any, why: str) -> Problem:
    """The warning reporting one corrected value of an uploaded namelist: variable, old and new value, why."""
    return Problem("namelist_corrected", f"&{group} {var} was {fmt(old)}, set to {fmt(new)}: {why}.",
                   NAMELIST_FILE, Severity.warning)


def history_seconds(tc: dict[str, Any]) -> int:
    """d01's history interval in seconds (the _d/_h/_m/_s parts add up; _m falls back to history_interval)."""
    part = lambda name: int(expand(tc.get(name, 0), 1)[0] or 0)  # noqa: E731 - tiny local accessor
    minutes = part("history_interval_m") or part("history_interval")
    return (part("history_interval_d") * 86400 + part("history_interval_h") * 3600 + minutes * 60
            + part("history_interval_s"))


def apply_user(spec: VersionSpec, nml: Namelist, user: Namelist, hard: dict[tuple[str, str], Hard],
               uploaded: bool, corrections: list[Problem], problems: list[Problem]) -> None:
    """Put the user's values in, then enforce the hard values: correct (uploaded) or refuse (JSON)."""
    n = nml["domains"]["max_dom"]
    for group, names in user.items():
        for var, value in names.items():
            h = hard.get((group, var))
            if h is not None and not uploaded:
                want = h.value
                pairs = zip(expand(value, n), want) if isinstance(want, list) else [(expand(value, 1)[0], want)]
                if not all(same_value(var, a, b) for a, b in pairs):
                    problems.append(error("override_contradicts_inputs", f"&{group} {var} = {fmt(value)} "
                                          f"contradicts the inputs: {h.why} (needs {fmt(want)})."))
                continue
            nml.setdefault(group, {})[var] = copy.deepcopy(value)
    if not uploaded:
        return
    for (group, var), h in hard.items():
        have = user.get(group, {}).get(var)
        want = h.value
        if have is None:
            default = spec.registry_defaults.get(group, {}).get(var)
            if default is None or all(same_value(var, default, w) for w in expand(want, n)):
                continue
            have_cmp = expand(default, n) if isinstance(want, list) else default
        else:
            have_cmp = expand(have, n) if isinstance(want, list) else have
        pairs = zip(have_cmp, want) if isinstance(want, list) else [(have_cmp, want)]
        if not all(same_value(var, a, b) for a, b in pairs):
            # show only the entries wrf.exe reads (max_dom of them)
            shown = (have[:n] if isinstance(have, list) else have) if have is not None else \
                f"unset (WRF default {spec.registry_defaults[group][var]})"
            corrections.append(correction(group, var, shown, want, h.why))


def set_times(spec: VersionSpec, d: Derived, nml: Namelist, user: Namelist, uploaded: bool,
              corrections: list[Problem], problems: list[Problem]) -> tuple[datetime, datetime]:
    """Start from the inputs; end = the user's (run_* first, as wrf.exe does for d01), else the wrfbdy
    coverage (real), else the documented default; never past the boundary coverage."""
    tc, n = nml["time_control"], nml["domains"]["max_dom"]
    start = d.domains[0].start or datetime(1, 1, 1)
    utc = user.get("time_control", {})
    length = run_length(utc)
    end = start + length if length else (read_date(utc, "end") if any(k.startswith("end_") for k in utc)
                                         else None)
    if end is None:
        if d.ideal:
            end = start + timedelta(minutes=int(spec.cloudrun.get("ideal_run_minutes", 60)))
        elif d.bdy_end is not None:
            end = d.bdy_end
        else:
            problems.append(error("missing_input", "a real-data case needs wrfbdy_d01 (it gives the "
                                  "boundary conditions and the end of the run).", "wrfbdy_d01"))
            end = start + timedelta(minutes=int(spec.cloudrun.get("real_run_minutes_without_bdy", 360)))
    if end <= start:
        problems.append(error("bad_run_length", f"the run ends ({format_time(end)}) at or before its start "
                              f"({format_time(start)})."))
    if not d.ideal and d.bdy_end is not None and end > d.bdy_end:
        msg = (f"the run would end at {format_time(end)} but wrfbdy_d01 covers only until "
               f"{format_time(d.bdy_end)} (wrf.exe: Ran out of valid boundary conditions)")
        if uploaded:
            corrections.append(correction("time_control", "end", format_time(end), format_time(d.bdy_end), msg))
            end = d.bdy_end
            tc.update({f"run_{u}": 0 for u in ("days", "hours", "minutes", "seconds")})
        else:
            problems.append(error("run_beyond_boundary", msg + "."))
    old_end = read_date(tc, "end", n - 1) if uploaded and n > 1 else None
    tc.update(date_fields("end", end, n))  # nests always stop at their own end_* (facts 3.1): all equal
    if old_end is not None and old_end != end:
        corrections.append(correction("time_control", "end_* (nests)", format_time(old_end), format_time(end),
                                      "nests stop at their own end_*, so every domain gets the run's end"))
    return start, end


def set_intervals(spec: VersionSpec, nml: Namelist, uploaded: bool, corrections: list[Problem]) -> None:
    """history and restart intervals are never 0 (0 means no wrfout / no wrfrst at all, facts 3.3)."""
    tc, n = nml["time_control"], nml["domains"]["max_dom"]
    if history_seconds(tc) == 0:
        new = int(spec.cloudrun.get("history_interval_minutes", 60))
        if uploaded:
            old = tc.get("history_interval")
            corrections.append(correction("time_control", "history_interval", old[:n] if isinstance(old, list)
                                          else old, new,
                                           "0 or unset means wrf.exe writes no wrfout at all"))
        tc["history_interval"] = [new] * n
    restart = sum(int(expand(tc.get(k, 0), 1)[0] or 0) * m for k, m in (
        ("restart_interval", 1), ("restart_interval_d", 1440), ("restart_interval_h", 60),
        ("restart_interval_m", 1), ("restart_interval_s", 1 / 60)))
    if restart == 0:
        new = int(spec.cloudrun.get("restart_interval_minutes", 360))
        if uploaded:
            corrections.append(correction("time_control", "restart_interval", tc.get("restart_interval"), new,
                                          "0 or unset means no restart files, so no recovery after a failure"))
        tc["restart_interval"] = new


def set_time_step(d: Derived, nml: Namelist, user: Namelist, uploaded: bool, corrections: list[Problem]) -> float:
    """The user's time_step when positive, else the 6·dx rule fitted to the history interval."""
    dom, user_dom = nml["domains"], user.get("domains", {})
    given = user_dom.get("time_step")
    if isinstance(given, int) and (given > 0 or user_dom.get("time_step_fract_num", 0)):
        num, den = int(dom.get("time_step_fract_num", 0) or 0), int(dom.get("time_step_fract_den", 1) or 1)
        return given + num / den
    step, num, den = time_step_for(d.domains[0].dx, history_seconds(nml["time_control"]))
    if uploaded and given is not None:
        corrections.append(correction("domains", "time_step", given, step,
                                      "wrf.exe needs a positive time step (facts 1.7); 6·dx(km) rule"))
    dom.update({"time_step": step, "time_step_fract_num": num, "time_step_fract_den": den})
    return step + num / den


def normalise_lengths(spec: VersionSpec, nml: Namelist, user: Namelist, uploaded: bool,
                      corrections: list[Problem]) -> None:
    """Write every per-domain array with exactly max_dom entries (WRF uses registry defaults, not d01's
    value, for entries left out); scalars stay scalars."""
    n = nml["domains"]["max_dom"]
    for group, names in nml.items():
        for var, value in list(names.items()):
            var_spec = spec.spec(group, var)
            if var_spec is None or not var_spec.per_domain:
                if isinstance(value, list) and var_spec is not None and var_spec.entries == "1":
                    names[var] = value[0]
                continue
            given = user.get(group, {}).get(var)
            if uploaded and isinstance(given, list) and len(given) < n and value == given:
                corrections.append(correction(group, var, given, expand(given, n), f"{len(given)} entries for "
                                              f"{n} domains; wrf.exe would use its registry default for the rest"))
            names[var] = expand(value, n)


def open_boundaries(nml: Namelist, user: Namelist) -> None:
    """A user making an ideal d01 periodic or symmetric on an axis turns Cloudrun's default open boundaries
    off on that axis (a side cannot be both)."""
    bdy = user.get("bdy_control", {})
    for axis in ("x", "y"):
        sides = (f"periodic_{axis}", f"symmetric_{axis}s", f"symmetric_{axis}e")
        if any(expand(bdy.get(k, False), 1)[0] for k in sides):
            for side in (f"open_{axis}s", f"open_{axis}e"):
                if side not in bdy:
                    nml["bdy_control"][side] = [False] * len(nml["bdy_control"][side])


def check_start(d: Derived, user: Namelist, corrections: list[Problem]) -> None:
    """An uploaded start_* must be a Times record of wrfinput_d01; otherwise it is corrected (the hard value
    replaces it) and reported once for the date rather than per field."""
    tc = user.get("time_control", {})
    given = read_date(tc, "start")
    if given is None or d.domains[0].start is None:
        return
    records = {t for t in d.domains[0].times}
    if format_time(given) not in records:
        corrections.append(correction("time_control", "start_*", format_time(given), format_time(
            d.domains[0].start), f"wrfinput_d01 holds no record at that time (Times: {', '.join(sorted(records))}"
            "; wrf.exe: Could not find matching time in input file)"))
    for unit in TIME_UNITS:  # the per-field hard check would report the same thing six times
        tc.pop(f"start_{unit}", None)
