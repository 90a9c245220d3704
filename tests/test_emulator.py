"""The Cloudrun WRF emulator run for real under Open MPI (2 ranks), checked with orchestrator.wrf.rsl."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from orchestrator.wrf.rsl import RslState, classify_failure, fatal_message, parse_rsl_chunk
from tests.emulator_support import (
    EXE, MPIRUN, Run, base_namelist, ideal_case, link_tables, run_emulator, times_of, write_namelist,
)
from tests.factory import make_real_case, make_wrfinput

pytestmark = pytest.mark.skipif(MPIRUN is None, reason="Open MPI's mpirun is needed (apt-get install openmpi-bin)")


# ---- happy path ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["3.9", "3.8.1"])
def test_ideal_run_success_both_ranks(tmp_path: Path, version: str) -> None:
    d = ideal_case(tmp_path, version, base_namelist(time_control={"frames_per_outfile": 2}))
    r = run_emulator(d, version)
    assert r.rc == 0, r.err
    for rank in (0, 1):
        for text in (r.err[rank], r.out[rank]):
            lines = text.splitlines()
            assert lines[0] == f"taskid: {rank} hostname: {os.uname().nodename.split('.')[0]}"
            assert lines[1] == f" Cloudrun WRF emulator (stand-in for wrf.exe, NOT WRF) V{version}"
            assert f"WRF V{version} MODEL" in lines
            assert lines[-1] == "d01 0001-01-01_00:02:00 wrf: SUCCESS COMPLETE WRF"
    st0, st1 = r.states
    assert st0.emulator and st0.version == f"V{version}" and st0.ntasks == (1, 2)
    assert st0.steps == 10 and st0.first_model_time == "0001-01-01_00:00:12"
    assert st0.model_time == "0001-01-01_00:02:00" and st0.success
    assert st1.steps == 0 and st1.success  # Timing lines come from the monitor only
    assert " ips,ipe,jps,jpe            1          42           1          21" in r.err[0]
    assert " ips,ipe,jps,jpe            1          42          22          42" in r.err[1]
    assert classify_failure(r.states) is None
    # frames_per_outfile=2: files named by their first frame, 3 frames -> 2 files
    outs = sorted(p.name for p in d.glob("wrfout_d01_*"))
    assert outs == ["wrfout_d01_0001-01-01_00:00:00", "wrfout_d01_0001-01-01_00:02:00"]
    assert times_of(d / outs[0]) == ["0001-01-01_00:00:00", "0001-01-01_00:01:00"]
    assert times_of(d / outs[1]) == ["0001-01-01_00:02:00"]
    assert st0.wrfout_writes == 3 and st0.last_wrfout_time == "0001-01-01_00:02:00"
    # restart files every restart_interval, never at the start
    assert sorted(p.name for p in d.glob("wrfrst_d01_*")) == [
        "wrfrst_d01_0001-01-01_00:01:00", "wrfrst_d01_0001-01-01_00:02:00"]
    assert st0.restart_writes == 2 and st0.last_restart_time == "0001-01-01_00:02:00"
    with netCDF4.Dataset(d / outs[0]) as ds:
        assert ds.TITLE == f" OUTPUT FROM WRF V{version} MODEL"
        assert "Cloudrun WRF emulator" in ds.CLOUDRUN_EMULATOR and "NOT WRF" in ds.CLOUDRUN_EMULATOR
        assert ds["T2"].shape == (2, 41, 41) and ds["U10"].shape == (2, 41, 41)
        assert ds.data_model == "NETCDF3_64BIT_OFFSET"
        assert not np.array_equal(ds["T2"][0], ds["T2"][1])  # the fields change with time
    assert not list(d.glob(".*tmp*"))  # no temporary files left behind


def test_writing_line_a30_in_381_full_name_in_39(tmp_path: Path) -> None:
    for version in ("3.8.1", "3.9"):
        d = ideal_case(tmp_path / version, version, base_namelist(
            minutes=1, time_control={"history_outname": "hist/wrfout_d<domain>_<date>", "restart_interval": 0}))
        (d / "hist").mkdir()
        r = run_emulator(d, version)
        assert r.rc == 0
        name = "hist/wrfout_d01_0001-01-01_00:00:00"
        shown = name[:30] if version == "3.8.1" else name
        assert f"Timing for Writing {shown} for domain        1:" in r.err[0]
        assert (d / name).exists() and not list(d.glob("wrfrst*"))


def test_version_from_namelist_when_not_set(tmp_path: Path) -> None:
    cases = {"3.8.1": {"afwa": {"afwa_hailcast_opt": 0}}, "3.9": {"physics": {"physics_suite": "none"}}}
    for version, extra in cases.items():
        d = ideal_case(tmp_path / version, version, base_namelist(minutes=1, **extra))
        r = run_emulator(d, version=None)
        assert r.rc == 0 and r.states[0].version == f"V{version}"
        assert f" Cloudrun WRF emulator (stand-in for wrf.exe, NOT WRF) V{version}" in r.err[0]


def test_deterministic_output_and_input_dependent(tmp_path: Path) -> None:
    a = run_emulator(ideal_case(tmp_path / "a"))
    b = run_emulator(ideal_case(tmp_path / "b"))
    c = run_emulator(ideal_case(tmp_path / "c", nml=base_namelist(domains={"time_step": 6})))
    assert a.rc == b.rc == c.rc == 0
    name = "wrfout_d01_0001-01-01_00:00:00"
    with netCDF4.Dataset(a.dir / name) as x, netCDF4.Dataset(b.dir / name) as y, netCDF4.Dataset(c.dir / name) as z:
        for var in ("T2", "U10", "Times", "XTIME"):
            assert np.array_equal(x[var][:], y[var][:])
        assert not np.array_equal(x["T2"][:], z["T2"][:])


def test_nest_output_and_nest_start_check(tmp_path: Path) -> None:
    nest = {"max_dom": 2, "e_we": [42, 43], "e_sn": [42, 43], "e_vert": [41, 41], "dx": [2000.0, 666.6666667],
            "dy": [2000.0, 666.6666667], "grid_id": [1, 2], "parent_id": [0, 1], "i_parent_start": [0, 15],
            "j_parent_start": [0, 15], "parent_grid_ratio": [1, 3], "parent_time_step_ratio": [1, 3]}
    tc = {"input_from_file": [True, True], "history_interval": [1, 2], "start_year": [1, 1], "start_month": [1, 1],
          "start_day": [1, 1], "start_hour": [0, 0], "start_minute": [0, 0], "start_second": [0, 0]}
    for version in ("3.9", "3.8.1"):
        d = ideal_case(tmp_path / version, version, base_namelist(domains=nest, time_control=tc))
        make_wrfinput(d / "wrfinput_d02", version=version, e_we=43, e_sn=43, dx=666.6666667, dy=666.6666667,
                      grid_id=2, parent_id=1, i_parent_start=15, j_parent_start=15, parent_grid_ratio=3)
        r = run_emulator(d, version)
        assert r.rc == 0, r.err[0]
        st = r.states[0]
        assert st.steps == 10 and dict(st.domain_times) == {1: "0001-01-01_00:02:00", 2: "0001-01-01_00:02:00"}
        assert r.err[0].count(" on domain   2:") == 30  # parent_time_step_ratio 3 per d01 step
        assert "Timing for main: time 0001-01-01_00:00:04 on domain   2:" in r.err[0]
        assert sorted(p.name for p in d.glob("wrfout_d02_*")) == ["wrfout_d02_0001-01-01_00:00:00"]
        assert times_of(d / "wrfout_d02_0001-01-01_00:00:00") == ["0001-01-01_00:00:00", "0001-01-01_00:02:00"]
        make_wrfinput(d / "wrfinput_d02", version=version, e_we=43, e_sn=43, dx=666.6666667, dy=666.6666667,
                      grid_id=2, parent_id=1, i_parent_start=14, j_parent_start=15, parent_grid_ratio=3)
        r = run_emulator(d, version)
        assert r.rc == 1
        msg = fatal_message(r.states[0])
        assert "Nest start locations do not match: namelist.input vs gridded input file" in msg
        assert " i_parent_start from gridded input file  =         14" in r.err[0]


# ---- restart ------------------------------------------------------------------------------------------
def test_restart_continues_identically_from_wrfrst(tmp_path: Path) -> None:
    full = run_emulator(ideal_case(tmp_path / "full", nml=base_namelist(minutes=3)))
    assert full.rc == 0
    d = ideal_case(tmp_path / "rst", nml=base_namelist(minutes=3))
    first = run_emulator(d, env={"CLOUDRUN_EMULATOR_FAIL": "crash@8"})  # dies after 7 steps = 84 s
    assert first.rc != 0 and sorted(p.name for p in d.glob("wrfrst_d01_*")) == ["wrfrst_d01_0001-01-01_00:01:00"]
    (d / "wrfinput_d01").unlink()  # a restart run does not read wrfinput
    write_namelist(d, base_namelist(minutes=2, time_control={"restart": True, "start_minute": 1, "end_minute": 3}))
    r = run_emulator(d)
    assert r.rc == 0, r.err[0]
    st = r.states[0]
    assert " RESTART run: opening wrfrst_d01_0001-01-01_00:01:00 for reading" in r.err[0]
    assert "Timing for processing restart file for domain        1:" in r.err[0]
    assert st.first_model_time == "0001-01-01_00:01:12" and st.model_time == "0001-01-01_00:03:00" and st.success
    # history at the restart time is not rewritten (write_hist_at_0h_rst=.false.); later frames are
    assert "Timing for Writing wrfout_d01_0001-01-01_00:01:00" not in r.err[0]
    new = d / "wrfout_d01_0001-01-01_00:02:00"
    assert times_of(new) == ["0001-01-01_00:02:00", "0001-01-01_00:03:00"]
    with netCDF4.Dataset(new) as x, netCDF4.Dataset(full.dir / "wrfout_d01_0001-01-01_00:00:00") as y:
        assert np.array_equal(x["T2"][:], y["T2"][2:4]) and np.array_equal(x["U10"][:], y["U10"][2:4])


@pytest.mark.parametrize("version", ["3.9", "3.8.1"])
def test_restart_without_wrfrst_is_fatal(tmp_path: Path, version: str) -> None:
    d = ideal_case(tmp_path, version, base_namelist(time_control={"restart": True}))
    r = run_emulator(d, version)
    assert r.rc == 1
    assert fatal_message(r.states[0]) == "program wrf: error opening wrfrst_d01_0001-01-01_00:00:00   for reading"


# ---- injected failures --------------------------------------------------------------------------------
def test_fail_fatal_at_step(tmp_path: Path) -> None:
    d = ideal_case(tmp_path)
    r = run_emulator(d, env={"CLOUDRUN_EMULATOR_FAIL": json.dumps(
        {"mode": "fatal", "step": 3, "message": "module_x: something went wrong"})})
    assert r.rc == 1
    st = r.states[0]
    assert st.steps == 2 and not st.success
    assert classify_failure(r.states) == ("wrf_fatal", "module_x: something went wrong")
    assert "-------------- FATAL CALLED ---------------\nFATAL CALLED FROM FILE:  <stdin>  LINE:" in r.err[0]
    assert "module_x: something went wrong" in r.out[0]  # wrf_message writes both files
    r = run_emulator(d, env={"CLOUDRUN_EMULATOR_FAIL": json.dumps({"mode": "fatal", "step": 2, "rank": 1})})
    assert r.rc == 1 and r.states[1].fatal_lines is not None and r.states[0].fatal_lines is None
    assert classify_failure(r.states) == ("wrf_fatal", "Cloudrun WRF emulator: injected fatal error at step 2")


def test_fail_cfl_blowup(tmp_path: Path) -> None:
    d = ideal_case(tmp_path)
    r = run_emulator(d, env={"CLOUDRUN_EMULATOR_FAIL": "cfl@6"})
    assert r.rc not in (0, 1)
    st = r.states[0]
    assert st.cfl_count == 3 and st.steps == 5 and st.fatal_lines is None and not st.success
    assert "points exceeded cfl=2 in domain d01 at time 0001-01-01_00:01:00 hours" in r.err[0]
    assert "MAX AT i,j,k:" in r.err[0]
    code, message = classify_failure(r.states)
    assert code == "cfl" and "0001-01-01_00:01:00" in message


def test_fail_crash_and_exit_code_and_no_success(tmp_path: Path) -> None:
    r = run_emulator(ideal_case(tmp_path / "crash"), env={"CLOUDRUN_EMULATOR_FAIL": "crash@4"})
    assert r.rc not in (0, 1) and r.states[0].steps == 3
    assert "FATAL" not in r.err[0] and classify_failure(r.states)[0] in ("wrf_crash", "wrf_incomplete")
    r = run_emulator(ideal_case(tmp_path / "exit"), env={"CLOUDRUN_EMULATOR_FAIL": json.dumps(
        {"mode": "crash", "step": 2, "exit_code": 7})})
    assert r.rc == 7 and r.states[0].steps == 1 and classify_failure(r.states)[0] == "wrf_incomplete"
    r = run_emulator(ideal_case(tmp_path / "nosuccess"), env={"CLOUDRUN_EMULATOR_FAIL": "no_success"})
    assert r.rc == 0 and r.states[0].steps == 10 and not any(s.success for s in r.states)
    assert classify_failure(r.states)[0] == "wrf_incomplete"


def test_fail_file_once_and_min_time_step(tmp_path: Path) -> None:
    d = ideal_case(tmp_path)
    (d / "emulator.fail").write_text(json.dumps({"mode": "cfl", "step": 4, "min_time_step": 10, "once": False}))
    r = run_emulator(d, env={"CLOUDRUN_EMULATOR_FAIL": "fatal@1"})  # the file wins over the env
    assert classify_failure(r.states)[0] == "cfl"
    write_namelist(d, base_namelist(domains={"time_step": 6}))  # the CFL retry with a smaller step
    assert run_emulator(d).rc == 0
    (d / "emulator.fail").write_text(json.dumps({"mode": "fatal", "step": 2, "once": True}))
    assert run_emulator(d).rc == 1
    assert not (d / "emulator.fail").exists() and (d / "emulator.fail.fired").exists()
    assert run_emulator(d).rc == 0
    (d / "emulator.fail").write_text(json.dumps({"mode": "explode"}))
    assert run_emulator(d).rc == 2


def test_fail_hang_keeps_running(tmp_path: Path) -> None:
    d = ideal_case(tmp_path)
    env = dict(os.environ, OMPI_MCA_btl="self,tcp", OMPI_MCA_btl_tcp_if_include="lo",
               CLOUDRUN_EMULATOR_STEP_SECONDS="0.01", CLOUDRUN_EMULATOR_FAIL="hang@3")
    proc = subprocess.Popen([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", "2", str(EXE)], cwd=d,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        st = RslState()
        for _ in range(600):  # wait until the hang point is reached
            st = parse_rsl_chunk((d / "rsl.out.0000").read_text()) if (d / "rsl.out.0000").exists() else st
            if st.steps == 2:
                break
            time.sleep(0.05)
        assert st.steps == 2
        time.sleep(1.0)  # 100 step-lengths: a running emulator would have finished by now
        assert proc.poll() is None
        st = parse_rsl_chunk((d / "rsl.out.0000").read_text())
        assert st.steps == 2 and not st.success and st.fatal_lines is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---- wrf.exe's start-up checks: one problem per case, both versions' wording (facts §1.2, §1.5, §1.8) -------
REAL_START = "2000-01-24_12:00:00"
V39_BUNDLE = "NOTE:  Please check and reset these options"


def _nml(**groups: dict) -> callable:
    return lambda d: write_namelist(d, base_namelist(minutes=1, **groups))



def _real(minutes: int = 1, bdy: bool = True, skip_tables: tuple[str, ...] = (), **wrfinput: object) -> callable:
    def build(d: Path) -> None:
        files = make_real_case(d, hours=6, interval_seconds=21600, dx=30000.0, dy=30000.0, **wrfinput)
        link_tables(d, skip_tables)
        if not bdy:
            files["wrfbdy_d01"].unlink()
        write_namelist(d, base_namelist(REAL_START, minutes, domains={"dx": 30000.0, "dy": 30000.0},
                                        bdy_control={"specified": True, "open_xs": False, "open_xe": False,
                                                     "open_ys": False, "open_ye": False}))
    return build


def _short_bdy(d: Path) -> None:
    _real(minutes=3)(d)
    from tests.factory import bdy_records, make_wrfbdy
    make_wrfbdy(d / "wrfbdy_d01", e_we=42, e_sn=42, e_vert=41, dx=30000.0, dy=30000.0, start=REAL_START,
                bdy_times=bdy_records(REAL_START, 60, 2))


def _edit(**groups: dict) -> callable:
    def build(d: Path) -> None:
        nml = base_namelist(minutes=1)
        for g, vals in groups.items():
            nml[g].update(vals)
        write_namelist(d, nml)
    return build


# name: (version, wrfinput kwargs or None, namelist/case builder, rc, fatal message or None, lines in rsl.error.0000)
MISMATCH_39 = "---- ERROR: Mismatch between namelist and global attribute {}\n" + V39_BUNDLE
CASES: dict[str, tuple] = {
    "dims-3.9": ("3.9", {}, _nml(domains={"e_we": 43}), 1,
                 "---- ERROR: Mismatch between namelist and input file dimensions\n" + V39_BUNDLE,
                 ["   input_wrf.F: SIZE MISMATCH:  namelist   ide,jde,kde=          43          42          41",
                  "   input_wrf.F: SIZE MISMATCH:  input file ide,jde,kde=          42          42          41",
                  "NOTE:       1 namelist vs input data inconsistencies found."]),
    "dims-3.8.1": ("3.8.1", {}, _nml(domains={"e_we": 43}), 1,
                   "input_wrf.F: SIZE MISMATCH:  namelist ide,jde,kde=          43          42          41 ; "
                   "input data ide,jde,kde=          42          42          41", []),
    "dx-3.9": ("3.9", {}, _nml(domains={"dx": 1000.0}), 1,
               "---- ERROR: DX and DY do not match comparing namelist to the input file\n" + V39_BUNDLE,
               [" dx and dy from namelist       1000.00000      2000.00000"]),
    "dx-3.8.1": ("3.8.1", {}, _nml(domains={"dy": 1000.0}), 1,
                 "DX and DY do not match comparing namelist to the input file", []),
    "landcat-3.9": ("3.9", {}, _nml(physics={"num_land_cat": 24}), 1,
                    "---- ERROR: Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT\n"
                    + V39_BUNDLE, ["namelist    : NUM_LAND_CAT =         24",
                                   "input files : NUM_LAND_CAT =         21 (from geogrid selections)."]),
    "landcat-3.8.1": ("3.8.1", {}, _nml(physics={"num_land_cat": 24}), 1,
                      "Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT", []),
    "lsm-3.9": ("3.9", {}, _nml(physics={"sf_surface_physics": 1}), 1, MISMATCH_39.format("SF_SURFACE_PHYSICS"),
                ["input files : SF_SURFACE_PHYSICS =          0 (from wrfinput files)."]),
    "lsm-3.8.1": ("3.8.1", {}, _nml(physics={"sf_surface_physics": 1}), 1,
                  "Mismatch between namelist and global attribute SF_SURFACE_PHYSICS", []),
    "lsm-noah-mp-ok": ("3.9", {"sf_surface_physics": 2},
                       lambda d: (_nml(physics={"sf_surface_physics": 4})(d), link_tables(d)), 0, None, []),
    "noah-without-vegparm": ("3.9", {"sf_surface_physics": 2}, _nml(physics={"sf_surface_physics": 2}), 1,
                             "module_sf_noahlsm.F: soil_veg_gen_parm: failure opening VEGPARM.TBL", []),
    "gwd-3.9": ("3.9", {}, _nml(dynamics={"gwd_opt": 1}), 1, MISMATCH_39.format("GWD_OPT"), []),
    "gwd-3.8.1-unchecked": ("3.8.1", {"version": "3.9"}, _nml(dynamics={"gwd_opt": 1}), 0, None, []),
    "ocean-3.9": ("3.9", {}, _nml(physics={"sf_ocean_physics": 1}), 1, MISMATCH_39.format("SF_OCEAN_PHYSICS"), []),
    "urban-3.9": ("3.9", {}, _nml(physics={"sf_urban_physics": 1}), 1, MISMATCH_39.format("SF_URBAN_PHYSICS"), []),
    "three-at-once-3.9": ("3.9", {}, _nml(domains={"e_we": 43, "dx": 1000.0}, physics={"num_land_cat": 24}), 1,
                          "---- ERROR: Mismatch between namelist and input file dimensions\n"
                          "---- ERROR: DX and DY do not match comparing namelist to the input file\n"
                          "---- ERROR: Mismatch between namelist and wrf input files for dimension NUM_LAND_CAT\n"
                          + V39_BUNDLE, ["NOTE:       3 namelist vs input data inconsistencies found."]),
    "time-3.9": ("3.9", {}, _nml(time_control={"start_minute": 1, "end_minute": 2}), 1,
                 "---- ERROR: Could not find matching time in input file wrfinput_d01\n" + V39_BUNDLE,
                 [" Time in file: 0001-01-01_00:00:00", " Time on domain: 0001-01-01_00:01:00",
                  "**WARNING** Time in input file not equal to time on domain **WARNING**",
                  "**WARNING** Trying next time in file wrfinput_d01 ..."]),
    "time-3.8.1": ("3.8.1", {}, _nml(time_control={"start_minute": 1, "end_minute": 2}), 1,
                   "... Could not find matching time in input file wrfinput_d01", []),
    "time-second-record-ok": ("3.9", {"times": ("0001-01-01_00:00:00", "0001-01-01_00:01:00")},
                              _nml(time_control={"start_minute": 1, "end_minute": 2}), 0, None,
                              ["**WARNING** Time in input file not equal to time on domain **WARNING**"]),
    "no-wrfinput": ("3.9", None, _nml(), 1,
                    "program wrf: error opening wrfinput_d01 for reading ierr=       -1021", []),
    "ptop-zero-ideal": ("3.9", {"p_top": 0.0}, _nml(), 1,
                        "start_em: p_top from the namelist does not match p_top from the input file.", []),
    "time-step-0": ("3.9", {}, _nml(domains={"time_step": 0}), 1,
                    "--- ERROR: Known problem.  time_step must be set to a positive integer\n"
                    "NOTE:       1 namelist settings are wrong. Please check and reset these options", []),
    "nproc": ("3.9", {}, _nml(domains={"nproc_x": 3}), 1,
              "WRF_DM_INITIALIZE (RSL_LITE): nproc_x * nproc_y in namelist ne        2", []),
    "no-namelist": ("3.9", {}, lambda d: None, 1, "ERROR OPENING namelist.input", []),
    "no-quilt": ("3.8.1", {}, lambda d: (write_namelist(d, {k: v for k, v in base_namelist().items()
                                                            if k != "namelist_quilt"})), 1,
                 "ERROR reading namelist namelist_quilt", []),
    "unknown-var": ("3.9", {}, _nml(physics={"no_such_opt": 1}), 1,
                    "------ ERROR while reading namelist physics ------\n"
                    "ERRORS while reading one or more namelists from namelist.input.", []),
    "gwd-in-physics": ("3.9", {}, _edit(physics={"gwd_opt": 0}), 1,
                       "------ ERROR while reading namelist physics ------\n"
                       "ERRORS while reading one or more namelists from namelist.input.", []),
    "suite-in-3.8.1": ("3.8.1", {}, _nml(physics={"physics_suite": "none"}), 1,
                       "------ ERROR while reading namelist physics ------\n"
                       "ERRORS while reading one or more namelists from namelist.input.", []),
    "hybrid-in-3.8.1": ("3.8.1", {}, _nml(dynamics={"hybrid_opt": 0}), 1,
                        "------ ERROR while reading namelist dynamics ------\n"
                        "ERRORS while reading one or more namelists from namelist.input.", []),
    "suite-in-3.9-ok": ("3.9", {}, _nml(physics={"physics_suite": "none"}), 0, None, ["No physics suite selected."]),
    "no-equals": ("3.9", {}, lambda d: (d / "namelist.input").write_text(
        " &domains\n time_step 12\n /\n &namelist_quilt\n /\n"), 1,
        "------ ERROR while reading namelist domains ------\n"
        "ERRORS while reading one or more namelists from namelist.input.", []),
    "syntax": ("3.9", {}, lambda d: (d / "namelist.input").write_text(
        " &time_control\n run_days = 1 )\n /\n &namelist_quilt\n /\n"), 1,
               "------ ERROR while reading namelist time_control ------\n"
               "ERRORS while reading one or more namelists from namelist.input.", []),
    "real-ok": ("3.9", None, _real(), 0, None, ["Timing for processing lateral boundary for domain        1:",
                                                 "Max map factor in domain 1 =  1.00."]),
    "real-no-landuse-tbl": ("3.8.1", None, _real(skip_tables=("LANDUSE.TBL",)), 1,
                            "module_physics_init.F: LANDUSE_INIT: open failure for LANDUSE.TBL", []),
    "real-no-wrfbdy": ("3.9", None, _real(bdy=False), 1,
                       "med_latbound_in: error opening wrfbdy_d01 for reading. IERR =        -1021", []),
    "real-bdy-runs-out-3.9": ("3.9", None, _short_bdy, 1,
                              "---- ERROR: Ran out of valid boundary conditions in file wrfbdy_d01\n" + V39_BUNDLE,
                              ["Timing for main: time 2000-01-24_12:02:00 on domain   1:"]),
    "real-bdy-runs-out-3.8.1": ("3.8.1", None, _short_bdy, 1,
                                "... May have run out of valid boundary conditions in file wrfbdy_d01", []),
    "real-ptop": ("3.9", None, _real(p_top=7000.0), 1,
                  "start_em: p_top from the namelist does not match p_top from the input file.", []),
    "real-base-state": ("3.8.1", None, _real(t00=0.0), 1, "start_em: did not find base state parameters in "
                        "wrfinput. Add use_baseparam_fr_nml = .t. in &dynamics and rerun", []),
}


@pytest.fixture(scope="module")
def check_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every case run once, four at a time (each is a short mpirun). The input files are written first, in
    this thread: the netCDF C library is not thread-safe (writing files from several threads segfaults)."""
    from concurrent.futures import ThreadPoolExecutor

    dirs = {}
    for name, (version, wrfinput, build, *_) in CASES.items():
        d = dirs[name] = tmp_path_factory.mktemp(name)
        if wrfinput is not None:
            make_wrfinput(d / "wrfinput_d01", **{"version": version, **wrfinput})
        build(d)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(lambda name: run_emulator(dirs[name], CASES[name][0]), CASES)))


@pytest.mark.parametrize("name", list(CASES))
def test_startup_check(check_runs: dict[str, Run], name: str) -> None:
    _, _, _, rc, message, lines = CASES[name]
    r = check_runs[name]
    assert r.rc == rc, r.err[0]
    st = r.states[0]
    assert fatal_message(st) == message
    for line in lines:
        assert line in r.err[0]
    if message is None:
        assert st.success and classify_failure(r.states) is None
    else:
        assert not st.success and classify_failure(r.states) == ("wrf_fatal", message)
        # every rank reaches the same fatal (the checks run on broadcast metadata), as in wrf.exe
        assert fatal_message(r.states[1]) == message
