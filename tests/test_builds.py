"""Builds registry: manifests in wrf_builds/, version lookup, checks, static tables per physics (facts §6)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.wrf.builds import (
    ALL_TABLES,
    build_for_version,
    check_build,
    load_builds,
    missing_build_message,
    parse_manifest,
    tables_for_physics,
)

REPO = Path(__file__).resolve().parents[1]


def test_repo_registers_the_emulator_for_both_versions_labelled_as_such() -> None:
    builds = load_builds(REPO / "wrf_builds")
    emus = {b.version: b for b in builds if b.emulator}
    assert set(emus) >= {"3.8.1", "3.9"}
    for version, b in emus.items():
        assert b.label == "emulator"
        assert "EMULATOR" in b.display_label and "not WRF" in b.display_label
        assert "stand-in for wrf.exe" in b.description
        assert b.exe == REPO / "wrf_builds" / "emulator" / "wrf.exe"
        assert b.launch_argv() == ["srun", "--mpi=pmix", str(b.exe)]
        assert b.env["CLOUDRUN_EMULATOR_WRF_VERSION"] == version
        assert b.summary()["emulator"] is True
        assert check_build(b) == []
        # its placeholder tables say what they are
        for table in ("LANDUSE.TBL", "VEGPARM.TBL", "RRTMG_LW_DATA", "ozone.formatted"):
            assert "emulator placeholder" in (b.tables_dir / table).read_text()


def _manifest(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_relative_paths_resolve_against_manifest_and_version_normalised(tmp_path: Path) -> None:
    (tmp_path / "b" / "run").mkdir(parents=True)
    exe = tmp_path / "b" / "wrf.exe"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (tmp_path / "b" / "run" / "LANDUSE.TBL").write_text("x")
    _manifest(tmp_path, "real-39.yaml", "version: 3.9\nlabel: site\nexe: b/wrf.exe\ntables_dir: b/run\n"
              "launch: [srun, --mpi=pmix, '{exe}']\nmodules: [wrf/3.9]\nenv: {OMP_NUM_THREADS: 1}\n")
    [b] = load_builds(tmp_path)
    assert b.name == "real-39" and b.version == "3.9" and not b.emulator
    assert b.exe == exe and b.tables_dir == tmp_path / "b" / "run"
    assert b.env == {"OMP_NUM_THREADS": "1"} and b.modules == ["wrf/3.9"]
    assert check_build(b) == []


def test_real_build_preferred_over_emulator_and_unknown_version_none(tmp_path: Path) -> None:
    _manifest(tmp_path, "a-emu.yaml", "version: '3.9'\nemulator: true\nlabel: emulator\nexe: x\ntables_dir: y\n")
    _manifest(tmp_path, "z-real.yaml", "version: V3.9\nexe: /opt/wrf/main/wrf.exe\ntables_dir: /opt/wrf/run\n")
    builds = load_builds(tmp_path)
    assert build_for_version(builds, "3.9").name == "z-real"
    assert build_for_version(builds, "V3.9").name == "z-real"
    assert build_for_version([b for b in builds if b.emulator], "3.9").name == "a-emu"
    assert build_for_version(builds, "3.8.1") is None
    msg = missing_build_message(builds, "V3.8.1")
    assert msg.startswith("No WRF build is registered for version 3.8.1")
    assert "3.9 (a-emu, emulator)" in msg and "3.9 (z-real)" in msg
    assert missing_build_message([], "4.0").endswith("Registered builds: none.")


def test_check_build_reports_each_problem(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    exe = tmp_path / "wrf.exe"
    exe.write_text("not executable")
    exe.chmod(0o644)
    b = parse_manifest(f"version: '3.9'\nexe: {exe}\ntables_dir: {tmp_path / 'run'}\nlaunch: [srun, wrf.exe]\n",
                       tmp_path / "m.yaml")
    problems = check_build(b)
    assert any("not executable" in p for p in problems)
    assert any("none of WRF's static tables" in p for p in problems)
    assert any("{exe}" in p for p in problems)
    missing = parse_manifest("version: '3.9'\nexe: nope/wrf.exe\ntables_dir: nope/run\nlaunch: []\n",
                             tmp_path / "m.yaml")
    problems = check_build(missing)
    assert any("wrf.exe not found" in p for p in problems)
    assert any("tables directory not found" in p for p in problems)
    assert any("launch line is empty" in p for p in problems)


def test_bad_manifests_raise_or_are_collected(tmp_path: Path) -> None:
    _manifest(tmp_path, "bad.yaml", "version: '3.9'\nexe: x\n")  # no tables_dir
    _manifest(tmp_path, "extra.yaml", "version: '3.9'\nexe: x\ntables_dir: y\ncolour: blue\n")
    _manifest(tmp_path, "good.yaml", "version: '3.9'\nexe: x\ntables_dir: y\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_builds(tmp_path)
    errors: list[str] = []
    builds = load_builds(tmp_path, errors)
    assert [b.name for b in builds] == ["good"]
    assert len(errors) == 2 and any("tables_dir" in e for e in errors) and any("colour" in e for e in errors)


@pytest.mark.parametrize("physics,version,real,expected", [
    ({"mp_physics": 1, "ra_lw_physics": 0, "ra_sw_physics": 0, "sf_surface_physics": 0}, "3.9", False, []),
    ({"mp_physics": 1, "ra_lw_physics": 0, "ra_sw_physics": 0, "sf_surface_physics": 0}, "3.9", True,
     ["LANDUSE.TBL"]),
    ({"mp_physics": 8, "ra_lw_physics": 4, "ra_sw_physics": 4, "sf_surface_physics": 2}, "3.9", True,
     ["GENPARM.TBL", "LANDUSE.TBL", "RRTMG_LW_DATA", "RRTMG_SW_DATA", "SOILPARM.TBL", "VEGPARM.TBL",
      "ozone.formatted", "ozone_lat.formatted", "ozone_plev.formatted"]),
    ({"mp_physics": 8, "ra_lw_physics": 4, "ra_sw_physics": 4, "sf_surface_physics": 2, "o3input": 0}, "3.9",
     False, ["GENPARM.TBL", "RRTMG_LW_DATA", "RRTMG_SW_DATA", "SOILPARM.TBL", "VEGPARM.TBL"]),
    ({"mp_physics": 28, "ra_lw_physics": 1, "ra_sw_physics": 1, "sf_surface_physics": 4, "sf_urban_physics": 1},
     "3.9", False, ["CCN_ACTIVATE.BIN", "GENPARM.TBL", "MPTABLE.TBL", "RRTM_DATA", "SOILPARM.TBL", "URBPARM.TBL"]),
    ({"physics_suite": "CONUS"}, "3.9", False,
     ["GENPARM.TBL", "RRTMG_LW_DATA", "RRTMG_SW_DATA", "SOILPARM.TBL", "VEGPARM.TBL", "ozone.formatted",
      "ozone_lat.formatted", "ozone_plev.formatted"]),
    ({}, "3.8.1", False, []),  # 3.8.1 defaults are 0: no physics, no tables
    ({"mp_physics": 51, "ra_lw_physics": 0, "ra_sw_physics": 0, "sf_surface_physics": 0}, "3.9", False,
     ["p3_lookup_table_1.dat"]),
])
def test_tables_for_physics(physics: dict, version: str, real: bool, expected: list[str]) -> None:
    assert tables_for_physics({"physics": physics}, version, real_data=real) == expected


def test_tables_for_nests_union_and_unknown_options() -> None:
    nml = {"domains": {"max_dom": 2}, "physics": {"mp_physics": [1, 5], "ra_lw_physics": 0, "ra_sw_physics": 0,
                                                   "sf_surface_physics": [0, 0]}}
    assert tables_for_physics(nml, "3.9", real_data=False) == ["ETAMPNEW_DATA", "ETAMPNEW_DATA.expanded_rain"]
    # 3.9 defaults are -1 without a suite: unknown -> every table (of the build when given)
    assert tables_for_physics({"physics": {}}, "3.9") == list(ALL_TABLES)
    assert tables_for_physics({"physics": {"mp_physics": 77}}, "3.8.1", available=["B", "A"]) == ["A", "B"]


def test_emulator_wrapper_is_executable_and_points_at_the_venv() -> None:
    exe = REPO / "wrf_builds" / "emulator" / "wrf.exe"
    assert os.access(exe, os.X_OK)
    assert ".venv/bin/python" in exe.read_text() and "wrf_emulator.py" in exe.read_text()
