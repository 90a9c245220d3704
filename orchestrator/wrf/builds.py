"""Registry of WRF builds: one YAML manifest per build in ``wrf_builds/`` (DESIGN.md §6).

A manifest names the WRF version it runs, the wrf.exe to launch, the directory of static tables
(WRF's run/), the MPI launch line (``{exe}`` is replaced by the wrf.exe path), environment modules and
variables, and a label. The Cloudrun WRF emulator is registered like any build with ``emulator: true``
and ``label: emulator``; everything that shows a build must show that label.

Loading and checking touch the disk only to read manifests and stat the files they name;
``tables_for_physics`` is pure (facts §6).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

EXE_PLACEHOLDER = "{exe}"


class Build(BaseModel):
    """One registered build. Relative ``exe``/``tables_dir`` are resolved against the manifest's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    label: str = ""
    emulator: bool = False
    description: str = ""
    exe: Path
    tables_dir: Path
    launch: list[str] = Field(default_factory=lambda: ["srun", "--mpi=pmix", EXE_PLACEHOLDER])
    modules: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    manifest: Path | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: object) -> str:
        # YAML reads 3.9 as a float; 'V3.9' is how WRF prints it. Store the bare dotted string.
        return str(v).strip().lstrip("Vv")

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: object) -> object:
        return {str(k): str(x) for k, x in (v or {}).items()} if isinstance(v, dict) else v

    def launch_argv(self) -> list[str]:
        """The MPI launch line with the wrf.exe path filled in."""
        return [str(self.exe) if part == EXE_PLACEHOLDER else part for part in self.launch]

    @property
    def display_label(self) -> str:
        """What listings print: the label, made unmistakable for the emulator."""
        if self.emulator:
            return "EMULATOR (Cloudrun stand-in for wrf.exe, not WRF)"
        return self.label or "wrf"

    def summary(self) -> dict:
        """JSON-ready description for `builds list` and for the runs that used this build."""
        return {"name": self.name, "version": self.version, "label": self.label, "emulator": self.emulator,
                "display_label": self.display_label, "exe": str(self.exe), "tables_dir": str(self.tables_dir),
                "launch": self.launch_argv(), "description": self.description}


def load_builds(directory: str | os.PathLike, errors: list[str] | None = None) -> list[Build]:
    """Parse every ``*.yaml``/``*.yml`` manifest in ``directory`` (sorted by file name).

    A bad manifest raises ValueError naming the file, unless an ``errors`` list is given: then the
    message is appended to it and the manifest skipped (so `builds list` can show the rest).
    """
    directory = Path(directory)
    builds: list[Build] = []
    for path in sorted(list(directory.glob("*.yaml")) + list(directory.glob("*.yml"))):
        try:
            builds.append(parse_manifest(path.read_text(encoding="utf-8"), path))
        except (ValueError, yaml.YAMLError, OSError) as exc:
            message = f"{path.name}: {exc}"
            if errors is None:
                raise ValueError(message) from exc
            errors.append(message)
    return builds


def registered_builds(directory: str | os.PathLike) -> list[Build]:
    """load_builds for hot paths (setup, every submission): re-read only when a manifest changed."""
    directory = Path(directory)
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in sorted(directory.glob("*.y*ml")))
    return list(_cached_builds(directory, stamp))


@functools.lru_cache(maxsize=8)
def _cached_builds(directory: Path, stamp: tuple[tuple[str, int], ...]) -> tuple[Build, ...]:
    return tuple(load_builds(directory))


def parse_manifest(text: str, path: str | os.PathLike) -> Build:
    """One manifest's YAML text -> Build; ``path`` names it and anchors relative paths."""
    path = Path(path)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a manifest must be a YAML mapping")
    data = dict(data)
    data.setdefault("name", path.stem)
    base = path.parent.resolve()
    for key in ("exe", "tables_dir"):
        if key in data and data[key] is not None and not os.path.isabs(str(data[key])):
            data[key] = str(base / str(data[key]))
    data["manifest"] = str(path.resolve())
    try:
        return Build.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None


