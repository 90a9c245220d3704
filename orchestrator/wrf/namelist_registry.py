"""What WRF 3.8.1 / 3.9 accept in namelist.input: known variables per group, their type and length.

`load_version_spec` is the only I/O (it reads templates/namelist/<version>.yaml and registry-<version>.yaml);
everything else is pure. wrf.exe stops with "ERROR while reading namelist <group>" on an unknown variable or
one in the wrong group (facts 1.8), so Cloudrun refuses both before a job is queued, naming the right group.
"""
from __future__ import annotations

import contextlib
import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import f90nml
import yaml

from orchestrator.wrf.types import Problem, Severity

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "namelist"
SUPPORTED_VERSIONS = ("3.8.1", "3.9")
NAMELIST_FILE = "namelist.input"
# Renamed between the versions (facts 3.4): name in one version -> (group, name) in the other.
RENAMED = {("3.9", "afwa_hailcast_opt"): ("physics", "hailcast_opt"),
           ("3.8.1", "hailcast_opt"): ("afwa", "afwa_hailcast_opt")}


@dataclass(frozen=True)
class VarSpec:
    """One namelist variable: its group, Fortran type and length kind ("1", "max_domains" or "array")."""

    group: str
    type: str
    entries: str

    @property
    def per_domain(self) -> bool:
        return self.entries == "max_domains"


@dataclass(frozen=True)
class VersionSpec:
    """Everything version-specific the renderer needs: known variables and Cloudrun's defaults."""

    version: str
    known: dict[str, dict[str, VarSpec]]
    max_domains: int = 11
    group_order: tuple[str, ...] = ()
    registry_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    cloudrun: dict[str, Any] = field(default_factory=dict)
    render: dict[str, dict[str, Any]] = field(default_factory=dict)
    render_real: dict[str, dict[str, Any]] = field(default_factory=dict)
    render_ideal: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_name: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # name -> group index, built once (frozen dataclass, hence object.__setattr__)
        object.__setattr__(self, "by_name", {n: g for g, names in self.known.items() for n in names})

    def group_of(self, name: str) -> str | None:
        """The group a variable belongs to in this version, or None when it is unknown."""
        return self.by_name.get(name)

    def spec(self, group: str, name: str) -> VarSpec | None:
        """The VarSpec of &group name, or None."""
        return self.known.get(group, {}).get(name)


@functools.lru_cache(maxsize=8)
def load_version_spec(version: str, template_dir: Path = TEMPLATE_DIR) -> VersionSpec:
    """Read the per-version defaults and known-variable registry from templates/namelist/ (the only I/O)."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported WRF version {version!r}; supported: {', '.join(SUPPORTED_VERSIONS)}")
    defaults = yaml.safe_load((template_dir / f"{version}.yaml").read_text())
    registry = yaml.safe_load((template_dir / f"registry-{version}.yaml").read_text())
    known = {group: {name: VarSpec(group, *str(kind).split(":")) for name, kind in names.items()}
             for group, names in registry["groups"].items()}
    return VersionSpec(version=version, known=known, max_domains=int(defaults.get("max_domains", 11)),
                       group_order=tuple(defaults["group_order"]),
                       registry_defaults=defaults.get("registry_defaults", {}),
                       cloudrun=defaults.get("cloudrun", {}), render=defaults.get("render", {}),
                       render_real=defaults.get("render_real", {}),
                       render_ideal=defaults.get("render_ideal", {}))


def _type_ok(value: Any, typ: str) -> bool:
    """Whether one scalar fits a Fortran type the way wrf.exe's list-directed read would take it."""
    if typ == "logical":
        return isinstance(value, bool)
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "real":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def check_variable(spec: VersionSpec, group: str, name: str, value: Any, file: str | None) -> list[Problem]:
    """Problems with one `&group name = value` for this version: unknown, wrong group, wrong type/length."""
    wrf_message = f"------ ERROR while reading namelist {group} ------"
    if group not in spec.known:
        known_groups = ", ".join(f"&{g}" for g in sorted(spec.known))
        return [Problem("namelist_unknown_group", f"&{group} is not a WRF {spec.version} namelist group "
                        f"(known groups: {known_groups}).", file)]
    home = spec.group_of(name)
    if home is None:
        renamed = RENAMED.get((spec.version, name))
        other = [v for v in SUPPORTED_VERSIONS if v != spec.version]
        hint = ""
        if renamed:
            hint = f" In WRF {spec.version} it is {renamed[1]} in &{renamed[0]}."
        elif other and load_version_spec(other[0]).group_of(name):
            hint = f" It exists only in WRF {other[0]} (&{load_version_spec(other[0]).group_of(name)})."
        return [Problem("namelist_unknown_variable", f"{name} (in &{group}) is not a WRF {spec.version} "
                        f"namelist variable; wrf.exe would stop reading &{group}.{hint}", file,
                        wrf_message=wrf_message)]
    if home != group:
        return [Problem("namelist_wrong_group", f"{name} belongs in &{home}, not &{group}; wrf.exe would "
                        f"stop reading &{group}. Move it to &{home}.", file, wrf_message=wrf_message)]
    var = spec.known[group][name]
    values = value if isinstance(value, list) else [value]
    if var.entries == "1" and len(values) > 1:
        return [Problem("namelist_bad_value", f"&{group} {name} takes one value, got {len(values)}.", file)]
    if var.per_domain and len(values) > spec.max_domains:
        return [Problem("namelist_bad_value", f"&{group} {name} has {len(values)} values; WRF allows at most "
                        f"{spec.max_domains} domains.", file)]
    bad = [v for v in values if v is not None and not _type_ok(v, var.type)]
    if bad:
        return [Problem("namelist_bad_value", f"&{group} {name} must be {var.type}, got {bad[0]!r}.", file)]
    return []


