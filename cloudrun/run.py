"""The :class:`Run` object: one WRF run on Cloudrun, with a property for every field of the run object."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterable, Mapping
from urllib.parse import quote

from ._progress import ProgressReader, file_size, progress_wanted, upload_bar
from ._types import BuildInfo, ComputeOption, InputFile, JobInfo, ModelInfo, RunErrorInfo
from .errors import ConfigurationError, UnexpectedResponseError, UnexpectedStatusError, WaitTimeoutError

if TYPE_CHECKING:
    from .client import Cloudrun

__all__ = ["Run", "RUN_FIELDS", "SETTLED_STATUSES"]

#: Every field of the run object (DESIGN.md §2); each has a property of the same name on :class:`Run`.
RUN_FIELDS: tuple[str, ...] = (
    "id",
    "model",
    "status",
    "error",
    "input_files",
    "required_input_files",
    "compute_options",
    "cores",
    "percent_complete",
    "remaining_time",
    "stalled",
    "job",
    "output_files",
    "output_size",
    "disk_usage",
    "time_created",
    "time_started",
    "time_stopped",
    "namelist",
    "build",
    "owner",
)

#: Statuses in which a run stays until someone acts on it; :meth:`Run.wait` stops at these.
SETTLED_STATUSES = frozenset({"done", "error", "stopped", "deleted"})


class Run:
    """One WRF run. Build it with :class:`cloudrun.Cloudrun` (``get_run``, ``create_run``, ``get_all_runs``).

    Every field of the server's run object is a read-only property (``None`` / ``[]`` when the server
    did not send it); the raw JSON is ``run.data``; fields this client does not know are in
    ``run.extra`` and readable as ``run["name"]`` or ``run.get("name")``.
    Actions (``upload``, ``setup``, ``start``, ``stop``, ``delete``, ``refresh``) update the object in
    place from the server's answer and return it (``upload`` returns the new file's id).
    """

    __slots__ = ("_data", "_api")

    def __init__(self, data: Mapping[str, Any], api: Cloudrun | None = None) -> None:
        if not isinstance(data, Mapping) or "id" not in data:
            raise UnexpectedResponseError(f"not a run object: {data!r:.200}")
        self._data: dict[str, Any] = dict(data)
        self._api = api

    # ----------------------------------------------------------------- raw access
    @property
    def data(self) -> dict[str, Any]:
        """The run object exactly as the server last sent it."""
        return self._data

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the server sent that this client version does not know."""
        return {k: v for k, v in self._data.items() if k not in RUN_FIELDS}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """Any field of the raw run object, known or not."""
        return self._data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """A copy of the raw run object."""
        return dict(self._data)

    def __repr__(self) -> str:
        model = self.model or {}
        version = model.get("version") if isinstance(model, Mapping) else None
        text = f"<Run {self.id} {(model.get('name') if isinstance(model, Mapping) else None) or 'wrf'}"
        if version:
            text += f" {version}"
        text += f" {self.status}"
        if self.percent_complete is not None and self.status in ("active", "starting", "stopped"):
            text += f" {self.percent_complete:.0f}%"
        return text + ">"

    # ----------------------------------------------------------------- fields
    @property
    def id(self) -> str:
        """Opaque run id."""
        return str(self._data["id"])

    @property
    def model(self) -> ModelInfo:
        """``{name, version, domains, domain_shape, dx, dy, dt, start_time, end_time, output_interval}``."""
        return self._data.get("model") or {}  # type: ignore[return-value]

    @property
    def status(self) -> str | None:
        """``created``, ``ready``, ``starting``, ``active``, ``stopped``, ``done``, ``error`` or ``deleted``."""
        return self._data.get("status")

    @property
    def error(self) -> RunErrorInfo | None:
        """``None`` or ``{code, message, details}`` describing why the run failed."""
        return self._data.get("error")

    @property
    def input_files(self) -> list[InputFile]:
        """``[{fileid, filename, size, sha256, kind, status, details}]``."""
        return self._data.get("input_files") or []

    @property
    def required_input_files(self) -> list[str]:
        """Input files still missing before setup can succeed."""
        return self._data.get("required_input_files") or []

    @property
    def compute_options(self) -> list[ComputeOption]:
        """``[{cores, nodes, time, cost, recommended}]`` offered by setup."""
        return self._data.get("compute_options") or []

    @property
    def cores(self) -> int | None:
        """Core count chosen at start."""
        return self._data.get("cores")

    @property
    def percent_complete(self) -> float | None:
        """Model progress in percent (``None`` before start)."""
        return self._data.get("percent_complete")

    @property
    def remaining_time(self) -> float | None:
        """Estimated wall time left, seconds (``None`` before start)."""
        return self._data.get("remaining_time")

    @property
    def stalled(self) -> bool:
        """True while an active run's WRF log has not grown for a long time (a flag, not an error)."""
        return bool(self._data.get("stalled"))

    @property
    def job(self) -> JobInfo | None:
        """The scheduler's view: ``{scheduler, job_id, state, reason, exit_code, nodes, ntasks, attempt, ...}``."""
        return self._data.get("job")

    @property
    def output_files(self) -> list[Any]:
        """Files the run produced (wrfout, wrfrst, rsl logs)."""
        return self._data.get("output_files") or []

    @property
    def output_size(self) -> int | None:
        """Total bytes of the output files."""
        return self._data.get("output_size")

    @property
    def disk_usage(self) -> int | None:
        """Bytes the run directory uses."""
        return self._data.get("disk_usage")

    @property
    def time_created(self) -> str | None:
        """UTC ISO 8601 creation time."""
        return self._data.get("time_created")

    @property
    def time_started(self) -> str | None:
        """UTC ISO 8601 time the run last started (``None`` if never)."""
        return self._data.get("time_started")

    @property
    def time_stopped(self) -> str | None:
        """UTC ISO 8601 time the run stopped or ended (``None`` if not)."""
        return self._data.get("time_stopped")

    @property
    def namelist(self) -> str | None:
        """The rendered ``namelist.input`` text (after setup), or ``None``."""
        return self._data.get("namelist")

    @property
    def build(self) -> BuildInfo | None:
        """``{label, emulator}`` of the WRF build used, or ``None``."""
        return self._data.get("build")

    @property
    def owner(self) -> str | None:
        """Owner of the run."""
        return self._data.get("owner")

    # ----------------------------------------------------------------- helpers
    def input_file(self, fileid: str) -> InputFile | None:
        """The entry of ``input_files`` with this ``fileid`` (``None`` if absent)."""
        for entry in self.input_files:
            if entry.get("fileid") == fileid:
                return entry
        return None

    def _path(self, action: str = "") -> str:
        base = f"wrf/{quote(self.id, safe='')}"
        return f"{base}/{action}" if action else base

    def _client(self) -> Cloudrun:
        if self._api is None:
            raise ConfigurationError("this Run is not bound to a Cloudrun client")
        return self._api

    def _update(self, payload: Any) -> Run:
        if not isinstance(payload, Mapping) or "id" not in payload:
            raise UnexpectedResponseError(f"expected a run object, got {payload!r:.200}")
        self._data = dict(payload)
        return self

    # ----------------------------------------------------------------- actions
    def refresh(self) -> Run:
        """Reload the run from the server; returns ``self``."""
        return self._update(self._client()._request("GET", self._path()))

    def upload(
        self,
        file: str | os.PathLike[str] | BinaryIO | None = None,
        *,
        url: str | None = None,
        filename: str | None = None,
        progress: bool | None = None,
    ) -> str:
        """Add an input file: a local ``file`` (path or binary file object) or a remote ``url``.

        A local file is streamed (never read whole into memory); a progress bar is drawn on stderr when
        it is a terminal (``progress=False`` silences it, ``True`` forces it). A file object is sent from
        its start and is not closed. ``filename`` overrides the name sent to the server.
        A ``url`` (http(s), ftp, s3) is fetched by the server in the background: its entry in
        ``input_files`` shows status ``fetching`` until ``ready``/``invalid`` (see :meth:`refresh`).
        Returns the new file's ``fileid``.
        """
        if (file is None) == (url is None):
            raise ConfigurationError("upload() needs exactly one of file=... or url=...")
        api = self._client()
        if url is not None:
            payload = api._request("POST", self._path("upload_url"), data={"url": str(url)})
        elif isinstance(file, (str, os.PathLike)):
            path = Path(file)
            if not path.is_file():
                raise ConfigurationError(f"no such file: {path}")
            with path.open("rb") as fh:
                payload = self._upload_fileobj(fh, filename or path.name, progress)
        else:
            if file is None or isinstance(file, io.TextIOBase) or not hasattr(file, "read"):
                raise ConfigurationError("file must be a path or a file object opened in binary mode ('rb')")
            name = getattr(file, "name", None)
            default = Path(name).name if isinstance(name, (str, os.PathLike)) else "upload"
            payload = self._upload_fileobj(file, filename or default, progress)
        if not isinstance(payload, Mapping):
            raise UnexpectedResponseError(f"unexpected upload answer: {payload!r:.200}")
        if "run" in payload:
            self._update(payload["run"])
        return str(payload.get("fileid"))

    def _upload_fileobj(self, fh: BinaryIO, name: str, progress: bool | None) -> Any:
        with upload_bar(f"upload {name}", file_size(fh), progress_wanted(progress)) as report:
            body = ProgressReader(fh, report)
            files = {"file": (name, body, "application/octet-stream")}
            return self._client()._request("POST", self._path("upload"), files=files)

    def setup(self, namelist: Mapping[str, Mapping[str, Any]] | None = None) -> Run:
        """Validate the inputs and prepare the run (→ ``ready``); returns ``self``.

        ``namelist`` overrides namelist values, e.g. ``{"time_control": {"run_hours": 6}}``.
        Problems with the inputs raise :class:`~cloudrun.errors.BadRequestError` listing them in ``details``.
        """
        body = {"namelist": dict(namelist)} if namelist else None
        return self._update(self._client()._request("POST", self._path("setup"), json=body))

    def start(self, cores: int | None = None) -> Run:
        """Start (or resume) the run on ``cores`` cores (default: the recommended option); returns ``self``."""
        data = {"cores": str(int(cores))} if cores is not None else None
        return self._update(self._client()._request("POST", self._path("start"), data=data))

    def stop(self) -> Run:
        """Stop the run's job (→ ``stopped``); returns ``self``."""
        return self._update(self._client()._request("POST", self._path("stop")))

    def delete(self) -> Run:
        """Cancel any job and delete the run's files (→ ``deleted``, metadata kept); returns ``self``."""
        return self._update(self._client()._request("DELETE", self._path()))

    def wait(
        self,
        status: str | Iterable[str] = "done",
        timeout: float | None = None,
        interval: float = 5.0,
    ) -> Run:
        """Poll until the run's status is ``status`` (one or several); returns ``self``.

        Raises :class:`~cloudrun.errors.UnexpectedStatusError` if the run settles elsewhere (``done``,
        ``error``, ``stopped`` or ``deleted`` not asked for) and :class:`~cloudrun.errors.WaitTimeoutError`
        after ``timeout`` seconds (``None``: no limit).
        """
        wanted = (status,) if isinstance(status, str) else tuple(status)
        if not wanted:
            raise ConfigurationError("wait() needs at least one status")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh()
            if self.status in wanted:
                return self
            if self.status in SETTLED_STATUSES:
                raise UnexpectedStatusError(self, wanted)
            pause = max(0.0, interval)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeoutError(
                        f"run {self.id} still {self.status!r} after {timeout} s (waiting for {', '.join(wanted)})"
                    )
                pause = min(pause, left)
            time.sleep(pause)
