"""The C core on its own: plain C11, no Python, zero warnings."""

import os
import pathlib
import shutil
import signal
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CSRC = sorted(str(p) for p in (ROOT / "csrc").glob("*.c"))
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror"]

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc"),
    # these build and run their own (sanitized) programs; under scripts/sanitize.sh's
    # preloaded ASan runtime TSan and plain builds cannot run
    pytest.mark.not_under_sanitizer("builds its own sanitized programs; runs in the normal suite"),
]


_built: dict[tuple[str, ...], pathlib.Path] = {}  # (program, flags) -> its executable


def build_program(tmp_path, program, *flags):
    """The program built with the core and these flags; built once per run
    (several tests run the same build with other arguments)."""
    key = (str(program), *flags)
    if key not in _built:
        exe = tmp_path / program.stem
        subprocess.run(
            [
                "gcc",
                "-std=c11",
                "-D_GNU_SOURCE",
                *flags,
                f"-I{ROOT / 'csrc'}",
                *CSRC,
                str(program),
                "-o",
                str(exe),
            ],
            check=True,
        )
        _built[key] = exe
    return _built[key]


CAPI = ROOT / "tests" / "c" / "test_capi.c"


def run(exe, env=None):
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "all checks passed" in result.stdout


def test_core_compiles_without_warnings():
    for src in CSRC:
        subprocess.run(
            ["gcc", "-std=c11", "-D_GNU_SOURCE", "-O2", *WARNINGS, "-c", src, "-o", "/dev/null"],
            check=True,
        )


def test_header_has_no_python_and_works_from_cpp(tmp_path):
    for path in [*(ROOT / "csrc").glob("*.[ch]"), *(ROOT / "csrc").glob("*.cdef")]:
        assert "Python.h" not in path.read_text()
    if shutil.which("g++"):
        src = tmp_path / "use.cpp"
        src.write_text(
            '#include "sgi_pool.h"\nint main() { sgi_pool *p = sgi_pool_create(nullptr);'
            " void *b = sgi_pool_allocate(p, 8); sgi_pool_deallocate(p, b, 8);"
            " sgi_pool_destroy(p); return b == nullptr; }\n"
        )
        objs = []
        for c in CSRC:
            obj = tmp_path / (pathlib.Path(c).stem + ".o")
            subprocess.run(
                ["gcc", "-std=c11", "-D_GNU_SOURCE", "-c", c, "-o", str(obj)], check=True
            )
            objs.append(str(obj))
        exe = tmp_path / "use"
        subprocess.run(
            ["g++", "-std=c++11", f"-I{ROOT / 'csrc'}", str(src), *objs, "-o", str(exe)], check=True
        )
        subprocess.run([str(exe)], check=True)


def test_c_program_optimised(tmp_path):
    run(build_program(tmp_path, CAPI, "-O2", *WARNINGS[:-1]))


def test_c_program_with_every_pool_on_the_lock(tmp_path):
    """The same checks on the fast paths' locked branches, which a pool's bias
    owner never takes (SGI_POOL_NO_BIAS=1: every pool on the lock): there a
    close() may come between the fast path's first look and its lock (the held
    frees then look again)."""
    exe = build_program(tmp_path, CAPI, "-O2", *WARNINGS[:-1])
    run(exe, {**os.environ, "SGI_POOL_NO_BIAS": "1"})


@pytest.mark.slow  # a sanitizer build of the core (CI runs it with --runslow)
def test_c_program_with_asserts_and_sanitizers(tmp_path):
    run(
        build_program(
            tmp_path,
            CAPI,
            "-O1",
            "-g",
            "-UNDEBUG",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
        )
    )


def test_readme_c_example(tmp_path):
    """The C example in docs/c-api.md compiles warning-free and runs as it says."""
    text = (ROOT / "docs" / "c-api.md").read_text()
    code = text.split("```c\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.c").write_text(code)
    (tmp_path / "csrc").symlink_to(ROOT / "csrc")
    # the build command exactly as the page shows it, run where a reader would
    [command] = [line for line in text.splitlines() if line.startswith("gcc ")]
    assert "csrc/*.c example.c" in command
    subprocess.run(command + " " + " ".join(WARNINGS), shell=True, cwd=tmp_path, check=True)
    out = subprocess.run(
        [str(tmp_path / "example")], capture_output=True, text=True, check=True
    ).stdout
    assert out == "refused: 24-byte block freed as 100 bytes\n"


SANITIZERS = {
    "plain": ["-O2"],
    "asan+ubsan": [
        "-O1",
        "-g",
        "-UNDEBUG",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
    ],
    "tsan": ["-O1", "-g", "-fsanitize=thread"],
}


