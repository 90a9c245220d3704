"""rsl parser on the REAL rsl text of WRF 3.8.1 / 3.9 (tests/fixtures/rsl) and on constructed chunks."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.wrf.rsl import (
    RslState,
    classify_failure,
    fatal_message,
    parse_rsl_chunk,
    parse_wrf_time,
    progress,
    read_new,
)

FIX = Path(__file__).parent / "fixtures" / "rsl"


def parse_file(name: str) -> RslState:
    return parse_rsl_chunk((FIX / name).read_text())


@pytest.mark.parametrize("name,version", [("v3.9_success_rank0.rsl.error.0000", "V3.9"),
                                          ("v3.8.1_success_rank0.rsl.error.0000", "V3.8.1")])
def test_real_success_files(name: str, version: str) -> None:
    st = parse_file(name)
    assert st.version == version
    assert st.taskid == 0 and st.hostname == "vm"
    assert st.ntasks == (1, 2)
    assert st.steps == 50
    assert st.first_model_time == "0001-01-01_00:00:12"
    assert st.model_time == "0001-01-01_00:10:00"
    assert st.success and st.success_line == "d01 0001-01-01_00:10:00 wrf: SUCCESS COMPLETE WRF"
    assert st.wrfout_writes == 3 and st.last_wrfout_time == "0001-01-01_00:10:00"
    assert st.fatal_lines is None and st.cfl_count == 0 and not st.emulator
    assert classify_failure([st]) is None
    pct, remaining, speed = progress(st, "0001-01-01_00:00:00", "0001-01-01_00:10:00")
    assert (pct, remaining) == (100.0, 0.0)
    # 49 steps of 12 s over the summed elapsed seconds of the later main + writing lines
    assert speed == pytest.approx(49 * 12 / st.elapsed_after_first)
    assert 300 < speed < 450


def test_real_rank1_out_file_has_success_but_no_timing() -> None:
    st = parse_file("v3.9_success_rank1.rsl.out.0001")
    assert st.taskid == 1 and st.success and st.steps == 0 and st.model_time is None


@pytest.mark.parametrize("name,expected", [
    ("v3.9_fatal_size_mismatch.rsl.error.0000",
     "---- ERROR: Mismatch between namelist and input file dimensions\nNOTE:  Please check and reset these options"),
    ("v3.8.1_fatal_size_mismatch.rsl.error.0000",
     "input_wrf.F: SIZE MISMATCH:  namelist ide,jde,kde=          43          42          41 ; "
     "input data ide,jde,kde=          42          42          41"),
    ("v3.9_fatal_missing_input.rsl.error.0000",
     "program wrf: error opening wrfinput_d01 for reading ierr=       -1021"),
    ("v3.9_fatal_truncated_input.rsl.error.0000",
     "start_em: p_top from the namelist does not match p_top from the input file."),
])
def test_real_fatal_files(name: str, expected: str) -> None:
    st = parse_file(name)
    assert fatal_message(st) == expected
    assert st.fatal_location is not None and st.fatal_location.startswith("<stdin>:")
    assert not st.success and not st.in_fatal
    assert classify_failure([st]) == ("wrf_fatal", expected)


def test_incremental_chunks_equal_whole_file_and_partial_lines_are_kept() -> None:
    text = (FIX / "v3.9_success_rank0.rsl.error.0000").read_text()
    whole = parse_rsl_chunk(text)
    st = RslState()
    for i in range(0, len(text), 37):  # cuts through lines everywhere
        st = parse_rsl_chunk(text[i:i + 37], st)
    assert (st.steps, st.model_time, st.success, st.wrfout_writes) == (
        whole.steps, whole.model_time, whole.success, whole.wrfout_writes)
    assert st.elapsed_main == pytest.approx(whole.elapsed_main)
    half = parse_rsl_chunk("Timing for main: time 0001-01-01_00:00:12 on dom")
    assert half.steps == 0 and half.tail.startswith("Timing for main")
    done = parse_rsl_chunk("ain   1:    0.09508 elapsed seconds\n", half)
    assert done.steps == 1 and done.tail == "" and done.model_time == "0001-01-01_00:00:12"


def test_partial_main_line_completed_by_next_chunk() -> None:
    st = parse_rsl_chunk("Timing for main: time 2000-01-24_12:03:00 on domain   1:    3.4")
    assert st.steps == 0
    st = parse_rsl_chunk("8740 elapsed seconds\n", st)
    assert st.steps == 1 and st.model_time == "2000-01-24_12:03:00" and st.elapsed_main == pytest.approx(3.4874)


def test_progress_midway_with_wall_clock_and_wrf_elapsed() -> None:
    lines = "".join(f"Timing for main: time 2000-01-24_12:{m:02d}:00 on domain   1:    0.50000 elapsed seconds\n"
                    for m in range(1, 5))
    st = parse_rsl_chunk(lines)  # no wall clock: WRF's elapsed -> 180 model s / 1.5 s
    pct, remaining, speed = progress(st, "2000-01-24_12:00:00", "2000-01-24_13:00:00")
    assert pct == pytest.approx(100 * 4 / 60, abs=1e-3)
    assert speed == pytest.approx(120.0)
    assert remaining == pytest.approx(56 * 60 / 120.0)
    st2 = parse_rsl_chunk(lines.split("\n", 1)[0] + "\n", now=100.0)
    st2 = parse_rsl_chunk(lines.split("\n", 1)[1], st2, now=103.0)  # 3 more minutes in 3 wall seconds
    pct2, rem2, speed2 = progress(st2, datetime(2000, 1, 24, 12), datetime(2000, 1, 24, 13), now=104.0)
    assert speed2 == pytest.approx(60.0)
    assert rem2 == pytest.approx(56 * 60 / 60.0 - 1.0)
    assert progress(RslState(), "2000-01-24_12:00:00", "2000-01-24_13:00:00") == (None, None, None)


def test_adaptive_and_nested_main_lines() -> None:
    st = parse_rsl_chunk(
        "Timing for main (dt=120.00): time 2000-01-24_12:04:00 on domain   1:    2.10000 elapsed seconds\n"
        "Timing for main: time 2000-01-24_12:04:20 on domain   2:    0.70000 elapsed seconds\n")
    assert st.model_time == "2000-01-24_12:04:00" and st.steps == 1
    assert dict(st.domain_times) == {1: "2000-01-24_12:04:00", 2: "2000-01-24_12:04:20"}


def test_writing_lines_381_a30_and_restart_time() -> None:
    st = parse_rsl_chunk(
        "Timing for main: time 2000-01-24_15:00:00 on domain   1:    1.00000 elapsed seconds\n"
        "Timing for Writing wrfout_d01_2000-01-24_15:00:00 for domain        1:    0.06052 elapsed seconds\n"
        "Timing for Writing restart for domain        1:    0.12000 elapsed seconds\n"
        "Timing for Writing out/wrfout_d01_2000-01-24_15_0 for domain        1:    0.01000 elapsed seconds\n")
    assert st.last_restart_time == "2000-01-24_15:00:00" and st.restart_writes == 1
    assert st.wrfout_writes == 2
    assert st.last_wrfout_time == "2000-01-24_15:00:00"  # A30-cut name without a full date: current time


def test_cfl_then_death_is_cfl_and_signal_is_crash() -> None:
    cfl = ("Timing for main: time 2000-01-24_13:29:00 on domain   1:    1.00000 elapsed seconds\n"
           "d01 2000-01-24_13:30:00           12  points exceeded cfl=2 in domain d01 at time "
           "2000-01-24_13:30:00 hours\n"
           "d01 2000-01-24_13:30:00 MAX AT i,j,k:           17          23          12 vert_cfl,w,d(eta)=    2.31\n")
    st = parse_rsl_chunk(cfl)
    assert st.cfl_count == 1
    code, message = classify_failure([RslState(), st])
    assert code == "cfl" and "2000-01-24_13:30:00" in message and "time_step" in message
    crashed = parse_rsl_chunk("taskid: 1 hostname: n2\n[n2:1] *** Process received signal ***\n"
                              "[n2:1] Signal: Segmentation fault (11)\n")
    assert classify_failure([crashed])[0] == "wrf_crash"
    assert "Segmentation fault" in classify_failure([crashed])[1]
    assert classify_failure([parse_rsl_chunk("taskid: 0 hostname: n1\n")])[0] == "wrf_incomplete"
    assert classify_failure([])[0] == "wrf_incomplete"


def test_namelist_read_errors_are_part_of_the_message() -> None:
    text = ("taskid: 0 hostname: n1\n  ------ ERROR while reading namelist physics ------\n"
            "-------------- FATAL CALLED ---------------\nFATAL CALLED FROM FILE:  <stdin>  LINE:   11043\n"
            "ERRORS while reading one or more namelists from namelist.input.\n"
            "-------------------------------------------\n")
    assert fatal_message(parse_rsl_chunk(text)) == (
        "------ ERROR while reading namelist physics ------\n"
        "ERRORS while reading one or more namelists from namelist.input.")


def test_new_run_taskid_line_resets_state() -> None:
    st = parse_file("v3.9_fatal_size_mismatch.rsl.error.0000")
    st = parse_rsl_chunk((FIX / "v3.9_success_rank0.rsl.error.0000").read_text(), st)
    assert st.fatal_lines is None and st.success and st.steps == 50


def test_read_new_offsets_partial_lines_and_truncation(tmp_path: Path) -> None:
    p = tmp_path / "rsl.out.0000"
    assert read_new(p, 0) == ("", 0)
    p.write_text("taskid: 0 hostname: a\nTiming for main: ti")
    text, off = read_new(p, 0)
    assert text == "taskid: 0 hostname: a\n" and off == len(text)
    with p.open("a") as f:
        f.write("me 0001-01-01_00:00:12 on domain   1:    0.1 elapsed seconds\n")
    text2, off2 = read_new(p, off)
    assert text2.startswith("Timing for main: time 0001") and off2 == p.stat().st_size
    assert read_new(p, off2) == ("", off2)
    p.write_text("taskid: 0 hostname: b\n")  # a new run truncated the file
    text3, off3 = read_new(p, off2)
    assert text3 == "taskid: 0 hostname: b\n" and off3 == len(text3)


def test_parse_wrf_time_accepts_nocolons() -> None:
    assert parse_wrf_time("2000-01-24_12_03_00") == datetime(2000, 1, 24, 12, 3)
    assert parse_wrf_time("0001-01-01_00:10:00") == datetime(1, 1, 1, 0, 10)
