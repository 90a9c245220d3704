"""Named crash points for crash-safety tests: with CLOUDRUN_FAILPOINTS=before_sbatch (comma list) the
process kills itself with SIGKILL when it reaches that point. Unset in production: a no-op."""
from __future__ import annotations

import os
import signal


def hit(name: str) -> None:
    """Die here, at once and without cleanup, if the test asked for it."""
    wanted = os.environ.get("CLOUDRUN_FAILPOINTS", "")
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
