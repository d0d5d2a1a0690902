"""The one macro through which the core gives chunks back (POOL_CHUNK_RELEASE,
which the LD_PRELOAD build defines for its own range).  sgi_pool_trim from
plain C is in tests/c/test_capi.c (trim_calls), which test_c_api.py runs
optimised and under the validating build."""

import pathlib
import subprocess

from test_c_api import CSRC, ROOT, WARNINGS, build_program


def test_every_chunk_goes_back_through_pool_chunk_release(tmp_path):
    hook = ROOT / "tests" / "c" / "chunk_release_hook.h"
    exe = build_program(
        tmp_path, ROOT / "tests" / "c" / "chunk_release.c", "-O1", "-include", str(hook)
    )
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stdout + out.stderr


def test_a_trim_forgets_the_checked_hints(tmp_path):
    """A checked pool's fast allocate sets the live bit where the last fast
    free of its class left it (pool_state.h's hints): a trim that releases
    that chunk must forget them, or a chunk later obtained at the same
    address gets a block whose live bit went to the released chunk's bitmap
    (tests/c/checked_hints.c; chunks from the test's slots, so the address
    comes back)."""
    hook = ROOT / "tests" / "c" / "chunk_reuse_hook.h"
    flags = ["gcc", "-std=c11", "-D_GNU_SOURCE", "-O2", *WARNINGS, f"-I{ROOT / 'csrc'}"]
    objects = []
    for source in CSRC:  # the hook in sgi_pool.c alone: its chunk requests
        obj = tmp_path / (pathlib.Path(source).stem + ".o")
        extra = ["-include", str(hook)] if source.endswith("sgi_pool.c") else []
        subprocess.run([*flags, *extra, "-c", source, "-o", str(obj)], check=True)
        objects.append(str(obj))
    exe = tmp_path / "checked_hints"
    program = ROOT / "tests" / "c" / "checked_hints.c"
    subprocess.run([*flags, str(program), *objects, "-pthread", "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stdout + out.stderr
