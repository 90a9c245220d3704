"""Pure input validation on factory files: kind detection, required dimensions/attributes/variables, ideal vs
real, producer version, wrfbdy coverage, nest geometry, and the summary setup uses."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.wrf.headers import read_header
from orchestrator.wrf.inputs import (
    detect_domain, detect_kind, is_ideal, producer_version, summarize_input, validate_input,
)
from orchestrator.wrf.types import FileHeader, Problem
from tests.factory import (
    make_real_case, make_wrfbdy, make_wrffdda, make_wrfinput, make_wrflowinp, make_wrfout,
)


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


def _check(path: Path, version: str = "3.9") -> tuple[FileHeader, str, list[Problem]]:
    h = read_header(path)
    kind = detect_kind(h, path.name)
    return h, kind, validate_input(h, kind, version, path.name)


@pytest.mark.parametrize("version", ["3.9", "3.8.1"])
@pytest.mark.parametrize("maker,kind", [
    (lambda p, v: make_wrfinput(p / "wrfinput_d01", version=v), "wrfinput"),
    (lambda p, v: make_wrfinput(p / "wrfinput_d01", version=v, ideal=False, mp_physics=8,
                                sf_surface_physics=2, num_soil_layers=4), "wrfinput"),
    (lambda p, v: make_wrfbdy(p / "wrfbdy_d01", version=v), "wrfbdy"),
    (lambda p, v: make_wrflowinp(p / "wrflowinp_d01", version=v), "wrflowinp"),
    (lambda p, v: make_wrffdda(p / "wrffdda_d01", version=v), "wrffdda"),
], ids=["ideal", "real", "wrfbdy", "wrflowinp", "wrffdda"])
def test_good_inputs_are_recognised_and_pass(tmp_path: Path, maker: Any, kind: str, version: str) -> None:
    h, detected, problems = _check(maker(tmp_path, version), version)
    assert detected == kind
    assert problems == []
    assert producer_version(h) == version


@pytest.mark.parametrize("restart,kind", [(False, "wrfout"), (True, "wrfrst")])
def test_model_output_is_recognised_and_refused(tmp_path: Path, restart: bool, kind: str) -> None:
    path = make_wrfout(tmp_path / "upload.nc", restart=restart)  # a neutral name: the content decides
    _, detected, problems = _check(path)
    assert detected == kind
    assert [p.code for p in problems] == ["not_an_input"]
    assert ("restart" if restart else "history output") in problems[0].message


def test_met_em_and_unknown_files(tmp_path: Path) -> None:
    met = make_wrfinput(tmp_path / "met_em.d01.nc", attributes={"TITLE": " OUTPUT FROM METGRID V3.9"})
    assert _check(met)[1] == "met_em" and "real.exe" in _check(met)[2][0].message
    odd = make_wrflowinp(tmp_path / "odd.nc", omit_variables=("SST",))
    assert _check(odd)[1] == "unknown"


def test_domain_from_grid_id_then_file_name(tmp_path: Path) -> None:
    nest = read_header(make_wrfinput(tmp_path / "x.nc", grid_id=2, parent_id=1, i_parent_start=5,
                                     j_parent_start=5, parent_grid_ratio=3, e_we=31, e_sn=31))
    assert detect_domain(nest, "x.nc") == 2
    no_id = read_header(make_wrfinput(tmp_path / "y.nc", drop_attributes=("GRID_ID",)))
    assert detect_domain(no_id, "wrfinput_d03") == 3 and detect_domain(no_id, "y.nc") is None


def test_older_producer_is_a_warning_not_an_error(tmp_path: Path) -> None:
    _, _, problems = _check(make_wrfinput(tmp_path / "wrfinput_d01", version="3.8.1"), "3.9")
    assert [p.code for p in problems] == ["producer_version"]
    assert problems[0].severity == "warning" and "3.8.1" in problems[0].message and "3.9" in problems[0].message


def test_every_missing_variable_is_reported(tmp_path: Path) -> None:
    path = make_wrfinput(tmp_path / "wrfinput_d01", omit_variables=("U", "QVAPOR", "MAPFAC_M", "ZNW"))
    problems = _errors(_check(path)[2])
    assert [p.code for p in problems] == ["missing_variable"]
    for name in ("U", "QVAPOR", "MAPFAC_M", "ZNW"):
        assert name in problems[0].message
    assert "zeros" in problems[0].message and problems[0].file == "wrfinput_d01"


def test_wrongly_shaped_variables_are_reported(tmp_path: Path) -> None:
    path = make_wrfinput(tmp_path / "wrfinput_d01", variable_dims={
        "U": "Time bottom_top south_north west_east", "PH": "Time bottom_top south_north west_east"})
    problems = _errors(_check(path)[2])
    assert [p.code for p in problems] == ["variable_shape", "variable_shape"]
    assert "west_east_stag" in problems[0].message and "PH" in problems[1].message


def test_real_data_needs_land_fields_ideal_does_not(tmp_path: Path) -> None:
    real = make_wrfinput(tmp_path / "real", ideal=False, omit_variables=("TSLB", "LANDUSEF"))
    problems = _errors(_check(real)[2])
    assert [p.code for p in problems] == ["missing_variable"] and "TSLB" in problems[0].message
    ideal = make_wrfinput(tmp_path / "ideal", ideal=True, omit_variables=("TSLB", "LANDUSEF"))
    assert _check(ideal)[2] == []


def test_ideal_or_real_from_attribute_then_start_date(tmp_path: Path) -> None:
    assert is_ideal(read_header(make_wrfinput(tmp_path / "a"))) is True
    assert is_ideal(read_header(make_wrfinput(tmp_path / "b", ideal=False))) is False
    fallback = read_header(make_wrfinput(tmp_path / "c", drop_attributes=("SIMULATION_INITIALIZATION_TYPE",)))
    assert is_ideal(fallback) is True  # START_DATE 0001-… means ideal
    real_fb = read_header(make_wrfinput(tmp_path / "d", ideal=False, drop_attributes=("SIMULATION_INITIALIZATION_TYPE",)))
    assert is_ideal(real_fb) is False
    unknown = make_wrfinput(tmp_path / "e", drop_attributes=("SIMULATION_INITIALIZATION_TYPE", "START_DATE"))
    problems = _check(unknown)[2]
    assert "unknown_initialization" in _codes(problems) and not _errors(problems)


def test_missing_grid_attributes_are_errors_and_optional_ones_warnings(tmp_path: Path) -> None:
    path = make_wrfinput(tmp_path / "wrfinput_d01", drop_attributes=("DX", "BOTTOM-TOP_GRID_DIMENSION", "MMINLU"))
    problems = _check(path)[2]
    errors = _errors(problems)
    assert [p.code for p in errors] == ["missing_attribute"]
    assert "DX" in errors[0].message and "BOTTOM-TOP_GRID_DIMENSION" in errors[0].message
    warnings = [p for p in problems if p.severity == "warning"]
    assert [p.code for p in warnings] == ["missing_attribute"] and "MMINLU" in warnings[0].message


def test_attributes_contradicting_dimensions(tmp_path: Path) -> None:
    path = make_wrfinput(tmp_path / "wrfinput_d01", attributes={"WEST-EAST_GRID_DIMENSION": 50, "NUM_LAND_CAT": 24})
    problems = _errors(_check(path)[2])
    assert [p.code for p in problems] == ["dimension_mismatch", "dimension_mismatch"]
    assert "west_east_stag" in problems[0].message and "NUM_LAND_CAT" in problems[1].message


def test_no_times_is_an_error(tmp_path: Path) -> None:
    problems = _check(make_wrfinput(tmp_path / "wrfinput_d01", times=()))[2]
    assert [p.code for p in problems] == ["no_times"]


def test_nest_geometry_attributes(tmp_path: Path) -> None:
    good = dict(grid_id=2, parent_id=1, i_parent_start=10, j_parent_start=12, parent_grid_ratio=3, e_we=31, e_sn=34)
    assert _check(make_wrfinput(tmp_path / "ok", **good))[2] == []
    bad = _errors(_check(make_wrfinput(tmp_path / "bad", **{**good, "e_we": 32, "i_parent_start": 0}))[2])
    assert [p.code for p in bad] == ["nest_geometry", "nest_geometry"]
    assert "multiple of PARENT_GRID_RATIO" in bad[0].message and "I_PARENT_START" in bad[1].message
    absent = _errors(_check(make_wrfinput(tmp_path / "absent", **good, drop_attributes=("J_PARENT_START",)))[2])
    assert [p.code for p in absent] == ["missing_attribute"] and "J_PARENT_START" in absent[0].message


def test_wrfbdy_coverage_in_summary(tmp_path: Path) -> None:
    path = make_wrfbdy(tmp_path / "wrfbdy_d01", start="2000-01-24_12:00:00", interval_seconds=21600, records=2)
    s = summarize_input(read_header(path), "wrfbdy", "wrfbdy_d01")
    assert (s["bdy_start"], s["bdy_end"]) == ("2000-01-24_12:00:00", "2000-01-25_00:00:00")
    assert s["bdy_interval_seconds"] == 21600 and s["bdy_records"] == 2 and s["bdy_width"] == 5


def test_wrfbdy_irregular_spacing_and_gaps(tmp_path: Path) -> None:
    irregular = [("2000-01-24_12:00:00", "2000-01-24_18:00:00"), ("2000-01-24_18:00:00", "2000-01-25_03:00:00")]
    problems = _check(make_wrfbdy(tmp_path / "a", bdy_times=irregular))[2]
    assert [p.code for p in problems] == ["bdy_interval_irregular"]
    gap = [("2000-01-24_12:00:00", "2000-01-24_18:00:00"), ("2000-01-25_00:00:00", "2000-01-25_06:00:00")]
    problems = _check(make_wrfbdy(tmp_path / "b", bdy_times=gap))[2]
    assert [p.code for p in problems] == ["bdy_gap"] and "2000-01-24_18:00:00" in problems[0].message


def test_wrfbdy_missing_fields_and_times(tmp_path: Path) -> None:
    path = make_wrfbdy(tmp_path / "wrfbdy_d01", omit_variables=("U_BXS", "MU_BTYE",
                                                                "md___nextbdytimee_x_t_d_o_m_a_i_n_m_e_t_a_data_"))
    problems = _check(path)[2]
    assert [p.code for p in problems] == ["missing_variable", "bdy_times_missing"]
    assert "U_BXS" in problems[0].message and "MU_BTYE" in problems[0].message


@pytest.mark.parametrize("maker,missing", [(make_wrflowinp, "SEAICE"), (make_wrffdda, "T_NDG_OLD")])
def test_auxiliary_inputs_missing_fields(tmp_path: Path, maker: Any, missing: str) -> None:
    problems = _check(maker(tmp_path / "aux_d01", omit_variables=(missing,)))[2]
    assert [p.code for p in problems] == ["missing_variable"] and missing in problems[0].message


def test_summary_holds_what_setup_needs(tmp_path: Path) -> None:
    files = make_real_case(tmp_path, e_we=60, e_sn=50, e_vert=35, dx=12000.0, dy=12000.0, mp_physics=8,
                           sf_surface_physics=2, num_soil_layers=4, num_land_cat=21)
    s = summarize_input(read_header(files["wrfinput_d01"]), None, "wrfinput_d01")
    assert s["kind"] == "wrfinput" and s["domain"] == 1 and s["ideal"] is False
    assert (s["e_we"], s["e_sn"], s["e_vert"], s["dx"], s["dy"]) == (60, 50, 35, 12000.0, 12000.0)
    assert s["times"] == ["2000-01-24_12:00:00"] and s["num_soil_layers"] == 4 and s["num_land_cat"] == 21
    assert s["physics"]["mp_physics"] == 8 and s["physics"]["sf_surface_physics"] == 2
    assert s["producer_version"] == "3.9" and s["p_top"] == 5000.0
    json.dumps(s)  # stored as JSON in the file details


def test_missing_dimension_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "wrfbdy_d01"
    make_wrfbdy(path)
    h = read_header(path)
    dims = {k: v for k, v in h.dimensions.items() if k != "bdy_width"}
    stripped = FileHeader(h.path, h.data_format, h.file_size, h.expected_min_size, dims, h.unlimited_dimensions,
                          h.attributes, h.variables, h.times, h.extra_times)
    problems = validate_input(stripped, "wrfbdy", "3.9", "wrfbdy_d01")
    assert [p.code for p in problems] == ["missing_dimension"] and "bdy_width" in problems[0].message
