"""pool/_jit.py: the first-use compiler shows what the compiler says."""

import os
import shutil

import pytest

from pool import _jit

if shutil.which(os.environ.get("CC", "gcc")) is None:
    pytest.skip("no C compiler", allow_module_level=True)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POOL_CACHE_DIR", str(tmp_path / "cache"))


def test_a_compiler_warning_is_shown(tmp_path):
    source = tmp_path / "warns.c"
    source.write_text("static int unused_function(void) { return 1; }\nint visible = 2;\n")
    with pytest.warns(RuntimeWarning, match=r"(?s)compiling warns\.c.*unused_function"):
        out = _jit.build(source, "warns", [])
    assert out.exists()


def test_an_implicit_declaration_fails_the_build_instead_of_the_load(tmp_path):
    source = tmp_path / "implicit.c"
    source.write_text("int f(void) { return not_declared_anywhere(); }\n")
    with pytest.raises(ImportError, match=r"(?s)could not compile implicit\.c.*not_declared"):
        _jit.build(source, "implicit", [])
