"""Free-threaded CPython (docs/free-threading.md): the compiled modules declare
that they use the GIL, since what relies on it has not been changed yet."""

import os
import pathlib
import re
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


@pytest.mark.skipif(
    not FREE_THREADED,
    reason="not a free-threaded interpreter (Py_GIL_DISABLED unset): the GIL is always on, "
    "so it cannot show a module's declaration",
)
def test_importing_the_fast_path_turns_the_gil_on():
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "before = sys._is_gil_enabled()\n"
        "import pool._fastpath\n"
        "print(before, sys._is_gil_enabled(), pool._fastpath.ACTIVE)\n"
    )
    # the interpreter's own default (GIL off), and the fast path active
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_GIL", "POOL_NO_FAST")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    ).stdout.split()
    assert out == ["False", "True", "True"], out


def _init_function(source: str, name: str) -> str:
    start = source.index(f"PyMODINIT_FUNC PyInit_{name}(void)")
    return source[start : source.index("\n}\n", start)]


def test_the_fast_path_declares_that_it_uses_the_gil():
    init = _init_function((ROOT / "csrc/python/fast.c").read_text(), "_fast")
    declared = re.findall(r"PyUnstable_Module_SetGIL\(\s*m\s*,\s*(\w+)\s*\)", init)
    assert declared == ["Py_MOD_GIL_USED"], declared
    # and only where the call exists: a free-threaded build
    guard = init.index("#ifdef Py_GIL_DISABLED")
    assert guard < init.index("PyUnstable_Module_SetGIL") < init.index("#endif", guard)


@pytest.mark.parametrize("name", ["numpy_handler", "pymem_hook"])
def test_the_glue_modules_do_not_declare_running_without_the_gil(name):
    # no declaration: CPython then assumes the module needs the GIL
    source = (ROOT / f"csrc/python/{name}.c").read_text()
    assert "Py_MOD_GIL_NOT_USED" not in source
    assert "Py_mod_gil" not in source
