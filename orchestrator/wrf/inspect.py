"""The edge that looks at one stored input file: its kind, its problems, and a summary for setup.

Reads only the netCDF header (orchestrator.wrf.headers) or, for namelist.input, the text; the judging is
done by the pure functions of orchestrator.wrf.inputs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.wrf.headers import HeaderError, read_header
from orchestrator.wrf.inputs import detect_domain, detect_kind, summarize_input, validate_input
from orchestrator.wrf.namelist_registry import check_known, load_version_spec, parse_namelist_text
from orchestrator.wrf.types import Problem, Severity

NAMELIST_MAX_BYTES = 1024 * 1024
STAGED_NAME = {"wrfinput": "wrfinput_d{:02d}", "wrfbdy": "wrfbdy_d{:02d}", "wrflowinp": "wrflowinp_d{:02d}",
               "wrffdda": "wrffdda_d{:02d}"}


def _looks_like_namelist(path: Path) -> bool:
    """Fortran namelist text: small, UTF-8/ASCII, first meaningful character '&'."""
    if path.stat().st_size > NAMELIST_MAX_BYTES:
        return False
    head = path.read_bytes()[:4096]
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("!"):
            return stripped.startswith("&") or stripped.startswith("$")
    return False


def _details(problems: list[Problem], summary: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"problems": [p.as_dict() for p in problems]}
    if summary is not None:
        out["summary"] = summary
    return out


def _status(problems: list[Problem]) -> str:
    return "invalid" if any(p.severity == Severity.error for p in problems) else "ready"


def inspect_input(path: Path, filename: str, version: str) -> tuple[str | None, str, dict[str, Any]]:
    """(kind, 'ready' | 'invalid', details) for a stored input; never raises for bad content."""
    if path.stat().st_size == 0:
        return None, "invalid", _details([Problem("empty_file", f"{filename} is empty (0 bytes)", filename)], None)
    if _looks_like_namelist(path):
        parsed, problems = parse_namelist_text(path.read_text(encoding="utf-8"), filename)
        if not problems:  # unknown variables and variables in the wrong group, named with their group
            problems = check_known(load_version_spec(version), parsed, filename)
        return "namelist", _status(problems), _details(problems, None)
    try:
        header = read_header(path)
    except HeaderError as exc:
        problem = Problem(exc.code, f"{filename}: {exc.message}", filename)
        return None, "invalid", _details([problem], None)
    kind = detect_kind(header, filename)
    problems = validate_input(header, kind, version, filename)
    summary = summarize_input(header, kind, filename)
    staged = staged_name(kind, detect_domain(header, filename))
    if staged and staged != filename:
        problems.append(Problem("renamed_for_wrf", f"{filename} holds a {kind} for domain "
                                f"{summary.get('domain') or 1}; it will be given to wrf.exe as {staged}",
                                filename, Severity.warning))
    summary["staged_name"] = staged
    return kind, _status(problems), _details(problems, summary)


def staged_name(kind: str | None, domain: int | None) -> str | None:
    """The file name wrf.exe expects for this kind and domain (None for kinds that are not inputs)."""
    pattern = STAGED_NAME.get(kind or "")
    return pattern.format(domain or 1) if pattern else None
