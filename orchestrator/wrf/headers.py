"""The netCDF I/O edge: read one file's header into a ``FileHeader`` without touching the big fields.

``read_header`` opens the file with netCDF4 for dimensions, attributes and variables, reads only the small
char time variables (``Times``, wrfbdy's ``md___thisbdytime…``/``md___nextbdytime…``) and a handful of
scalar (Time)-only variables the start-up checks need (``P_TOP``, ``T00``, ``TISO``, corner longitudes…;
stored under ``attributes[SCALARS_KEY]`` because ``FileHeader`` has no field for variable values).

Truncation (header intact, data cut: wrf.exe then silently reads zeros) is detected from the layout alone:

* classic / 64-bit offset / CDF-5 files: the header is parsed here from the first bytes (the format is
  documented: every variable has a ``begin`` offset; record variables are interleaved per record with a
  record size that is the sum of their padded per-record sizes). ``expected_min_size`` is the end of the
  last byte of data of any variable for the records present.
* NETCDF4 (HDF5) files: the superblock stores the file's end-of-file address; ``expected_min_size`` is that
  address (HDF5 itself refuses to open a shorter file, which surfaces here as ``HeaderError('truncated')``).

Both need only the first few KiB of the file, so a multi-GB sparse file costs what its header costs.
"""
from __future__ import annotations

import os
import threading
import struct
from pathlib import Path
from typing import Any, BinaryIO

import netCDF4
import numpy as np

from orchestrator.wrf.inputs import SCALAR_VARIABLES, SCALARS_KEY
from orchestrator.wrf.types import FileHeader, VariableInfo

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_CLASSIC_MAGIC = {b"CDF\x01": 1, b"CDF\x02": 2, b"CDF\x05": 5}
# nc_type -> bytes per element (CDF-1/2 types 1-6, CDF-5 adds 7-11)
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_CHUNK = 65536


class HeaderError(Exception):
    """A file whose header cannot be read as netCDF; ``code`` is machine-readable, ``message`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _classic_layout(fh: BinaryIO, version: int) -> int:
    """Parse a CDF-1/2/5 header and return the byte offset where the last variable's data ends."""
    size = _CHUNK
    while True:
        fh.seek(0)
        buf = fh.read(size)
        try:
            return _parse_classic(buf, version)
        except struct.error:  # ran past the bytes read: read more, or the header itself is cut
            if len(buf) < size:
                raise HeaderError("truncated",
                                  "The file ends inside its netCDF header (the header itself is cut).") from None
            size *= 4


