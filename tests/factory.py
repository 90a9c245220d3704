"""Test factory: netCDF files shaped like real WRF inputs/outputs (names, dimensions, attributes from the
real headers in tests/factory_schema.py), written with netCDF4 in 64-bit-offset format.

Only Times and a few scalars are written; big fields are left unwritten (fill mode off), so netCDF leaves a
sparse hole and files stay cheap however large the grid. ``sparse_bytes=N`` grows the grid until the layout
is about N bytes (the file is sparse on disk) for benchmarks.
"""
from __future__ import annotations

import math
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import netCDF4
import numpy as np

try:  # importable both as tests.factory (repo root on sys.path) and as factory (pytest rootdir insertion)
    from tests.factory_schema import (
        SPECIES_ROWS, V39_ONLY_ATTRS, V39_ONLY_VARS, WRFBDY_ATTR_NAMES, WRFBDY_DIMS, WRFBDY_VARS, WRFINPUT_ATTRS,
        WRFINPUT_DIMS, WRFINPUT_VARS, WRFOUT_ATTRS, WRFOUT_DIMS, WRFOUT_VARS,
    )
except ImportError:  # pragma: no cover
    from factory_schema import (  # type: ignore[no-redef]
        SPECIES_ROWS, V39_ONLY_ATTRS, V39_ONLY_VARS, WRFBDY_ATTR_NAMES, WRFBDY_DIMS, WRFBDY_VARS, WRFINPUT_ATTRS,
        WRFINPUT_DIMS, WRFINPUT_VARS, WRFOUT_ATTRS, WRFOUT_DIMS, WRFOUT_VARS,
    )

FORMAT = "NETCDF3_64BIT_OFFSET"
BDY_TIME_VARS = ("md___thisbdytimee_x_t_d_o_m_a_i_n_m_e_t_a_data_", "md___nextbdytimee_x_t_d_o_m_a_i_n_m_e_t_a_data_")
_ROWS = {r[0]: r for r in WRFINPUT_VARS + SPECIES_ROWS}
_MASS = ("f4", "Time bottom_top south_north west_east", "XYZ")
_XY = ("f4", "Time south_north west_east", "XY ")
# extra rows for fields the reference ideal files do not carry (species, packages, nudging)
_EXTRA: dict[str, tuple[Any, ...]] = {
    **{n: (n, *_MASS, d, u, "", "XLONG XLAT XTIME", 104) for n, d, u in (
        ("QICE", "Ice mixing ratio", "kg kg-1"), ("QSNOW", "Snow mixing ratio", "kg kg-1"),
        ("QGRAUP", "Graupel mixing ratio", "kg kg-1"), ("QNICE", "Ice Number concentration", "  kg-1"),
        ("QNRAIN", "Rain Number concentration", "  kg(-1)"), ("QNSNOW", "Snow Number concentration", "  kg(-1)"),
        ("QNGRAUPEL", "Graupel Number concentration", "  kg(-1)"))},
    **{n: (n, *_XY, d, u, "", "XLONG XLAT XTIME", 104) for n, d, u in (
        ("CON", "orographic convexity", ""), ("OA1", "orographic asymmetry", ""), ("OA2", "orographic asymmetry", ""),
        ("OA3", "orographic asymmetry", ""), ("OA4", "orographic asymmetry", ""), ("OL1", "orographic length", ""),
        ("OL2", "orographic length", ""), ("OL3", "orographic length", ""), ("OL4", "orographic length", ""),
        ("H0ML", "INITIAL OCEAN MIXED LAYER DEPTH", "m"), ("TMOML", "TEMPERATURE BELOW OCEAN MIXED LAYER", "K"))},
    "SMCREL": ("SMCREL", "f4", "Time soil_layers_stag south_north west_east", "XYZ", "RELATIVE SOIL MOISTURE", "",
               "Z", "XLONG XLAT XTIME", 104),
}
_SPECIES = {0: (), 1: ("QCLOUD", "QRAIN"), 3: ("QCLOUD", "QRAIN"), 4: ("QCLOUD", "QRAIN", "QICE", "QSNOW"),
            2: ("QCLOUD", "QRAIN", "QICE", "QSNOW", "QGRAUP"), 6: ("QCLOUD", "QRAIN", "QICE", "QSNOW", "QGRAUP"),
            8: ("QCLOUD", "QRAIN", "QICE", "QSNOW", "QGRAUP", "QNICE", "QNRAIN"),
            10: ("QCLOUD", "QRAIN", "QICE", "QSNOW", "QGRAUP", "QNICE", "QNRAIN", "QNSNOW", "QNGRAUPEL")}
