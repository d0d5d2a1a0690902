"""libsgipool.so (LD_PRELOAD): real programs run with identical output on the pool.

Each program runs twice, on glibc's malloc and under the library, and the
outputs must match; POOL_PRELOAD_STATS=1 must then show that the pool really
served allocations.  The programs are Debian packages (sqlite3, lua5.4: .ci/run
installs them); a test skips, saying which, when one is absent.
"""

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pool import preload

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def library():
    try:
        return preload.library_path()
    except FileNotFoundError as error:
        pytest.skip(str(error))


def program(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package: apt-get install -y "
                    f"{name}; .ci/run installs it)")
    return path


def run(argv, library=None, stdin=None, env=None):
    environ = dict(os.environ, **(env or {}))
    environ.pop("LD_PRELOAD", None)
    if library is not None:
        environ["LD_PRELOAD"] = library
        environ["POOL_PRELOAD_STATS"] = "1"
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=environ,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def pool_allocations(stderr):
    """The pool's allocation count from the stats of the (last) process that printed them."""
    counts = re.findall(r"pool: (\d+) allocations", stderr)
    assert counts, f"no POOL_PRELOAD_STATS report in: {stderr[-500:]!r}"
    return int(counts[-1])


def same_output_on_the_pool(argv, library, stdin=None, env=None, least=1000):
    plain = run(argv, stdin=stdin, env=env)
    pooled = run(argv, library, stdin=stdin, env=env)
    assert pooled.stdout == plain.stdout
    assert plain.stdout.strip(), "the workload printed nothing: nothing compared"
    assert pool_allocations(pooled.stderr) >= least
    return pooled


def test_cli_prints_the_library_path(library):
    out = subprocess.run([sys.executable, "-m", "pool", "preload"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == library and out.endswith("libsgipool.so")


def test_library_exports_the_malloc_family_and_nothing_of_the_core(library):
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run([nm, "-D", "--defined-only", library], capture_output=True,
                         text=True, check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert names == {"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
                     "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size"}


def test_no_stats_without_the_variable(library):
    done = subprocess.run(["/bin/true"], capture_output=True, text=True,
                          env=dict(os.environ, LD_PRELOAD=library, POOL_PRELOAD_STATS="0"))
    assert done.returncode == 0 and "sgi_pool preload" not in done.stderr


SQL = textwrap.dedent("""\
    CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, v REAL);
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
      INSERT INTO t(name, grp, v) SELECT 'row-' || i || '-' || hex(i * 7919), i % 37, i * 0.5
      FROM c;
    CREATE INDEX t_name ON t(name);
    UPDATE t SET name = upper(name) WHERE grp % 3 = 0;
    DELETE FROM t WHERE grp = 5;
    SELECT grp, count(*), sum(v), max(name), group_concat(substr(name, 1, 3), '')
      FROM t GROUP BY grp ORDER BY grp;
    SELECT count(DISTINCT name), min(length(name)) FROM t;
""")


def test_sqlite3(library):
    same_output_on_the_pool([program("sqlite3"), ":memory:"], library, stdin=SQL)


LUA = textwrap.dedent("""\
    local t, words = {}, {}
    for i = 1, 60000 do
      t[i] = string.format("%05d:%s", (i * 7919) % 60000, tostring(i * 1.5))
      words[#words + 1] = {key = t[i]:sub(1, 5), n = i}
    end
    table.sort(t)
    table.sort(words, function(a, b) return a.key < b.key or (a.key == b.key and a.n < b.n) end)
    local s = table.concat(t, ",", 1, 200)
    local counts = {}
    for w in s:gmatch("%d+") do counts[#w] = (counts[#w] or 0) + 1 end
    local keys = {}
    for k, v in pairs(counts) do keys[#keys + 1] = k .. "=" .. v end
    table.sort(keys)
    print(#t, t[1], t[#t], words[1].n, words[#words].n, #s, table.concat(keys, " "))
    local g = s:gsub("(%d)(%d)", "%2%1")
    print(#g, g:sub(1, 60))
    collectgarbage()
""")


def test_lua(library):
    same_output_on_the_pool([program("lua5.4"), "-"], library, stdin=LUA)


PYTHON = textwrap.dedent("""\
    import ast, json, threading, hashlib
    source = open(ast.__file__).read()
    tree = ast.parse(source)
    dumped = ast.dump(tree)
    data = [{"k": i, "s": str(i) * (i % 7), "l": list(range(i % 11))} for i in range(20000)]
    text = json.dumps(data, sort_keys=True)
    assert json.loads(text) == data
    results = [None] * 4
    def work(t):
        d = {}
        for i in range(30000):
            d[(t, i % 997)] = [str(i), (i, t)]
        results[t] = sum(len(v[0]) for v in d.values())
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads: th.start()
    for th in threads: th.join()
    print(len(dumped), hashlib.sha256(text.encode()).hexdigest(), results)
""")


def test_python3_with_threads(library):
    # PYTHONMALLOC=malloc: CPython's objects go through malloc too (not only its buffers)
    python = shutil.which("python3") or sys.executable
    same_output_on_the_pool([python, "-c", PYTHON], library, env={"PYTHONMALLOC": "malloc"},
                            least=100_000)


def test_threaded_c_program_and_every_entry_point(library, tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    exe = tmp_path / "threads"
    subprocess.run([gcc, "-std=c11", "-O2", str(HERE / "preload" / "threads.c"), "-o", str(exe),
                    "-lpthread"], check=True)
    pooled = same_output_on_the_pool([str(exe)], library, least=10_000)
    assert "failures 0" in pooled.stdout


def test_library_compiles_without_warnings(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    root = HERE.parent
    sys.path.insert(0, str(root))
    try:
        import build_pool
    finally:
        sys.path.remove(str(root))
    done = subprocess.run(
        [gcc, "-std=c11", "-O2", "-fPIC", "-shared", "-D_GNU_SOURCE", "-Werror", "-Wall",
         "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", *build_pool.PRELOAD_FLAGS, "-Icsrc",
         "csrc/preload/sgi_preload.c", *build_pool.CORE_SOURCES,
         "-o", str(tmp_path / "libsgipool.so"),
         "-ldl", "-lpthread"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