def _parse_classic(buf: bytes, version: int) -> int:
    # tight loop on purpose: this runs on every upload and must cost little next to `ncdump -h`
    wide = version == 5  # CDF-5 widens every count/length to 64 bits
    nn = struct.Struct(">Q" if wide else ">I").unpack_from
    u4 = struct.Struct(">I").unpack_from
    begin_fmt = struct.Struct(">I" if version == 1 else ">Q").unpack_from
    step, bstep = (8 if wide else 4), (4 if version == 1 else 8)
    pos = 4
    (numrecs,) = nn(buf, pos)
    pos += step
    if numrecs == (1 << (8 * step)) - 1:  # STREAMING: record count unknown, trust what is there
        numrecs = 0

    def skip_name(p: int) -> int:
        (n,) = nn(buf, p)
        return p + step + ((n + 3) & ~3)

    def skip_attrs(p: int) -> int:
        (tag,), (count,) = u4(buf, p), nn(buf, p + 4)
        if tag not in (0, 0x0C):
            raise HeaderError("not_netcdf", "The netCDF header is corrupt (bad attribute list tag).")
        p += 4 + step
        for _ in range(count):
            p = skip_name(p)
            (nc_type,), (nelems,) = u4(buf, p), nn(buf, p + 4)
            tsize = _TYPE_SIZE.get(nc_type)
            if tsize is None:
                raise HeaderError("not_netcdf", "The netCDF header is corrupt (unknown attribute type).")
            p += 4 + step + ((nelems * tsize + 3) & ~3)
        return p

    (tag,), (ndims,) = u4(buf, pos), nn(buf, pos + 4)
    if tag not in (0, 0x0A):
        raise HeaderError("not_netcdf", "The netCDF header is corrupt (bad dimension list tag).")
    pos += 4 + step
    dim_len: list[int] = []
    for _ in range(ndims):
        pos = skip_name(pos)
        dim_len.append(nn(buf, pos)[0])
        pos += step
    pos = skip_attrs(pos)
    (tag,), (nvars,) = u4(buf, pos), nn(buf, pos + 4)
    if tag not in (0, 0x0B):
        raise HeaderError("not_netcdf", "The netCDF header is corrupt (bad variable list tag).")
    pos += 4 + step
    layout: list[tuple[bool, int, int]] = []  # (is_record, begin, bytes per record or in total)
    for _ in range(nvars):
        pos = skip_name(pos)
        (nd,) = nn(buf, pos)
        pos += step
        ids = [nn(buf, pos + i * step)[0] for i in range(nd)]
        pos = skip_attrs(pos + nd * step)
        (nc_type,) = u4(buf, pos)
        pos += 4 + step  # vsize is skipped: it saturates at 2**32-1 for big variables
        (begin,) = begin_fmt(buf, pos)
        pos += bstep
        try:
            is_record = bool(ids) and dim_len[ids[0]] == 0
            count = 1
            for i in ids[1:] if is_record else ids:
                count *= dim_len[i]
        except IndexError:
            raise HeaderError("not_netcdf", "The netCDF header is corrupt (unknown dimension id).") from None
        layout.append((is_record, begin, count * _TYPE_SIZE.get(nc_type, 1)))
    rec_sizes = [size for is_rec, _, size in layout if is_rec]
    # one record variable alone is not padded; several are each padded to 4 bytes
    recsize = rec_sizes[0] if len(rec_sizes) == 1 else sum((s + 3) & ~3 for s in rec_sizes)
    end = pos
    for is_rec, begin, size in layout:
        if is_rec:
            if numrecs:
                end = max(end, begin + (numrecs - 1) * recsize + size)
        else:
            end = max(end, begin + size)
    return end


def _hdf5_eof(fh: BinaryIO, base: int) -> int:
    """The end-of-file address recorded in an HDF5 superblock starting at ``base``."""
    fh.seek(base)
    sb = fh.read(96)
    version = sb[8]
    if version in (0, 1):
        osize = sb[13]
        start = 24 + (4 if version == 1 else 0)
        eof_at = start + 2 * osize
    else:
        osize = sb[9]
        eof_at = 12 + 2 * osize
    return base + int.from_bytes(sb[eof_at:eof_at + osize], "little")


def _hdf5_base(fh: BinaryIO, size: int) -> int | None:
    """Where the HDF5 superblock is (0, 512, 1024, … as the spec allows), or None when not HDF5."""
    base = 0
    while base + 8 <= size:
        fh.seek(base)
        if fh.read(8) == HDF5_SIGNATURE:
            return base
        base = 512 if base == 0 else base * 2
    return None


def _chars(var: Any) -> tuple[str, ...]:
    """Decode a (Time, DateStrLen) char variable into strings, tolerating zeros from a cut file."""
    raw = np.asarray(var[:])
    if raw.ndim != 2:
        return ()
    return tuple(bytes(row.tobytes()).replace(b"\x00", b"").decode("ascii", "replace").strip() for row in raw)


def _scalars(ds: netCDF4.Dataset) -> dict[str, float]:
    """First-record values of the small (Time)-only variables the start-up checks compare."""
    out: dict[str, float] = {}
    for name in SCALAR_VARIABLES:
        var = ds.variables.get(name)
        if var is None or var.ndim != 1 or var.shape[0] < 1:
            continue
        try:
            out[name] = float(np.asarray(var[0]).item())
        except (RuntimeError, ValueError, IndexError):
            continue  # unreadable value: the truncation check reports the cause
    return out