def check_known(spec: VersionSpec, nml: dict[str, dict[str, Any]], file: str | None) -> list[Problem]:
    """Every problem with the variables of a whole namelist (see check_variable)."""
    return [p for group, names in nml.items() for name, value in names.items()
            for p in check_variable(spec, group, name, value, file)]


def _plain(value: Any) -> Any:
    """f90nml values as plain Python (lists and scalars), for JSON and comparisons."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse_namelist_text(text: str, file: str = NAMELIST_FILE) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """Parse an uploaded namelist.input into {group: {var: value}} (lower-case); a syntax error becomes one
    Problem (code namelist_syntax), never an exception. Repeated groups are refused (WRF reads only one)."""
    try:
        # f90nml prints tokenizer state to stdout on some errors: keep it out of the service's logs
        with contextlib.redirect_stdout(io.StringIO()):
            nml = f90nml.Parser().reads(text)
    except Exception as exc:  # f90nml raises ValueError/IndexError/... on bad syntax: report, never crash
        detail = str(exc).strip() or type(exc).__name__
        return {}, [Problem("namelist_syntax", f"{file} is not a valid Fortran namelist: {detail}", file)]
    out: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    if not nml and text.strip():
        problems.append(Problem("namelist_syntax", f"{file} holds no &group ... / namelist group.", file))
    for group, body in nml.items():
        if isinstance(body, list):  # f90nml returns a list for a repeated group
            problems.append(Problem("namelist_syntax", f"&{group} appears {len(body)} times in {file}.", file))
            body = body[0]
        out[group.lower()] = {name.lower(): _plain(value) for name, value in body.items()}
    return out, problems


def parse_overrides(version: str, overrides: dict[str, Any] | None,
                    spec: VersionSpec | None = None) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """Validate user JSON overrides ({"time_control": {"run_hours": 6}}, optionally wrapped in
    {"namelist": ...}) against the known variables of the version; names are lower-cased."""
    spec = spec or load_version_spec(version)
    if not overrides:
        return {}, []
    body = overrides.get("namelist", overrides) if isinstance(overrides, dict) else overrides
    if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
        return {}, [Problem("namelist_bad_value", 'namelist overrides must look like '
                            '{"time_control": {"run_hours": 6}}', NAMELIST_FILE)]
    clean = {str(g).lower(): {str(k).lower(): v for k, v in names.items()} for g, names in body.items()}
    return clean, check_known(spec, clean, NAMELIST_FILE)


def error(code: str, message: str, file: str | None = NAMELIST_FILE) -> Problem:
    """Shorthand for an error Problem about the namelist."""
    return Problem(code, message, file, Severity.error)
