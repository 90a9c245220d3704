"""Namelist-vs-input consistency: each wrf.exe start-up check (§1.2 b,d,e,f,h,i,j,k,l,m and §1.5) refused
with a clear message and wrf.exe's own text, and passed when namelist and file agree; then the checks wrf.exe
does not make (boundary coverage/spacing, physics fields, soil layers, nests, auxiliary inputs)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import f90nml
import pytest

from orchestrator.wrf.consistency import check_consistency
from orchestrator.wrf.headers import read_header
from orchestrator.wrf.types import FileHeader, Problem
from tests.factory import make_real_case, make_wrfbdy, make_wrffdda, make_wrfinput, make_wrflowinp

IDEAL_NML: dict[str, Any] = {
    "time_control": {"run_minutes": 60, "start_year": [1], "start_month": [1], "start_day": [1], "start_hour": [0],
                     "start_minute": [0], "start_second": [0], "end_year": [1], "end_month": [1], "end_day": [1],
                     "end_hour": [2], "end_minute": [0], "end_second": [0], "history_interval": [30]},
    "domains": {"time_step": 12, "max_dom": 1, "e_we": [42], "e_sn": [42], "e_vert": [41], "dx": [2000],
                "dy": [2000], "grid_id": [1], "parent_id": [0], "i_parent_start": [0], "j_parent_start": [0],
                "parent_grid_ratio": [1]},
    "physics": {"mp_physics": [1], "ra_lw_physics": [0], "ra_sw_physics": [0], "sf_sfclay_physics": [0],
                "sf_surface_physics": [0], "bl_pbl_physics": [0], "cu_physics": [0]},
    "dynamics": {"diff_opt": [2], "km_opt": [2]},
    "bdy_control": {"periodic_x": [True], "periodic_y": [True]},
    "namelist_quilt": {"nio_tasks_per_group": 0, "nio_groups": 1},
}
REAL_NML: dict[str, Any] = {
    "time_control": {"run_hours": 12, "start_year": [2000], "start_month": [1], "start_day": [24],
                     "start_hour": [12], "start_minute": [0], "start_second": [0], "end_year": [2000],
                     "end_month": [1], "end_day": [25], "end_hour": [0], "end_minute": [0], "end_second": [0],
                     "interval_seconds": 21600, "input_from_file": [True], "history_interval": [180]},
    "domains": {"time_step": 180, "max_dom": 1, "e_we": [42], "e_sn": [42], "e_vert": [41], "dx": [30000],
                "dy": [30000], "p_top_requested": 5000, "grid_id": [1], "parent_id": [0], "i_parent_start": [1],
                "j_parent_start": [1], "parent_grid_ratio": [1]},
    "physics": {"mp_physics": [1], "ra_lw_physics": [0], "ra_sw_physics": [0], "sf_sfclay_physics": [0],
                "sf_surface_physics": [0], "bl_pbl_physics": [0], "cu_physics": [0], "num_land_cat": 21},
    "dynamics": {"diff_opt": [1], "km_opt": [4], "gwd_opt": 0},
    "bdy_control": {"spec_bdy_width": 5, "specified": [True]},
    "namelist_quilt": {"nio_tasks_per_group": 0, "nio_groups": 1},
}


def nml(base: dict[str, Any], **groups: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with some variables of some groups replaced."""
    out = copy.deepcopy(base)
    for group, values in groups.items():
        out.setdefault(group, {}).update(values)
    return out


def check(namelist: dict[str, Any], files: dict[str, Path], version: str = "3.9") -> list[Problem]:
    headers: dict[str, FileHeader] = {name: read_header(path) for name, path in files.items()}
    return check_consistency(namelist, headers, version)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def only(problems: list[Problem], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, codes(problems)
    return found[0]


@pytest.fixture(scope="module")
def ideal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"wrfinput_d01": make_wrfinput(tmp_path_factory.mktemp("ideal") / "wrfinput_d01")}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_real_case(tmp_path_factory.mktemp("real"))


