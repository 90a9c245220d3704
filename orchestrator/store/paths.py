"""Where a run's files live under the storage root, and removing them."""
from __future__ import annotations

import shutil
from pathlib import Path


def uploads_dir(storage_root: Path, run_id: str) -> Path:
    """Uploaded and fetched inputs of a run, as the user gave them."""
    return storage_root / "uploads" / run_id


def run_dir(storage_root: Path, run_id: str) -> Path:
    """The staged WRF run directory (inputs linked in, namelist.input, tables, job script, outputs)."""
    return storage_root / "runs" / run_id


def remove_run_files(storage_root: Path, run_id: str) -> None:
    """Delete everything a run stored (uploads and run directory); metadata stays in the database."""
    for path in (uploads_dir(storage_root, run_id), run_dir(storage_root, run_id)):
        shutil.rmtree(path, ignore_errors=True)
        # a staging leftover of an interrupted setup
        for leftover in path.parent.glob(f"{run_id}.*"):
            shutil.rmtree(leftover, ignore_errors=True)


def disk_usage(path: Path) -> int:
    """Bytes used by files under ``path`` (0 when absent)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
