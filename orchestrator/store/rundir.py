"""Staging a WRF run directory atomically: build it beside the target, then swap it in.

A crash at any point leaves either the old directory or the new one, plus a ``<id>.staging-*`` or
``<id>.old-*`` leftover that the next setup (or delete) removes.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from orchestrator.store.models import utcnow

MANIFEST_NAME = "cloudrun-manifest.json"


def _link_or_copy(src: Path, dest: Path) -> str:
    """Hard-link an input into the run directory (no copy of multi-GB files); copy across file systems."""
    try:
        os.link(src, dest)
        return "hardlink"
    except OSError:
        shutil.copy2(src, dest)
        return "copy"


def stage_run_directory(target: Path, *, inputs: dict[str, Path], namelist_text: str, build: Any,
                        namelist: dict[str, Any], version: str) -> dict[str, Any]:
    """(Re)build ``target`` with the inputs under their WRF names, namelist.input, the static tables the
    physics needs (symlinks into the build's run/ directory) and a manifest. Returns the manifest."""
    from orchestrator.wrf.builds import tables_for_physics

    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f"{target.name}.staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staging = target.parent / f"{target.name}.staging-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        staged_inputs = {}
        for name, src in sorted(inputs.items()):
            staged_inputs[name] = {"source": src.name, "how": _link_or_copy(src, staging / name),
                                   "size": src.stat().st_size}
        (staging / "namelist.input").write_text(namelist_text)
        tables_dir = Path(build.tables_dir)
        wanted = tables_for_physics(namelist, version)
        available = {p.name for p in tables_dir.iterdir()} if tables_dir.is_dir() else set()
        linked = []
        for name in sorted(available if wanted is None else set(wanted) & available):
            (staging / name).symlink_to(tables_dir / name)
            linked.append(name)
        manifest = {
            "created": utcnow().isoformat(timespec="seconds"),
            "version": version,
            "build": {"label": build.label, "emulator": bool(build.emulator), "exe": str(build.exe),
                      "tables_dir": str(tables_dir)},
            "inputs": staged_inputs,
            "tables": linked,
            "tables_missing": sorted(set(wanted or []) - available),
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        old = None
        if target.exists():
            old = target.parent / f"{target.name}.old-{secrets.token_hex(4)}"
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return manifest
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