@pytest.mark.parametrize("checked", ["0", "1"])
@pytest.mark.parametrize(
    "build",
    [b if b == "plain" else pytest.param(b, marks=pytest.mark.slow) for b in sorted(SANITIZERS)],
)
def test_thread_stress_under_sanitizers(tmp_path, build, checked):
    """Many threads on one thread-safe pool with content checks; the sanitizer
    builds report nothing (TSan: no data race)."""
    exe = build_program(
        tmp_path, ROOT / "tests" / "c" / "stress_threads.c", *SANITIZERS[build], "-pthread"
    )
    result = subprocess.run(
        [str(exe), "4", "30000", checked],
        capture_output=True,
        text=True,
        timeout=300,
        env={"TSAN_OPTIONS": "halt_on_error=1 exitcode=66"},
    )
    assert result.returncode == 0, result.stderr
    assert "all blocks intact" in result.stdout
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr


@pytest.mark.slow  # a sanitizer build of the core (CI runs it with --runslow)
def test_asan_sees_use_after_free_of_pool_blocks(tmp_path):
    """In ASan builds free blocks are poisoned, so the sanitizer runs can fail."""
    exe = build_program(
        tmp_path, ROOT / "tests" / "c" / "valgrind" / "uaf.c", "-O1", "-g", "-fsanitize=address"
    )
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "use-after-poison" in result.stderr and "WRITE of size 1" in result.stderr


EDGES = ROOT / "tests" / "c" / "closed_and_null.c"
ASAN = ["-O1", "-g", "-UNDEBUG", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


@pytest.mark.slow  # a sanitizer build of the core (CI runs it with --runslow)
def test_every_entry_point_on_a_closed_pool_allocates_nothing(tmp_path):
    """Reliability issue row 5: a closed pool grows no bookkeeping (the batch
    call used to grow a checked pool's block table after close, which
    LeakSanitizer reported); ASan's leak check is on and must stay quiet."""
    exe = build_program(tmp_path, EDGES, *ASAN)
    result = subprocess.run(
        [str(exe), "closed"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1"},
    )
    assert result.returncode == 0, result.stderr
    assert "all checks passed" in result.stdout
    assert "LeakSanitizer" not in result.stderr


@pytest.mark.slow  # a sanitizer build of the core (CI runs it with --runslow)
def test_batch_free_accepts_a_null_bad_index(tmp_path):
    """Contract edges row 1: bad_index may be NULL (UBSan would stop a store to it)."""
    exe = build_program(tmp_path, EDGES, *ASAN)
    result = subprocess.run([str(exe), "bad-index"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "all checks passed" in result.stdout


@pytest.mark.parametrize(
    "entry", ["allocate", "deallocate", "allocate_many", "reallocate", "get_stats", "block_size"]
)
def test_a_debug_build_asserts_on_a_null_pool(tmp_path, entry):
    """Contract edges row 2: a NULL pool is documented undefined behaviour; a
    debug build (NDEBUG undefined) stops at an assert naming the mistake."""
    exe = build_program(tmp_path, EDGES, "-O0", "-g", "-UNDEBUG")
    result = subprocess.run([str(exe), "null", entry], capture_output=True, text=True, timeout=60)
    assert result.returncode < 0 and -result.returncode == signal.SIGABRT, result
    assert "argument must not be NULL" in result.stderr
    assert "returned" not in result.stdout


def test_validating_build_catches_a_corrupted_pool(tmp_path):
    """-DSGI_POOL_VALIDATE walks the pool's invariants after its calls (the
    sanitizer run of the suite uses it): a double free in an unchecked pool
    (the block pushed on top of itself: a cycle) is reported as invariant V3
    and stops the program; a clean program runs."""
    exe = build_program(
        tmp_path, ROOT / "tests" / "c" / "corrupt_unchecked.c", "-O1", "-g", "-DSGI_POOL_VALIDATE"
    )
    bad = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == -signal.SIGABRT, bad
    assert "invariant V3 broken" in bad.stderr
    good = subprocess.run([str(exe), "clean"], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "all checks passed" in good.stdout, good.stderr


@pytest.mark.parametrize("program", ["test_capi.c", "stress_threads.c"])
def test_c_programs_keep_every_invariant(tmp_path, program):
    """The C programs run under the validating build: no invariant breaks."""
    exe = build_program(
        tmp_path, ROOT / "tests" / "c" / program, "-O1", "-g", "-DSGI_POOL_VALIDATE", "-pthread"
    )
    args = ["2", "3000", "1"] if program == "stress_threads.c" else []
    result = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