def build_for_version(builds: list[Build], version: str) -> Build | None:
    """The build that runs ``version`` ('3.9', 'V3.9'); a real build is preferred to the emulator."""
    version = str(version).strip().lstrip("Vv")
    matches = [b for b in builds if b.version == version]
    matches.sort(key=lambda b: (b.emulator, b.name))
    return matches[0] if matches else None


def missing_build_message(builds: list[Build], version: str) -> str:
    """What setup says when ``version`` has no registered build (lists what is registered)."""
    have = sorted({f"{b.version} ({b.name}{', emulator' if b.emulator else ''})" for b in builds})
    listed = ", ".join(have) if have else "none"
    return (f"No WRF build is registered for version {str(version).lstrip('Vv')}: add a manifest to wrf_builds/. "
            f"Registered builds: {listed}.")


def check_build(build: Build) -> list[str]:
    """Problems that would stop this build from running (empty list = usable)."""
    problems: list[str] = []
    if not build.exe.is_file():
        problems.append(f"wrf.exe not found: {build.exe}")
    elif not os.access(build.exe, os.X_OK):
        problems.append(f"wrf.exe is not executable: {build.exe}")
    if not build.tables_dir.is_dir():
        problems.append(f"tables directory not found: {build.tables_dir}")
    elif not any((build.tables_dir / name).exists() for name in ALL_TABLES):
        problems.append(f"tables directory holds none of WRF's static tables: {build.tables_dir}")
    if not build.launch or not build.launch[0].strip():
        problems.append("launch line is empty")
    elif build.launch.count(EXE_PLACEHOLDER) != 1:
        problems.append(f"launch line must contain {EXE_PLACEHOLDER} exactly once: {build.launch}")
    elif build.launch[0] == EXE_PLACEHOLDER:
        problems.append("launch line must start with the MPI launcher (srun/mpirun), not {exe}")
    if any(not m.strip() for m in build.modules):
        problems.append("modules contains an empty name")
    return problems


# --- static tables per physics option (facts §6) ------------------------------------------------------
OZONE = ["ozone.formatted", "ozone_lat.formatted", "ozone_plev.formatted"]
AEROSOL = ["aerosol.formatted", "aerosol_lat.formatted", "aerosol_lon.formatted", "aerosol_plev.formatted"]
CLM = ["CLM_ALB_ICE_DFS_DATA", "CLM_ALB_ICE_DRC_DATA", "CLM_ASM_ICE_DFS_DATA", "CLM_ASM_ICE_DRC_DATA",
       "CLM_DRDSDT0_DATA", "CLM_EXT_ICE_DFS_DATA", "CLM_EXT_ICE_DRC_DATA", "CLM_KAPPA_DATA", "CLM_TAU_DATA"]
SBM = ["capacity.asc", "masses.asc", "termvels.asc", "constants.asc", "kernels_z.asc", "kernels.asc_s_0_03_0_9",
       "bulkdens.asc_s_0_03_0_9", "bulkradii.asc_s_0_03_0_9", "coeff_p.asc", "coeff_q.asc"]
GFDL = ["tr49t67", "tr49t85", "tr67t85", "co2_trans"]
ALL_TABLES = sorted(set(
    ["LANDUSE.TBL", "VEGPARM.TBL", "SOILPARM.TBL", "GENPARM.TBL", "MPTABLE.TBL", "URBPARM.TBL", "RRTM_DATA",
     "RRTMG_LW_DATA", "RRTMG_SW_DATA", "CAM_ABS_DATA", "CAM_AEROPT_DATA", "ETAMPNEW_DATA",
     "ETAMPNEW_DATA.expanded_rain", "CCN_ACTIVATE.BIN", "p3_lookup_table_1.dat"] + OZONE + AEROSOL + CLM + SBM + GFDL))

