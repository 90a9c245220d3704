"""Reading values out of a namelist dict the way wrf.exe does: registry defaults per version for anything not
set, and per-domain arrays whose missing entries keep the registry default (NOT domain 1's value, §3.1).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping

from orchestrator.wrf.types import Problem, Severity

# registry defaults (wrf-source-facts §3.2) of the variables the consistency checks read
_DEFAULTS: dict[str, Any] = {
    "run_days": 0, "run_hours": 0, "run_minutes": 0, "run_seconds": 0,
    "start_year": 1993, "start_month": 3, "start_day": 13, "start_hour": 12, "start_minute": 0, "start_second": 0,
    "end_year": 1993, "end_month": 3, "end_day": 14, "end_hour": 12, "end_minute": 0, "end_second": 0,
    "interval_seconds": 10800, "input_from_file": False, "restart": False, "max_dom": 1,
    "e_we": 32, "e_sn": 32, "e_vert": 31, "dx": 200.0, "dy": 200.0, "grid_id": 1, "parent_id": 0,
    "i_parent_start": 1, "j_parent_start": 1, "parent_grid_ratio": 1, "p_top_requested": 5000.0,
    "num_land_cat": 21, "num_soil_layers": 5, "sf_urban_physics": 0, "sf_ocean_physics": 0, "sst_update": 0,
    "mp_physics": -1, "ra_lw_physics": -1, "ra_sw_physics": -1, "sf_sfclay_physics": -1,
    "sf_surface_physics": -1, "bl_pbl_physics": -1, "cu_physics": -1,
    "gwd_opt": 0, "max_rot_angle_gwd": 22.5, "iso_temp": 200.0, "use_baseparam_fr_nml": False,
    "base_temp": 290.0, "base_pres": 100000.0, "spec_bdy_width": 5, "specified": False, "polar": False,
    "grid_fdda": 0, "auxinput4_interval": 0,
}
# what changed in 3.8.1 (§3.4): physics options defaulted to 0, interval_seconds to 43200
_DEFAULTS_381: dict[str, Any] = {
    "interval_seconds": 43200, "mp_physics": 0, "ra_lw_physics": 0, "ra_sw_physics": 0, "sf_sfclay_physics": 0,
    "sf_surface_physics": 0, "bl_pbl_physics": 0, "cu_physics": 0,
}


def registry_default(var: str, version: str) -> Any:
    """The registry default of a namelist variable for a WRF version (None when not tabled here)."""
    if version.startswith("3.8") and var in _DEFAULTS_381:
        return _DEFAULTS_381[var]
    return _DEFAULTS.get(var)


class NamelistValues:
    """Typed access to ``{group: {var: value|list}}``; records a warning whenever a default fills a gap."""

    def __init__(self, namelist: Mapping[str, Any], version: str) -> None:
        self.nml = namelist
        self.version = version
        self.notes: list[Problem] = []
        self._noted: set[tuple[str, str]] = set()
        self.max_dom = int(self.one("domains", "max_dom"))

    def _raw(self, group: str, var: str) -> Any:
        section = self.nml.get(group) or {}
        return section.get(var) if hasattr(section, "get") else None

    def is_set(self, group: str, var: str) -> bool:
        """Whether the namelist sets this variable at all."""
        return self._raw(group, var) is not None

    def one(self, group: str, var: str) -> Any:
        """A single-valued variable (first entry if given as a list), else its registry default."""
        value = self._raw(group, var)
        if isinstance(value, list):
            value = value[0] if value else None
        return registry_default(var, self.version) if value is None else value

    def dom(self, group: str, var: str, n: int) -> Any:
        """Domain ``n``'s entry of a per-domain variable; a missing entry is the registry default (noted)."""
        value = self._raw(group, var)
        values = value if isinstance(value, list) else ([] if value is None else [value])
        if n <= len(values) and values[n - 1] is not None:
            return values[n - 1]
        default = registry_default(var, self.version)
        if values and (group, var) not in self._noted:
            self._noted.add((group, var))
            self.notes.append(Problem(
                code="namelist_default_used", file="namelist.input", severity=Severity.warning,
                message=f"&{group} {var} has {len(values)} value(s) but max_dom is {self.max_dom}: wrf.exe uses the "
                        f"registry default {default!r} for domain {n} (not domain 1's value). Give one value per "
                        "domain.",
            ))
        return default

    def flag(self, group: str, var: str, n: int | None = None) -> bool:
        """A logical (per-domain when ``n`` is given)."""
        value = self.dom(group, var, n) if n else self.one(group, var)
        if isinstance(value, str):
            return value.strip().lower().strip(".").startswith("t")
        return bool(value)

    def start(self, n: int) -> datetime | None:
        """Domain n's start time from start_year..start_second."""
        return self._time("start", n)

    def end(self, n: int) -> datetime | None:
        """Domain n's end time from end_*."""
        return self._time("end", n)

    def _time(self, prefix: str, n: int) -> datetime | None:
        parts = [self.dom("time_control", f"{prefix}_{p}", n) for p in ("year", "month", "day", "hour", "minute",
                                                                         "second")]
        try:
            year, month, day, hour, minute, second = (int(p) for p in parts)
            # WRF normalises e.g. end_minute = 120 (em_quarter_ss does this): add the parts as durations
            return datetime(year, month, day) + timedelta(hours=hour, minutes=minute, seconds=second)
        except (TypeError, ValueError):
            return None

    def run_end(self) -> datetime | None:
        """When d01 stops: run_* if any is > 0 (they take precedence, §3.1), else end_*(1)."""
        start = self.start(1)
        spans = [int(self.one("time_control", f"run_{u}") or 0) for u in ("days", "hours", "minutes", "seconds")]
        if start is not None and any(s > 0 for s in spans):
            return start + timedelta(days=spans[0], hours=spans[1], minutes=spans[2], seconds=spans[3])
        return self.end(1)
