"""The factory's files against REAL WRF files: the `ncdump -h` headers in wrf-reference/headers and the real
ideal.exe inputs in wrf-reference/inputs. Names, dimensions, variable layouts and attributes must match, and
the validator must accept the real files as well as the factory's."""
from __future__ import annotations

import gzip
import os
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import f90nml
import netCDF4
import numpy as np
import pytest

from orchestrator.wrf.consistency import check_consistency
from orchestrator.wrf.headers import read_header
from orchestrator.wrf.inputs import detect_kind, validate_input
from orchestrator.wrf.types import FileHeader
from tests.factory import BDY_TIME_VARS, make_wrfbdy, make_wrfinput, make_wrfout

REFERENCE = Path(os.environ.get("WRF_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "wrf-reference"))
HEADERS = REFERENCE / "headers"
pytestmark = pytest.mark.skipif(not HEADERS.is_dir(), reason="wrf-reference not available")

# factory settings reproducing each real ideal.exe case
CASES: dict[str, dict[str, Any]] = {
    "wrfinput_d01.v3.9.em_quarter_ss": dict(version="3.9", e_we=42, e_sn=42, e_vert=41, dx=2000.0, dy=2000.0,
                                            mp_physics=1),
    "wrfinput_d01.v3.9.em_b_wave": dict(version="3.9", e_we=41, e_sn=81, e_vert=65, dx=100000.0, dy=100000.0,
                                        mp_physics=0),
    "wrfinput_d01.v3.8.1.em_quarter_ss": dict(version="3.8.1", e_we=42, e_sn=42, e_vert=41, dx=2000.0,
                                              dy=2000.0, mp_physics=1),
}


class Cdl:
    """The parts of an `ncdump -h` text the comparison needs."""

    def __init__(self, path: Path) -> None:
        self.dims: dict[str, int | None] = {}
        self.vars: dict[str, dict[str, Any]] = {}
        self.attrs: dict[str, Any] = {}
        section = ""
        for line in path.read_text().splitlines():
            s = line.strip()
            if s in ("dimensions:", "variables:") or s.startswith("// global attributes"):
                section = s[:4]
                continue
            if section == "dime" and (m := re.match(r"(\S+) = (UNLIMITED|\d+)", s)):
                self.dims[m[1]] = None if m[2] == "UNLIMITED" else int(m[2])
            elif section == "vari" and (m := re.match(r"(float|int|char|double) (\S+)\((.*)\) ;", s)):
                self.vars[m[2]] = {"type": m[1], "dims": tuple(d.strip() for d in m[3].split(","))}
            elif section == "vari" and (m := re.match(r"(\S+):(\S+) = (.*) ;", s)):
                self.vars[m[1]][m[2]] = _value(m[3])
            elif section == "// g" and (m := re.match(r":(\S+) = (.*) ;", s)):
                self.attrs[m[1]] = _value(m[2])

    def write(self, path: Path, records: list[tuple[str, str]]) -> Path:
        """A netCDF file with this header (what ncgen would make), plus time records ncdump -h leaves out."""
        types = {"float": "f4", "int": "i4", "char": "S1", "double": "f8"}
        with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET") as ds:
            ds.set_fill_off()
            for name, size in self.dims.items():
                ds.createDimension(name, size)
            for name, value in self.attrs.items():
                ds.setncattr(name, value)
            for name, spec in self.vars.items():
                var = ds.createVariable(name, types[spec["type"]], spec["dims"])
                for key, value in spec.items():
                    if key not in ("type", "dims"):
                        var.setncattr(key, value)
            for name, column in (("Times", 0), (BDY_TIME_VARS[0], 0), (BDY_TIME_VARS[1], 1)):
                for i, rec in enumerate(records if name in self.vars else []):
                    ds[name][i] = netCDF4.stringtochar(np.array([rec[column]], "S19"))[0]
        return path


def _value(text: str) -> Any:
    if text.startswith('"'):
        return text.strip('"')
    if text.endswith("f"):
        return np.float32(text[:-1])
    return np.int32(text)


def _header_of(cdl: Cdl) -> dict[str, Any]:
    return {"dims": list(cdl.dims), "vars": {n: v["dims"] for n, v in cdl.vars.items()}, "attrs": list(cdl.attrs)}


def _file_layout(h: FileHeader) -> dict[str, Any]:
    return {"dims": list(h.dimensions), "vars": {n: v.dimensions for n, v in h.variables.items()},
            "attrs": [a for a in h.attributes if not a.startswith("__")]}


def _var_attrs(path: Path) -> dict[str, dict[str, Any]]:
    with netCDF4.Dataset(path) as ds:
        return {n: {k: v.getncattr(k) for k in v.ncattrs()} for n, v in ds.variables.items()}


def _gunzip(name: str, dest: Path) -> Path:
    out = dest / name
    with gzip.open(REFERENCE / "inputs" / f"{name}.gz", "rb") as fin, out.open("wb") as fout:
        shutil.copyfileobj(fin, fout)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_factory_wrfinput_matches_real_header(tmp_path: Path, case: str) -> None:
    cdl = Cdl(HEADERS / f"{case}.cdl")
    path = make_wrfinput(tmp_path / "wrfinput_d01", **CASES[case])
    mine = _file_layout(read_header(path))
    real = _header_of(cdl)
    assert mine["dims"] == real["dims"]
    assert sorted(mine["vars"]) == sorted(real["vars"])
    assert mine["vars"] == real["vars"]
    assert mine["attrs"] == real["attrs"]  # same names in the same order, 3.8.1 without GWD_OPT etc.
    assert read_header(path).dimensions == {k: (v if v is not None else 1) for k, v in cdl.dims.items()}
    attrs = _var_attrs(path)
    for name, spec in cdl.vars.items():
        for key in ("FieldType", "MemoryOrder", "description", "units", "stagger", "coordinates"):
            assert attrs[name].get(key) == spec.get(key), (name, key)
    h = read_header(path)
    for key in ("TITLE", "SIMULATION_INITIALIZATION_TYPE", "WEST-EAST_GRID_DIMENSION", "BOTTOM-TOP_GRID_DIMENSION",
                "DX", "MP_PHYSICS", "MAP_PROJ", "NUM_LAND_CAT", "START_DATE"):
        assert h.attr(key) == (cdl.attrs[key].item() if hasattr(cdl.attrs[key], "item") else cdl.attrs[key]), key


@pytest.mark.skipif(not (REFERENCE / "inputs").is_dir(), reason="real inputs not available")
@pytest.mark.parametrize("case", sorted(CASES))
def test_real_input_and_factory_read_alike_and_both_pass(tmp_path: Path, case: str) -> None:
    real_path = _gunzip(case, tmp_path)
    real = read_header(real_path)
    mine = read_header(make_wrfinput(tmp_path / "wrfinput_d01", **CASES[case]))
    assert _file_layout(real) == _file_layout(mine)
    assert real.dimensions == mine.dimensions and real.data_format in ("NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET")
    version = CASES[case]["version"]
    for h, name in ((real, real_path.name), (mine, "wrfinput_d01")):
        kind = detect_kind(h, name)
        assert kind == "wrfinput"
        assert validate_input(h, kind, version, name) == []
    other = "3.8.1" if version == "3.9" else "3.9"
    assert [p.code for p in validate_input(real, "wrfinput", other, real_path.name)] == ["producer_version"]


@pytest.mark.skipif(not (REFERENCE / "namelists").is_dir(), reason="reference namelists not available")
@pytest.mark.parametrize("case", sorted(CASES))
def test_real_inputs_agree_with_their_shipped_namelists(tmp_path: Path, case: str) -> None:
    version, ideal_case = case.split(".v")[1].rsplit(".", 1)
    namelist = f90nml.read(REFERENCE / "namelists" / f"namelist.input.v{version}.{ideal_case}")
    header = read_header(_gunzip(case, tmp_path))
    assert check_consistency(namelist, {"wrfinput_d01": header}, version) == []
    namelist["domains"]["e_we"] = namelist["domains"]["e_we"][0] + 1
    problems = check_consistency(namelist, {"wrfinput_d01": header}, version)
    assert [p.code for p in problems] == ["dimension_mismatch"]
    if ideal_case == "em_quarter_ss":  # e_we 43: the change real wrf.exe refused in rsl/v*_fatal_size_mismatch
        rsl = (REFERENCE / "rsl" / f"v{version}_fatal_size_mismatch.rsl.error.0000").read_text()
        for line in problems[0].wrf_message.splitlines():  # wrf.exe printed exactly these lines
            assert line in rsl, line


def test_factory_wrfbdy_matches_real_header(tmp_path: Path) -> None:
    cdl = Cdl(HEADERS / "wrfbdy_d01.real_data_case.cdl")
    h = read_header(make_wrfbdy(tmp_path / "wrfbdy_d01", e_we=82, e_sn=82, e_vert=41, mp_physics=8))
    assert list(h.dimensions) == list(cdl.dims)
    assert {k: v for k, v in h.dimensions.items() if k != "Time"} == {k: v for k, v in cdl.dims.items() if k != "Time"}
    assert set(h.variables) <= set(cdl.vars)  # the real file (WRF 4.4) carries more species/tracers
    for name, var in h.variables.items():
        assert var.dimensions == cdl.vars[name]["dims"], name
    assert {n for n in h.variables if n.startswith(("U_", "V_", "PH_", "T_", "MU_", "QVAPOR_"))} == \
        {n for n in cdl.vars if n.startswith(("U_", "V_", "PH_", "T_", "MU_", "QVAPOR_"))}
    assert set(a for a in h.attributes if not a.startswith("__")) <= set(cdl.attrs)


def test_real_wrfbdy_header_passes_validation(tmp_path: Path) -> None:
    cdl = Cdl(HEADERS / "wrfbdy_d01.real_data_case.cdl")
    start = datetime.strptime(str(cdl.attrs["START_DATE"]), "%Y-%m-%d_%H:%M:%S")
    # ncdump -h shows no data: the time records below are made up, one 3-hour record as the header says
    record = (f"{start:%Y-%m-%d_%H:%M:%S}", f"{start + timedelta(hours=3):%Y-%m-%d_%H:%M:%S}")
    h = read_header(cdl.write(tmp_path / "wrfbdy_d01", [record]))
    assert detect_kind(h, "wrfbdy_d01") == "wrfbdy"
    problems = validate_input(h, "wrfbdy", "3.9", "wrfbdy_d01")
    assert [(p.code, p.severity) for p in problems] == [("producer_version", "warning")]
    assert "4.4" in problems[0].message


@pytest.mark.parametrize("version", ["3.9", "3.8.1"])
def test_factory_wrfout_matches_real_header(tmp_path: Path, version: str) -> None:
    cdl = Cdl(HEADERS / f"wrfout_d01.v{version}.em_quarter_ss.cdl")
    path = make_wrfout(tmp_path / "wrfout_d01", version=version, times=["0001-01-01_00:00:00"] * 3)
    h = read_header(path)
    assert list(h.dimensions) == list(cdl.dims) and h.dimensions["Time"] == 3
    for name, var in h.variables.items():
        assert var.dimensions == cdl.vars[name]["dims"], name
    assert h.attr("TITLE") == cdl.attrs["TITLE"]
    names = [a for a in h.attributes if not a.startswith("__")]
    assert set(names) <= set(cdl.attrs) and (version == "3.8.1" or names == list(cdl.attrs))
    assert detect_kind(h, "wrfout_d01") == "wrfout"
    real = cdl.write(tmp_path / "real_wrfout", [("0001-01-01_00:00:00", "0001-01-01_00:00:00")])
    assert detect_kind(read_header(real), "real_wrfout") == "wrfout"
