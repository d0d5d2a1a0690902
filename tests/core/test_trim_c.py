"""The one macro through which the core gives chunks back (POOL_CHUNK_RELEASE,
which the LD_PRELOAD build defines for its own range).  sgi_pool_trim from
plain C is in tests/c/test_capi.c (trim_calls), which test_c_api.py runs
optimised and under the validating build."""

import subprocess

from test_c_api import ROOT, build_program


def test_every_chunk_goes_back_through_pool_chunk_release(tmp_path):
    hook = ROOT / "tests" / "c" / "chunk_release_hook.h"
    exe = build_program(
        tmp_path, ROOT / "tests" / "c" / "chunk_release.c", "-O1", "-include", str(hook)
    )
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stdout + out.stderr
