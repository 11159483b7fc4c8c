"""The only way the viewers touch files a worker named: inside allowed folders, no escapes.

A worker names paths (a webview's page, a table folder, a plot) and writes the session folder,
so every path and every file type it leads to is untrusted. Reading:

- the path's real location must lie inside one of the allowed folders (the session folder,
  the local side of a ``--map``, a ``--source`` folder, a ``--view-folder``);
- the file is then opened again component by component from the allowed folder with
  ``O_NOFOLLOW`` on each step, so a symlink swapped in after the check is refused instead of
  followed;
- only regular files are opened (a FIFO or a device is refused before ``open`` and again on the
  descriptor), non-blocking, and the size is checked before reading.

Writing (the host's own ``host-views`` folder inside a session) goes through the wire layer's
confined primitives (``filebridge.wire.files``): the host confines ``<root>/sessions``, so no
symlink below it is followed and temporary names are unguessable.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filebridge.errors import RemoteError
from filebridge.wire.files import atomic_write, make_folder, remove_file

__all__ = ["AllowedFolders", "open_regular", "read_capped", "remove_inside", "write_inside"]

_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0))
_DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0))


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _plain_folder(path: Path) -> bool:
    """A folder that is not itself a symlink (a worker may plant its session folder as one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


class AllowedFolders:
    """The folders one session's viewers may read, kept as real paths."""

    def __init__(self, folders: Iterable[Path | str], session: Path | None = None) -> None:
        seen: list[Path] = []
        if session is not None and _plain_folder(session):
            seen.append(_real(session))
        for folder in folders:
            real = _real(folder)
            if real not in seen:
                seen.append(real)
        self.folders = tuple(seen)

    def with_session(self, session: Path) -> AllowedFolders:
        """These folders and ``session``, unless the session folder itself is a symlink."""
        return AllowedFolders(self.folders, session)

    def locate(self, path: Path | str) -> tuple[Path, Path]:
        """``(allowed folder, real path)`` of ``path``; refused when it lies outside all."""
        real = _real(path)
        for folder in self.folders:
            if _inside(real, folder):
                return folder, real
        raise RemoteError("refused", f"{path} is outside the session folder and the folders "
                                     "the host was told to serve (--map, --source, "
                                     "--view-folder)")

    def check_folder(self, path: Path | str) -> Path:
        """The real path of a folder a view may read from (refused outside, or not a folder)."""
        _, real = self.locate(path)
        if not real.is_dir():
            raise RemoteError("not_found", f"no folder {path} on this side (is a --map needed?)")
        return real

    def read(self, path: Path | str, limit: int, *, within: Path | str | None = None) -> bytes:
        """The bytes of a regular file inside the allowed folders (and ``within``, if given)."""
        with self.open(path, limit, within=within) as (fd, size):
            return read_capped(fd, size, limit, path)

    @contextmanager
    def open(self, path: Path | str, limit: int, *,
             within: Path | str | None = None) -> Iterator[tuple[int, int]]:
        """``(descriptor, size)`` of a regular file no larger than ``limit`` bytes."""
        folder, real = self.locate(path)
        if within is not None:
            bound = _real(within)
            if not _inside(real, bound):
                raise RemoteError("refused", f"{path} is outside its view's folder")
        fd = open_regular(folder, real.relative_to(folder).parts, path, limit)
        try:
            yield fd, os.fstat(fd).st_size
        finally:
            os.close(fd)


def _walk(folder: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of ``folder/parts...`` reached without following any symlink on the way."""
    fd = os.open(folder, _DIR_FLAGS)
    try:
        for part in parts:
            if part in ("", ".", ".."):
                raise RemoteError("refused", f"no {part!r} in a path under {folder}")
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def _refusal(shown: Path | str, exc: OSError) -> RemoteError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return RemoteError("refused", f"{shown}: a symlink or non-folder on the way is not "
                                      "followed")
    if isinstance(exc, FileNotFoundError):
        return RemoteError("not_found", f"no such file on this side: {shown}")
    return RemoteError("not_found", f"cannot read {shown}: {exc.strerror or exc}")


def open_regular(folder: Path, parts: tuple[str, ...], shown: Path | str, limit: int) -> int:
    """Open ``folder/parts`` read-only as a regular file of at most ``limit`` bytes."""
    if not parts:
        raise RemoteError("refused", f"{shown} is a folder, not a file")
    try:
        parent = _walk(folder, parts[:-1])
    except OSError as exc:
        raise _refusal(shown, exc) from None
    try:
        try:
            before = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except OSError as exc:
            raise _refusal(shown, exc) from None
        if not stat.S_ISREG(before.st_mode):
            raise RemoteError("refused", f"{shown} is not a regular file")
        try:
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise _refusal(shown, exc) from None
    finally:
        os.close(parent)
    opened = os.fstat(fd)
    # A file replaced by another regular file between the look and the open (a worker
    # rewriting meta.json by rename) is read as it is now; anything else is refused.
    if not stat.S_ISREG(opened.st_mode):
        os.close(fd)
        raise RemoteError("refused", f"{shown} changed into something else while opened")
    if opened.st_size > limit:
        os.close(fd)
        raise RemoteError("too_large", f"{shown} is {opened.st_size} bytes; the limit is "
                                       f"{limit}")
    return fd


def read_capped(fd: int, size: int, limit: int, shown: Path | str) -> bytes:
    """Read an opened file whole, refusing it when it grew past ``limit`` meanwhile."""
    chunks = []
    total = 0
    while True:
        try:
            block = os.read(fd, min(1 << 20, limit + 1 - total))
        except BlockingIOError:  # not a regular file after all
            raise RemoteError("refused", f"{shown} would block") from None
        if not block:
            break
        chunks.append(block)
        total += len(block)
        if total > limit:
            raise RemoteError("too_large", f"{shown} grew past the limit of {limit} bytes")
    return b"".join(chunks)


def write_inside(folder: Path, parts: tuple[str, ...], data: bytes) -> None:
    """Replace ``folder/parts`` with ``data``, creating missing folders (mode 0700).

    ``folder`` is a session folder; the wire layer's confined primitives reach everything
    below it without following a symlink and write through an unguessable temporary name.
    """
    if not parts:
        raise ValueError("write_inside needs a file name")
    current = folder
    for part in parts[:-1]:
        if part in ("", ".", ".."):
            raise RemoteError("refused", f"no {part!r} in a path under {folder}")
        current = current / part
        make_folder(current)
    atomic_write(current / parts[-1], data)


def remove_inside(folder: Path, parts: tuple[str, ...]) -> None:
    """Remove the file ``folder/parts`` if it is there, following no symlink on the way."""
    try:
        remove_file(folder.joinpath(*parts))
    except OSError:
        pass
