"""Compiles a small C-API glue module at first use (pool.numpy, pool.pymem) with
gcc (or $CC) into a cache directory ($POOL_CACHE_DIR, else ~/.cache/pool), keyed by
a hash of the source, the core's headers it includes, extra key text and the
Python version (hashed once per state of those files: _path); loads it.  The
compiler's warnings are shown (as a RuntimeWarning) and an implicit
declaration is an error: a function missing from the headers must fail here,
not as an undefined symbol at load.  The
glue takes the core's functions from the C API capsule (pool._capi) when it
is loaded.

`glue()` runs the compiler with no lock held: a compiler run takes about a
second, and a fork from another thread meanwhile must neither wait for it nor
leave the child a lock held by a thread it does not have.  Two threads may
then compile the same module at once (each into its own temporary file; the
rename is atomic); only the loading is serialised, by a fork-safe lock."""

from __future__ import annotations

import importlib.machinery
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._forksafe import ForkSafeLock

# The cache key's sha256 without hashlib: hashlib loads OpenSSL's libcrypto, several
# MiB of RSS in every `python -m pool run` (measured: 3.6 MiB of the empty script's
# peak); CPython's own _sha256 (3.11; _sha2 from 3.12) computes the same digest.
# The compiler's modules (subprocess, sysconfig, warnings) are imported in build(),
# when a glue is not in the cache yet.
if TYPE_CHECKING:  # (no stubs for the C modules: typed as hashlib's)
    from hashlib import sha256 as _sha256
else:
    try:
        from _sha256 import sha256 as _sha256
    except ImportError:
        try:
            from _sha2 import sha256 as _sha256
        except ImportError:  # an interpreter built without them (PyPy: hashlib only)
            from hashlib import sha256 as _sha256

_load_lock = ForkSafeLock()
_loaded: dict[Path, Any] = {}  # path of a compiled glue -> its configured module


def glue(
    source: Path,
    name: str,
    includes: list[str],
    configure: Callable[[Any], None] | None = None,
    key_text: str = "",
) -> Any:
    """The glue module compiled from source, loaded and configured once per
    process (callers keep it: each call hashes the source)."""
    path = build(source, name, includes, key_text)  # no lock held: see above
    with _load_lock:
        module = _loaded.get(path)
        if module is None:
            module = load(path, name)
            if configure is not None:
                configure(module)
            _loaded[path] = module
        return module


def cache_dir() -> Path:
    root = os.environ.get("POOL_CACHE_DIR") or os.path.join(Path.home(), ".cache", "pool")
    return Path(root)


# Compiler flags, part of the cache key (a changed flag compiles again).
# -fno-plt: the glue's calls into libc (numpy's large data: malloc and free)
# jump through the GOT instead of a PLT stub on another page; measured on
# np.empty(1000) create-and-drop, 10 interleaved process pairs: 0.98x numpy's
# default handler set in the context with it, 1.02x without (docs/integrations.md).
FLAGS = ("-shared", "-fPIC", "-O2", "-fno-plt", "-std=c11")


def _path(source: Path, name: str, key_text: str) -> Path:
    """The glue's path in the cache, named by a hash of the contents of its
    source and the core's headers (an upgraded core rebuilds the glue), the key
    text and the Python version.  The contents are hashed once per state of the
    files: a small memo file, named by a hash of their paths, sizes,
    modification times (ns) and inodes (Python's own check of a .pyc is mtime
    and size), holds the name; a file changed in any of these is hashed again."""
    files = [source, *(_find(header) for header in HEADERS)]
    key_text = f"{key_text}{' '.join(FLAGS)}"
    stamp = f"{key_text}{sys.version}"
    for f in files:
        st = f.stat()
        stamp += f"\0{f}\0{st.st_mtime_ns}\0{st.st_size}\0{st.st_ino}"
    memo = cache_dir() / f"{name}-{_sha256(stamp.encode()).hexdigest()[:16]}.key"
    try:
        known = memo.read_text()
        if known.startswith(f"{name}-") and os.sep not in known:
            return memo.parent / known
    except OSError:
        pass
    key = _sha256(source.read_bytes() + f"{key_text}{sys.version}".encode())
    for f in files[1:]:
        key.update(f.read_bytes())
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    out = cache_dir() / f"{name}-{key.hexdigest()[:16]}{suffix}"
    from ._atomic import atomic_open  # (a memo miss only)

    try:  # atomic: a concurrent reader sees the whole name or no memo
        memo.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(memo) as written:
            written.write(out.name)
    except OSError:  # a read-only cache: hashed again next time
        pass
    return out


def build(source: Path, name: str, includes: list[str], key_text: str = "") -> Path:
    out = _path(source, name, key_text)
    if out.exists():
        return out
    import subprocess
    import sysconfig
    import warnings

    out.parent.mkdir(parents=True, exist_ok=True)
    # per process and thread: two threads may compile the same glue at once
    tmp = out.with_name(f"{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    cc = os.environ.get("CC", "gcc")
    cmd = [
        cc,
        *FLAGS,
        "-Wall",
        "-Wextra",
        "-Werror=implicit-function-declaration",
        f"-I{sysconfig.get_paths()['include']}",
        *[f"-I{d}" for d in [*glue_includes(), *includes]],
        str(source),
        "-o",
        str(tmp),
    ]
    try:
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise ImportError(
            f"pool: could not compile {source.name} ({' '.join(cmd)}):\n{detail}"
        ) from None
    if done.stderr.strip():  # compiled, but the compiler had something to say
        warnings.warn(
            f"pool: compiling {source.name} ({' '.join(cmd)}):\n{done.stderr}",
            RuntimeWarning,
            stacklevel=2,
        )
    os.replace(tmp, out)
    return out


def load(path: Path, name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The headers the glue includes: the C API capsule's table and the core's header.
HEADERS = ("sgi_pool_capi.h", "sgi_pool.h")


def _glue_folders() -> list[Path]:
    """Where the glue and its headers are: pool/include in an installed wheel;
    csrc and csrc/python in a source checkout (an editable install; csrc first,
    so that the core's real header is the one hashed, not csrc/python's forwarder)."""
    package = Path(__file__).resolve().parent
    if (package / "include").is_dir():
        return [package / "include"]
    return [package.parent / "csrc", package.parent / "csrc" / "python"]


def include_folder() -> Path:
    """The one folder with sgi_pool_capi.h and sgi_pool.h (pool.get_include())."""
    return _find("sgi_pool_capi.h").parent


def _find(name: str) -> Path:
    for folder in _glue_folders():
        if (folder / name).exists():
            return folder / name
    raise ImportError(
        f"pool: the glue file {name} is missing (neither pool/include nor "
        "csrc/ holds it: reinstall the package)"
    )


def glue_includes() -> list[str]:
    return [str(folder) for folder in _glue_folders()]


def glue_source(name: str) -> Path:
    """A first-use glue source (csrc/python/NAME, shipped as pool/include/NAME)."""
    return _find(name)