@pytest.mark.parametrize("version", ["3.9", "3.8.1"])
def test_matching_namelists_and_inputs_pass(ideal: dict[str, Path], real: dict[str, Path], version: str) -> None:
    assert check(IDEAL_NML, ideal, version) == []
    assert check(REAL_NML, real, version) == []


def test_f90nml_namelist_is_accepted(ideal: dict[str, Path]) -> None:
    text = "&time_control\n start_year = 0001\n start_month = 01\n start_day = 01\n start_hour = 00\n/\n" \
           "&domains\n e_we = 43\n e_sn = 42\n e_vert = 41\n dx = 2000\n dy = 2000\n/\n"
    problems = check(f90nml.reads(text), ideal)
    assert codes(problems) == ["dimension_mismatch", "physics_mismatch"]
    # 3.9's registry default for sf_surface_physics is -1, which wrf.exe compares with the file's 0
    assert "does not set it, so WRF 3.9 uses its default sf_surface_physics = -1" in problems[1].message
    assert codes(check(f90nml.reads(text), ideal, "3.8.1")) == ["dimension_mismatch"]  # 3.8.1 default is 0


# ---- §1.2 b: grid dimensions -------------------------------------------------------------------------------

@pytest.mark.parametrize("version,wrf_lines", [
    ("3.9", ["input_wrf.F: SIZE MISMATCH:  namelist   ide,jde,kde=          43          42          40",
             "input_wrf.F: SIZE MISMATCH:  input file ide,jde,kde=          42          42          41",
             "---- ERROR: Mismatch between namelist and input file dimensions"]),
    ("3.8.1", ["input_wrf.F: SIZE MISMATCH:  namelist ide,jde,kde=          43          42          40 ; "
               "input data ide,jde,kde=          42          42          41"]),
])
def test_b_dimension_mismatch(ideal: dict[str, Path], version: str, wrf_lines: list[str]) -> None:
    problems = check(nml(IDEAL_NML, domains={"e_we": [43], "e_vert": [40]}), ideal, version)
    p = only(problems, "dimension_mismatch")
    assert p.wrf_message == "\n".join(wrf_lines)
    assert "43, 42, 40" in p.message and "42, 42, 41" in p.message and p.file == "wrfinput_d01"


# ---- §1.2 d: DX/DY -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version,tail", [
    ("3.9", "---- ERROR: DX and DY do not match comparing namelist to the input file"),
    ("3.8.1", "DX and DY do not match comparing namelist to the input file"),
])
def test_d_dx_dy_mismatch(ideal: dict[str, Path], version: str, tail: str) -> None:
    p = only(check(nml(IDEAL_NML, domains={"dx": [3000]}), ideal, version), "grid_spacing_mismatch")
    assert p.wrf_message.splitlines()[-1] == tail and "3000" in p.message and "2000" in p.message
    if version == "3.9":
        assert p.wrf_message.startswith("dx and dy from file ")


def test_d_dx_within_tolerance_and_polar_pass(ideal: dict[str, Path]) -> None:
    assert check(nml(IDEAL_NML, domains={"dx": [2000.01]}), ideal) == []  # 5e-6 relative: WRF's 1e-5 tolerance
    polar = nml(IDEAL_NML, domains={"dx": [3000]}, bdy_control={"polar": [True]})
    assert "grid_spacing_mismatch" not in codes(check(polar, ideal))


# ---- §1.2 e: nest start --------------------------------------------------------------------------------------

def _nest_case(tmp_path: Path, **nest: Any) -> dict[str, Path]:
    files = make_real_case(tmp_path)
    geometry: dict[str, Any] = dict(grid_id=2, parent_id=1, i_parent_start=10, j_parent_start=12,
                                    parent_grid_ratio=3, e_we=31, e_sn=31, dx=10000.0, dy=10000.0)
    files["wrfinput_d02"] = make_wrfinput(tmp_path / "wrfinput_d02", ideal=False, **{**geometry, **nest})
    return files


