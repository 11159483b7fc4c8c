"""The one place notebooks read, hash and atomically replace files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

__all__ = [
    "default_file_mode",
    "read_bytes_or_none",
    "read_complete",
    "read_settled",
    "replace_user_file",
    "sha256_hex",
]


def sha256_hex(data: bytes) -> str:
    """SHA-256 of a file's bytes: changes are judged by content, never by mtime."""
    return hashlib.sha256(data).hexdigest()


def read_bytes_or_none(path: Path) -> Optional[bytes]:
    """The file's bytes, or None if it does not exist (or is, for now, not a file)."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


SETTLE_SECONDS = 0.02
COMPLETE_WAIT_SECONDS = 0.5


def read_settled(path: Path, attempts: int = 5) -> Optional[bytes]:
    """The file's bytes once two reads a moment apart agree.

    A truncate-and-write save shows an empty or partial file for a moment; acting on that
    would reload or save back half a source. Only used once a file is known to have changed,
    so unchanged files cost one read.
    """
    data = read_bytes_or_none(path)
    for _ in range(attempts):
        time.sleep(SETTLE_SECONDS)
        again = read_bytes_or_none(path)
        if again == data:
            break
        data = again
    return data


def read_complete(
    path: Path, is_complete: Callable[[bytes], bool], wait: float = COMPLETE_WAIT_SECONDS
) -> Optional[bytes]:
    """The file's bytes as soon as ``is_complete`` accepts them, else the last bytes read.

    An editor's truncate-and-write save shows a partial document for as long as the write
    takes; polling briefly until the document is whole waits exactly that long, no more.
    """
    deadline = time.monotonic() + wait
    delay = 0.002
    while True:
        data = read_bytes_or_none(path)
        if data is None or is_complete(data) or time.monotonic() >= deadline:
            return data
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def default_file_mode() -> int:
    """The mode a new file would get from ``open()`` under the current umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def replace_user_file(
    path: Path, data: bytes, mode: Optional[int] = None, *, durable: bool = True
) -> None:
    """Replace a user's file (a notebook, a settings file) so readers see the old or the new
    bytes, never a mix; unlike session files (``filebridge.wire.files.atomic_write``), a link
    is followed and the mode kept.

    Writes a temporary file in the same folder (a rename is only atomic within one
    filesystem), fsyncs it, then replaces. ``mode`` defaults to the existing file's mode.
    ``durable=False`` skips the fsyncs, for files a crash may lose (state in a temp folder).
    Symlinks are followed, so a linked source stays a link to the updated file.
    """
    target = Path(os.path.realpath(path))
    if mode is None:
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            mode = default_file_mode()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if durable:
        _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
