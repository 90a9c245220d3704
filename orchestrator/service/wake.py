"""Waking the daemon when the API records an intent: touch a file in the storage root (every process on the
head node shares it; the daemon checks its mtime four times a second)."""
from __future__ import annotations

import os
from pathlib import Path

from orchestrator.core.config import Settings


def wake_path(settings: Settings) -> Path:
    """The file whose mtime signals new intents."""
    return settings.storage_root / "daemon.wake"


def notify_daemon(settings: Settings) -> None:
    """Signal the daemon (best effort: the periodic poll picks the intent up anyway)."""
    path = wake_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a"):
            os.utime(path, None)
    except OSError:
        pass
