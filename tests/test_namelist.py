"""namelist.input rendering from canned FileHeader values, uploaded-namelist checking, overrides, restart."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import f90nml
import pytest

from orchestrator.wrf.namelist import render_namelist, render_restart, set_mesh
from orchestrator.wrf.namelist_derive import time_step_for
from orchestrator.wrf.namelist_registry import load_version_spec, parse_overrides
from orchestrator.wrf.types import FileHeader, Severity

SEVEN = ("mp_physics", "ra_lw_physics", "ra_sw_physics", "sf_sfclay_physics", "sf_surface_physics",
         "bl_pbl_physics", "cu_physics")


def header(name: str, attrs: dict[str, Any], times: tuple[str, ...] = (), dims: dict[str, int] | None = None,
           extra: dict[str, tuple[str, ...]] | None = None, scalars: dict[str, float] | None = None) -> FileHeader:
    attributes = dict(attrs)
    if scalars:
        attributes["__scalars__"] = scalars
    return FileHeader(path=f"/runs/x/{name}", data_format="NETCDF3_64BIT_OFFSET", file_size=1000,
                      expected_min_size=1000, dimensions=dims or {}, unlimited_dimensions=("Time",),
                      attributes=attributes, variables={}, times=times, extra_times=extra or {})


def wrfinput(e_we: int = 42, e_sn: int = 42, e_vert: int = 41, dx: float = 2000.0, ideal: bool = True,
             times: tuple[str, ...] = ("0001-01-01_00:00:00",), **attrs: Any) -> dict[str, Any]:
    base = {"WEST-EAST_GRID_DIMENSION": e_we, "SOUTH-NORTH_GRID_DIMENSION": e_sn, "BOTTOM-TOP_GRID_DIMENSION": e_vert,
            "DX": dx, "DY": dx, "NUM_LAND_CAT": 21, "SF_SURFACE_PHYSICS": 0, "GWD_OPT": 0, "SF_OCEAN_PHYSICS": 0,
            "SF_URBAN_PHYSICS": 0, "MP_PHYSICS": 1, "RA_LW_PHYSICS": 0, "RA_SW_PHYSICS": 0, "BL_PBL_PHYSICS": 0,
            "CU_PHYSICS": 0, "SF_SFCLAY_PHYSICS": 0, "GRID_ID": 1, "PARENT_ID": 0, "I_PARENT_START": 0,
            "J_PARENT_START": 0, "PARENT_GRID_RATIO": 1,
            "SIMULATION_INITIALIZATION_TYPE": "IDEALIZED DATA" if ideal else "REAL-DATA CASE"}
    base.update(attrs)
    return {"attrs": base, "times": times}


def ideal_inputs(**kw: Any) -> dict[str, FileHeader]:
    spec = wrfinput(**kw)
    return {"wrfinput_d01": header("wrfinput_d01", spec["attrs"], spec["times"])}


BDY = ("md___thisbdytimee_x_t_d_o_m_a_i_n_m_e_t_a_data_", "md___nextbdytimee_x_t_d_o_m_a_i_n_m_e_t_a_data_")


def real_inputs(nest: bool = True) -> dict[str, FileHeader]:
    """A 30 km d01 (100x80x35) with wrfbdy covering 24 h at 6 h, and a 10 km nest (ratio 3) at (30, 25)."""
    physics = dict(NUM_LAND_CAT=24, SF_SURFACE_PHYSICS=2, MP_PHYSICS=6, RA_LW_PHYSICS=4, RA_SW_PHYSICS=4,
                   BL_PBL_PHYSICS=1, CU_PHYSICS=1, SF_SFCLAY_PHYSICS=1, GWD_OPT=1)
    d01 = wrfinput(100, 80, 35, 30000.0, ideal=False, times=("2017-06-01_00:00:00",), **physics)
    out = {"wrfinput_d01": header("wrfinput_d01", d01["attrs"], d01["times"], dims={"soil_layers_stag": 4},
                                  scalars={"P_TOP": 5000.0, "TISO": 200.0})}
    if nest:
        d02 = wrfinput(91, 61, 35, 10000.0, ideal=False, times=("2017-06-01_00:00:00",), GRID_ID=2, PARENT_ID=1,
                       I_PARENT_START=30, J_PARENT_START=25, PARENT_GRID_RATIO=3, **physics)
        out["wrfinput_d02"] = header("wrfinput_d02", d02["attrs"], d02["times"])
    this = tuple(f"2017-06-01_{h:02d}:00:00" for h in (0, 6, 12, 18))
    nxt = ("2017-06-01_06:00:00", "2017-06-01_12:00:00", "2017-06-01_18:00:00", "2017-06-02_00:00:00")
    out["wrfbdy_d01"] = header("wrfbdy_d01", {}, this, dims={"bdy_width": 5}, extra={BDY[0]: this, BDY[1]: nxt})
    return out


# The namelist.input shipped with WRF's test/em_quarter_ss (identical in V3.8.1 and V3.9), abridged only by
# dropping the column alignment; the full files from shared/wrf-reference/namelists are used too when present.
QUARTER_SS = """
 &time_control
 run_days = 0, run_hours = 0, run_minutes = 60, run_seconds = 0,
 start_year = 0001, 0001, 0001, start_month = 01, 01, 01, start_day = 01, 01, 01,
 start_hour = 00, 00, 00, start_minute = 00, 00, 00, start_second = 00, 00, 00,
 end_year = 0001, 0001, 0001, end_month = 01, 01, 01, end_day = 01, 01, 01,
 end_hour = 00, 00, 00, end_minute = 120, 120, 120, end_second = 00, 00, 00,
 history_interval = 30, 10, 10, frames_per_outfile = 1000, 1000, 1000,
 restart = .false., restart_interval = 120,
 io_form_history = 2 io_form_restart = 2 io_form_input = 2 io_form_boundary = 2 debug_level = 0
 /
 &domains
 time_step = 12, time_step_fract_num = 0, time_step_fract_den = 1, max_dom = 1,
 s_we = 1, 1, 1, e_we = 42, 43, 43, s_sn = 1, 1, 1, e_sn = 42, 43, 43, s_vert = 1, 1, 1, e_vert = 41, 41, 41,
 dx = 2000, 666.6666667, 222.2222222 dy = 2000, 666.6666667, 222.2222222 ztop = 20000, 20000, 20000,
 grid_id = 1, 2, 3, parent_id = 0, 1, 2, i_parent_start = 0, 15, 15, j_parent_start = 0, 15, 15,
 parent_grid_ratio = 1, 3, 3, parent_time_step_ratio = 1, 3, 3, feedback = 1, smooth_option = 0
 /
 &physics
 mp_physics = 1, 1, 1, ra_lw_physics = 0, 0, 0, ra_sw_physics = 0, 0, 0, radt = 30, 30, 30,
 sf_sfclay_physics = 0, 0, 0, sf_surface_physics = 0, 0, 0, bl_pbl_physics = 0, 0, 0, bldt = 0, 0, 0,
 cu_physics = 0, 0, 0, cudt = 5, 5, 5, num_soil_layers = 5,
 /
 &fdda
 /
 &dynamics
 rk_ord = 3, diff_opt = 2, 2, 2, km_opt = 2, 2, 2, damp_opt = 2, zdamp = 5000., 5000., 5000.,
 dampcoef = 0.003, 0.003, 0.003 khdif = 500, 500, 500, kvdif = 500, 500, 500, smdiv = 0.1, 0.1, 0.1,
 emdiv = 0.01, 0.01, 0.01, epssm = 0.1, 0.1, 0.1 time_step_sound = 6, 6, 6, h_mom_adv_order = 5, 5, 5,
 v_mom_adv_order = 3, 3, 3, h_sca_adv_order = 5, 5, 5, v_sca_adv_order = 3, 3, 3, moist_adv_opt = 1, 1, 1,
 scalar_adv_opt = 1, 1, 1, chem_adv_opt = 1, 1, 1, tke_adv_opt = 1, 1, 1, non_hydrostatic = .true., .true., .true.,
 mix_full_fields = .true., .true., .true.,
 /
 &bdy_control
 periodic_x = .false.,.false.,.false., symmetric_xs = .false.,.false.,.false.,
 symmetric_xe = .false.,.false.,.false., open_xs = .true., .false.,.false., open_xe = .true., .false.,.false.,
 periodic_y = .false.,.false.,.false., symmetric_ys = .false.,.false.,.false.,
 symmetric_ye = .false.,.false.,.false., open_ys = .true., .false.,.false., open_ye = .true., .false.,.false.,
 nested = .false., .true., .true.,
 /
 &grib2
 /
 &namelist_quilt
 nio_tasks_per_group = 0, nio_groups = 1,
 /