NEST_NML = nml(REAL_NML, domains={"max_dom": 2, "e_we": [42, 31], "e_sn": [42, 31], "e_vert": [41, 41],
                                  "dx": [30000, 10000], "dy": [30000, 10000], "grid_id": [1, 2], "parent_id": [0, 1],
                                  "i_parent_start": [1, 10], "j_parent_start": [1, 12], "parent_grid_ratio": [1, 3]},
               time_control={**{k: v * 2 for k, v in REAL_NML["time_control"].items() if isinstance(v, list)}},
               physics={k: v * 2 for k, v in REAL_NML["physics"].items() if isinstance(v, list)},
               bdy_control={"specified": [True, False], "nested": [False, True]})


def test_e_nest_start_mismatch_and_match(tmp_path: Path) -> None:
    files = _nest_case(tmp_path)
    assert check(NEST_NML, files) == []
    bad = nml(NEST_NML, domains={"i_parent_start": [1, 11]})
    p = only(check(bad, files), "nest_start_mismatch")
    assert p.file == "wrfinput_d02" and "11, 12" in p.message and "10, 12" in p.message
    assert p.wrf_message.splitlines()[-1] == \
        "---- ERROR: Nest start locations do not match: namelist.input vs gridded input file"
    assert "i_parent_start from gridded input file  = 10" in p.wrf_message


# ---- §1.2 f: NUM_LAND_CAT ----------------------------------------------------------------------------------

@pytest.mark.parametrize("version,tail", [
    ("3.9", "---- ERROR: Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT"),
    ("3.8.1", "Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT"),
])
def test_f_num_land_cat_mismatch(real: dict[str, Path], version: str, tail: str) -> None:
    p = only(check(nml(REAL_NML, physics={"num_land_cat": 24}), real, version), "land_cat_mismatch")
    assert p.wrf_message.splitlines()[-1] == tail and "24" in p.message and "21" in p.message
    assert "namelist    : NUM_LAND_CAT =         24" in p.wrf_message


@pytest.mark.parametrize("mminlu,fallback", [("USGS", 24), ("MODIFIED_IGBP_MODIS_NOAH", 20)])
def test_f_num_land_cat_fallback_when_attribute_absent(tmp_path: Path, mminlu: str, fallback: int) -> None:
    files = {"wrfinput_d01": make_wrfinput(tmp_path / "wrfinput_d01", drop_attributes=("NUM_LAND_CAT",),
                                           attributes={"MMINLU": mminlu})}
    assert "land_cat_mismatch" not in codes(check(nml(IDEAL_NML, physics={"num_land_cat": fallback}), files))
    p = only(check(IDEAL_NML, files), "land_cat_mismatch")  # namelist default 21
    assert f"has {fallback} land-use" in p.message


# ---- §1.2 h-k: physics attributes ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["3.9", "3.8.1"])
def test_h_sf_surface_physics(tmp_path: Path, version: str) -> None:
    files = make_real_case(tmp_path, sf_surface_physics=2, num_soil_layers=4)
    noah = nml(REAL_NML, physics={"sf_surface_physics": [2]})
    assert check(noah, files, version) == []
    assert check(nml(REAL_NML, physics={"sf_surface_physics": [4]}), files, version) == []  # Noah <-> Noah-MP
    p = only(check(nml(REAL_NML, physics={"sf_surface_physics": [3]}), files, version), "physics_mismatch")
    assert "sf_surface_physics = 2" in p.message and "sf_surface_physics = 3" in p.message
    tail = "Mismatch between namelist and global attribute SF_SURFACE_PHYSICS"
    assert p.wrf_message.splitlines()[-1] == (f"---- ERROR: {tail}" if version == "3.9" else tail)


@pytest.mark.parametrize("group,var,attr", [("dynamics", "gwd_opt", "GWD_OPT"),
                                            ("physics", "sf_ocean_physics", "SF_OCEAN_PHYSICS"),
                                            ("physics", "sf_urban_physics", "SF_URBAN_PHYSICS")])
