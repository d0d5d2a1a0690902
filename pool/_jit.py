"""Compiles a small C-API glue module at first use (pool.numpy, pool.pymem) with
gcc (or $CC) into a cache directory ($POOL_CACHE_DIR, else ~/.cache/pool), keyed by
a hash of the source, extra key text and the Python version; loads it."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from ._pool_c import ffi, lib


def cache_dir() -> Path:
    root = os.environ.get("POOL_CACHE_DIR") or os.path.join(Path.home(), ".cache", "pool")
    return Path(root)


def build(source: Path, name: str, includes: list[str], key_text: str = "") -> Path:
    """Compiles source (a glue module) against the core's shipped headers and
    `includes`; the cache key covers the source, those headers, key_text and
    the Python version."""
    includes = [*glue_includes(), *includes]
    key = hashlib.sha256(source.read_bytes() + f"{key_text}{sys.version}".encode())
    for header in HEADERS:
        key.update(_find(header).read_bytes())
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    out = cache_dir() / f"{name}-{key.hexdigest()[:16]}{suffix}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    cc = os.environ.get("CC", "gcc")
    cmd = [cc, "-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra",
           f"-I{sysconfig.get_paths()['include']}", *[f"-I{d}" for d in includes],
           str(source), "-o", str(tmp)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise ImportError(f"pool: could not compile {source.name} ({' '.join(cmd)}): "
                          f"{detail}") from None
    os.replace(tmp, out)
    return out


def load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def address(name: str) -> int:
    """The address of one of the core's functions in cffi's copy (pool._pool_c)."""
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))


# The headers the glue includes: the C API capsule's table and the core's header.
HEADERS = ("sgi_pool_capi.h", "sgi_pool.h")


def _glue_folders() -> list[Path]:
    """Where the glue and its headers are: pool/include in an installed wheel;
    csrc/python and csrc in a source checkout (an editable install)."""
    package = Path(__file__).resolve().parent
    if (package / "include").is_dir():
        return [package / "include"]
    return [package.parent / "csrc" / "python", package.parent / "csrc"]


def _find(name: str) -> Path:
    for folder in _glue_folders():
        if (folder / name).exists():
            return folder / name
    raise ImportError(f"pool: the glue file {name} is missing (neither pool/include nor "
                      "csrc/ holds it: reinstall the package)")


def glue_includes() -> list[str]:
    return [str(folder) for folder in _glue_folders()]


def glue_source(name: str) -> Path:
    """A first-use glue source (csrc/python/NAME, shipped as pool/include/NAME)."""
    return _find(name)