_LSM = {2: ("SMCREL",), 4: ("SMCREL",)}
REAL_START = "2000-01-24_12:00:00"
IDEAL_START = "0001-01-01_00:00:00"


def _t(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d_%H:%M:%S")


def _s(when: datetime) -> str:
    return f"{when.year:04d}-{when:%m-%d_%H:%M:%S}"


def _row(name: str) -> tuple[Any, ...]:
    return _ROWS.get(name) or _EXTRA[name]


def _grid_dims(e_we: int, e_sn: int, e_vert: int) -> dict[str, int]:
    return {"west_east": e_we - 1, "west_east_stag": e_we, "south_north": e_sn - 1, "south_north_stag": e_sn,
            "bottom_top": e_vert - 1, "bottom_top_stag": e_vert}


def _attr_value(kind: str, value: Any) -> Any:
    if kind == "i":
        return np.int32(value)
    if kind == "f":
        return np.float32(value)
    return str(value)


def _grid_attrs(version: str, ideal: bool, e_we: int, e_sn: int, e_vert: int, dx: float, dy: float,
                start: str, preprocessor: str = "") -> dict[str, Any]:
    """The wrfinput attribute set (values for this grid), in the real files' order and with their types."""
    program = preprocessor or ("IDEAL" if ideal else "REAL_EM")
    values: dict[str, Any] = {
        "TITLE": f" OUTPUT FROM {program} V{version} PREPROCESSOR", "START_DATE": start,
        "SIMULATION_START_DATE": start, "WEST-EAST_GRID_DIMENSION": e_we, "SOUTH-NORTH_GRID_DIMENSION": e_sn,
        "BOTTOM-TOP_GRID_DIMENSION": e_vert, "DX": dx, "DY": dy,
        "SIMULATION_INITIALIZATION_TYPE": "IDEALIZED DATA" if ideal else "REAL-DATA CASE",
        "WEST-EAST_PATCH_END_UNSTAG": e_we - 1, "WEST-EAST_PATCH_END_STAG": e_we,
        "SOUTH-NORTH_PATCH_END_UNSTAG": e_sn - 1, "SOUTH-NORTH_PATCH_END_STAG": e_sn,
        "BOTTOM-TOP_PATCH_END_UNSTAG": e_vert - 1, "BOTTOM-TOP_PATCH_END_STAG": e_vert,
    }
    if not ideal:
        values.update({"MAP_PROJ": 1, "MAP_PROJ_CHAR": "Lambert Conformal", "MMINLU": "MODIFIED_IGBP_MODIS_NOAH",
                       "CEN_LAT": 34.83, "CEN_LON": -81.03, "TRUELAT1": 30.0, "TRUELAT2": 60.0,
                       "MOAD_CEN_LAT": 34.83, "STAND_LON": -98.0, "POLE_LAT": 90.0, "JULYR": 2000, "JULDAY": 24,
                       "GMT": 12.0, "ISWATER": 17, "ISLAKE": 21, "ISICE": 15, "ISURBAN": 13, "ISOILWATER": 14,
                       "HYBRID_OPT": 0, "SURFACE_INPUT_SOURCE": 1})
    out: dict[str, Any] = {}
    for name, kind, default in WRFINPUT_ATTRS:
        if version != "3.9" and name in V39_ONLY_ATTRS:
            continue  # 3.8.1 wrote no GWD_OPT/SF_URBAN/SF_OCEAN/HYBRID_OPT/ETAC attributes
        out[name] = _attr_value(kind, values.get(name, default))
    return out


def _apply_attrs(ds: netCDF4.Dataset, attrs: dict[str, Any], overrides: dict[str, Any] | None,
                 drop: Iterable[str]) -> None:
    merged = dict(attrs)
    for name, value in (overrides or {}).items():
        old = merged.get(name)
        merged[name] = type(old)(value) if isinstance(old, (np.int32, np.float32)) else value
    for name in drop:
        merged.pop(name, None)
    ds.setncatts(merged)


def _define(ds: netCDF4.Dataset, rows: Iterable[tuple[Any, ...]]) -> None:
    for name, dtype, dims, order, desc, units, stagger, coords, field_type in rows:
        var = ds.createVariable(name, dtype, tuple(dims.split()))
        attrs = {"FieldType": np.int32(field_type), "MemoryOrder": order, "description": desc, "units": units,
                 "stagger": stagger}
        if coords is not None:
            attrs["coordinates"] = coords
        var.setncatts(attrs)  # one call: for netCDF3 each setncattr leaves and re-enters define mode


def _write_times(ds: netCDF4.Dataset, name: str, times: Iterable[str]) -> None:
    if name not in ds.variables:
        return
    for i, text in enumerate(times):
        ds[name][i] = netCDF4.stringtochar(np.array([text.ljust(19)[:19]], "S19"))[0]


def _open(path: Path, dims: dict[str, int | None], fmt: str) -> netCDF4.Dataset:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = netCDF4.Dataset(str(path), "w", format=fmt)
    ds.set_fill_off()  # unwritten data stays a hole: fast and sparse
    for name, size in dims.items():
        ds.createDimension(name, size)
    return ds


def _bytes_per_point(rows: list[tuple[Any, ...]], dims: dict[str, int | None]) -> float:
    """Bytes of one horizontal grid point summed over the variables (to size a sparse benchmark file)."""
    total = 0.0
    for _, dtype, names, *_ in rows:
        n = 1.0
        for d in names.split():
            if d in ("west_east", "west_east_stag", "south_north", "south_north_stag"):
                continue
            n *= dims.get(d) or 1
        horizontal = any(d.startswith(("west_east", "south_north")) for d in names.split())
        total += n * np.dtype(dtype).itemsize if horizontal else 0
    return total


def make_wrfinput(path: str | os.PathLike[str], *, version: str = "3.9", ideal: bool = True, e_we: int = 42,
                  e_sn: int = 42, e_vert: int = 41, dx: float = 2000.0, dy: float = 2000.0,
                  times: Iterable[str] | None = None, num_land_cat: int = 21, sf_surface_physics: int = 0,
                  gwd_opt: int = 0, sf_ocean_physics: int = 0, sf_urban_physics: int = 0, mp_physics: int = 1,
                  grid_id: int = 1, parent_id: int = 0, i_parent_start: int = 0, j_parent_start: int = 0,
                  parent_grid_ratio: int = 1, num_soil_layers: int = 5, omit_variables: Iterable[str] = (),
                  drop_attributes: Iterable[str] = (), attributes: dict[str, Any] | None = None,
                  sparse_bytes: int | None = None, p_top: float = 5000.0, t00: float | None = None,
                  p00: float | None = None, tiso: float | None = None, corner_lons: tuple[float, ...] | None = None,
                  extra_variables: Iterable[str] = (), variable_dims: dict[str, str] | None = None,
                  file_format: str = FORMAT) -> Path:
    """A wrfinput_d0N as ideal.exe/real.exe writes it; real data also gets base state T00/P00/TISO values.

    ``variable_dims`` lays chosen variables on other dimensions (space-separated names) to fake a bad file.
    """
    p = Path(path)
    times = tuple(times) if times is not None else ((IDEAL_START,) if ideal else (REAL_START,))
    omit = set(omit_variables)
    names = [r[0] for r in WRFINPUT_VARS if version == "3.9" or r[0] not in V39_ONLY_VARS]
    names += list(_SPECIES.get(mp_physics, ("QCLOUD", "QRAIN"))) + list(_LSM.get(sf_surface_physics, ()))
    names += [n for n, on in (("CON", gwd_opt), ("OA1", gwd_opt), ("OA2", gwd_opt), ("OA3", gwd_opt),
                              ("OA4", gwd_opt), ("OL1", gwd_opt), ("OL2", gwd_opt), ("OL3", gwd_opt),
                              ("OL4", gwd_opt), ("H0ML", sf_ocean_physics), ("TMOML", sf_ocean_physics)) if on]
    names += [n for n in extra_variables if n not in names]
    rows = [_row(n) for n in names if n not in omit]
    rows = [(r[0], r[1], (variable_dims or {}).get(r[0], r[2]), *r[3:]) for r in rows]
    dims: dict[str, int | None] = {"Time": None, "DateStrLen": 19, **_grid_dims(e_we, e_sn, e_vert),
                                   "soil_layers_stag": num_soil_layers, "land_cat_stag": num_land_cat,
                                   "soil_cat_stag": 16, "num_ext_model_couple_dom_stag": 1}
    if sparse_bytes:
        side = math.isqrt(int(sparse_bytes / max(_bytes_per_point(rows, dims), 1.0))) + 1
        e_we = e_sn = max(e_we, side)
        dims.update(_grid_dims(e_we, e_sn, e_vert))
    dims = {d: dims[d] for d in WRFINPUT_DIMS}
    attrs = _grid_attrs(version, ideal, e_we, e_sn, e_vert, dx, dy, times[0] if times else IDEAL_START)
    physics = {"MP_PHYSICS": mp_physics, "SF_SURFACE_PHYSICS": sf_surface_physics, "GWD_OPT": gwd_opt,
               "SF_OCEAN_PHYSICS": sf_ocean_physics, "SF_URBAN_PHYSICS": sf_urban_physics, "GRID_ID": grid_id,
               "PARENT_ID": parent_id, "I_PARENT_START": i_parent_start, "J_PARENT_START": j_parent_start,
               "PARENT_GRID_RATIO": parent_grid_ratio, "NUM_LAND_CAT": num_land_cat}
    for name, value in physics.items():
        if name in attrs:
            attrs[name] = np.int32(value)
    with _open(p, dims, file_format) as ds:
        _apply_attrs(ds, attrs, attributes, drop_attributes)
        ds.createVariable("Times", "S1", ("Time", "DateStrLen"))
        _define(ds, rows)
        _write_times(ds, "Times", times)
        base = {"P_TOP": p_top, "T00": t00 if t00 is not None else (0.0 if ideal else 290.0),
                "P00": p00 if p00 is not None else (0.0 if ideal else 100000.0),
                "TISO": tiso if tiso is not None else (0.0 if ideal else 200.0), "TLP": 0.0 if ideal else 50.0}
        lons = corner_lons if corner_lons is not None else ((0.0,) * 4 if ideal else (-88.0, -88.0, -74.0, -74.0))
        base.update(zip(("LON_LL_T", "LON_UL_T", "LON_UR_T", "LON_LR_T"), lons))
        for name, value in base.items():
            if name in ds.variables and times:
                ds[name][: len(times)] = value
    if sparse_bytes and p.stat().st_size < sparse_bytes:
        os.truncate(p, sparse_bytes)
    return p


def bdy_records(start: str, interval_seconds: int, records: int) -> list[tuple[str, str]]:
    """(THISBDYTIME, NEXTBDYTIME) of each wrfbdy record, as real.exe writes them."""
    t0, step = _t(start), timedelta(seconds=interval_seconds)
    return [(_s(t0 + i * step), _s(t0 + (i + 1) * step)) for i in range(records)]


def make_wrfbdy(path: str | os.PathLike[str], *, version: str = "3.9", e_we: int = 42, e_sn: int = 42,
                e_vert: int = 41, start: str = REAL_START, interval_seconds: int = 10800, records: int = 4,
                spec_bdy_width: int = 5, mp_physics: int = 1, dx: float = 2000.0, dy: float = 2000.0,
                bdy_times: list[tuple[str, str]] | None = None, omit_variables: Iterable[str] = (),
                drop_attributes: Iterable[str] = (), attributes: dict[str, Any] | None = None,
                file_format: str = FORMAT) -> Path:
    """A wrfbdy_d01 as real.exe writes it: one record per interval with THISBDYTIME/NEXTBDYTIME."""
    p = Path(path)
    recs = bdy_times if bdy_times is not None else bdy_records(start, interval_seconds, records)
    fields = {"U", "V", "W", "PH", "T", "MU", "QVAPOR", *_SPECIES.get(mp_physics, ("QCLOUD", "QRAIN"))}
    omit = set(omit_variables)
    rows = [r for r in WRFBDY_VARS if r[0].rsplit("_", 1)[0] in fields and r[0] not in omit]
    dims: dict[str, int | None] = {"Time": None, "DateStrLen": 19, "bdy_width": spec_bdy_width,
                                   **_grid_dims(e_we, e_sn, e_vert)}
    attrs = {k: v for k, v in _grid_attrs(version, False, e_we, e_sn, e_vert, dx, dy, start).items()
             if k in WRFBDY_ATTR_NAMES}
    with _open(p, {d: dims[d] for d in WRFBDY_DIMS}, file_format) as ds:
        _apply_attrs(ds, attrs, attributes, drop_attributes)
        for name in ("Times",) + BDY_TIME_VARS:
            if name not in omit:
                ds.createVariable(name, "S1", ("Time", "DateStrLen"))
        _define(ds, rows)
        _write_times(ds, "Times", [this for this, _ in recs])
        _write_times(ds, BDY_TIME_VARS[0], [this for this, _ in recs])
        _write_times(ds, BDY_TIME_VARS[1], [nxt for _, nxt in recs])
    return p


def _timed_file(path: str | os.PathLike[str], rows: list[tuple[Any, ...]], *, version: str, e_we: int, e_sn: int,
                e_vert: int, times: list[str], attrs: dict[str, Any] | None, file_format: str) -> Path:
    p = Path(path)
    dims: dict[str, int | None] = {"Time": None, "DateStrLen": 19, **_grid_dims(e_we, e_sn, e_vert)}
    base = _grid_attrs(version, False, e_we, e_sn, e_vert, 2000.0, 2000.0, times[0] if times else REAL_START)
    with _open(p, dims, file_format) as ds:
        _apply_attrs(ds, base, attrs, ())
        ds.createVariable("Times", "S1", ("Time", "DateStrLen"))
        _define(ds, rows)
        _write_times(ds, "Times", times)
    return p


def make_wrflowinp(path: str | os.PathLike[str], *, version: str = "3.9", e_we: int = 42, e_sn: int = 42,
                   e_vert: int = 41, start: str = REAL_START, interval_seconds: int = 10800, records: int = 5,
                   omit_variables: Iterable[str] = (), attributes: dict[str, Any] | None = None,
                   file_format: str = FORMAT) -> Path:
    """A wrflowinp_d0N (sst_update input): SST, SEAICE, VEGFRA, ALBBCK, LAI per interval."""
    rows = [_row(n) for n in ("SST", "SEAICE", "VEGFRA", "ALBBCK", "LAI") if n not in set(omit_variables)]
    times = [this for this, _ in bdy_records(start, interval_seconds, records)]
    return _timed_file(path, rows, version=version, e_we=e_we, e_sn=e_sn, e_vert=e_vert, times=times,
                       attrs=attributes, file_format=file_format)


def make_wrffdda(path: str | os.PathLike[str], *, version: str = "3.9", e_we: int = 42, e_sn: int = 42,
                 e_vert: int = 41, start: str = REAL_START, interval_seconds: int = 10800, records: int = 4,
                 omit_variables: Iterable[str] = (), attributes: dict[str, Any] | None = None,
                 file_format: str = FORMAT) -> Path:
    """A wrffdda_d0N (grid nudging input): *_NDG_OLD/*_NDG_NEW analyses."""
    templ = {"U": _row("U"), "V": _row("V"), "T": _row("T"), "Q": _row("QVAPOR"), "PH": _row("PH"), "MU": _row("MU")}
    rows = [(f"{k}_NDG_{age}", *r[1:4], f"{age.lower()} analysis of {r[4]}", *r[5:])
            for k, r in templ.items() for age in ("OLD", "NEW")]
    rows = [r for r in rows if r[0] not in set(omit_variables)]
    times = [this for this, _ in bdy_records(start, interval_seconds, records)]
    return _timed_file(path, rows, version=version, e_we=e_we, e_sn=e_sn, e_vert=e_vert, times=times,
                       attrs=attributes, file_format=file_format)


def make_wrfout(path: str | os.PathLike[str], *, version: str = "3.9", e_we: int = 42, e_sn: int = 42,
                e_vert: int = 41, times: Iterable[str] = (IDEAL_START,), restart: bool = False,
                file_format: str = FORMAT) -> Path:
    """A wrfout (or with restart=True a wrfrst) as wrf.exe writes it: TITLE ' OUTPUT FROM WRF V… MODEL'."""
    p = Path(path)
    times = list(times)
    dims: dict[str, int | None] = {"Time": None, "DateStrLen": 19, **_grid_dims(e_we, e_sn, e_vert),
                                   "soil_layers_stag": 5}
    rows = list(WRFOUT_VARS)
    if restart:  # two-time-level fields are stored as _1/_2 in restart files
        rows = [(n + "_2", *r) if n in ("U", "V", "W", "PH", "T", "MU") else (n, *r) for n, *r in rows]
    attrs: dict[str, Any] = {}
    for name, kind, default in WRFOUT_ATTRS:
        if version != "3.9" and name in V39_ONLY_ATTRS:
            continue
        attrs[name] = _attr_value(kind, default)
    attrs.update(TITLE=f" OUTPUT FROM WRF V{version} MODEL", START_DATE=times[0] if times else IDEAL_START)
    attrs["WEST-EAST_GRID_DIMENSION"], attrs["SOUTH-NORTH_GRID_DIMENSION"] = np.int32(e_we), np.int32(e_sn)
    attrs["BOTTOM-TOP_GRID_DIMENSION"] = np.int32(e_vert)
    with _open(p, {d: dims[d] for d in WRFOUT_DIMS}, file_format) as ds:
        _apply_attrs(ds, attrs, None, ())
        ds.createVariable("Times", "S1", ("Time", "DateStrLen"))
        _define(ds, rows)
        _write_times(ds, "Times", times)
    return p


def make_real_case(directory: str | os.PathLike[str], *, version: str = "3.9", hours: int = 12,
                   interval_seconds: int = 21600, start: str = REAL_START, e_we: int = 42, e_sn: int = 42,
                   e_vert: int = 41, dx: float = 30000.0, dy: float = 30000.0, mp_physics: int = 1,
                   **wrfinput_kwargs: Any) -> dict[str, Path]:
    """A consistent real-data pair wrfinput_d01 + wrfbdy_d01 covering ``hours`` from ``start``."""
    d = Path(directory)
    records = max(1, hours * 3600 // interval_seconds)
    wrfinput = make_wrfinput(d / "wrfinput_d01", version=version, ideal=False, e_we=e_we, e_sn=e_sn,
                             e_vert=e_vert, dx=dx, dy=dy, times=(start,), mp_physics=mp_physics, **wrfinput_kwargs)
    wrfbdy = make_wrfbdy(d / "wrfbdy_d01", version=version, e_we=e_we, e_sn=e_sn, e_vert=e_vert, start=start,
                         interval_seconds=interval_seconds, records=records, dx=dx, dy=dy, mp_physics=mp_physics)
    return {"wrfinput_d01": wrfinput, "wrfbdy_d01": wrfbdy}


def make_ideal_case(directory: str | os.PathLike[str], *, version: str = "3.9", **wrfinput_kwargs: Any) -> dict[str, Path]:
    """An ideal case (em_quarter_ss-like): wrfinput_d01 only."""
    return {"wrfinput_d01": make_wrfinput(Path(directory) / "wrfinput_d01", version=version, ideal=True,
                                          **wrfinput_kwargs)}