# The netCDF-C library is not thread-safe, and the API reads headers from its worker threads (uploads,
# URL fetches, setup): every in-process netCDF access takes this lock.
NETCDF_LOCK = threading.RLock()


def read_header(path: str | os.PathLike[str]) -> FileHeader:
    """Read a netCDF file's header (never its big fields) into a ``FileHeader``; raise ``HeaderError``."""
    with NETCDF_LOCK:
        return _read_header(Path(path))


def _read_header(path: Path) -> FileHeader:
    p = path
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise HeaderError("unreadable", f"The file {p.name} cannot be read: {exc.strerror}.") from exc
    if size == 0:
        raise HeaderError("empty_file", f"The file {p.name} is empty (0 bytes).")
    with p.open("rb") as fh:
        magic = fh.read(4)
        expected: int | None
        if magic in _CLASSIC_MAGIC:
            expected = _classic_layout(fh, _CLASSIC_MAGIC[magic])
            is_hdf5 = False
        else:
            base = _hdf5_base(fh, size)
            if base is None:
                raise HeaderError(
                    "not_netcdf",
                    f"The file {p.name} is not a netCDF file (it starts with neither 'CDF' nor the HDF5 signature).",
                )
            expected = _hdf5_eof(fh, base)
            is_hdf5 = True
    if is_hdf5 and size < expected:
        raise HeaderError(
            "truncated",
            f"The file {p.name} is truncated: it has {size} bytes but its HDF5 superblock says {expected}.",
        )
    try:
        ds = netCDF4.Dataset(str(p), "r")
    except OSError as exc:
        raise HeaderError("not_netcdf", f"The file {p.name} could not be opened as netCDF: {exc}.") from exc
    try:
        dims = {name: len(d) for name, d in ds.dimensions.items()}
        if is_hdf5:
            try:
                ds.getncattr("_NCProperties")
                written_by_netcdf = True
            except AttributeError:
                written_by_netcdf = False
            if not written_by_netcdf and (not dims or any(n.startswith("phony_dim_") for n in dims)):
                raise HeaderError(
                    "hdf5_not_netcdf",
                    f"The file {p.name} is an HDF5 file that was not written by netCDF (no netCDF dimensions).",
                )
        attributes: dict[str, Any] = {name: ds.getncattr(name) for name in ds.ncattrs()}
        variables: dict[str, VariableInfo] = {}
        times: tuple[str, ...] = ()
        extra: dict[str, tuple[str, ...]] = {}
        for name, var in ds.variables.items():
            dt = "S1" if var.dtype == np.dtype("S1") else str(np.dtype(var.dtype))
            variables[name] = VariableInfo(name, tuple(var.dimensions), tuple(var.shape), dt)
            if dt == "S1" and var.ndim == 2 and var.dimensions[1] == "DateStrLen":
                try:
                    decoded = _chars(var)
                except (RuntimeError, ValueError):
                    decoded = ()
                if name == "Times":
                    times = decoded
                elif name.startswith("md___"):
                    extra[name] = decoded
        attributes[SCALARS_KEY] = _scalars(ds)
        unlimited = tuple(name for name, d in ds.dimensions.items() if d.isunlimited())
        data_format = ds.data_model
    except (RuntimeError, KeyError, UnicodeDecodeError) as exc:  # odd HDF5 types, corrupt metadata
        raise HeaderError("unreadable_header", f"The header of {p.name} could not be read: {exc}.") from exc
    finally:
        ds.close()
    return FileHeader(
        path=str(p),
        data_format=data_format,
        file_size=size,
        expected_min_size=expected,
        dimensions=dims,
        unlimited_dimensions=unlimited,
        attributes=attributes,
        variables=variables,
        times=times,
        extra_times=extra,
    )

