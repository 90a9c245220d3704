"""Reading a run directory: WRF's progress from rsl files (incrementally) and the outputs it wrote."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import f90nml

from orchestrator.service.outcome import RslSummary, expected_history_files, parse_time
from orchestrator.wrf.rsl import RslState, classify_failure, parse_rsl_chunk, progress, read_new

OUTPUT_PREFIXES = ("wrfout_", "wrfrst_", "rsl.out.", "rsl.error.")


@dataclass(frozen=True)
class RunProgress:
    """What the rsl files say: for outcome judging and for the run's progress fields."""

    rsl: RslSummary
    percent: float | None = None
    remaining: float | None = None
    speed: float | None = None
    idle_s: float = 0.0  # wall seconds since any rsl file of the run last grew


class ProgressReader:
    """Keeps one parse state and offset per rsl file, so each poll reads only what was appended."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._files: dict[Path, tuple[int, RslState]] = {}
        self._grew: dict[Path, float] = {}  # run directory -> when one of its rsl files last grew
        self.clock = clock

    def _update(self, path: Path) -> RslState:
        offset, state = self._files.get(path, (0, RslState()))
        text, new_offset = read_new(path, offset)
        if new_offset != offset or path.parent not in self._grew:
            self._grew[path.parent] = self.clock()
        if new_offset < offset:  # truncated by a new attempt: start over
            state = RslState()
        if text:
            state = parse_rsl_chunk(text, state, now=time.time())
        self._files[path] = (new_offset, state)
        return state

    def read(self, directory: Path, start: str | None = None, end: str | None = None) -> RunProgress:
        """Parse what is new in every rsl.error.* file (rank 0's holds the timing lines)."""
        states = {p.name: self._update(p) for p in sorted(directory.glob("rsl.error.*"))}
        if not states:
            return RunProgress(RslSummary())
        idle = self.clock() - self._grew.get(directory, self.clock())
        main = states.get("rsl.error.0000") or next(iter(states.values()))
        failure = classify_failure(states)
        summary = RslSummary(success=any(s.success for s in states.values()), model_time=main.model_time,
                             failure=failure)
        percent = remaining = speed = None
        if start and end and main.model_time:
            percent, remaining, speed = progress(main, parse_time(start), parse_time(end), now=time.time())
        return RunProgress(summary, percent, remaining, speed, idle)

    def forget(self, directory: Path) -> None:
        """Drop cached states of a directory (after its files were archived or removed)."""
        for path in [p for p in self._files if p.parent == directory]:
            del self._files[path]


def list_outputs(directory: Path) -> dict[str, Any]:
    """output_files, output_size and disk_usage of a run directory."""
    files = []
    total = 0
    usage = 0
    if directory.is_dir():
        for p in sorted(directory.iterdir()):
            if p.is_symlink() or not p.is_file():
                continue
            size = p.stat().st_size
            usage += size
            if p.name.startswith(OUTPUT_PREFIXES):
                files.append({"filename": p.name, "size": size})
                total += size
    return {"output_files": files, "output_size": total, "disk_usage": usage}


def missing_history(directory: Path, model: dict[str, Any], namelist_text: str | None) -> list[str]:
    """Expected wrfout files that are not in the run directory."""
    start, end, interval = model.get("start_time"), model.get("end_time"), model.get("output_interval")
    if not (start and end and interval):
        return []
    frames = 1
    if namelist_text:
        try:
            tc = f90nml.reads(namelist_text).get("time_control", {})
            value = tc.get("frames_per_outfile", 1)
            frames = int(value[0] if isinstance(value, list) else value)
        except Exception:
            frames = 1
    expected = expected_history_files(start, end, int(interval), frames, 1)
    return [name for name in expected if not (directory / name).exists()]
