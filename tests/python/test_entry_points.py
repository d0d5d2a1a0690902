"""The command line as a user meets it: shipped traces by short name from any
folder, every entry point listed and helpful, usage errors in one line before
any work, Ctrl-C without a traceback, the `pool` script and `--version`, and
what the benchmark's C++ section compiles shipped in the wheel.  (The
installed wheel itself is checked by scripts/check_package.sh, in CI.)"""

import ast
import importlib.util
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

import pool
from pool.__main__ import COMMANDS, MODULES
from pool.traces import read_trace
from pool.traces.shipped import shipped

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pool"


def run(*args, cwd, timeout=300, **kwargs):
    """python ARGS from cwd, importing this checkout's package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def one_line_error(proc, status=2):
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stdout == "", "work was done before the argument was refused"
    return proc.stderr.strip()


# ---- shipped traces by short name -------------------------------------------------------


def test_the_shipped_traces_have_short_names():
    assert {"sqlite3", "gcc-cc1", "python3"} <= set(shipped())


def test_replay_of_a_shipped_trace_by_its_short_name_from_another_folder(tmp_path):
    # (--check too: the README's command, run by the test of the README's commands)
    proc = run("-m", "pool", "replay", "sqlite3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ops = len(read_trace(shipped()["sqlite3"]))
    assert f"operations        {ops} " in proc.stdout
    proc = run("-m", "pool", "show", "sqlite3", "--at", "50", "--text", cwd=tmp_path)
    assert proc.returncode == 0 and "after 50 operations" in proc.stdout, proc.stderr


def test_a_file_wins_over_a_shipped_traces_short_name(tmp_path):
    (tmp_path / "sqlite3").write_text("a 1 8\nf 1\n")
    proc = run("-m", "pool", "replay", "sqlite3", cwd=tmp_path)
    assert proc.returncode == 0 and "operations        2 " in proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("replay", "typo.trace"),
        ("show", "typo.trace", "--text"),
        ("traces", "replay", "typo.trace"),
        ("bench", "--trace", "typo.trace", "--only", "python", "--no-progress"),
    ],
)
def test_a_trace_that_is_neither_a_file_nor_a_short_name_is_refused_first(tmp_path, args):
    err = one_line_error(run("-m", "pool", *args, cwd=tmp_path))
    assert "typo.trace: no such file, nor a shipped trace" in err
    assert all(name in err for name in shipped())


def test_traces_lists_every_shipped_trace_with_its_operations(tmp_path):
    proc = run("-m", "pool", "traces", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name, path in shipped().items():
        [row] = [line for line in proc.stdout.splitlines() if line.split()[:1] == [name]]
        assert int(row.split()[1]) == len(read_trace(path)), row
    assert "python -m pool replay sqlite3 --check" in proc.stdout


# ---- every entry point ------------------------------------------------------------------


def entry_modules():
    """Every module of the package that runs as `python -m MODULE`."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if path.name == "__main__.py":
            found.add(module.rsplit(".", 1)[0])
        elif re.search(r'^if __name__ == "__main__":', path.read_text(), re.M):
            # (a package's __init__ never runs as __main__: only its __main__.py does)
            assert path.name != "__init__.py", f"{path}: dead code"
            found.add(module)
    return sorted(found)


def test_every_entry_point_is_listed_by_the_top_level_help():
    """A module that runs on its own is a command of `python -m pool` (its
    module, or the package whose __main__ runs it) or listed under MODULES."""
    help_text = run("-m", "pool", "--help", cwd=ROOT).stdout
    command_modules = {target.split(":")[0] for _, target in COMMANDS.values()}
    for module in entry_modules():
        if module == "pool":
            continue
        as_command = any(m == module or m.startswith(module + ".") for m in command_modules)
        assert as_command or f"python -m {module} " in help_text, f"{module} is not listed"
    for module in MODULES:
        assert module in entry_modules(), f"--help lists {module}, which does not run"


@pytest.mark.parametrize("module", entry_modules())
def test_every_entry_point_answers_help_with_status_0(module):
    proc = run("-m", module, "--help", cwd=ROOT, timeout=120)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stdout.startswith("usage:"), proc.stdout
    assert proc.stderr == ""


ENTRY_ARGS = [
    ("pool", "demo"),
    ("pool", "bench"),
    ("pool", "diff"),
    ("pool", "replay", "sqlite3"),
    ("pool", "show"),
    ("pool", "preload"),
    ("pool", "traces", "replay", "sqlite3"),
    ("pool", "traces", "convert", "a", "b"),
    ("pool.bench.programs",),
    ("pool.bench.numpy_arrays",),
    ("pool.bench.plot", "a.json", "b.png"),
]


