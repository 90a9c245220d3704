"""Render the Slurm batch script for one run attempt from templates/job.sh.j2 (pure).

Security (DESIGN.md §4): only validated values reach the template. Identifiers that end up in
#SBATCH lines (which sbatch parses itself, no quoting possible) must match strict patterns; every
value that reaches a shell command line is additionally shlex-quoted in the template (`q` filter).
"""

from __future__ import annotations

import functools
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE_NAME = "job.sh.j2"
EXIT_FILE = "cloudrun.exit"          # the job writes its exit status here (a number and a newline)
JOB_NAME_PREFIX = "cloudrun-"
COMMENT_PREFIX = "cloudrun:"
DEFAULT_LAUNCH = ("srun", "--mpi=pmix", "{exe}")
# Placeholders the build manifest's launch line may use; replaced token-wise (never str.format).
PLACEHOLDERS = ("{exe}", "{ntasks}", "{nodes}")

_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SLURM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_MODULE = re.compile(r"[A-Za-z0-9_.+/-]{1,128}")
_OUTPUT = re.compile(r"[A-Za-z0-9_.%/-]{1,255}")      # sbatch --output: %j etc. allowed, no spaces
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def job_name(run_id: str, attempt: int) -> str:
    """Slurm job name of an attempt, e.g. ``cloudrun-r1a2b-a1`` (found again after a crash)."""
    return f"{JOB_NAME_PREFIX}{run_id}-a{attempt}"


def job_comment(run_id: str, attempt: int) -> str:
    """Slurm comment of an attempt, e.g. ``cloudrun:r1a2b:1``."""
    return f"{COMMENT_PREFIX}{run_id}:{attempt}"


def parse_job_comment(comment: str) -> tuple[str, int] | None:
    """(run_id, attempt) from a comment written by :func:`job_comment`, else None."""
    m = re.fullmatch(re.escape(COMMENT_PREFIX) + r"([A-Za-z0-9_-]{1,64}):([0-9]{1,9})", comment.strip())
    return (m.group(1), int(m.group(2))) if m else None