def test_ijk_39_only_attribute_checks(real: dict[str, Path], tmp_path: Path, group: str, var: str, attr: str) -> None:
    value = 1 if var != "sf_urban_physics" else [1]
    namelist = nml(REAL_NML, **{group: {var: value}})
    mismatch = [p for p in check(namelist, real, "3.9") if p.code == "physics_mismatch"]
    assert len(mismatch) == 1 and mismatch[0].severity == "error"
    assert mismatch[0].wrf_message == f"---- ERROR: Mismatch between namelist and global attribute {attr}"
    old = [p for p in check(namelist, real, "3.8.1") if p.code == "physics_mismatch"]
    assert len(old) == 1 and old[0].severity == "warning" and old[0].wrf_message is None
    matching = make_real_case(tmp_path, **{var: 1})
    assert "physics_mismatch" not in codes(check(namelist, matching, "3.9"))
    no_attr = make_real_case(tmp_path / "noattr", version="3.8.1")  # 3.8.1 files lack the attribute: skipped
    assert "physics_mismatch" not in codes(check(namelist, no_attr, "3.9"))


# ---- §1.2 l: start time ------------------------------------------------------------------------------------

@pytest.mark.parametrize("version,tail", [
    ("3.9", "---- ERROR: Could not find matching time in input file wrfinput_d01"),
    ("3.8.1", " ... Could not find matching time in input file wrfinput_d01"),
])
def test_l_start_time_absent(real: dict[str, Path], version: str, tail: str) -> None:
    p = only(check(nml(REAL_NML, time_control={"start_hour": [18]}), real, version), "start_time_missing")
    assert "2000-01-24_18:00:00" in p.message and "2000-01-24_12:00:00" in p.message
    lines = p.wrf_message.splitlines()
    assert lines[-1] == tail and lines[0] == "Time in file: 2000-01-24_12:00:00"
    assert "**WARNING** Time in input file not equal to time on domain **WARNING**" in lines


def test_l_start_time_in_a_later_record_is_a_warning(tmp_path: Path) -> None:
    files = make_real_case(tmp_path)
    files["wrfinput_d01"] = make_wrfinput(tmp_path / "multi", ideal=False, dx=30000.0, dy=30000.0,
                                          times=("2000-01-24_06:00:00", "2000-01-24_12:00:00"))
    problems = check(REAL_NML, files)
    assert codes(problems) == ["start_time_not_first"] and problems[0].severity == "warning"


# ---- §1.2 m: boundary coverage, run_* before end_* -------------------------------------------------------------

@pytest.mark.parametrize("version,wrf", [
    ("3.9", "---- ERROR: Ran out of valid boundary conditions in file wrfbdy_d01"),
    ("3.8.1", " ... May have run out of valid boundary conditions in file wrfbdy_d01"),
])
def test_m_run_beyond_boundaries(real: dict[str, Path], version: str, wrf: str) -> None:
    p = only(check(nml(REAL_NML, time_control={"run_hours": 18}), real, version), "bdy_coverage")
    assert p.wrf_message == wrf and "2000-01-25_06:00:00" in p.message and "2000-01-25_00:00:00" in p.message


def test_m_run_length_prefers_run_over_end(real: dict[str, Path]) -> None:
    long_end = {"end_day": [26]}
    assert check(nml(REAL_NML, time_control={"run_hours": 12, **long_end}), real) == []
    by_end = nml(REAL_NML, time_control={"run_hours": 0, **long_end})
    assert codes(check(by_end, real)) == ["bdy_coverage"]


# ---- §1.5 start_em value checks -------------------------------------------------------------------------------

def test_p_top_mismatch_real_only(real: dict[str, Path], ideal: dict[str, Path]) -> None:
    p = only(check(nml(REAL_NML, domains={"p_top_requested": 1000}), real), "p_top_mismatch")
    assert p.wrf_message == "start_em: p_top from the namelist does not match p_top from the input file."
    assert "5000" in p.message and "1000" in p.message
    assert check(nml(IDEAL_NML, domains={"p_top_requested": 1000}), ideal) == []  # ideal runs skip it


