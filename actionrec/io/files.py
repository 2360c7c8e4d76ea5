"""Atomic file writes: whatever the user keeps (model files, reports, videos) appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import ActionrecError, BusyError


def nearest_existing(path: str | os.PathLike[str]) -> Path | None:
    """The nearest of `path`'s parents that exists (a folder, or a file where a folder should be), or None."""
    return next((parent for parent in Path(path).parents if parent.exists()), None)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    target = Path(target)
    if target.exists() and not target.is_file():  # /dev/null, a FIFO, /dev/stdout: write straight through
        yield target
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual mode
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def writing(target: str | os.PathLike[str]) -> Iterator[None]:
    """An OSError in the block (disk full, a read-only folder, a missing one) becomes one line naming `target` and
    the reason: "out.json: cannot write: No space left on device" (an `ActionrecError`, exit code 1)."""
    try:
        yield
    except OSError as e:
        raise ActionrecError(f"{os.fspath(target)}: cannot write: {e.strerror or e}") from None


@contextlib.contextmanager
def exclusive(target: str | os.PathLike[str], what: str = "output") -> Iterator[None]:
    """Hold an exclusive lock on `target` (a file or a folder, existing or not) for the block, so that two processes
    never write the same output unknowingly: the second raises `BusyError`, one line naming the file, at once.

    The lock is a hidden `.NAME.lock` file beside `target` (inside it for a folder), locked with `flock` and removed
    on release; re-checked after locking, so that a lock file removed by the previous holder is never trusted. Where
    `fcntl` is missing (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    target = Path(target)
    lock = target / ".actionrec.lock" if target.is_dir() else target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BusyError(
                f"{target}: another actionrec process is writing this {what}; wait for it or choose another"
            ) from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino  # not removed by a holder that just finished
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)  # closing releases the lock
