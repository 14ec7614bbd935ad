"""Running the ``nas`` command line as a user does: a subprocess of this interpreter."""

from __future__ import annotations

import os
import subprocess
import sys


def nas(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``nas ARGS`` with this environment plus ``env``."""
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
