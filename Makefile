# The project's tasks, run in the current Python environment (make a venv and
# `pip install -e ".[test,dev]"` first).  `make help` lists them.
PYTHON ?= python

.PHONY: help install tests slow sanitize valgrind fuzz bench lint format typecheck package demo

help:  ## this list
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## editable install with the test and dev tools
	$(PYTHON) -m pip install -e ".[test,dev]"

tests:  ## the default suite (what CI runs first; about 70 s on 2 workers, 0.5 GiB)
	$(PYTHON) -m pytest

slow:  ## the long campaigns only (marker slow; about 4 min, 16 GiB for numpy's own suite)
	$(PYTHON) -m pytest -n 0 --runslow -m slow

sanitize:  ## the suite against an ASan + UBSan build of the extension (CI runs it)
	bash scripts/sanitize.sh

valgrind:  ## the suite under memcheck (slow; needs Debian's valgrind)
	bash scripts/valgrind.sh

fuzz:  ## the atheris fuzzer for 5 minutes (FUZZ_SECONDS=3600 for longer)
	bash fuzz/run.sh $${FUZZ_SECONDS:-300}

bench:  ## the benchmark suite, quick profile
	$(PYTHON) -m pool bench --quick

lint:  ## ruff check and ruff format --check (CI runs both)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format:  ## ruff format the tree
	$(PYTHON) -m ruff format .

package:  ## sdist, a wheel from it, installed and imported in a fresh venv (CI runs it)
	bash scripts/check_package.sh

typecheck:  ## mypy --strict on the package (also a test: tests/python/test_typing.py, slow; CI runs both)
	$(PYTHON) -m mypy

demo:  ## the worked example, live
	$(PYTHON) -m pool demo
