"""Cloudrun WRF emulator: failure injection.

Where it comes from (the file wins when both exist):
  * ``emulator.fail`` in the run directory (cwd of wrf.exe): a JSON object;
  * env ``CLOUDRUN_EMULATOR_FAIL``: the same JSON object, or the shorthand ``mode`` / ``mode@step``
    (e.g. ``cfl@12``), which passes through sbatch/srun like any variable.

JSON keys: ``mode`` (required) one of
    fatal       FATAL CALLED block with ``message`` on rank ``rank``, then MPI_Abort(1)  -> exit 1
    cfl         the real CFL lines for ``cfl_steps`` steps before ``step``, then SIGSEGV (no WRF text)
    hang        every rank sleeps forever at ``step`` (Slurm's time limit ends it)
    crash       rank ``rank`` dies by SIGSEGV with no WRF text (or ``exit_code``: exits with it silently)
    no_success  the run reaches the end and exits 0 but never prints SUCCESS COMPLETE WRF
``step`` (default 1; 1-based count of time steps in this invocation: the failure replaces step k, so
k-1 'Timing for main' lines are printed), ``rank`` (default 0), ``message``, ``cfl_steps`` (default 3),
``exit_code``, ``min_time_step`` (fire only when namelist time_step >= this: a CFL retry with a smaller
step then succeeds), ``once`` (file only: rename the file to emulator.fail.fired when it fires).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

MODES = ("fatal", "cfl", "hang", "crash", "no_success")
FAIL_FILE = "emulator.fail"
FAIL_ENV = "CLOUDRUN_EMULATOR_FAIL"


@dataclass
class FailSpec:
    """One injected failure (see the module docstring)."""

    mode: str
    step: int = 1
    rank: int = 0
    message: str | None = None
    cfl_steps: int = 3
    exit_code: int | None = None
    min_time_step: float | None = None
    once: bool = False
    source: str = ""

    def applies(self, time_step: float) -> bool:
        return self.min_time_step is None or time_step >= self.min_time_step


def _from_obj(obj: dict, source: str) -> FailSpec:
    if not isinstance(obj, dict) or obj.get("mode") not in MODES:
        raise ValueError(f"{source}: 'mode' must be one of {', '.join(MODES)}")
    known = set(FailSpec.__dataclass_fields__) - {"source"}
    unknown = set(obj) - known
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {sorted(unknown)}")
    spec = FailSpec(**obj, source=source)
    if spec.step < 1:
        raise ValueError(f"{source}: 'step' must be >= 1")
    return spec


def load(directory: str = ".", environ: dict | None = None) -> FailSpec | None:
    """The failure to inject, or None. Raises ValueError on a malformed specification."""
    environ = os.environ if environ is None else environ
    path = os.path.join(directory, FAIL_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return _from_obj(json.loads(f.read() or "{}"), path)
    text = environ.get(FAIL_ENV, "").strip()
    if not text:
        return None
    if text.startswith("{"):
        obj = json.loads(text)
        obj.pop("once", None)  # 'once' needs a file to consume
        return _from_obj(obj, FAIL_ENV)
    mode, _, step = text.partition("@")
    return _from_obj({"mode": mode, "step": int(step or 1)}, FAIL_ENV)


def consume(spec: FailSpec, directory: str = ".") -> None:
    """For ``once``: move the fail file aside so the next attempt runs clean."""
    if spec.once and spec.source.endswith(FAIL_FILE):
        try:
            os.replace(os.path.join(directory, FAIL_FILE), os.path.join(directory, FAIL_FILE + ".fired"))
        except OSError:
            pass
