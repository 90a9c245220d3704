"""Incremental reader of wrf.exe's rsl.out.NNNN / rsl.error.NNNN files (pure, plus one I/O helper).

Formats are those of wrf-reference/wrf-source-facts.md §4 and the real rsl files written by WRF 3.8.1/3.9:

    Timing for main: time 2000-01-24_12:03:00 on domain   1:    3.48740 elapsed seconds
    Timing for Writing wrfout_d01_2000-01-24_15:00:00 for domain        1:    0.06052 elapsed seconds
    Timing for Writing restart for domain        1:    0.12000 elapsed seconds
    d01 2000-01-25_12:00:00 wrf: SUCCESS COMPLETE WRF
    -------------- FATAL CALLED ---------------  /  FATAL CALLED FROM FILE: ... /  <message> / 43 dashes
    d01 <time>           12  points exceeded cfl=2 in domain d01 at time <time> hours

The daemon keeps one ``RslState`` per file and feeds it whatever ``read_new`` returned since the last
offset. A ``taskid:`` line (first line of every rsl file) resets the state, because a new wrf.exe run
truncates the files (facts §4.1), so a re-read from offset 0 starts clean.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import datetime

from orchestrator.wrf.times import parse_wrf_time


RE_TASKID = re.compile(r"^taskid:\s+(\d+)\s+hostname:\s+(\S*)")
RE_MAIN = re.compile(
    r"^Timing for main(?: \(dt=\s*([\d.]+)\))?: time (\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d) on domain\s+(\d+):"
    r"\s+([\d.*]+) elapsed seconds"
)
RE_WRITE_RESTART = re.compile(r"^Timing for Writing restart for domain\s+(\d+):\s+([\d.*]+) elapsed seconds")
RE_WRITE = re.compile(r"^Timing for Writing (.+?)\s+for domain\s+(\d+):\s+([\d.*]+) elapsed seconds")
RE_TIMING = re.compile(r"^Timing for .*:\s+([\d.*]+) elapsed seconds")
RE_NAME_DATE = re.compile(r"(\d{4}-\d\d-\d\d_\d\d[:_]\d\d[:_]\d\d)")
RE_SUCCESS = re.compile(r"SUCCESS COMPLETE WRF")
RE_FATAL_START = re.compile(r"^-{14} FATAL CALLED -{15}$")
RE_FATAL_FROM = re.compile(r"^FATAL CALLED FROM FILE:\s+(\S+)\s+LINE:\s+(\d+)")
RE_FATAL_END = re.compile(r"^-{43}$")
# '---- ERROR: ...' (input_wrf), '--- ERROR: ...' (check_a_mundo), '------ ERROR while reading namelist x ------'
RE_ERROR = re.compile(r"^(?:d\d\d \S+ )?-{3,} ?ERROR\b.*\S.*$")
RE_ERROR_BANNER = re.compile(r"^-+ ERROR -+$")  # NUM_LAND_CAT's header line: decoration only
RE_CFL = re.compile(r"(\d+)\s+points exceeded cfl=2 in domain (d\d\d) at time (\S+) hours")
RE_VERSION = re.compile(r"^\s*WRF (V\d+(?:\.\d+)+) MODEL")
RE_EMULATOR = re.compile(r"Cloudrun WRF emulator")
RE_NTASKS = re.compile(r"Ntasks in X\s+(\d+)\s*,\s*ntasks in Y\s+(\d+)")
# What a crashing process leaves in stderr (= rsl.error): Open MPI's handler, gfortran's backtrace.
RE_SIGNAL = re.compile(r"(?:Signal: ([A-Za-z ]+?)\s*\(\d+\)|Program received signal (SIG\w+))")


@dataclass(frozen=True)
class RslState:
    """What one rsl file has said so far. Immutable: ``parse_rsl_chunk`` returns a new state.

    ``model_time`` is the last 'Timing for main' time of domain 1; ``elapsed_after_first`` sums the
    elapsed seconds of every 'Timing for' line after the first main line (so speed includes I/O);
    ``fatal_lines`` is the text of the FATAL CALLED block (None if none), ``error_lines`` the
    '---- ERROR' style lines seen before it; ``wall_first``/``wall_last`` are the caller's clock
    readings (``now``) when the first/last main line was parsed.
    """

    tail: str = ""
    taskid: int | None = None
    hostname: str | None = None
    version: str | None = None
    emulator: bool = False
    ntasks: tuple[int, int] | None = None
    first_model_time: str | None = None
    model_time: str | None = None
    domain_times: tuple[tuple[int, str], ...] = ()
    steps: int = 0
    elapsed_main: float = 0.0
    elapsed_after_first: float = 0.0
    last_step_elapsed: float | None = None
    success: bool = False
    success_line: str | None = None
    in_fatal: bool = False
    fatal_lines: tuple[str, ...] | None = None
    fatal_location: str | None = None
    error_lines: tuple[str, ...] = ()
    cfl_count: int = 0
    cfl_lines: tuple[str, ...] = ()
    last_wrfout_time: str | None = None
    last_wrfout_name: str | None = None
    wrfout_writes: int = 0
    last_restart_time: str | None = None
    restart_writes: int = 0
    crash_signal: str | None = None
    wall_first: float | None = None
    wall_last: float | None = None
    lines: int = 0


def _seconds(value: str) -> float:
    # F10.5 overflows to asterisks at >= 100000 s; count that as the field's maximum.
    return 99999.99999 if "*" in value else float(value)


def _parse_line(line: str, s: dict, now: float | None) -> None:
    """Update the mutable field dict ``s`` with one complete line (no newline)."""
    line = line.rstrip("\r")
    stripped = line.strip()
    m = RE_TASKID.match(line)
    if m:
        # A new run truncated the file and started over: forget everything of the previous run.
        s.clear()
        s.update(RslState().__dict__)
        s["taskid"], s["hostname"] = int(m.group(1)), m.group(2)
        s["lines"] = 1
        return
    s["lines"] += 1
    if s["in_fatal"]:
        if RE_FATAL_END.match(stripped):
            s["in_fatal"] = False
            return
        m = RE_FATAL_FROM.match(stripped)
        if m and not s["fatal_lines"]:
            s["fatal_location"] = f"{m.group(1)}:{m.group(2)}"
            return
        s["fatal_lines"] = (s["fatal_lines"] or ()) + (stripped,)
        return
    if RE_FATAL_START.match(stripped):
        s["in_fatal"] = True
        s["fatal_lines"] = ()
        return
    m = RE_MAIN.match(stripped)
    if m:
        time, domain, elapsed = m.group(2), int(m.group(3)), _seconds(m.group(4))
        times = dict(s["domain_times"])
        times[domain] = time
        s["domain_times"] = tuple(sorted(times.items()))
        if domain == 1:
            if s["first_model_time"] is None:
                s["first_model_time"] = time
                s["wall_first"] = now
            else:
                s["elapsed_after_first"] += elapsed
            s["model_time"] = time
            s["steps"] += 1
            s["elapsed_main"] += elapsed
            s["last_step_elapsed"] = elapsed
            s["wall_last"] = now
        return
    m = RE_WRITE_RESTART.match(stripped)
    if m:
        s["restart_writes"] += 1
        # The restart line carries no time: it is written at the current model time.
        s["last_restart_time"] = s["model_time"]
        if s["first_model_time"] is not None:
            s["elapsed_after_first"] += _seconds(m.group(2))
        return
    m = RE_WRITE.match(stripped)
    if m:
        name = m.group(1).strip()
        d = RE_NAME_DATE.search(name)
        if "wrfout" in name:
            s["wrfout_writes"] += 1
            s["last_wrfout_name"] = name
            # The name is built for the current time (facts §4.3); normalise nocolons '_' to ':'.
            t = d.group(1) if d else None
            s["last_wrfout_time"] = t[:13] + ":" + t[14:16] + ":" + t[17:19] if t else s["model_time"]
        if s["first_model_time"] is not None:
            s["elapsed_after_first"] += _seconds(m.group(3))
        return
    m = RE_TIMING.match(stripped)
    if m:
        if s["first_model_time"] is not None:
            s["elapsed_after_first"] += _seconds(m.group(1))
        return
    if RE_SUCCESS.search(stripped):
        s["success"] = True
        s["success_line"] = stripped
        return
    m = RE_CFL.search(stripped)
    if m:
        s["cfl_count"] += 1
        s["cfl_lines"] = (s["cfl_lines"] + (stripped,))[-10:]  # keep the last few: they name the time
        return
    if RE_ERROR.match(stripped) and not RE_ERROR_BANNER.match(stripped):
        s["error_lines"] = (s["error_lines"] + (stripped,))[-50:]
        return
    m = RE_VERSION.match(line)
    if m:
        s["version"] = m.group(1)
        return
    if RE_EMULATOR.search(line):
        s["emulator"] = True
        return
    m = RE_NTASKS.search(line)
    if m:
        s["ntasks"] = (int(m.group(1)), int(m.group(2)))
        return
    m = RE_SIGNAL.search(line)
    if m:
        s["crash_signal"] = (m.group(1) or m.group(2)).strip()


def parse_rsl_chunk(text: str, state: RslState | None = None, now: float | None = None) -> RslState:
    """Parse the next piece of an rsl file and return the updated state.

    ``text`` may end in the middle of a line: the incomplete tail is kept in ``state.tail`` and
    completed by the next chunk. ``now`` (any monotonic-ish clock in seconds, e.g. time.time()) is
    recorded against the first and last 'Timing for main' lines so ``progress`` can use wall speed.
    """
    state = state or RslState()
    s = dict(state.__dict__)
    data = s["tail"] + text
    lines = data.split("\n")
    s["tail"] = lines.pop()  # '' when the chunk ended with a newline
    for line in lines:
        _parse_line(line, s, now)
    return replace(RslState(), **s)


def progress(
    state: RslState, start: datetime | str, end: datetime | str, now: float | None = None
) -> tuple[float | None, float | None, float | None]:
    """(percent_complete, remaining_time seconds, speed in model seconds per wall second).

    ``start``/``end`` are the run's model start and end (d01, end from run_* if set, facts §3.1).
    Speed comes from the wall clock between the first and last main lines when the caller gave
    ``now`` to the parser, else from WRF's own elapsed seconds (main + I/O lines). Unknown -> None.
    ``now`` here shortens the remaining time by the wall time already spent since the last line.
    """
    start = parse_wrf_time(start) if isinstance(start, str) else start
    end = parse_wrf_time(end) if isinstance(end, str) else end
    total = (end - start).total_seconds()
    if state.success:
        return 100.0, 0.0, _speed(state)
    if state.model_time is None or total <= 0:
        return (None if state.model_time is None else 100.0), None, None
    current = parse_wrf_time(state.model_time)
    done = (current - start).total_seconds()
    percent = max(0.0, min(100.0, 100.0 * done / total))
    speed = _speed(state)
    remaining = None
    if speed:
        remaining = max(0.0, (end - current).total_seconds()) / speed
        if now is not None and state.wall_last is not None:
            remaining = max(0.0, remaining - max(0.0, now - state.wall_last))
    return round(percent, 3), remaining, speed


def _speed(state: RslState) -> float | None:
    if state.first_model_time is None or state.model_time is None:
        return None
    advanced = (parse_wrf_time(state.model_time) - parse_wrf_time(state.first_model_time)).total_seconds()
    if advanced <= 0:
        return None
    if state.wall_first is not None and state.wall_last is not None and state.wall_last > state.wall_first:
        return advanced / (state.wall_last - state.wall_first)
    if state.elapsed_after_first > 0:
        return advanced / state.elapsed_after_first
    return None


def fatal_message(state: RslState) -> str | None:
    """The FATAL text of one file: its '---- ERROR' lines, then the lines inside the FATAL block."""
    if state.fatal_lines is None:
        return None
    return "\n".join(state.error_lines + state.fatal_lines).strip() or "FATAL CALLED (no message)"


def classify_failure(states: list[RslState] | dict[str, RslState]) -> tuple[str, str] | None:
    """Why a finished wrf.exe run failed, from the states of all its rsl.error (or rsl.out) files.

    Returns None when the run succeeded (SUCCESS COMPLETE WRF in any file), else (code, message):
    ``wrf_fatal`` (a FATAL CALLED block; message = the WRF text), ``cfl`` (CFL lines and then death
    without a FATAL, the typical blow-up, facts §4.6), ``wrf_crash`` (a signal trace, no WRF text),
    ``wrf_incomplete`` (ended without SUCCESS and without any explanation). Order = rank order.
    """
    items = list(states.values()) if isinstance(states, dict) else list(states)
    if not items:
        return "wrf_incomplete", "wrf.exe left no rsl files"
    for st in items:
        msg = fatal_message(st)
        if msg is not None:
            return "wrf_fatal", msg
    if any(st.success for st in items):
        return None
    cfl = [st for st in items if st.cfl_count]
    last_time = next((st.model_time for st in items if st.model_time), None)
    if cfl:
        count = sum(st.cfl_count for st in cfl)
        last = cfl[0].cfl_lines[-1] if cfl[0].cfl_lines else ""
        m = RE_CFL.search(last)
        where = f" (last at {m.group(3)} in {m.group(2)})" if m else ""
        return "cfl", (
            f"The model became numerically unstable: {count} CFL warning line(s){where} and then wrf.exe "
            "died without an error message. A smaller time_step usually fixes this."
        )
    signal = next((st.crash_signal for st in items if st.crash_signal), None)
    at = f" at model time {last_time}" if last_time else ""
    if signal:
        return "wrf_crash", f"wrf.exe crashed ({signal}){at} without a WRF error message."
    return "wrf_incomplete", f"wrf.exe stopped{at} without 'SUCCESS COMPLETE WRF' and without an error message."


def read_new(path: str | os.PathLike, offset: int) -> tuple[str, int]:
    """Read what was appended to ``path`` since ``offset``: (complete lines as text, new offset).

    Only whole lines are returned; an incomplete last line is left for the next call (the offset
    stops before it). A file shorter than ``offset`` was truncated by a new run: read from 0 (the
    parser resets itself on the new 'taskid:' line). A missing file reads as ('', 0).
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < offset:
                offset = 0
            f.seek(offset)
            data = f.read(size - offset)
    except FileNotFoundError:
        return "", 0
    cut = data.rfind(b"\n") + 1
    return data[:cut].decode("utf-8", errors="replace"), offset + cut
