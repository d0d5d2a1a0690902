"""pool.pymem and `python -m pool run`: CPython's object domain on a pool.

Each case runs in a child interpreter: the hook cannot be removed from a process."""

import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pool._pool_c")
if platform.python_implementation() != "CPython":
    pytest.skip("CPython's allocator hooks only", allow_module_level=True)
if shutil.which(os.environ.get("CC", "gcc")) is None:
    pytest.skip("no C compiler: pool.pymem compiles its glue at first use", allow_module_level=True)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("POOL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "pool-cache"))


def python(*args, env=None, timeout=300):
    environ = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=environ, timeout=timeout
    )


@pytest.mark.not_under_sanitizer(
    "CPython's own regression tests take minutes under the ASan preload"
)
@pytest.mark.slow  # CPython's own regression tests
def test_cpython_regression_tests_pass_on_the_pool():
    tests = ["test_list", "test_dict", "test_set", "test_tuple", "test_json", "test_string"]
    done = python("-m", "pool", "run", "--stats", "-m", "test", *tests)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Result: SUCCESS" in done.stdout
    found = re.search(r"pool run: heap (\d+) bytes in (\d+) chunks, (\d+) live", done.stderr)
    assert found, done.stderr[-1000:]
    assert int(found.group(1)) > 1_000_000  # the pool really served the objects


def test_install_keeps_older_objects_and_uninstall_stops_serving():
    code = textwrap.dedent("""\
        import pool.pymem as pm
        before = [str(i) * 3 for i in range(10000)]
        pm.install()
        p = pm.hook_pool()
        after = [str(i) * 3 for i in range(10000)]
        heap = p.stats().heap_size
        assert heap > 0
        del before  # freed through the hook to the replaced allocator
        after = [s + "x" for s in after]
        pm.uninstall()
        live = sum(c.live for c in p.stats().classes)
        later = [str(i) * 5 for i in range(10000)]
        assert sum(c.live for c in p.stats().classes) <= live  # nothing new from the pool
        del after  # pool blocks freed after uninstall: still handled
        print("ok", heap)
    """)
    done = python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


def test_tracemalloc_keeps_working_on_top():
    code = textwrap.dedent("""\
        import tracemalloc, pool.pymem as pm
        tracemalloc.start(3)
        pm.install()
        assert tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == 3
        data = [object() for _ in range(20000)]
        snap = tracemalloc.take_snapshot()
        size = sum(s.size for s in snap.statistics("filename"))
        assert size > 20000 * 16, size
        print("ok")
    """)
    done = python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_refusals():
    done = python("-c", "import pool.pymem as pm; pm.install()", env={"PYTHONMALLOC": "debug"})
    assert done.returncode != 0 and "debug memory hooks" in done.stderr
    done = python("-c", "import pool.pymem as pm; pm.install(('raw',))")
    assert done.returncode != 0 and "domains must be some of" in done.stderr
    done = python("-m", "pool", "run")
    assert done.returncode == 2 and "give -m MODULE or a SCRIPT" in done.stderr


