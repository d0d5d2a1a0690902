"""CPython's own allocator domains on a pool: ``pool.pymem.install()``.

install(domains=("obj",)) puts a pool under PyMem_SetAllocator's object domain
(and, if asked, the mem domain) at run time: requests of 1..128 bytes come from
the pool (hook_pool() is a read-only view of it), everything else and every
free/realloc of a block the pool does not own (objects made before the
switch) go to the allocator it replaced.  uninstall() stops new allocations
from the pool; the hook itself stays, because the pool's blocks may still be
freed.  `python -m pool run` runs a program with the hook from the start.
The glue (csrc/python/pymem_hook.c) is compiled at first use (pool/_jit.py).  Not
combined with PYTHONMALLOC=debug (refused); if tracemalloc is tracing at
install time it is restarted so that its hook stays outermost (its earlier
traces are lost).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _jit
from ._forksafe import ForkSafeLock
from ._pool_c import ffi, lib
from .errors import PoolMemoryError

if TYPE_CHECKING:  # imported by the first hook_pool(): `pool run` needs neither
    from ._readonly import HookPoolView

SOURCE = _jit.glue_source("pymem_hook.c")
DOMAINS = {"mem": 1, "obj": 2}  # PyMemAllocatorDomain values

_lock = ForkSafeLock()  # the hook pool's creation, and its view's
_module: Any = None
_handle: Any = None  # the hook pool's cffi 'sgi_pool *', never destroyed
_view: HookPoolView | None = None


def _glue() -> Any:
    global _module
    if _module is None:  # compiled with no lock held (pool/_jit.py)
        _module = _jit.glue(SOURCE, "_pymem_hook", [])  # the core: from the C API capsule
    return _module


def _gil_serialises_domains() -> bool:
    """True where CPython calls the object and mem domains only from the one
    thread that holds the process's one GIL (as pymalloc assumes): CPython
    before 3.12.  From 3.12 interpreters can have their own GIL, and 3.13 has a
    build without one: there the hook pool takes its lock."""
    return sys.implementation.name == "cpython" and sys.version_info < (3, 12)


def hook_pool() -> HookPoolView:
    """A read-only view (options, stats(), state()) of the pool behind the
    hooks: align 16 (as pymalloc), unchecked; thread-safe (its lock) except
    where the GIL already serialises every call of the domains (CPython before
    3.12, _gil_serialises_domains()): there the pool's bare fast paths, as
    pymalloc runs under the GIL with no lock of its own.  Created once and
    never closed: its blocks are Python objects, so the Pool itself is not
    handed out (close() on it would free every object placed there)."""
    global _view
    handle = _hook_handle()
    with _lock:
        if _view is None:
            from ._readonly import HookPoolView
            from .core import Pool

            _view = HookPoolView(Pool._adopt(handle))
        return _view


def _hook_handle() -> Any:
    """The hook pool's C handle, made with cffi alone: pool.core (the Pool
    class, its fast path and validation, a millisecond and a half of every
    `python -m pool run`'s start) is imported by the first hook_pool().  Never
    destroyed: objects are freed through it until the end."""
    global _handle
    with _lock:
        if _handle is None:
            opts = ffi.new("sgi_pool_options *")
            lib.sgi_pool_options_init(opts)  # Pool()'s defaults, then the hook's options
            opts.align, opts.checked = 16, 0
            opts.thread_safe = int(not _gil_serialises_domains())
            handle = lib.sgi_pool_create(opts)
            if handle == ffi.NULL:
                raise PoolMemoryError("cannot create a pool: out of memory")
            _handle = handle
        return _handle


def _debug_hooks() -> bool:
    return "debug" in os.environ.get("PYTHONMALLOC", "") or bool(sys.flags.dev_mode)


def install(domains: Sequence[str] = ("obj",)) -> None:
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown or not domains:
        raise ValueError(
            f"pool.pymem.install: domains must be some of {sorted(DOMAINS)}, got {list(domains)!r}"
        )
    if _debug_hooks():
        raise RuntimeError(
            "pool.pymem.install: not supported under Python's debug memory "
            "hooks (PYTHONMALLOC=debug or -X dev)"
        )
    glue = _glue()
    address = int(ffi.cast("uintptr_t", _hook_handle()))
    # the C module's functions, which the tracemalloc module re-exports: its Python part
    # (pickle, fnmatch, linecache) is not needed here, in every `python -m pool run`
    import _tracemalloc

    frames = _tracemalloc.get_traceback_limit() if _tracemalloc.is_tracing() else 0
    if frames:
        _tracemalloc.stop()  # so that tracemalloc's hook wraps ours again when restarted
    try:
        for d in domains:
            glue.install(DOMAINS[d], address)
    finally:
        if frames:
            _tracemalloc.start(frames)


def uninstall(domains: Sequence[str] = ("obj", "mem")) -> None:
    """New blocks of these domains come from the replaced allocator again."""
    if _module is None:
        return
    for d in domains:
        _module.stop(DOMAINS[d])


def _plain_run_args(argv: Sequence[str]) -> tuple[bool, bool, str | None, list[str]] | None:
    """(stats, mem, module, target) of a command line that needs no argparse: the
    options exactly --stats, --mem or -m NAME (NAME not starting with '-'), then
    SCRIPT [ARGS] or, after -m, ARGS starting with a word that does not start with
    '-' (argparse's REMAINDER takes everything from there).  None for anything
    else (--help, an abbreviation, --, a usage error, ...): argparse decides, as
    before.  tests/integrations/test_pymem.py checks that both agree."""
    stats = mem = False
    module: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--stats":
            stats = True
        elif arg == "--mem":
            mem = True
        elif arg == "-m" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            i += 1
            module = argv[i]
        elif arg.startswith("-"):
            return None
        else:
            break
        i += 1
    target = list(argv[i:])
    if module is None and not target:
        return None
    return stats, mem, module, target


def _parse_run_args(argv: Sequence[str]) -> tuple[bool, bool, str | None, list[str]]:
    """run_main's command line through argparse (pool._cli.Parser)."""
    import argparse

    from ._cli import Parser

    parser = Parser(
        prog="python -m pool run",
        description="Run a Python program with CPython's object allocator domain on an SGI "
        "pool (pool.pymem).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m pool run --stats script.py\n"
        "  python -m pool run -m test test_list test_dict",
    )
    parser.add_argument("--stats", action="store_true", help="print the pool's stats at exit")
    parser.add_argument("--mem", action="store_true", help="the mem domain too")
    parser.add_argument("-m", dest="module", help="run a module, as python -m")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="SCRIPT [ARGS] or ARGS")
    args = parser.parse_args(argv)
    if args.module is None and not args.target:
        parser.error("give -m MODULE or a SCRIPT")
    return args.stats, args.mem, args.module, args.target


