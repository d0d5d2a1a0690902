"""What the run was measured on (CPU, compiler, libraries), for the report."""

import contextlib
import os
import platform
import sys
from pathlib import Path

# ---- machine -----------------------------------------------------------------------------


def machine_info() -> dict[str, object]:
    info: dict[str, object] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "cpu_model": None,
        "loadavg": None,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with contextlib.suppress(OSError):
        info["loadavg"] = list(os.getloadavg())
    try:
        import cffi

        info["cffi"] = cffi.__version__
    except ImportError:
        pass
    return info