@pytest.mark.parametrize("args", ENTRY_ARGS, ids=" ".join)
def test_an_unknown_option_is_one_line_and_status_2(tmp_path, args):
    err = one_line_error(run("-m", *args, "--no-such-option", cwd=tmp_path))
    assert "unrecognized arguments: --no-such-option" in err and "--help" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (("pool.bench.programs", "--repeats", "0"), "--repeats: must be at least 1"),
        (("pool.bench.numpy_arrays", "--repeats", "-3"), "--repeats: must be at least 1"),
        (("pool", "diff", "--profile", "nope"), "unknown profile 'nope'"),
        (("pool", "traces", "nope"), "unknown command 'nope'"),
        (("pool.bench.plot", "only-one.json"), "the following arguments are required: OUT"),
    ],
)
def test_bad_values_are_refused_before_any_work(tmp_path, args, message):
    assert message in one_line_error(run("-m", *args, cwd=tmp_path))


def test_version():
    proc = run("-m", "pool", "--version", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"pool {pool.__version__} from {PACKAGE}")


def test_the_pool_script_runs_the_command_line(monkeypatch, capsys):
    """[project.scripts] names pool.__main__:console_script, which is python -m pool."""
    text = (ROOT / "pyproject.toml").read_text()
    [target] = re.findall(r'^pool = "([\w.:]+)"', text, re.M)
    module, function = target.split(":")
    script = getattr(importlib.import_module(module), function)
    monkeypatch.setattr(sys, "argv", ["pool", "--version"])
    assert script() == 0
    assert capsys.readouterr().out.startswith(f"pool {pool.__version__} ")


def test_ctrl_c_ends_quietly(tmp_path):
    """As python reports an interrupted program to the shell (killed by SIGINT),
    without the traceback."""
    script = tmp_path / "wait.py"
    # short sleeps: CPython (3.11) does not look for a signal that came after its last
    # check and before the sleep's system call began, so a single time.sleep(60) can
    # sleep on through a Ctrl-C sent right after 'ready' (seen under load: 2 runs in 6);
    # a slice of 50 ms handles it at the next check, as python itself would
    script.write_text(
        "import time\nprint('ready', flush=True)\nfor _ in range(1200):\n    time.sleep(0.05)\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-m", "pool", "run", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGINT, (child.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


# ---- README's commands ----------------------------------------------------------------


def _readme_commands():
    spec = importlib.util.spec_from_file_location(
        "readme_commands", ROOT / "scripts" / "readme_commands.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_commands_without_placeholders():
    proc = run(str(ROOT / "scripts" / "readme_commands.py"), "--list", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.splitlines()
    assert "python -m pool replay sqlite3 --check" in listed and "pool --version" in listed


@pytest.mark.slow  # scripts/check_package.sh runs every README command in CI too
def test_the_readmes_quick_commands_run_from_another_folder(tmp_path):
    """The README's commands that need neither matplotlib nor a minute, from an
    empty folder (scripts/check_package.sh runs all of them on the wheel)."""
    readme = _readme_commands()
    quick = [
        c
        for c in readme.commands((ROOT / "README.md").read_text())
        if not {"bench", "diff", "--plot", "-o"} & set(c.split())
        and not (" show" in c and "--text" not in c)
    ]
    assert len(quick) >= 6, quick
    for command in quick:
        # this checkout's package: `python -m pool ...`, and `pool ...` as what the
        # console script runs (scripts/check_package.sh runs the installed script)
        words = shlex.split(command)
        args = words[1:] if words[0] == "python" else ["-m", "pool", *words[1:]]
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 0, (command, proc.stderr)


# ---- the C++ benchmark's sources, shipped -----------------------------------------------


def test_the_wheel_ships_what_the_cxx_benchmark_compiles(tmp_path, monkeypatch):
    """build_pool.py's BuildPy copies SHIPPED_BENCH_SOURCES under pool/bench/csrc:
    containers.cpp, every unit containers.py compiles, and every file they
    include, so pool.bench.containers finds them without a checkout."""
    sys.path.insert(0, str(ROOT))
    try:
        import build_pool
    finally:
        sys.path.remove(str(ROOT))
    from pool.bench import containers

    shipped_dir = tmp_path / "pool" / "bench" / "csrc"
    for source in build_pool.SHIPPED_BENCH_SOURCES:
        target = shipped_dir / pathlib.Path(source).relative_to(build_pool.CSRC)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / source, target)
    units = sorted(p.name for p in (ROOT / "csrc").glob("*.c"))
    assert sorted(p.name for p in shipped_dir.glob("*.c")) == units
    for path in [*shipped_dir.rglob("*.c"), *shipped_dir.rglob("*.h"), *shipped_dir.rglob("*.cpp")]:
        for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', path.read_text(), re.M):
            assert (path.parent / name).exists() or (shipped_dir / name).exists(), (path, name)
    # no checkout: the shipped copy is what the section compiles
    monkeypatch.setattr(containers, "SOURCE_DIRS", (tmp_path / "no-checkout", shipped_dir))
    assert containers.find_sources() == shipped_dir
    monkeypatch.setattr(containers, "SOURCE_DIRS", (tmp_path / "no-checkout",))
    assert containers.find_sources() is None
    assert "sources are missing" in containers.run_containers({}, "cpu", None)["skipped"]


def test_each_command_module_parses_with_the_one_line_parser():
    """Every argparse parser of the package is pool._cli.Parser (one-line errors)."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "ArgumentParser"
            ):
                pytest.fail(f"{path.relative_to(ROOT)}: argparse.ArgumentParser, not Parser")
