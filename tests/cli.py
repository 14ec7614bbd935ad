"""Running the ``nas`` command line as a user does: a subprocess of this interpreter."""

from __future__ import annotations

import subprocess
import sys


def nas(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=timeout)
