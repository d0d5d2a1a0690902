"""Runs every `python -m pool ...` and `pool ...` command that README.md shows,
from a fresh temporary folder, and fails when one exits non-zero.

    python scripts/readme_commands.py --list
    python scripts/readme_commands.py [--python PYTHON] [--skip WORD ...]

Commands are the lines of ```sh blocks (each part of an `a && b`, without
its `# comment`) and the inline code spans of the prose (not of tables,
which name commands rather than show them).  `python` runs as PYTHON
(default: this interpreter) and `pool` as the console script beside it, so
that scripts/check_package.sh runs them against the installed package of a
fresh venv, with no checkout on the path.  A command with a placeholder
(TRACE, N, [...]) is an error: the README shows commands a user can paste.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_STARTS = ("python -m pool", "pool ")
_PLACEHOLDER = re.compile(r"\[|\]|\b(TRACE|N|FILE|OPTS|ARGS|COMMAND)\b")


def commands(text: str) -> list[str]:
    """The README's commands, in order, each once."""
    found: list[str] = []
    in_sh = in_other = False
    prose: list[str] = []

    def take(command: str) -> None:
        command = " ".join(command.split())
        if command.startswith(_STARTS) and command not in found:
            found.append(command)

    def flush_prose() -> None:
        for span in re.findall(r"`([^`]+)`", " ".join(prose)):
            take(span)
        prose.clear()

    for line in text.splitlines():
        if line.startswith("```"):
            flush_prose()
            if in_sh or in_other:
                in_sh = in_other = False
            elif line.strip() in ("```sh", "```bash", "```shell", "```console"):
                in_sh = True
            else:
                in_other = True
            continue
        if in_sh:
            for part in line.split("#", 1)[0].split("&&"):
                take(part.strip())
        elif not in_other:
            if not line.strip() or line.lstrip().startswith("|"):
                flush_prose()  # a paragraph ends; table rows name commands, not show them
            else:
                prose.append(line.strip())
    flush_prose()
    return found


def argv_for(command: str, python: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "python":
        return [python, *words[1:]]
    script = Path(python).parent / words[0]  # the console script beside the interpreter
    if script.exists():
        return [str(script), *words[1:]]
    return [python, "-m", "pool", *words[1:]]  # a checkout: what the script runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run")
    parser.add_argument(
        "--skip", nargs="*", default=[], metavar="WORD", help="skip commands with this word"
    )
    args = parser.parse_args(argv)
    found = commands(README.read_text(encoding="utf-8"))
    bad = [c for c in found if _PLACEHOLDER.search(c)]
    if bad:
        print(f"README.md shows commands with placeholders: {bad}", file=sys.stderr)
        return 1
    if args.list:
        print("\n".join(found))
        return 0
    env = dict(os.environ)
    failed = skipped = 0
    for command in found:
        if any(word in command.split() for word in args.skip):
            print(f"skipped  {command}")
            skipped += 1
            continue
        with tempfile.TemporaryDirectory(prefix="pool-readme-") as folder:
            start = time.monotonic()
            proc = subprocess.run(
                argv_for(command, args.python),
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=900,
            )
            seconds = time.monotonic() - start
        status = "ok" if proc.returncode == 0 else f"EXIT {proc.returncode}"
        print(f"{status:<8} {command}  ({seconds:.1f} s)", flush=True)
        if proc.returncode != 0:
            failed += 1
            print("  " + "\n  ".join((proc.stderr or proc.stdout).strip().splitlines()[-10:]))
    ran = len(found) - skipped
    print(
        f"readme_commands: {ran - failed} of {ran} README.md commands succeeded ({skipped} skipped)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
