"""Render namelist.input for a run: per-version defaults + values derived from the inputs + the user's choices.

Layers, last wins: Cloudrun defaults (templates/namelist/<version>.yaml) → values read from the inputs that
wrf.exe does not check (physics the producer used, dynamics hints) → the user (JSON overrides or an uploaded
namelist.input) → values wrf.exe checks against the inputs ("hard" values: grid, DX/DY, nest geometry,
NUM_LAND_CAT, checked physics, start time, boundary interval/coverage, P_TOP/TISO). A JSON override that
contradicts a hard value is an error; an uploaded namelist that does is corrected, each correction reported.
Pure functions, except `load_version_spec` reading the templates once.
"""
from __future__ import annotations

import copy
import io
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import f90nml

from orchestrator.wrf.namelist_derive import (
    SEVEN_PHYSICS, checked_physics, date_fields, derive_from_inputs, expand, iso_time, parse_time)
from orchestrator.wrf.namelist_registry import (
    NAMELIST_FILE, VersionSpec, check_known, check_variable, error, load_version_spec, parse_namelist_text,
    parse_overrides)
from orchestrator.wrf.namelist_rules import (
    apply_user, check_start, correction, hard_values, history_seconds, merge, normalise_lengths,
    open_boundaries, set_intervals, set_time_step, set_times, soft_values)
from orchestrator.wrf.types import FileHeader, Problem, Severity

Namelist = dict[str, dict[str, Any]]
TIME_UNITS = ("year", "month", "day", "hour", "minute", "second")
# Variable order within a group as in WRF's own test/em_real and test/em_quarter_ss namelists (readability
# only); other variables follow in the order they were set.
CONVENTIONAL_ORDER = {
    "time_control": ["run_days", "run_hours", "run_minutes", "run_seconds"]
    + [f"{p}_{u}" for p in ("start", "end") for u in TIME_UNITS]
    + ["interval_seconds", "input_from_file", "history_interval", "frames_per_outfile", "restart",
       "restart_interval", "io_form_history", "io_form_restart", "io_form_input", "io_form_boundary",
       "debug_level"],
    "domains": ["time_step", "time_step_fract_num", "time_step_fract_den", "max_dom", "s_we", "e_we", "s_sn",
                "e_sn", "s_vert", "e_vert", "p_top_requested", "dx", "dy", "grid_id", "parent_id",
                "i_parent_start", "j_parent_start", "parent_grid_ratio", "parent_time_step_ratio", "feedback",
                "smooth_option", "nproc_x", "nproc_y"],
    "physics": ["mp_physics", "ra_lw_physics", "ra_sw_physics", "radt", "sf_sfclay_physics",
                "sf_surface_physics", "bl_pbl_physics", "bldt", "cu_physics", "cudt", "num_soil_layers",
                "num_land_cat", "sf_urban_physics", "sf_ocean_physics"],
    "dynamics": ["rk_ord", "w_damping", "diff_opt", "km_opt", "diff_6th_opt", "diff_6th_factor", "base_temp",
                 "damp_opt", "zdamp", "dampcoef", "khdif", "kvdif", "iso_temp", "non_hydrostatic",
                 "moist_adv_opt", "scalar_adv_opt", "gwd_opt", "hybrid_opt"],
    "bdy_control": ["spec_bdy_width", "spec_zone", "relax_zone", "specified", "nested", "periodic_x",
                    "symmetric_xs", "symmetric_xe", "open_xs", "open_xe", "periodic_y", "symmetric_ys",
                    "symmetric_ye", "open_ys", "open_ye"],
    "namelist_quilt": ["nio_tasks_per_group", "nio_groups"],
}


@dataclass
class NamelistResult:
    """The rendered namelist (dict and text), what was corrected, what is wrong, and the run's model summary."""

    namelist: Namelist
    text: str
    corrections: list[Problem] = field(default_factory=list)   # warnings, code namelist_corrected
    problems: list[Problem] = field(default_factory=list)      # errors: setup must refuse
    model: dict[str, Any] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)      # other warnings (e.g. physics ≠ input)

    @property
    def ok(self) -> bool:
        """True when setup may go on (no errors)."""
        return not self.problems