def compute_time_limit_minutes(estimate_s: float, safety_factor: float, partition_max_s: int | None,
                               min_s: int = 60) -> int:
    """Slurm time limit: estimate × safety factor, at least ``min_s``, capped by the partition's MaxTime."""
    if not (estimate_s >= 0 and safety_factor >= 1):
        raise ValueError(f"time estimate {estimate_s!r} s × factor {safety_factor!r} is not usable")
    seconds = max(estimate_s * safety_factor, float(min_s))
    minutes = max(1, math.ceil(seconds / 60))
    if partition_max_s:
        minutes = min(minutes, max(1, partition_max_s // 60))
    return minutes


def _check(name: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{name}: {value!r} is not allowed (must match {pattern.pattern})")
    return value


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name}: {value!r} is not an integer in [{lo}, {hi}]")
    return value


def _check_abs_path(name: str, value: object) -> str:
    if not isinstance(value, (str, Path)):
        raise ValueError(f"{name}: {value!r} is not a path")
    s = str(value)
    if not s.startswith("/") or _CONTROL.search(s) or "/../" in f"{s}/":
        raise ValueError(f"{name}: {s!r} must be an absolute path without control characters or '..'")
    return s


@dataclass(frozen=True)
class JobSpec:
    """Everything the job script needs, validated on construction (ValueError names the field)."""

    run_id: str
    attempt: int
    ntasks: int
    nodes: int
    time_limit_minutes: int
    run_dir: str
    executable: str
    launch: Sequence[str] = DEFAULT_LAUNCH
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    output: str = "slurm-%j.out"
    env: Mapping[str, str] = field(default_factory=dict)
    modules: Sequence[str] = ()

    def __post_init__(self) -> None:
        _check("run_id", self.run_id, _RUN_ID)
        _check_int("attempt", self.attempt, 1, 10**6)
        _check_int("ntasks", self.ntasks, 1, 10**6)
        _check_int("nodes", self.nodes, 1, 10**5)
        if self.nodes > self.ntasks:
            raise ValueError(f"nodes: {self.nodes} nodes for {self.ntasks} tasks")
        _check_int("time_limit_minutes", self.time_limit_minutes, 1, 60 * 24 * 366)
        object.__setattr__(self, "run_dir", _check_abs_path("run_dir", self.run_dir))
        object.__setattr__(self, "executable", _check_abs_path("executable", self.executable))
        for key in ("partition", "account", "qos"):
            v = getattr(self, key)
            if v == "":
                object.__setattr__(self, key, None)      # config uses "" for "not set"
            elif v is not None:
                _check(key, v, _SLURM_NAME)
        _check("output", self.output, _OUTPUT)
        if ".." in self.output.split("/"):
            raise ValueError(f"output: {self.output!r} must not contain '..'")
        launch = list(self.launch)
        if not launch or not all(isinstance(a, str) and a and "\x00" not in a for a in launch):
            raise ValueError(f"launch: {self.launch!r} must be a non-empty list of non-empty strings")
        if _CONTROL.search(launch[0]) or launch[0] in PLACEHOLDERS:
            raise ValueError(f"launch: first word {launch[0]!r} must be the MPI launcher")
        object.__setattr__(self, "launch", tuple(launch))
        env = dict(self.env)
        for k, v in env.items():
            _check("env key", k, _ENV_KEY)
            if not isinstance(v, str) or "\x00" in v:
                raise ValueError(f"env {k}: value must be a string without NUL bytes")
        object.__setattr__(self, "env", env)
        mods = list(self.modules)
        for m in mods:
            _check("module", m, _MODULE)
        object.__setattr__(self, "modules", tuple(mods))

    @property
    def job_name(self) -> str:
        return job_name(self.run_id, self.attempt)

    @property
    def comment(self) -> str:
        return job_comment(self.run_id, self.attempt)

    def launch_argv(self) -> list[str]:
        """The launch line with placeholders filled (each element later quoted on its own)."""
        values = {"{exe}": self.executable, "{ntasks}": str(self.ntasks), "{nodes}": str(self.nodes)}
        out = []
        for a in self.launch:
            for ph, v in values.items():
                a = a.replace(ph, v)
            out.append(a)
        return out


def spec_from_build(build: Any, **fields: Any) -> JobSpec:
    """JobSpec whose executable, launch line, modules and env come from a build manifest
    (orchestrator.wrf.builds.Build or anything with ``exe``, ``launch``, ``modules``, ``env``);
    ``fields`` give the rest (run_id, attempt, ntasks, nodes, time_limit_minutes, run_dir, ...)."""
    return JobSpec(executable=str(build.exe), launch=list(build.launch), modules=list(build.modules),
                   env=dict(build.env), **fields)


@functools.lru_cache(maxsize=4)
def _environment(templates_dir: Path) -> jinja2.Environment:
    """One Jinja environment per templates directory: it caches the compiled template (compiling it for
    every submission cost more than the sbatch call)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,   # a typo in the template fails loudly, never renders ""
        autoescape=False,                   # shell, not HTML: quoting is done by the `q` filter
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = lambda v: shlex.quote(str(v))
    return env


def render_job_script(spec: JobSpec, templates_dir: str | Path | None = None) -> str:
    """The batch script text for ``spec`` (pure; write it to the run directory and sbatch it)."""
    if not isinstance(spec, JobSpec):
        raise TypeError("render_job_script needs a JobSpec")
    env = _environment(Path(templates_dir) if templates_dir else TEMPLATES_DIR)
    text = env.get_template(TEMPLATE_NAME).render(
        spec=spec, job_name=spec.job_name, comment=spec.comment, launch=spec.launch_argv(),
        exit_file=EXIT_FILE,
    )
    # Defence in depth: sbatch stops reading #SBATCH at the first command; a value that broke a line
    # would show up as an unexpected directive or command here.
    directives = [ln for ln in text.splitlines() if ln.startswith("#SBATCH")]
    if any(_CONTROL.search(d) for d in directives):
        raise ValueError("rendered #SBATCH line contains a control character")
    return text