def run_main(argv: Sequence[str] | None = None) -> int:
    """python -m pool run [--stats] [--mem] (-m MODULE | SCRIPT) [ARGS ...]"""
    import runpy

    from ._guard import runnable

    argv = sys.argv[1:] if argv is None else list(argv)
    # argparse only where it has something to decide: its import (with gettext and
    # locale) is a third of a MiB and a millisecond and a half of every run's start
    parsed = _plain_run_args(argv)
    stats, mem, module, target = _parse_run_args(argv) if parsed is None else parsed
    problem = runnable(module, target[0] if module is None else None)
    if problem is not None:  # one line and python's status, before the hook goes in
        message, status = problem
        print(f"python -m pool run: {message}", file=sys.stderr)
        return status
    install(("obj", "mem") if mem else ("obj",))
    if stats:
        import atexit

        atexit.register(_print_stats)
    status = 0
    try:
        if module is not None:
            sys.argv = [module, *target]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(target)
            runpy.run_path(target[0], run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if not isinstance(code, int) and code is not None:
            print(code, file=sys.stderr)
    return status


def _print_stats() -> None:
    st = hook_pool().stats()
    live = sum(c.live for c in st.classes)
    print(
        f"pool run: heap {st.heap_size} bytes in {st.chunks} chunks, {live} live small blocks",
        file=sys.stderr,
    )