def namelist_text(spec: VersionSpec, nml: Namelist) -> str:
    """The namelist.input text (f90nml), groups in WRF's conventional order, &namelist_quilt last."""
    order = [g for g in spec.group_order if g != "namelist_quilt"]
    groups = order + sorted(g for g in nml if g not in spec.group_order) + ["namelist_quilt"]
    out = f90nml.Namelist()
    for group in groups:
        names = nml.get(group, {})
        first = [k for k in CONVENTIONAL_ORDER.get(group, []) if k in names]
        # an OrderedDict keeps this order (f90nml re-sorts a plain dict)
        out[group] = f90nml.Namelist(OrderedDict((k, names[k]) for k in first + [k for k in names
                                                                                 if k not in first]))
    out.end_comma = True
    out.indent = 1
    buffer = io.StringIO()
    out.write(buffer)
    return buffer.getvalue()


def render_namelist(version: str, inputs: dict[str, FileHeader], overrides: dict[str, Any] | None = None,
                    uploaded_text: str | None = None, defaults: VersionSpec | None = None) -> NamelistResult:
    """Build namelist.input for `version` from the inputs (FileHeader by filename), the user's JSON
    overrides or uploaded namelist.input text; see the module docstring for the rules."""
    try:
        spec = defaults or load_version_spec(version)
    except ValueError as exc:  # an unknown version is the user's problem, not a crash
        return NamelistResult({}, "", problems=[error("unsupported_version", str(exc), None)])
    derived = derive_from_inputs(inputs)
    problems, corrections, warnings = list(derived.problems), [], []
    user, uploaded = {}, uploaded_text is not None
    if uploaded:
        user, parse_problems = parse_namelist_text(uploaded_text or "")
        problems += parse_problems + check_known(spec, user, NAMELIST_FILE)
        # 3.9's physics_suite only fills options left at -1; Cloudrun writes all seven, so say so
        if str(user.get("physics", {}).get("physics_suite", "none")).lower() != "none":
            warnings.append(Problem("physics_suite", "physics_suite is set; Cloudrun still writes the seven "
                                    "physics options from the inputs explicitly.", NAMELIST_FILE, Severity.warning))
    if overrides:
        json_user, override_problems = parse_overrides(version, overrides, spec)
        problems += override_problems
        for group, names in json_user.items():
            user.setdefault(group, {}).update(names)
    if not derived.domains or any(p.code == "namelist_syntax" for p in problems):
        return NamelistResult({}, "", corrections, problems, {}, warnings)
    if derived.ideal and len(derived.domains) > 1:
        problems.append(error("ideal_nest_input", "an ideal case cannot have a separate nest input file "
                              "(wrf.exe: Idealized case cannot have a separate nested input file).", None))
    # drop refused variables (already reported) so the rest can still be rendered and checked
    user = {g: {k: v for k, v in names.items() if not check_variable(spec, g, k, v, None)}
            for g, names in user.items() if g in spec.known}
    n = len(derived.domains)
    nml: Namelist = copy.deepcopy(spec.render)
    merge(nml, spec.render_ideal if derived.ideal else spec.render_real)
    merge(nml, soft_values(spec, derived))
    start0 = derived.domains[0].start or datetime(1, 1, 1)
    hard = hard_values(spec, derived, start0)
    merge(nml, {g: {v: h.value for (gg, v), h in hard.items() if gg == g} for g in {g for g, _ in hard}})
    if uploaded:
        user.setdefault("time_control", {})
        if "namelist_quilt" not in user:
            corrections.append(correction("namelist_quilt", "(group)", None, "nio_tasks_per_group = 0, "
                                          "nio_groups = 1", "wrf.exe stops without &namelist_quilt"))
        check_start(derived, user, corrections)
        suite = str(user.get("physics", {}).get("physics_suite", "none")).lower() != "none"
        for var in SEVEN_PHYSICS:  # 3.9 defaults them to -1 (fatal) unless a physics suite fills them
            default = spec.registry_defaults.get("physics", {}).get(var, 0)
            if var not in user.get("physics", {}) and default != nml["physics"][var][0] and not suite:
                corrections.append(correction("physics", var, f"unset (WRF {spec.version} default {default})",
                                              nml["physics"][var], "taken from the wrfinput_d01 attributes"))
    if derived.ideal:
        open_boundaries(nml, user)
    apply_user(spec, nml, user, hard, uploaded, corrections, problems)
    merge(nml, {g: {v: h.value for (gg, v), h in hard.items() if gg == g} for g in {g for g, _ in hard}})
    for var in SEVEN_PHYSICS:  # soft physics differing from what the inputs were made with: a warning
        have = expand(nml["physics"].get(var), 1)[0]
        if var in derived.physics and var not in checked_physics(version) and have != derived.physics[var][1]:
            warnings.append(Problem("physics_differs_from_input", f"&physics {var} = {have} but wrfinput_d01 "
                                    f"was made with {derived.physics[var][1]}; fields that scheme needs may be "
                                    "zero.", NAMELIST_FILE, Severity.warning))
    set_intervals(spec, nml, uploaded, corrections)
    start, end = set_times(spec, derived, nml, user, uploaded, corrections, problems)
    dt = set_time_step(derived, nml, user, uploaded, corrections)
    normalise_lengths(spec, nml, user, uploaded, corrections)
    model = {"domains": n, "domain_shape": [[g.e_vert - 1, g.e_sn - 1, g.e_we - 1] for g in derived.domains],
             "dx": derived.domains[0].dx, "dy": derived.domains[0].dy, "dt": dt,
             "start_time": iso_time(start), "end_time": iso_time(end),
             "output_interval": history_seconds(nml["time_control"])}
    return NamelistResult(nml, namelist_text(spec, nml), corrections, problems, model, warnings)