def test_base_state_missing_and_namelist_base_state(tmp_path: Path) -> None:
    files = make_real_case(tmp_path, t00=0.0, p00=0.0)
    p = only(check(REAL_NML, files), "base_state_missing")
    assert p.wrf_message.startswith("start_em: did not find base state parameters in wrfinput.")
    assert check(nml(REAL_NML, dynamics={"use_baseparam_fr_nml": True}), files) == []
    bad = nml(REAL_NML, dynamics={"use_baseparam_fr_nml": True, "base_temp": 50.0})
    assert only(check(bad, files), "base_state").wrf_message == \
        "start_em: BAD BASE STATE for T00 or P00 in namelist.input file"


def test_iso_temp_mismatch(real: dict[str, Path]) -> None:
    p = only(check(nml(REAL_NML, dynamics={"iso_temp": 210.0}), real), "iso_temp_mismatch")
    assert p.wrf_message == \
        "start_em: namelist iso_temp is not equal to iso_temp in wrfinput. Reset nml value and rerun"
    assert check(nml(REAL_NML, dynamics={"iso_temp": 200.0}), real) == []


def test_nest_mod_rule(tmp_path: Path) -> None:
    files = _nest_case(tmp_path)
    bad = nml(NEST_NML, domains={"e_we": [42, 32]})
    p = only(check(bad, files), "nest_dimensions")
    assert p.wrf_message == "Nested dimensions are illegal for domain 2:  Both MOD(31,3) and MOD(30,3) must = 0"
    assert "parent_grid_ratio = 3" in p.message


def test_ideal_case_cannot_have_nest_input(tmp_path: Path) -> None:
    files = {"wrfinput_d01": make_wrfinput(tmp_path / "wrfinput_d01"),
             "wrfinput_d02": make_wrfinput(tmp_path / "wrfinput_d02", grid_id=2, parent_id=1, i_parent_start=15,
                                           j_parent_start=15, parent_grid_ratio=3, e_we=43, e_sn=43, dx=666.6666667,
                                           dy=666.6666667)}
    two = nml(IDEAL_NML, domains={"max_dom": 2, "e_we": [42, 43], "e_sn": [42, 43], "e_vert": [41, 41],
                                  "dx": [2000, 666.6666667], "dy": [2000, 666.6666667], "grid_id": [1, 2],
                                  "parent_id": [0, 1], "i_parent_start": [0, 15], "j_parent_start": [0, 15],
                                  "parent_grid_ratio": [1, 3]},
              time_control={k: v * 2 for k, v in IDEAL_NML["time_control"].items() if isinstance(v, list)},
              physics={k: v * 2 for k, v in IDEAL_NML["physics"].items()})
    assert check(two, files) == []  # no input_from_file: the nest is interpolated
    p = only(check(nml(two, time_control={"input_from_file": [True, True]}), files), "ideal_nest_input")
    assert p.wrf_message == "start_domain: Idealized case cannot have a separate nested input file"


@pytest.mark.parametrize("lons,refused", [((-120.0, -120.0, -60.0, -60.0), True), ((-88.0, -88.0, -74.0, -74.0), False)])
def test_gwd_rotation(tmp_path: Path, lons: tuple[float, ...], refused: bool) -> None:
    files = make_real_case(tmp_path, gwd_opt=1, corner_lons=lons)
    namelist = nml(REAL_NML, dynamics={"gwd_opt": 1})
    problems = check(namelist, files, "3.9")
    assert codes(problems) == (["gwd_rotation"] if refused else [])
    if refused:
        assert problems[0].wrf_message.endswith("--- ERROR: gwd_opt does not work with this domain")
        assert "max_rot_angle_gwd = 22.5" in problems[0].message
        assert check(nml(namelist, dynamics={"max_rot_angle_gwd": 40.0}), files, "3.9") == []
    assert "gwd_rotation" not in codes(check(namelist, files, "3.8.1"))  # not checked before 3.9