# Option values each scheme selector may take in 3.8.1/3.9; anything else is "unknown" -> all tables.
KNOWN = {
    "mp_physics": {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 26, 28, 30, 32,
                   40, 50, 51, 95},
    "ra_lw_physics": {0, 1, 3, 4, 5, 7, 24, 31, 99},
    "ra_sw_physics": {0, 1, 2, 3, 4, 5, 7, 24, 99},
    "sf_surface_physics": {0, 1, 2, 3, 4, 5, 7, 8},
    "sf_urban_physics": {0, 1, 2, 3},
}
# setup_physics_suite (3.9): options still -1 are filled from the suite.
SUITES = {
    "conus": {"mp_physics": 8, "ra_lw_physics": 4, "ra_sw_physics": 4, "sf_surface_physics": 2},
    "tropical": {"mp_physics": 6, "ra_lw_physics": 4, "ra_sw_physics": 4, "sf_surface_physics": 2},
}


def _values(namelist: dict, name: str, version: str) -> list[int]:
    physics = namelist.get("physics") or {}
    default = -1 if not version.startswith("3.8") and name in KNOWN and name != "sf_urban_physics" else 0
    raw = physics.get(name, default)
    values = raw if isinstance(raw, list) else [raw]
    max_dom = int((namelist.get("domains") or {}).get("max_dom", 1) or 1)
    values = [default if v is None else int(v) for v in values[:max_dom]] or [default]
    suite = str(physics.get("physics_suite", "none") or "none").strip().lower()
    if suite in SUITES and name in SUITES[suite] and not version.startswith("3.8"):
        values = [SUITES[suite][name] if v == -1 else v for v in values]
    return values


def tables_for_physics(namelist: dict, version: str, *, real_data: bool = True,
                       available: list[str] | None = None) -> list[str]:
    """Static tables wrf.exe will open for this namelist (sorted), per facts §6.

    ``namelist`` is the {group: {var: value}} dict; every domain up to max_dom counts. If a scheme
    selector holds a value this table does not know (e.g. -1 left in 3.9), return every table the
    build has (``available``) or, without it, every table of §6.
    """
    version = str(version).lstrip("Vv")
    vals = {name: _values(namelist, name, version) for name in KNOWN}
    if any(v not in KNOWN[name] for name, vs in vals.items() for v in vs):
        return sorted(available) if available is not None else list(ALL_TABLES)
    physics = namelist.get("physics") or {}
    need: set[str] = set()
    if real_data:
        need.add("LANDUSE.TBL")
    lsm, urb = set(vals["sf_surface_physics"]), set(vals["sf_urban_physics"])
    lw, sw, mp = set(vals["ra_lw_physics"]), set(vals["ra_sw_physics"]), set(vals["mp_physics"])
    if lsm & {2, 3}:
        need |= {"VEGPARM.TBL", "SOILPARM.TBL", "GENPARM.TBL"}
    if 4 in lsm:
        need |= {"MPTABLE.TBL", "SOILPARM.TBL", "GENPARM.TBL"}
    if 5 in lsm:
        need |= set(CLM)
    if urb & {1, 2, 3}:
        need.add("URBPARM.TBL")
    if 1 in lw:
        need.add("RRTM_DATA")
    if lw & {4, 24}:
        need.add("RRTMG_LW_DATA")
    if sw & {4, 24}:
        need.add("RRTMG_SW_DATA")
    rrtmg = bool((lw | sw) & {4, 24})
    if (rrtmg and int(physics.get("o3input", 2) or 0) == 2) or (lw | sw) & {3}:
        need |= set(OZONE)
    if (lw | sw) & {3}:
        need |= {"CAM_ABS_DATA", "CAM_AEROPT_DATA"}
    if int(physics.get("aer_opt", 0) or 0) == 1:
        need |= set(AEROSOL)
    if (lw | sw) & {99}:
        need |= set(GFDL)
    if mp & {5, 15, 95}:
        need |= {"ETAMPNEW_DATA", "ETAMPNEW_DATA.expanded_rain"}
    if 28 in mp:
        need.add("CCN_ACTIVATE.BIN")
    if mp & {30, 32}:
        need |= set(SBM)
    if mp & {50, 51} and not version.startswith("3.8"):
        need.add("p3_lookup_table_1.dat")
    return sorted(need)