"""

SHARED = Path(__file__).resolve().parents[2] / "shared" / "wrf-reference" / "namelists"
SHIPPED = [("3.9", "embedded em_quarter_ss", QUARTER_SS), ("3.8.1", "embedded em_quarter_ss", QUARTER_SS)] + [
    (p.name.split(".v")[1].rsplit(".em_", 1)[0], p.name, p.read_text())
    for p in sorted(SHARED.glob("namelist.input.v*")) if SHARED.is_dir()]


def per_domain_lengths(version: str, nml: dict[str, dict[str, Any]]) -> set[int]:
    spec = load_version_spec(version)
    return {len(v) for g, names in nml.items() for k, v in names.items()
            if spec.spec(g, k) is not None and spec.spec(g, k).per_domain}


@pytest.mark.parametrize("version", ["3.8.1", "3.9"])
def test_ideal_case_renders_from_the_input(version: str) -> None:
    result = render_namelist(version, ideal_inputs())
    assert result.ok and not result.corrections
    dom, phys, tc = result.namelist["domains"], result.namelist["physics"], result.namelist["time_control"]
    assert (dom["max_dom"], dom["e_we"], dom["e_sn"], dom["e_vert"], dom["dx"]) == (1, [42], [42], [41], [2000.0])
    assert dom["time_step"] == 12  # 6 * 2 km = 12 s, divides the 60 min history interval
    assert phys["num_land_cat"] == 21 and phys["mp_physics"] == [1]
    assert all(k in phys for k in SEVEN)  # 3.9 would default any missing one to -1
    assert tc["history_interval"] == [60] and tc["restart_interval"] == 360
    bdy = result.namelist["bdy_control"]
    assert bdy["open_xs"] == [True] and bdy["specified"] == [False]
    assert result.model == {"domains": 1, "domain_shape": [[40, 41, 41]], "dx": 2000.0, "dy": 2000.0, "dt": 12.0,
                            "start_time": "0001-01-01T00:00:00Z", "end_time": "0001-01-01T01:00:00Z",
                            "output_interval": 3600}
    parsed = f90nml.reads(result.text)
    assert list(parsed.keys())[-1] == "namelist_quilt" and parsed["namelist_quilt"]["nio_groups"] == 1
    assert list(parsed.keys())[:2] == ["time_control", "domains"]
    assert parsed["domains"]["e_we"] == 42


def test_versions_differ() -> None:
    v381, v39 = render_namelist("3.8.1", ideal_inputs()), render_namelist("3.9", ideal_inputs())
    assert "hybrid_opt" in v39.namelist["dynamics"] and "hybrid_opt" not in v381.namelist["dynamics"]
    assert v39.namelist["time_control"]["interval_seconds"] == 10800
    assert v381.namelist["time_control"]["interval_seconds"] == 43200
    s381, s39 = load_version_spec("3.8.1"), load_version_spec("3.9")
    assert s39.group_of("physics_suite") == "physics" and s381.group_of("physics_suite") is None
    assert s39.group_of("hybrid_opt") == "dynamics" and s381.group_of("hybrid_opt") is None
    assert s381.group_of("afwa_hailcast_opt") == "afwa" and s39.group_of("afwa_hailcast_opt") is None
    assert s39.group_of("hailcast_opt") == "physics" and s381.group_of("hailcast_opt") is None
    assert s39.group_of("gwd_opt") == s381.group_of("gwd_opt") == "dynamics"


def test_real_case_with_nest() -> None:
    result = render_namelist("3.9", real_inputs())
    assert result.ok, result.problems
    nml = result.namelist
    assert nml["domains"]["max_dom"] == 2
    assert per_domain_lengths("3.9", nml) == {2}
    assert nml["domains"]["e_we"] == [100, 91] and nml["domains"]["dx"] == [30000.0, 10000.0]
    assert nml["domains"]["parent_id"] == [0, 1] and nml["domains"]["i_parent_start"] == [0, 30]
    assert nml["domains"]["j_parent_start"] == [0, 25] and nml["domains"]["parent_grid_ratio"] == [1, 3]
    assert nml["domains"]["parent_time_step_ratio"] == [1, 3] and nml["domains"]["time_step"] == 180
    assert nml["domains"]["p_top_requested"] == 5000.0 and nml["dynamics"]["iso_temp"] == 200.0
    assert nml["time_control"]["interval_seconds"] == 6 * 3600
    assert nml["time_control"]["end_day"] == [2, 2] and nml["time_control"]["end_hour"] == [0, 0]
    assert nml["bdy_control"]["specified"] == [True, False] and nml["bdy_control"]["nested"] == [False, True]
    assert nml["bdy_control"]["spec_bdy_width"] == 5
    assert nml["physics"]["num_land_cat"] == 24 and nml["physics"]["sf_surface_physics"] == [2, 2]
    assert nml["physics"]["num_soil_layers"] == 4 and nml["dynamics"]["gwd_opt"] == 1
    assert result.model["end_time"] == "2017-06-02T00:00:00Z" and result.model["domain_shape"][1] == [34, 60, 90]


@pytest.mark.parametrize("dx, history_s, expected", [
    (2000, 3600, (12, 0, 1)),      # 6 * 2 km = 12, 3600 % 12 == 0
    (30000, 3600, (180, 0, 1)),    # 6 * 30 km = 180
    (30000, 3000, (150, 0, 1)),    # 3000 % 180 = 120; 179..151 do not divide 3000; 150 does
    (9000, 3600, (50, 0, 1)),      # 54, 53, 52, 51 do not divide 3600; 50 does
    (100000, 21600, (600, 0, 1)),  # em_b_wave: 100 km, 6 h output
    (100, 3600, (0, 1, 2)),        # 6 * 0.1 km = 0.6 s < 1: 1/2 s as a fraction
])
def test_time_step_rule(dx: float, history_s: int, expected: tuple[int, int, int]) -> None:
    assert time_step_for(dx, history_s) == expected


def test_time_step_follows_the_history_interval_override() -> None:
    result = render_namelist("3.9", real_inputs(nest=False), overrides={"time_control": {"history_interval": 50}})
    assert result.ok and result.namelist["domains"]["time_step"] == 150 and result.model["output_interval"] == 3000


@pytest.mark.parametrize("version, label, text", SHIPPED, ids=[f"{v}-{n}" for v, n, _ in SHIPPED])
def test_shipped_namelists_parse_and_validate(version: str, label: str, text: str) -> None:
    inputs = ideal_inputs(e_we=41, e_sn=81, e_vert=65, dx=100000.0, MP_PHYSICS=0) if "b_wave" in label \
        else ideal_inputs()
    result = render_namelist(version, inputs, uploaded_text=text)
    assert result.ok, result.problems
    assert result.corrections == []
    assert per_domain_lengths(version, result.namelist) == {1}
    assert "&namelist_quilt" in result.text


def test_uploaded_contradictions_are_corrected_and_reported() -> None:
    text = (QUARTER_SS.replace("e_we = 42,", "e_we = 43,").replace("dx = 2000,", "dx = 1000,")
            .replace("start_hour = 00, 00, 00", "start_hour = 03, 00, 00")
            .replace("history_interval = 30,", "history_interval = 0,")
            .replace("num_soil_layers = 5,", "num_soil_layers = 5, num_land_cat = 24,"))
    text = text[:text.index(" &namelist_quilt")]
    result = render_namelist("3.9", ideal_inputs(), uploaded_text=text)
    assert result.ok, result.problems
    by_var = {c.message.split(" ")[1]: c for c in result.corrections}
    assert set(by_var) >= {"e_we", "dx", "num_land_cat", "start_*", "history_interval", "(group)"}
    assert all(c.code == "namelist_corrected" and c.severity is Severity.warning for c in result.corrections)
    assert "was 43, set to 42" in by_var["e_we"].message and "WEST-EAST_GRID_DIMENSION" in by_var["e_we"].message
    assert "was 24, set to 21" in by_var["num_land_cat"].message
    assert "0001-01-01_03:00:00" in by_var["start_*"].message
    nml = result.namelist
    assert nml["domains"]["e_we"] == [42] and nml["domains"]["dx"] == [2000.0] and nml["physics"]["num_land_cat"] == 21
    assert nml["time_control"]["start_hour"] == [0] and nml["time_control"]["history_interval"] == [60]
    assert nml["dynamics"]["time_step_sound"] == [6]  # the user's other choices are kept
    assert "&namelist_quilt" in result.text


def test_uploaded_39_namelist_missing_physics_gets_them_explicitly() -> None:
    text = QUARTER_SS.replace(" mp_physics = 1, 1, 1,", "")
    result = render_namelist("3.9", ideal_inputs(), uploaded_text=text)
    assert [c for c in result.corrections if "mp_physics" in c.message and "-1" in c.message]
    assert result.namelist["physics"]["mp_physics"] == [1]
    # in 3.8.1 the default is 0, but the input was made with MP_PHYSICS = 1: filled and reported too
    v381 = render_namelist("3.8.1", ideal_inputs(), uploaded_text=text)
    assert v381.namelist["physics"]["mp_physics"] == [1]
    assert [c for c in v381.corrections if "mp_physics" in c.message and "default 0" in c.message]


@pytest.mark.parametrize("version, group, var, value, code, needle", [
    ("3.9", "physics", "gwd_opt", 1, "namelist_wrong_group", "belongs in &dynamics"),
    ("3.9", "time_control", "num_land_cat", 24, "namelist_wrong_group", "belongs in &physics"),
    ("3.8.1", "physics", "physics_suite", "CONUS", "namelist_unknown_variable", "only in WRF 3.9"),
    ("3.8.1", "dynamics", "hybrid_opt", 2, "namelist_unknown_variable", "only in WRF 3.9"),
    ("3.9", "afwa", "afwa_hailcast_opt", 1, "namelist_unknown_variable", "hailcast_opt in &physics"),
    ("3.9", "physics", "no_such_option", 1, "namelist_unknown_variable", "not a WRF 3.9 namelist variable"),
    ("3.9", "physic", "mp_physics", 1, "namelist_unknown_group", "&physic is not"),
])
def test_unknown_and_misplaced_variables_are_refused(version: str, group: str, var: str, value: Any, code: str,
                                                     needle: str) -> None:
    result = render_namelist(version, ideal_inputs(), overrides={"namelist": {group: {var: value}}})
    assert not result.ok
    assert [p.code for p in result.problems] == [code] and needle in result.problems[0].message
    uploaded = render_namelist(version, ideal_inputs(), uploaded_text=f"&{group}\n {var} = {value!r}\n/\n"
                               .replace("'", '"').replace("True", ".true."))
    assert [p.code for p in uploaded.problems] == [code]


def test_syntax_error_is_a_problem_not_a_traceback() -> None:
    for text in ("&time_control\n run_days = 1\n/\n&domains\n e_we = 'oops\n", "&time_control run_days = ,,1 2\n",
                 "just some text"):
        result = render_namelist("3.9", ideal_inputs(), uploaded_text=text)
        assert [p.code for p in result.problems] == ["namelist_syntax"] and result.namelist == {}
        assert result.problems[0].file == "namelist.input"


def test_overrides_and_contradictions() -> None:
    ok = render_namelist("3.9", ideal_inputs(), overrides={"namelist": {"time_control": {"run_hours": 6}}})
    assert ok.ok and ok.model["end_time"] == "0001-01-01T06:00:00Z" and ok.namelist["time_control"]["run_hours"] == 6
    same = render_namelist("3.9", ideal_inputs(), overrides={"domains": {"e_we": 42}})
    assert same.ok
    bad = render_namelist("3.9", ideal_inputs(), overrides={"domains": {"e_we": 50, "dx": 1000}})
    assert sorted(p.code for p in bad.problems) == ["override_contradicts_inputs"] * 2
    assert bad.namelist["domains"]["e_we"] == [42]
    late = render_namelist("3.9", real_inputs(), overrides={"time_control": {"run_hours": 30}})
    assert [p.code for p in late.problems] == ["run_beyond_boundary"]
    warn = render_namelist("3.9", real_inputs(), overrides={"physics": {"mp_physics": 8}})
    assert warn.ok and [w.code for w in warn.warnings] == ["physics_differs_from_input"]
    # 3.8.1 does not compare gwd_opt with the input; 3.9 stops on it
    assert render_namelist("3.8.1", real_inputs(), overrides={"dynamics": {"gwd_opt": 0}}).ok
    assert not render_namelist("3.9", real_inputs(), overrides={"dynamics": {"gwd_opt": 0}}).ok


def test_parse_overrides_lowercases_and_checks() -> None:
    clean, problems = parse_overrides("3.9", {"namelist": {"TIME_CONTROL": {"Run_Hours": 6}}})
    assert clean == {"time_control": {"run_hours": 6}} and problems == []
    _, problems = parse_overrides("3.9", {"time_control": {"run_hours": "six"}})
    assert [p.code for p in problems] == ["namelist_bad_value"]
    _, problems = parse_overrides("3.9", {"time_control": 6})
    assert [p.code for p in problems] == ["namelist_bad_value"]


def test_ideal_periodic_override_turns_open_boundaries_off() -> None:
    result = render_namelist("3.9", ideal_inputs(), overrides={"bdy_control": {"periodic_x": True}})
    bdy = result.namelist["bdy_control"]
    assert bdy["periodic_x"] == [True] and bdy["open_xs"] == [False] and bdy["open_ys"] == [True]


def test_restart_and_mesh() -> None:
    nml = render_namelist("3.9", real_inputs()).namelist
    restarted = render_restart(nml, "2017-06-01_12:00:00")
    tc = restarted["time_control"]
    assert tc["restart"] is True and tc["start_hour"] == [12, 12] and tc["start_day"] == [1, 1]
    assert tc["end_day"] == [2, 2] and tc["end_hour"] == [0, 0]
    assert nml["time_control"]["restart"] is False  # the original is not changed
    meshed = set_mesh(nml, 4, 6)
    assert (meshed["domains"]["nproc_x"], meshed["domains"]["nproc_y"]) == (4, 6) and "nproc_x" not in nml["domains"]


def test_missing_wrfinput_is_a_problem() -> None:
    result = render_namelist("3.9", {})
    assert [p.code for p in result.problems] == ["missing_input"] and result.text == ""


def test_uploaded_periodic_ideal_keeps_no_open_side() -> None:
    text = "&bdy_control\n periodic_x = .true.\n symmetric_ys = .true.\n symmetric_ye = .true.\n/\n&namelist_quilt\n/\n"
    bdy = render_namelist("3.9", ideal_inputs(), uploaded_text=text).namelist["bdy_control"]
    assert bdy["periodic_x"] == [True] and bdy["open_xs"] == [False] and bdy["open_ye"] == [False]


def test_nest_geometry_that_wrf_refuses_is_a_problem() -> None:
    inputs = real_inputs()
    bad = wrfinput(92, 61, 34, 10000.0, ideal=False, times=("2017-06-01_00:00:00",), GRID_ID=2, PARENT_ID=1,
                   I_PARENT_START=30, J_PARENT_START=25, PARENT_GRID_RATIO=3)
    inputs["wrfinput_d02"] = header("wrfinput_d02", bad["attrs"], bad["times"])
    # 91 (= 92 - 1) is not a multiple of 3, and 34 levels differ from d01's 35
    assert [p.code for p in render_namelist("3.9", inputs).problems] == ["nest_dimensions"] * 2


REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "wrf-reference"
ROUND_TRIP = ["factory-real-3.9", "factory-ideal-3.8.1"] + [
    p.name for p in sorted((REFERENCE / "inputs").glob("wrfinput_d01.v*.gz")) if (REFERENCE / "inputs").is_dir()]


@pytest.mark.parametrize("case", ROUND_TRIP)
def test_files_written_like_wrf_render_without_corrections(case: str, tmp_path: Path) -> None:
    """Headers read from real files (tests/factory.py, and the real ideal.exe outputs in shared/ when present)
    through orchestrator.wrf.headers: the derived namelist needs no correction."""
    import gzip
    import shutil

    from orchestrator.wrf.headers import read_header
    from tests.factory import make_ideal_case, make_real_case

    uploaded = None
    if case == "factory-real-3.9":
        version = "3.9"
        files = make_real_case(tmp_path, version=version, hours=12, start="2017-06-01_00:00:00",
                               interval_seconds=21600)
    elif case == "factory-ideal-3.8.1":
        version = "3.8.1"
        files = make_ideal_case(tmp_path, version=version)
    else:  # wrfinput_d01.v3.9.em_b_wave.gz with the namelist.input shipped with that case
        tag = case.removeprefix("wrfinput_d01.").removesuffix(".gz")
        version = tag[1:].rsplit(".em_", 1)[0]
        files = {"wrfinput_d01": tmp_path / "wrfinput_d01"}
        with gzip.open(REFERENCE / "inputs" / case) as src, open(files["wrfinput_d01"], "wb") as dst:
            shutil.copyfileobj(src, dst)
        uploaded = (REFERENCE / "namelists" / f"namelist.input.{tag}").read_text()
    inputs = {name: read_header(path) for name, path in files.items()}
    result = render_namelist(version, inputs, uploaded_text=uploaded)
    assert result.ok and result.corrections == [], (result.problems, result.corrections)
    if case == "factory-real-3.9":
        assert result.namelist["time_control"]["interval_seconds"] == 21600
        assert (result.model["start_time"], result.model["end_time"]) == ("2017-06-01T00:00:00Z",
                                                                          "2017-06-01T12:00:00Z")


def test_unsupported_version_is_a_problem() -> None:
    result = render_namelist("4.0", ideal_inputs())
    assert [p.code for p in result.problems] == ["unsupported_version"] and "3.8.1, 3.9" in result.problems[0].message