# ---- what wrf.exe does not check ------------------------------------------------------------------------------

def test_missing_wrfinput_d01(tmp_path: Path) -> None:
    p = only(check(IDEAL_NML, {}), "missing_input")
    assert p.file == "wrfinput_d01" and p.wrf_message.startswith("program wrf: error opening wrfinput_d01")


def test_restart_does_not_read_wrfinput(ideal: dict[str, Path]) -> None:
    restart = nml(IDEAL_NML, time_control={"restart": True}, domains={"e_we": [43]})
    assert check(restart, ideal) == []


def test_wrfbdy_needed_for_specified_real_data(real: dict[str, Path]) -> None:
    p = only(check(REAL_NML, {"wrfinput_d01": real["wrfinput_d01"]}), "missing_input")
    assert p.file == "wrfbdy_d01" and "specified = .true." in p.message
    unspecified = nml(REAL_NML, bdy_control={"specified": [False]})
    w = only(check(unspecified, {"wrfinput_d01": real["wrfinput_d01"]}), "boundary_not_specified")
    assert w.severity == "warning"


def test_bdy_interval_must_equal_interval_seconds(real: dict[str, Path]) -> None:
    p = only(check(nml(REAL_NML, time_control={"interval_seconds": 10800}), real), "bdy_interval_mismatch")
    assert "21600" in p.message and "10800" in p.message
    unset = nml(REAL_NML)
    del unset["time_control"]["interval_seconds"]
    p = only(check(unset, real), "bdy_interval_mismatch")
    assert "registry default" in p.message


def test_bdy_width_and_grid(tmp_path: Path, real: dict[str, Path]) -> None:
    p = only(check(nml(REAL_NML, bdy_control={"spec_bdy_width": 6}), real), "bdy_width_mismatch")
    assert "spec_bdy_width = 6" in p.message
    files = dict(real, wrfbdy_d01=make_wrfbdy(tmp_path / "wrfbdy_d01", e_we=50, start="2000-01-24_12:00:00",
                                              interval_seconds=21600, records=2))
    p = only(check(REAL_NML, files), "dimension_mismatch")
    assert p.file == "wrfbdy_d01" and "50x42x41" in p.message


def test_bdy_starting_after_the_run(tmp_path: Path, real: dict[str, Path]) -> None:
    files = dict(real, wrfbdy_d01=make_wrfbdy(tmp_path / "wrfbdy_d01", start="2000-01-24_18:00:00",
                                              interval_seconds=21600, records=2))
    p = only(check(REAL_NML, files), "bdy_start_after_run")
    assert "2000-01-24_18:00:00" in p.message and "2000-01-24_12:00:00" in p.message


def test_fields_for_the_configured_physics(tmp_path: Path, real: dict[str, Path]) -> None:
    p = only(check(nml(REAL_NML, physics={"mp_physics": [8]}), real), "missing_variable")
    assert "mp_physics = 8" in p.message and "QICE" in p.message and "QNRAIN" in p.message
    thompson = make_real_case(tmp_path, mp_physics=8)
    assert check(nml(REAL_NML, physics={"mp_physics": [8]}), thompson) == []
    no_oa = make_real_case(tmp_path / "gwd", gwd_opt=1, omit_variables=("OA1", "OL4"))
    p = only(check(nml(REAL_NML, dynamics={"gwd_opt": 1}), no_oa), "missing_variable")
    assert "OA1" in p.message and "OL4" in p.message and "gwd_opt = 1" in p.message


def test_wrongly_shaped_physics_field(tmp_path: Path) -> None:
    files = make_real_case(tmp_path, mp_physics=8, variable_dims={"QICE": "Time bottom_top_stag south_north west_east"})
    p = only(check(nml(REAL_NML, physics={"mp_physics": [8]}), files), "variable_shape")
    assert "QICE" in p.message