def test_the_hook_pool_has_the_hooks_options():
    """The hook pool is made with cffi alone (pool.core stays out of `pool run`'s
    start); hook_pool()'s Pool, adopted later, reads its options back from C."""
    code = textwrap.dedent("""\
        import sys
        import pool.pymem as pm
        from pool import Pool
        pm.install()
        p = pm.hook_pool()
        default = Pool()
        assert (p.align, p.checked, p.max_small) == (16, False, default.max_small), p
        assert p.thread_safe == (not pm._gil_serialises_domains()), p
        assert p.heap_limit is None and pm.hook_pool() is p
        assert sum(c.live for c in p.stats().classes) > 0  # the pool the hook serves from
        print("ok")
    """)
    done = python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_run_passes_the_exit_status_and_arguments(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("import sys; print(sys.argv[1:]); sys.exit(3)")
    done = python("-m", "pool", "run", str(script), "a", "b")
    assert done.returncode == 3 and done.stdout.strip() == "['a', 'b']"


def test_the_hook_pool_cannot_be_closed_or_used(tmp_path):
    """Issue 20 row 4: hook_pool() is a read-only view; close() on the live Pool
    used to free every Python object placed there (SIGSEGV under `run`)."""
    script = tmp_path / "s.py"
    script.write_text(
        textwrap.dedent("""\
        import pool.pymem as pm
        p = pm.hook_pool()
        objects = [str(i) * 3 for i in range(10000)]  # on the pool
        for name in ("close", "allocate", "deallocate", "allocate_many", "reallocate",
                     "buffer", "deallocate_many"):
            try:
                getattr(p, name)
            except AttributeError as e:
                assert "read-only" in str(e) and repr(name) in str(e), e
            else:
                raise SystemExit(f"{name} is available on the hook pool")
        try:
            p.heap_limit = 1
        except AttributeError:
            pass
        else:
            raise SystemExit("heap_limit could be set")
        assert p.stats().heap_size > 0 and not p.closed and p.align == 16
        assert pm.hook_pool() is p
        objects = [s + "x" for s in objects]  # the pool still serves and frees
        print("ok", len(objects))
    """)
    )
    done = python("-m", "pool", "run", str(script))
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    assert done.stdout.strip() == "ok 10000"


# what `python -m pool run` must not import before the program runs (issue 23): the
# model, the drawing code, the benchmarks, OpenSSL's hashlib (several MiB of RSS: the
# glue's cache key is hashed with _sha256), tracemalloc's Python part (the C module
# _tracemalloc is enough), argparse (a plain command line is read without it), the
# compiler's subprocess/sysconfig (only on a glue cache miss), platform,
# dataclasses with inspect (pool.stats is imported by the first stats()), ctypes
# (pool._fast makes the C API capsule), signal (pool._guard needs it only on Ctrl-C), and
# the Pool class with its fast path and validation (the hook pool is made with cffi alone;
# hook_pool() imports them)
HEAVY = (
    "pool.model",
    "pool.stats",
    "dataclasses",
    "inspect",
    "pool.view",
    "pool.bench",
    "pool.testing",
    "pool.traces",
    "pool.demo",
    "hashlib",
    "_hashlib",
    "tracemalloc",
    "argparse",
    "subprocess",
    "sysconfig",
    "platform",
    "ctypes",
    "signal",
    "pool.core",
    "pool._base",
    "pool._fastpath",
    "pool._validate",
    "pool._readonly",
)


def test_run_imports_only_what_it_needs(tmp_path):
    script = tmp_path / "mods.py"
    script.write_text("import sys; print('\\n'.join(sorted(sys.modules)))")
    python("-m", "pool", "run", str(script))  # compiles the glue (the cache may be empty)
    done = python("-m", "pool", "run", "--stats", str(script))
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(done.stdout.split())
    assert "pool.pymem" in loaded and "_pymem_hook" in loaded  # the run really happened
    heavy = sorted(m for m in loaded if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY)))
    assert not heavy, heavy


def test_run_reads_plain_command_lines_as_argparse_does():
    """run_main reads a plain command line without argparse (pool.pymem._plain_run_args);
    wherever it does, argparse (the Parser that decides everything else) must agree."""
    import itertools
    import random

    from pool.pymem import _parse_run_args, _plain_run_args

    words = ["--stats", "--mem", "-m", "mod", "s.py", "", "-v", "--", "-h", "--st", "-mx"]
    words += ["-1", "a b", "-x y", "--mem=1", "-"]
    lines = [list(c) for n in range(4) for c in itertools.product(words, repeat=n)]
    rng = random.Random(23)
    lines += [rng.choices(words, k=rng.randint(4, 7)) for _ in range(2000)]
    plain = 0
    for argv in lines:
        fast = _plain_run_args(argv)
        if fast is not None:
            plain += 1
            assert _parse_run_args(argv) == fast, argv
    assert plain > 1000  # the plain reading really is taken
    assert _plain_run_args(["--stats", "-m", "test", "test_list", "-v"]) == (
        True,
        False,
        "test",
        ["test_list", "-v"],
    )
    assert _plain_run_args(["s.py", "--stats", "-m", "x"]) == (
        False,
        False,
        None,
        ["s.py", "--stats", "-m", "x"],
    )
    for argv in (["--help"], ["-h"], [], ["--stats"], ["--st", "s.py"], ["-m"], ["-m", "-x"]):
        assert _plain_run_args(argv) is None, argv
