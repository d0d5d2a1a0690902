"""Writing output files atomically: every file the package writes (traces,
JSON, figures, text pictures) goes through `replacing()` or `atomic_open()`.

The data goes to a temporary file beside the target, which is renamed over
the target only once it is complete: a reader never sees half a file, a
failure leaves the previous file as it was, and an output that is also being
read (the same file, or a link to it) keeps its old contents until the end.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import IO, Any


def _target(path: str | os.PathLike[str]) -> str:
    # through a symlink to the file it names, as opening path for writing would
    return os.path.realpath(os.fspath(path))


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yields the name of a new, empty temporary file in path's directory;
    once the block ends without an exception, the temporary file replaces
    path (keeping an existing file's permission bits), else it is removed."""
    target = _target(path)
    directory, name = os.path.split(target)
    fd, tmp = -1, ""
    for attempt in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{attempt}.tmp")
        try:
            # 0o666: the umask applies, as for a file open() creates
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"{directory}: no free temporary name for {name}")
    os.close(fd)
    try:
        yield tmp
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        with open(tmp, "rb") as f:  # on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """open(path, mode, **kwargs) for writing ("w" or "wb"), through replacing()."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', got {mode!r}")
    with replacing(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether a and b name one existing file (also through hard or symbolic links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def refuse_input(output: str | os.PathLike[str], *inputs: str | os.PathLike[str]) -> None:
    """ValueError if output is one of the inputs: writing it would destroy
    what is being read."""
    for source in inputs:
        if same_file(output, source):
            shown = (
                f"{os.fspath(output)!r}"
                if os.fspath(output) == os.fspath(source)
                else f"{os.fspath(output)!r} (the same file as {os.fspath(source)!r})"
            )
            raise ValueError(f"the output {shown} is an input: refusing to overwrite it")