def test_soil_layers_follow_the_land_surface_model(tmp_path: Path) -> None:
    wrong = make_real_case(tmp_path / "five", sf_surface_physics=2, num_soil_layers=5)
    p = only(check(nml(REAL_NML, physics={"sf_surface_physics": [2]}), wrong), "soil_layers_mismatch")
    assert "5 soil layers" in p.message and "uses 4" in p.message
    right = make_real_case(tmp_path / "four", sf_surface_physics=2, num_soil_layers=4)
    assert check(nml(REAL_NML, physics={"sf_surface_physics": [2]}), right) == []


def test_e_vert_must_agree_between_domains(tmp_path: Path) -> None:
    files = _nest_case(tmp_path, e_vert=35)
    p = only(check(nml(NEST_NML, domains={"e_vert": [41, 35]}), files), "e_vert_mismatch")
    assert "e_vert = 35" in p.message and "41" in p.message


def test_nest_must_fit_in_parent(tmp_path: Path) -> None:
    files = _nest_case(tmp_path, i_parent_start=35)
    p = only(check(nml(NEST_NML, domains={"i_parent_start": [1, 35]}), files), "nest_outside_parent")
    assert "does not fit inside domain 1" in p.message


def test_short_per_domain_list_uses_registry_default(tmp_path: Path) -> None:
    files = _nest_case(tmp_path)
    short = nml(NEST_NML, domains={"e_we": [42]})
    problems = check(short, files)
    note = only(problems, "namelist_default_used")
    assert note.severity == "warning" and "registry default 32 for domain 2" in note.message
    assert "dimension_mismatch" in codes(problems)  # 32 is not the nest file's 31


def test_sst_update_needs_wrflowinp(tmp_path: Path, real: dict[str, Path]) -> None:
    sst = nml(REAL_NML, physics={"sst_update": 1}, time_control={"auxinput4_interval": [360]})
    p = only(check(sst, real), "missing_input")
    assert p.file == "wrflowinp_d01"
    files = dict(real, wrflowinp_d01=make_wrflowinp(tmp_path / "wrflowinp_d01", interval_seconds=21600, records=3))
    assert check(sst, files) == []
    short = dict(real, wrflowinp_d01=make_wrflowinp(tmp_path / "short", interval_seconds=21600, records=2))
    assert only(check(sst, short), "lowinp_coverage").severity == "warning"
    late = dict(real, wrflowinp_d01=make_wrflowinp(tmp_path / "late", start="2000-01-24_18:00:00",
                                                   interval_seconds=21600, records=3))
    p = only(check(sst, late), "start_time_missing")
    assert p.wrf_message == "---- ERROR: Could not find matching time in input file wrflowinp_d01"


def test_grid_fdda_needs_wrffdda(tmp_path: Path, real: dict[str, Path]) -> None:
    fdda = nml(REAL_NML, fdda={"grid_fdda": [1]})
    assert only(check(fdda, real), "missing_input").file == "wrffdda_d01"
    assert check(fdda, dict(real, wrffdda_d01=make_wrffdda(tmp_path / "wrffdda_d01"))) == []


def test_value_of_the_wrong_type_is_reported_not_raised(ideal: dict[str, Path]) -> None:
    p = only(check(nml(IDEAL_NML, domains={"e_we": ["forty-two"]}), ideal), "namelist_invalid_value")
    assert "forty-two" in p.message


def test_duplicate_and_unused_inputs(tmp_path: Path, real: dict[str, Path]) -> None:
    twice = dict(real, my_input=make_wrfinput(tmp_path / "my_input", ideal=False, dx=30000.0, dy=30000.0))
    p = only(check(REAL_NML, twice), "duplicate_input")
    assert p.file == "my_input" and "wrfinput_d01" in p.message
    files = _nest_case(tmp_path)
    w = only(check(REAL_NML, files), "unused_input")  # max_dom = 1
    assert w.severity == "warning" and w.file == "wrfinput_d02"
