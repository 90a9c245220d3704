"""read_header on factory files, the real ideal.exe inputs, and bad files (empty, cut, random, HDF5, wrfout)."""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from orchestrator.wrf.headers import HeaderError, read_header
from orchestrator.wrf.inputs import SCALARS_KEY, detect_kind, validate_input
from tests.factory import make_real_case, make_wrfbdy, make_wrfinput, make_wrfout

REFERENCE = Path(os.environ.get("WRF_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "wrf-reference"))
REAL_INPUTS = sorted((REFERENCE / "inputs").glob("wrfinput_d01.*.gz"))


def _gunzip(src: Path, dest_dir: Path) -> Path:
    out = dest_dir / src.name[: -len(".gz")]
    with gzip.open(src, "rb") as fin, out.open("wb") as fout:
        shutil.copyfileobj(fin, fout)
    return out


def _cut(path: Path, size: int) -> Path:
    with path.open("r+b") as fh:
        fh.truncate(size)
    return path


def test_factory_wrfinput_header_matches_what_was_written(tmp_path: Path) -> None:
    path = make_wrfinput(tmp_path / "wrfinput_d01", e_we=50, e_sn=40, e_vert=30, dx=3000.0, p_top=6000.0)
    h = read_header(path)
    assert h.data_format == "NETCDF3_64BIT_OFFSET"
    assert h.dimensions["west_east_stag"] == 50 and h.dimensions["south_north"] == 39
    assert h.dimensions["bottom_top"] == 29 and h.unlimited_dimensions == ("Time",)
    assert h.attr("DX") == 3000.0 and h.attr("WEST-EAST_GRID_DIMENSION") == 50
    assert h.variables["U"].dimensions == ("Time", "bottom_top", "south_north", "west_east_stag")
    assert h.variables["U"].shape == (1, 29, 39, 50) and h.variables["U"].dtype == "float32"
    assert h.variables["Times"].dtype == "S1"
    assert h.times == ("0001-01-01_00:00:00",)
    assert h.attributes[SCALARS_KEY]["P_TOP"] == 6000.0
    assert h.file_size == path.stat().st_size == h.expected_min_size


def test_layout_end_with_many_records_and_a_lone_record_variable(tmp_path: Path) -> None:
    bdy = make_wrfbdy(tmp_path / "wrfbdy_d01", records=5)
    h = read_header(bdy)
    assert len(h.times) == 5 and h.expected_min_size == h.file_size
    lone = tmp_path / "lone.nc"
    with netCDF4.Dataset(lone, "w", format="NETCDF3_64BIT_OFFSET") as ds:  # one record var: records unpadded
        ds.createDimension("Time", None)
        ds.createDimension("n", 3)
        ds.createVariable("x", "i2", ("Time", "n"))[:] = np.ones((3, 3), "i2")
    h = read_header(lone)
    assert h.expected_min_size == lone.stat().st_size
    assert read_header(_cut(lone, lone.stat().st_size - 2)).expected_min_size == h.expected_min_size


@pytest.mark.parametrize("fmt", ["NETCDF3_CLASSIC", "NETCDF3_64BIT_DATA"])
def test_layout_end_for_cdf1_and_cdf5(tmp_path: Path, fmt: str) -> None:
    path = make_wrfinput(tmp_path / "wrfinput_d01", file_format=fmt)
    h = read_header(path)
    assert h.data_format == fmt and h.expected_min_size == h.file_size
    cut = read_header(_cut(path, h.file_size - 1000))
    assert cut.file_size < cut.expected_min_size


@pytest.mark.skipif(not REAL_INPUTS, reason="wrf-reference inputs not available")
@pytest.mark.parametrize("gz", REAL_INPUTS, ids=lambda p: p.name)
def test_real_inputs_read_and_laid_out_exactly(tmp_path: Path, gz: Path) -> None:
    path = _gunzip(gz, tmp_path)
    h = read_header(path)
    assert h.expected_min_size == h.file_size  # ideal.exe's file ends exactly where the layout says
    assert h.times == ("0001-01-01_00:00:00",)
    assert h.data_format == ("NETCDF3_CLASSIC" if "3.8.1" in gz.name else "NETCDF3_64BIT_OFFSET")
    assert detect_kind(h, path.name) == "wrfinput"
    assert h.attributes[SCALARS_KEY]["P_TOP"] > 1000  # read from the data, not the header


@pytest.mark.skipif(not REAL_INPUTS, reason="wrf-reference inputs not available")
def test_real_input_truncated_to_half_is_refused(tmp_path: Path) -> None:
    path = _gunzip(REAL_INPUTS[-1], tmp_path)
    full = path.stat().st_size
    h = read_header(_cut(path, full // 2))
    assert h.file_size == full // 2 and h.expected_min_size == full
    problems = validate_input(h, "wrfinput", "3.9", "wrfinput_d01")
    assert [p.code for p in problems if p.severity == "error"] == ["truncated"]
    assert "truncated" in problems[0].message and str(full) in problems[0].message


def test_factory_file_truncated_to_half_is_refused(tmp_path: Path) -> None:
    files = make_real_case(tmp_path)
    for name, path in files.items():
        full = path.stat().st_size
        h = read_header(_cut(path, full // 2))
        problems = validate_input(h, detect_kind(h, name), "3.9", name)
        assert "truncated" in {p.code for p in problems}, name


def test_header_cut_inside_is_a_header_error(tmp_path: Path) -> None:
    path = _cut(make_wrfinput(tmp_path / "wrfinput_d01"), 300)
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert err.value.code == "truncated" and "header" in err.value.message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "wrfinput_d01"
    path.write_bytes(b"")
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert err.value.code == "empty_file" and "empty" in err.value.message


@pytest.mark.parametrize("content", [os.urandom(4096), b"&time_control\n run_hours = 1\n/\n", b"CDF\x02" + b"\xff" * 60])
def test_random_bytes_text_and_corrupt_header(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert err.value.code in ("not_netcdf", "truncated") and "wrfinput" not in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(HeaderError) as err:
        read_header(tmp_path / "nope")
    assert err.value.code == "unreadable"


def test_netcdf4_file_without_wrf_content_is_read_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.nc"
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("x", 10)
        ds.createVariable("temperature", "f4", ("x",), zlib=True)[:] = np.arange(10)
        ds.title = "not WRF"
    h = read_header(path)
    assert h.data_format == "NETCDF4" and h.expected_min_size is not None
    assert h.expected_min_size <= h.file_size
    kind = detect_kind(h, path.name)
    assert kind == "unknown"
    problems = validate_input(h, kind, "3.9", path.name)
    assert [p.code for p in problems] == ["unknown_kind"] and "not a WRF input" in problems[0].message


def test_netcdf4_file_truncated_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.nc"
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("x", 100000)
        ds.createVariable("t", "f8", ("x",))[:] = np.arange(100000)
    with pytest.raises(HeaderError) as err:
        read_header(_cut(path, path.stat().st_size // 2))
    assert err.value.code == "truncated" and "HDF5" in err.value.message


def test_raw_hdf5_file_is_refused(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "raw.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(10)
    with pytest.raises(HeaderError) as err:
        read_header(path)
    assert err.value.code == "hdf5_not_netcdf" and "HDF5" in err.value.message


def test_wrfout_given_as_input_is_refused(tmp_path: Path) -> None:
    path = make_wrfout(tmp_path / "wrfinput_d01")  # misnamed on purpose: content decides
    h = read_header(path)
    kind = detect_kind(h, path.name)
    assert kind == "wrfout"
    problems = validate_input(h, kind, "3.9", path.name)
    assert [p.code for p in problems] == ["not_an_input"] and "wrf.exe" in problems[0].message


def test_sparse_multi_gib_file_reads_only_the_header(tmp_path: Path) -> None:
    path = make_wrfinput(tmp_path / "wrfinput_d01", sparse_bytes=3 * 2**30)
    stat = path.stat()
    assert stat.st_size >= 3 * 2**30 and stat.st_blocks * 512 < 64 * 2**20  # sparse on disk
    h = read_header(path)
    assert h.dimensions["west_east_stag"] > 500 and h.expected_min_size <= h.file_size
    assert validate_input(h, "wrfinput", "3.9", path.name) == []
