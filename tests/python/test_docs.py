"""Every fenced ```python and ```sh block of README.md and docs/ runs as
written, alone, in a fresh process.

Python blocks run under `-W error::ResourceWarning` (a warning raised in a
destructor is only printed, so stderr is checked too).  Shell blocks run
under `bash -e` in an empty folder that links the repository's top-level
entries, with `python` this interpreter, so the paths the docs name resolve
and the files they write land in the test's folder.

An HTML comment on the line before a fence (invisible on the rendered
page) tells the runner more about the block:

    <!-- doc-test: slow -->               a long block: runs only with --runslow
    <!-- doc-test: needs numpy sqlite3 --> skipped (saying which) without one of
                                           these modules or programs (fast-path:
                                           pool._fast, off with POOL_NO_FAST=1)
    <!-- doc-test: file example.c -->     not run: written as this file for the
                                           shell blocks of the same page
    <!-- doc-test: output -->             the output the block before prints
                                           (doctest's `...` matches anything)
"""

from __future__ import annotations

import doctest
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = ("python", "sh")
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!-- doc-test: (\w+)\s*(.*?)\s*-->$")
TIMEOUT = 300  # seconds a block may take
SLOW_TIMEOUT = 1800  # a slow one: it may install the package and run the whole suite


@dataclass
class Block:
    page: pathlib.Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    markers: dict[str, list[str]] = field(default_factory=dict)
    output: str | None = None  # the output block that follows, if marked
    files: dict[str, str] = field(default_factory=dict)  # the page's `file` blocks

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: pathlib.Path) -> list[Block]:
    """The page's fenced blocks, with their markers, in order."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = i + 1
        while not lines[end].startswith("```"):
            end += 1
        markers: dict[str, list[str]] = {}
        k = i - 1
        while k >= 0 and MARKER.match(lines[k]):
            mm = MARKER.match(lines[k])
            assert mm is not None
            markers[mm.group(1)] = mm.group(2).split()
            k -= 1
        found.append(Block(page, i + 1, m.group(1), "\n".join(lines[i + 1 : end]) + "\n", markers))
        i = end + 1
    files = {b.markers["file"][0]: b.text for b in found if "file" in b.markers}
    for before, after in zip(found, found[1:]):
        if "output" in after.markers:
            before.output = after.text
    for block in found:
        block.files = files
    return found


def runnable() -> list[Block]:
    return [
        b
        for page in PAGES
        for b in blocks(page)
        if b.lang in RUNNABLE and "file" not in b.markers and "output" not in b.markers
    ]


def _param(block: Block) -> object:
    marks = [pytest.mark.slow] if "slow" in block.markers else []
    return pytest.param(block, id=block.name, marks=marks)


def _missing(needs: list[str]) -> list[str]:
    """What of needs is absent: a module, a program, or `fast-path` (pool._fast,
    off under POOL_NO_FAST=1)."""
    from pool import _fastpath

    missing = [
        name
        for name in needs
        if (not _fastpath.ACTIVE if name == "fast-path" else shutil.which(name) is None)
        and (name == "fast-path" or importlib.util.find_spec(name) is None)
    ]
    if "matplotlib" in needs and os.environ.get("POOL_UNDER_SANITIZER"):
        # scripts/sanitize.sh preloads ASan, under which matplotlib's C++ extension
        # (ft2font) fails; the figures are drawn in the normal runs
        missing.append("matplotlib without the ASan preload")
    return missing


def _workdir(tmp_path: pathlib.Path, block: Block) -> pathlib.Path:
    """A folder that sees the repository's top-level entries, and the page's
    files.  A block that installs the package (pip install -e .) gets a
    copy of the tracked files instead of links, to build there."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    if _installs(block):
        tracked = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
        for name in filter(None, tracked.split("\0")):
            if (ROOT / name).is_file():
                (cwd / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, cwd / name)
    else:
        for entry in ROOT.iterdir():
            if entry.name != ".git":
                (cwd / entry.name).symlink_to(entry)
    for name, text in block.files.items():
        (cwd / name).write_text(text)
    return cwd


def _installs(block: Block) -> bool:
    return "pip install" in block.text


def _env(tmp_path: pathlib.Path, block: Block) -> dict[str, str]:
    """`python` on PATH is this interpreter, and `import pool` finds this
    tree; for a slow block, a venv of its own (on top of this interpreter's
    packages) for a block that installs, so that what it installs never
    reaches the running environment."""
    bindir = tmp_path / "bin"
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    if _installs(block):
        venv = tmp_path / "venv"
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True
        )
        bindir = venv / "bin"
        env["VIRTUAL_ENV"] = str(venv)
    else:
        bindir.mkdir()
        (bindir / "python").symlink_to(sys.executable)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_every_page_has_runnable_blocks_and_known_markers():
    seen = [b for page in PAGES for b in blocks(page)]
    assert {b.page for b in runnable()} >= {ROOT / "README.md"}
    for b in runnable():  # installing is long, and runs only in the block's own venv
        assert not _installs(b) or "slow" in b.markers, b.name
    for b in seen:
        assert set(b.markers) <= {"slow", "needs", "file", "output"}, b.name
        assert b.lang in RUNNABLE or not (set(b.markers) - {"file", "output"}), b.name


def test_the_runner_fails_a_leaking_block(tmp_path):
    """What the runner counts as a failure: an arena closed while an object
    holds its memory warns (-W error::ResourceWarning)."""
    text = "from pool import Arena\narena = Arena()\nkept = arena.buffer(8)\narena.close()\n"
    leaky = Block(ROOT / "README.md", 0, "python", text)
    with pytest.raises(AssertionError, match="ResourceWarning"):
        _run(leaky, tmp_path / "a")
    wrong = Block(ROOT / "README.md", 0, "sh", "echo 2\n", output="1\n")
    with pytest.raises(AssertionError, match="the page shows"):
        _run(wrong, tmp_path / "b")


@pytest.mark.parametrize("block", [_param(b) for b in runnable()])
def test_block_runs_as_written(block, tmp_path):
    missing = _missing(block.markers.get("needs", []))
    if missing:
        pytest.skip(f"{block.name} needs {', '.join(missing)}")
    _run(block, tmp_path)


def _run(block: Block, tmp_path: pathlib.Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    cwd = _workdir(tmp_path, block)
    if block.lang == "python":
        argv = [sys.executable, "-W", "error::ResourceWarning", "-c", block.text]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.text]
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=_env(tmp_path, block),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SLOW_TIMEOUT if "slow" in block.markers else TIMEOUT,
    )
    report = f"{block.name} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    assert "ResourceWarning" not in done.stderr, report
    if block.output is not None:
        checker = doctest.OutputChecker()
        assert checker.check_output(block.output, done.stdout, doctest.ELLIPSIS), (
            f"{block.name} printed\n{done.stdout}\nthe page shows\n{block.output}"
        )