def render_restart(namelist: Namelist, restart_time: str | datetime) -> Namelist:
    """The namelist for resuming from wrfrst at restart_time: restart = .true., start_* = restart time for
    every domain, end_* kept, run_* zeroed (they would count from the new start, facts 5.3)."""
    when = parse_time(restart_time) if isinstance(restart_time, str) else restart_time
    out = copy.deepcopy(namelist)
    tc = out.setdefault("time_control", {})
    n = int(out.get("domains", {}).get("max_dom", 1))
    tc["restart"] = True
    tc.update(date_fields("start", when, n))
    tc.update({f"run_{u}": 0 for u in ("days", "hours", "minutes", "seconds")})
    return out


def set_mesh(namelist: Namelist, nproc_x: int, nproc_y: int) -> Namelist:
    """The namelist with Cloudrun's explicit MPI mesh (&domains nproc_x/nproc_y) for the chosen core count."""
    out = copy.deepcopy(namelist)
    out.setdefault("domains", {}).update({"nproc_x": nproc_x, "nproc_y": nproc_y})
    return out


def namelist_for(groups: dict[str, Any], option: dict[str, Any], version: str, restart_time: str | None = None) -> str:
    """namelist.input for one compute option: Cloudrun's explicit MPI mesh, and restart settings if resuming."""
    namelist = groups
    if option.get("nproc_x") and option.get("nproc_y"):
        namelist = set_mesh(namelist, int(option["nproc_x"]), int(option["nproc_y"]))
    if restart_time:
        namelist = render_restart(namelist, restart_time)
    return namelist_text(load_version_spec(version), namelist)


def smaller_time_step(groups: dict[str, Any]) -> dict[str, Any] | None:
    """The namelist with the next smaller whole-second time_step that still divides the history interval
    (the usual cure for a CFL blow-up), or None when no smaller whole second fits."""
    domains = groups.get("domains", {})
    current = int(expand(domains.get("time_step", 0), 1)[0] or 0)
    history = history_seconds(groups.get("time_control", {}))
    for step in range(current - 1, 0, -1):
        if history % step == 0:
            out = copy.deepcopy(groups)
            out["domains"]["time_step"] = step
            return out
    return None
