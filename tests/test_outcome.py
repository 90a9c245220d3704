"""What a Slurm observation means for a run (pure): DESIGN.md §2's rule for `done`, and every failure code."""
from __future__ import annotations

import pytest

from orchestrator.service.outcome import (ACTION_DONE, ACTION_FAILED, ACTION_RUNNING, ACTION_STOPPED, RslSummary,
                                          expected_history_files, judge, reached_end)
from orchestrator.slurm.states import JobState

END = "0001-01-01T00:06:00Z"
GOOD = RslSummary(success=True, model_time="0001-01-01_00:06:00")


def test_done_needs_everything() -> None:
    assert judge(JobState.COMPLETED, 0, None, GOOD, END, []).action == ACTION_DONE
    no_success = judge(JobState.COMPLETED, 0, None, RslSummary(False, "0001-01-01_00:06:00"), END, [])
    assert no_success.action == ACTION_FAILED and no_success.error["code"] == "wrf_incomplete"
    short = judge(JobState.COMPLETED, 0, None, RslSummary(True, "0001-01-01_00:04:00"), END, [])
    assert short.error["code"] == "wrf_incomplete" and "00:04:00" in short.error["message"]
    missing = judge(JobState.COMPLETED, 0, None, GOOD, END, ["wrfout_d01_0001-01-01_00:06:00"])
    assert missing.error["code"] == "wrf_incomplete" and "wrfout_d01" in missing.error["message"]


@pytest.mark.parametrize("state,code", [(JobState.TIMEOUT, "timeout"), (JobState.NODE_FAIL, "node_fail"),
                                        (JobState.OUT_OF_MEMORY, "out_of_memory"),
                                        (JobState.PREEMPTED, "preempted"), (JobState.CANCELLED, "cancelled")])
def test_slurm_failures(state: JobState, code: str) -> None:
    outcome = judge(state, None, None, RslSummary(model_time="0001-01-01_00:02:00"), END, [])
    assert outcome.action == ACTION_FAILED and outcome.error["code"] == code


def test_wrf_words_first_and_user_cancel() -> None:
    fatal = RslSummary(failure=("wrf_fatal", "input_wrf.F: SIZE MISMATCH"))
    assert judge(JobState.FAILED, 1, None, fatal, END, []).error == {
        "code": "wrf_fatal", "message": "input_wrf.F: SIZE MISMATCH", "details": {"exit_code": 1}}
    assert judge(JobState.FAILED, 139, None, RslSummary(), END, []).error["code"] == "failed"
    assert judge(JobState.CANCELLED, 0, "stop", RslSummary(), END, []).action == ACTION_STOPPED
    assert judge(JobState.RUNNING, None, None, RslSummary(), END, []).action == ACTION_RUNNING
    assert judge(JobState.PENDING, None, None, RslSummary(), END, []).action is None


def test_history_names_and_end() -> None:
    assert expected_history_files("0001-01-01T00:00:00Z", END, 120) == [
        f"wrfout_d01_0001-01-01_00:0{m}:00" for m in (0, 2, 4, 6)]
    assert expected_history_files("2000-01-24_12:00:00", "2000-01-25_00:00:00", 3600, frames_per_outfile=6) == [
        "wrfout_d01_2000-01-24_12:00:00", "wrfout_d01_2000-01-24_18:00:00", "wrfout_d01_2000-01-25_00:00:00"]
    assert reached_end("0001-01-01_00:06:00", END) and not reached_end(None, END)


def test_retry_plan_is_capped_and_shrinks_the_time_step_for_cfl() -> None:
    from orchestrator.service.execution import retry_plan
    from orchestrator.store.models import Run

    groups = {"domains": {"time_step": 12}, "time_control": {"history_interval": [2]}}
    run = Run(id="r" + "x" * 20, owner_id=1, version="3.9", namelist_data={"groups": groups, "texts": {"1": "x"}})
    cfl = retry_plan(run, {"code": "cfl", "message": "m"}, max_retries=2)
    assert cfl == {"groups": {"domains": {"time_step": 10}, "time_control": {"history_interval": [2]}}, "texts": {}}
    assert retry_plan(run, {"code": "timeout", "message": "m"}, 2) == run.namelist_data  # same namelist, resumed
    assert retry_plan(run, {"code": "wrf_fatal", "message": "m"}, 2) is None  # a WRF error is not retried
    run.retries = 2
    assert retry_plan(run, {"code": "node_fail", "message": "m"}, 2) is None  # the cap
    one = Run(id="r" + "y" * 20, owner_id=1, version="3.9",
              namelist_data={"groups": {"domains": {"time_step": 1}, "time_control": {"history_interval": 1}}})
    assert retry_plan(one, {"code": "cfl", "message": "m"}, 2) is None  # no smaller whole second


def test_progress_reader_flags_idle_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from orchestrator.daemon.progress import ProgressReader

    now = [1000.0]
    reader = ProgressReader(clock=lambda: now[0])
    rsl = tmp_path / "rsl.error.0000"
    rsl.write_text("taskid: 0 hostname: n1\nTiming for main: time 0001-01-01_00:00:12 on domain   1:    0.03 elapsed seconds\n")
    assert reader.read(tmp_path).idle_s == 0.0
    now[0] += 50
    assert reader.read(tmp_path).idle_s == 50.0  # nothing new for 50 s
    with rsl.open("a") as f:
        f.write("Timing for main: time 0001-01-01_00:00:24 on domain   1:    0.03 elapsed seconds\n")
    now[0] += 5
    progress = reader.read(tmp_path, "0001-01-01T00:00:00Z", "0001-01-01T00:01:00Z")
    assert progress.idle_s == 0.0 and progress.percent == 40.0


def test_wrf_times_one_parser_for_every_spelling() -> None:
    from datetime import datetime

    from orchestrator.wrf.times import format_wrf_time, iso_time, parse_wrf_time, try_parse_wrf_time

    when = datetime(1, 1, 1, 0, 6, 0)
    for text in ("0001-01-01_00:06:00", "0001-01-01_00_06_00", "0001-01-01T00:06:00Z", " 0001-01-01 00:06:00 "):
        assert parse_wrf_time(text) == when, text
    assert format_wrf_time(when) == "0001-01-01_00:06:00" and iso_time(when) == "0001-01-01T00:06:00Z"
    assert try_parse_wrf_time("not a time") is None and try_parse_wrf_time(None) is None
