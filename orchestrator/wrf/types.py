"""Plain data shared by the pure WRF modules: what a netCDF header holds, and a problem found in it.

These are the currency between the I/O edge (``orchestrator.wrf.headers.read_header`` opens a file with
netCDF4 and returns a ``FileHeader``) and the pure checks (input validation, namelist derivation,
namelist-vs-input consistency), which take ``FileHeader`` values and never touch the disk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How bad a problem is: an ``error`` blocks setup, a ``warning`` is shown but does not."""

    error = "error"
    warning = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding about the inputs or the namelist, in words a scientist understands.

    ``code`` is machine-readable (e.g. ``dimension_mismatch``), ``file`` names the input it concerns
    (``wrfinput_d01``, ``namelist.input``) or is ``None`` for the run as a whole, ``message`` is the
    sentence shown to the user; ``wrf_message`` optionally quotes what wrf.exe itself would print.
    """

    code: str
    message: str
    file: str | None = None
    severity: Severity = Severity.error
    wrf_message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used in API error details and file details."""
        out: dict[str, Any] = {
            "code": self.code,
            "file": self.file,
            "severity": self.severity.value,
            "message": self.message,
        }
        if self.wrf_message:
            out["wrf_message"] = self.wrf_message
        return out


@dataclass(frozen=True)
class VariableInfo:
    """A netCDF variable's name, dimension names, shape and dtype (as a numpy dtype string or 'S1')."""

    name: str
    dimensions: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class FileHeader:
    """Everything the checks need from one netCDF file, read from its header without the big fields.

    ``times`` are the decoded ``Times`` records (``YYYY-MM-DD_HH:MM:SS``); ``extra_times`` holds other
    small char time variables by name (wrfbdy's ``md___thisbdytime...`` / ``md___nextbdytime...``).
    ``file_size`` is the size on disk, ``expected_min_size`` the smallest size the header's layout
    implies (the end of the last variable's data for the records present): a file shorter than that
    was truncated. ``data_format`` is netCDF4's ``data_model`` (``NETCDF3_64BIT_OFFSET``, ...).
    """

    path: str
    data_format: str
    file_size: int
    expected_min_size: int | None
    dimensions: dict[str, int]
    unlimited_dimensions: tuple[str, ...]
    attributes: dict[str, Any]
    variables: dict[str, VariableInfo]
    times: tuple[str, ...] = ()
    extra_times: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def attr(self, name: str, default: Any = None) -> Any:
        """A global attribute, with numpy scalars turned into plain Python values."""
        value = self.attributes.get(name, default)
        if hasattr(value, "item") and getattr(value, "shape", None) == ():
            return value.item()
        if hasattr(value, "tolist") and getattr(value, "size", 0) == 1:
            return value.tolist()[0]
        return value
