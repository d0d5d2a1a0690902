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


def _glue(tmp_path, text):
    source = tmp_path / "g.c"
    source.write_text(text)
    return source, _jit.build(source, "g", [])


def test_an_unchanged_glue_is_found_without_hashing_its_files_again(tmp_path, monkeypatch):
    source, out = _glue(tmp_path, "int g(void) { return 1; }\n")
    assert list(out.parent.glob("g-*.key"))  # the memo of the files' state
    read_bytes = type(source).read_bytes

    def no_contents(path):
        if path.suffix in (".c", ".h"):
            raise AssertionError(f"{path} hashed again")
        return read_bytes(path)

    monkeypatch.setattr(type(source), "read_bytes", no_contents)
    assert _jit.build(source, "g", []) == out


def test_a_changed_glue_is_rebuilt(tmp_path):
    """A stale glue is never loaded: any change of the source (here the same size,
    so only its modification time tells) is hashed again, and a new glue built."""
    source, first = _glue(tmp_path, "int g(void) { return 1; }\n")
    stat = source.stat()
    source.write_text("int g(void) { return 2; }\n")  # same size
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = _jit.build(source, "g", [])
    assert second != first and second.exists()
    # and back: the first contents map to the first glue again
    source.write_text("int g(void) { return 1; }\n")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))
    assert _jit.build(source, "g", []) == first
