"""The file primitives: every read and write of a session file goes through this module.

Two rules shape it (docs/protocol.md, "What each side may trust"; docs/security.md):
- A session folder is untrusted input. Below a folder registered with ``confine_to()`` (the
  host registers ``<root>/sessions``), every path is opened component by component relative
  to a descriptor of that folder, never following a symbolic link, and only regular files are
  accepted (opened non-blocking, so a FIFO cannot hang the reader). Reads are size-capped.
- On a network or FUSE filesystem, cached attributes and kept descriptors lie for 20-60 s;
  a fresh open followed by a read does not. ``fresh_reads(path)`` says which kind a folder is;
  readers of such folders open afresh at every look and force the size to be fetched.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar

from filebridge.errors import UnsafeFile
from filebridge.wire import faults

__all__ = [
    "COUNTER_WIDTH",
    "FILE_MODE",
    "MOUNT_ERRORS",
    "CounterReader",
    "Doorbell",
    "KeptFile",
    "WakeBell",
    "atomic_write",
    "confine_to",
    "entry_identity",
    "file_exists",
    "file_size",
    "fresh_reads",
    "lock_fd",
    "look_fresh",
    "make_folder",
    "open_file",
    "read_at",
    "read_counter",
    "read_file",
    "read_from",
    "release_folder",
    "remove_file",
    "retire_file",
    "unlock_fd",
    "write_all",
]

FILE_MODE = 0o600
COUNTER_WIDTH = 20
# What a descriptor of a dropped (and perhaps remounted) network mount answers: the
# descriptor is dead for good, but a fresh open may work again.
MOUNT_ERRORS = frozenset({errno.ENOTCONN, errno.EIO, errno.ESTALE, errno.EBADF})

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_SAFE = _NOFOLLOW | _NONBLOCK | _CLOEXEC

T = TypeVar("T")

try:
    import fcntl

    def lock_fd(fd: int) -> None:
        """Hold the POSIX record lock of the whole file (waiting for it)."""
        fcntl.lockf(fd, fcntl.LOCK_EX)

    def unlock_fd(fd: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]

    def unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


# -- confinement ------------------------------------------------------------------------------

class _Confinement:
    """Trusted anchor folders and a kept descriptor of each folder directly below one.

    Paths are compared as strings: this runs at every open, and a hundred idle sessions polled
    through a mount open many files a second.
    """

    def __init__(self) -> None:
        self.anchors: list[tuple[Path, str]] = []  # (anchor, its path and a separator)
        self.fds: dict[str, int] = {}  # the path of a folder directly below an anchor
        self.pid = os.getpid()
        self.lock = threading.Lock()

    def add(self, anchor: Path) -> None:
        with self.lock:
            if all(anchor != known for known, _ in self.anchors):
                self.anchors.append((anchor, str(anchor).rstrip(os.sep) + os.sep))

    def anchor_of(self, folder: Path) -> Optional[tuple[Path, str]]:
        text = str(folder)
        for anchor, prefix in self.anchors:
            if text.startswith(prefix) and len(text) > len(prefix):
                return anchor, text[len(prefix):]
        return None

    def folder_fd(self, folder: Path) -> tuple[int, bool]:
        """A descriptor of ``folder`` reached without following links; (fd, kept)."""
        found = self.anchor_of(folder)
        if found is None:
            return os.open(folder, os.O_RDONLY | _DIRECTORY | _CLOEXEC), False
        anchor, below = found
        parts = [part for part in below.split(os.sep) if part]
        top = os.path.join(str(anchor), parts[0])
        with self.lock:
            if self.pid != os.getpid():
                self.fds.clear()
                self.pid = os.getpid()
            fd = self.fds.get(top)
            if fd is None:
                base = os.open(anchor, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
                try:
                    fd = _open_dir(parts[0], base)
                finally:
                    os.close(base)
                self.fds[top] = fd
        if len(parts) == 1:
            return fd, True
        current, kept = fd, True
        for part in parts[1:]:
            nxt = _open_dir(part, current)
            if not kept:
                os.close(current)
            current, kept = nxt, False
        return current, False

    def drop(self, folder: Path) -> None:
        text = str(folder).rstrip(os.sep)
        with self.lock:
            for top in [t for t in self.fds if t == text or t.startswith(text + os.sep)
                        or text.startswith(t + os.sep)]:
                _close_quietly(self.fds.pop(top))


_confined = _Confinement()


def _open_dir(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFile(f"{name} is not a folder (a symbolic link or a file is in its "
                             "place)", exc.errno) from None
        raise


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def confine_to(anchor: Path) -> None:
    """From now on, reach every path below ``anchor`` without following a symbolic link."""
    _confined.add(Path(anchor))


def release_folder(folder: Path) -> None:
    """Close the kept descriptors of ``folder`` (a session the host stopped serving)."""
    _confined.drop(Path(folder))


def _as_path(path: Path | str) -> Path:
    # Building a Path again from a Path costs more than the system call it leads to.
    return path if isinstance(path, Path) else Path(path)


def _in_folder(path: Path, action: Callable[[str, Optional[int]], T],
               whole_path: bool = False) -> T:
    """Run ``action(name, dir_fd)`` for ``path``'s entry in its folder, again once with fresh
    descriptors when a dropped mount killed the kept one.

    ``whole_path``: ``action`` names one entry only, so outside a confined folder it is given
    the whole path and no descriptor: opening the folder first would cost a mount one more
    round trip to its server."""
    if whole_path and _confined.anchor_of(path.parent) is None:
        return action(str(path), None)
    for attempt in (0, 1):
        try:
            fd, kept = _confined.folder_fd(path.parent)
        except OSError as exc:
            if attempt == 0 and exc.errno in MOUNT_ERRORS:
                _confined.drop(path.parent)
                continue
            raise
        try:
            return action(path.name, fd)
        except OSError as exc:
            if attempt == 0 and exc.errno in MOUNT_ERRORS and kept:
                _confined.drop(path.parent)
                continue
            raise
        finally:
            if not kept:
                _close_quietly(fd)
    raise AssertionError("unreachable")


def open_file(path: Path, flags: int, mode: int = FILE_MODE) -> int:
    """A descriptor of the regular file ``path``: never through a link, never a FIFO or device.

    The descriptor is non-blocking, which changes nothing for a regular file.
    """

    def opener(name: str, dir_fd: Optional[int]) -> int:
        try:
            fd = os.open(name, flags | _SAFE, mode, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFile(f"{path} is a symbolic link", exc.errno) from None
            if exc.errno == errno.ENXIO:
                raise UnsafeFile(f"{path} is not a regular file", exc.errno) from None
            raise
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            os.close(fd)
            raise UnsafeFile(f"{path} is not a regular file ({_kind(kind)})", errno.EINVAL)
        return fd

    return _in_folder(_as_path(path), opener, whole_path=True)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a file"


def read_file(path: Path, limit: int) -> bytes:
    """The whole of a small file; UnsafeFile when it holds more than ``limit`` bytes."""
    fd = open_file(path, os.O_RDONLY)
    try:
        data = read_at(fd, 0, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnsafeFile(f"{path} is over the {limit}-byte limit", errno.EFBIG)
    return data


def read_at(fd: int, offset: int, count: int) -> bytes:
    """Up to ``count`` bytes of ``fd`` from ``offset`` (fewer only at the end of the file)."""
    parts = []
    while count > 0:
        chunk = os.pread(fd, min(count, 1 << 20), offset)
        if not chunk:
            break
        parts.append(chunk)
        offset += len(chunk)
        count -= len(chunk)
    return b"".join(parts)


def read_from(path: Path, offset: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``path`` from ``offset``, through a fresh descriptor whose size
    was fetched from the server: the way to see another machine's appends on a mount."""
    fd = open_file(path, os.O_RDONLY)
    try:
        refresh_size(fd)
        return read_at(fd, offset, limit)
    finally:
        os.close(fd)


def look_fresh(path: Path, look: Callable[[int], T], missing: T) -> T:
    """``look(fd)`` on a fresh descriptor of ``path`` whose size was fetched from the server
    (``missing`` when there is no such file)."""
    try:
        fd = open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return missing
    try:
        refresh_size(fd)
        return look(fd)
    finally:
        os.close(fd)


def file_size(path: Path) -> int:
    """The size of ``path`` as the server knows it now (0 when missing)."""
    return look_fresh(path, lambda fd: os.fstat(fd).st_size, 0)


def file_exists(path: Path) -> bool:
    """Whether ``path`` is a regular file (a link there does not count)."""

    def look(name: str, dir_fd: Optional[int]) -> bool:
        try:
            return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return False

    try:
        return _in_folder(_as_path(path), look, whole_path=True)
    except OSError:
        return False


def entry_identity(path: Path) -> Optional[tuple[int, int]]:
    """(device, inode) of the entry ``path`` (a link is not followed); None when missing.

    What the kernel knows of the name is enough, without refreshing the file's attributes
    from a server: a rename made on this machine shows at once, and where another machine
    renamed, a refreshed inode number shows no more (sshfs numbers inodes by path; NFS's
    name lookups follow its folder cache either way). A refresh after a write to the file
    would cost a round trip to the server on every append.
    """
    global _identity
    if _identity is None:
        _identity = _load_identity()
    return _in_folder(_as_path(path), _identity, whole_path=True)


def retire_file(path: Path, retired_name: str) -> None:
    """Give the file ``path`` the second name ``retired_name`` in its folder, then free its own
    name: by a hard link where the filesystem has them, so the name never goes missing, else by
    a rename. A file already called ``retired_name`` is replaced."""

    def retire(name: str, dir_fd: Optional[int]) -> None:
        try:
            os.unlink(retired_name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        try:
            os.link(name, retired_name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd,
                    follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS,
                                 errno.EXDEV, errno.EMLINK):
                raise
            os.rename(name, retired_name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    _in_folder(Path(path), retire)


def read_counter(path: Path, width: int = COUNTER_WIDTH) -> bytes:
    """A doorbell's or heartbeat's content by a fresh open and read (empty when unreadable).

    Where reads must be fresh, the read bypasses the page cache (``O_DIRECT``): a FUSE client
    may keep a file's pages across opens while its cached attributes say nothing changed,
    and a doorbell rewritten in place never changes size.
    """
    direct = _DIRECT if fresh_reads(_as_path(path).parent) else 0
    try:
        fd = open_file(path, os.O_RDONLY | direct)
    except OSError as exc:
        if not direct or exc.errno != errno.EINVAL:
            return b""
        direct = 0  # this filesystem has no direct reads (tmpfs): its page cache is the file
        try:
            fd = open_file(path, os.O_RDONLY)
        except OSError:
            return b""
    try:
        if direct:
            return _direct_buffer.read(fd, width)
        return os.pread(fd, width, 0)
    except OSError:
        return b""
    finally:
        _close_quietly(fd)


_DIRECT = getattr(os, "O_DIRECT", 0)


class _DirectBuffer:
    """A page-aligned buffer per thread: direct reads need an aligned destination."""

    def __init__(self) -> None:
        self._local = threading.local()

    def read(self, fd: int, width: int) -> bytes:
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            import mmap

            buffer = self._local.buffer = mmap.mmap(-1, 4096)
        try:
            count = os.preadv(fd, [buffer], 0)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            return os.pread(fd, width, 0)
        return bytes(buffer[:min(count, width)])


_direct_buffer = _DirectBuffer()


def atomic_write(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a part.

    The temporary file has an unguessable name and is created exclusively in the same folder,
    so nothing planted there can redirect the write.
    """
    if faults.ARMED: faults.on_write(path, None, data)  # noqa: E701

    def write(name: str, dir_fd: Optional[int]) -> None:
        tmp = f".{name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _SAFE, FILE_MODE,
                     dir_fd=dir_fd)
        try:
            try:
                write_all(fd, data)
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise

    _in_folder(Path(path), write)


def remove_file(path: Path) -> None:
    """Remove the entry ``path`` (a link is removed, never followed); missing is fine."""

    def unlink(name: str, dir_fd: Optional[int]) -> None:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass

    _in_folder(Path(path), unlink)


def make_folder(path: Path) -> None:
    """Create the private folder ``path`` in its (confined) parent; an existing folder is kept
    as it is, and anything else in its place is refused."""

    def mkdir(name: str, dir_fd: Optional[int]) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            _close_quietly(_open_dir(name, dir_fd if dir_fd is not None else -100))

    _in_folder(Path(path), mkdir)


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# -- what a folder's readers may trust -------------------------------------------------------

_fresh: dict[Path, bool] = {}


def fresh_reads(folder: Path) -> bool:
    """Whether readers of ``folder`` must open afresh at every look (network and FUSE
    filesystems, or whenever polling was asked for with FILEBRIDGE_POLL / FILEBRIDGE_WAIT)."""
    folder = _as_path(folder)
    known = _fresh.get(folder)
    if known is None:
        forced = (os.environ.get("FILEBRIDGE_POLL") == "1"
                  or os.environ.get("FILEBRIDGE_WAIT", "").strip().lower() == "polling")
        from filebridge.wire.waiting.filesystems import is_remote  # waiting imports this module

        known = _fresh[folder] = forced or is_remote(folder)
    return known


# Filesystems whose clients keep written data until close, fsync or unlock (close-to-open
# consistency): a writer there closes its descriptor to publish. FUSE filesystems such as sshfs
# send each write to their server at once.
_CLOSE_TO_PUBLISH = ("nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "ceph")
_publish_by_close: dict[Path, bool] = {}


def publish_by_close(folder: Path) -> bool:
    """Whether a writer in ``folder`` must close its descriptor for others to see its write."""
    folder = Path(folder)
    known = _publish_by_close.get(folder)
    if known is None:
        from filebridge.wire.waiting.filesystems import filesystem_type

        known = _publish_by_close[folder] = filesystem_type(folder) in _CLOSE_TO_PUBLISH
    return known


def set_fresh_reads(folder: Path, fresh: bool) -> None:
    """Say outright how ``folder`` must be read (a host told to poll, tests)."""
    _fresh[Path(folder)] = fresh


_statx: Optional[Callable[[int], None]] = None


def _load_statx() -> Callable[[int], None]:
    """statx(AT_STATX_FORCE_SYNC): FUSE asks the server for the size instead of answering from
    its attribute cache, so a read past the cached end sees another machine's appends."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.statx
        call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                         ctypes.c_void_p]
        buffer = ctypes.create_string_buffer(256)
        empty_path_and_sync, size_only = 0x1000 | 0x2000, 0x200

        def force(fd: int) -> None:
            call(fd, b"", empty_path_and_sync, size_only, buffer)

        return force
    except (OSError, AttributeError, ImportError):
        return lambda fd: None  # NFS revalidates at open (close-to-open): nothing more to do


_Identity = Callable[[str, Optional[int]], Optional[tuple[int, int]]]
_identity: Optional[_Identity] = None


def _stat_identity(name: str, dir_fd: Optional[int]) -> Optional[tuple[int, int]]:
    try:
        found = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _load_identity() -> _Identity:
    """statx(AT_STATX_DONT_SYNC) asking only for the inode number, where there is statx."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.statx
        call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                         ctypes.c_void_p]
    except (OSError, AttributeError, ImportError):
        return _stat_identity
    no_follow_no_sync, inode_only, cwd = 0x100 | 0x4000, 0x100, -100

    def identity(name: str, dir_fd: Optional[int]) -> Optional[tuple[int, int]]:
        buffer = ctypes.create_string_buffer(256)
        if call(cwd if dir_fd is None else dir_fd, os.fsencode(name), no_follow_no_sync,
                inode_only, buffer):
            code = ctypes.get_errno()
            if code == errno.ENOENT:
                return None
            if code == errno.ENOSYS:
                return _stat_identity(name, dir_fd)
            raise OSError(code, os.strerror(code), name)
        # struct statx: stx_ino at byte 32, stx_dev_major and stx_dev_minor at 136 and 140
        inode, = struct.unpack_from("=Q", buffer, 32)
        major, minor = struct.unpack_from("=II", buffer, 136)
        return os.makedev(major, minor), inode

    return identity


def refresh_size(fd: int) -> None:
    global _statx
    if _statx is None:
        _statx = _load_statx()
    _statx(fd)


# -- kept descriptors --------------------------------------------------------------------------

class KeptFile:
    """A descriptor opened lazily, again after fork, and again after a dropped mount killed it."""

    def __init__(self, path: Path, flags: int) -> None:
        self.path = Path(path)
        self._flags = flags
        self._fd: Optional[int] = None
        self._pid = 0
        self._identity: Optional[tuple[int, int]] = None

    def get(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = open_file(self.path, self._flags)
            self._pid = os.getpid()
            self._identity = None
        return self._fd

    def identity(self) -> tuple[int, int]:
        """(device, inode) of the open file: asked once per descriptor (on a mount, asking
        after a write is a round trip to the server)."""
        fd = self.get()
        if self._identity is None:
            found = os.fstat(fd)
            self._identity = found.st_dev, found.st_ino
        return self._identity

    def run(self, action: Callable[[int], T]) -> T:
        """``action(fd)``, once more on a new descriptor when the mount dropped the old one."""
        try:
            return action(self.get())
        except OSError as exc:
            if exc.errno not in MOUNT_ERRORS:
                raise
            self.close()
            return action(self.get())

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            _close_quietly(self._fd)
        self._fd = None
        self._identity = None


class Doorbell:
    """A wake-up signal: 20 digits overwritten in place.

    Rewriting in place costs about 2 us and never shows readers an empty file; truncate and
    write costs about 150 us on ext4 (docs/decisions.md). On a network filesystem the
    descriptor is closed after each ring so the new value reaches the server at once.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = KeptFile(self.path, os.O_RDWR | os.O_CREAT)
        self._publish = publish_by_close(self.path.parent)

    def ring(self, value: Optional[int] = None) -> None:
        if faults.ARMED and faults.drop_ring(self.path): return  # noqa: E701
        if value is None:
            value = time.time_ns()
        data = b"%020d" % value
        self._file.run(lambda fd: os.pwrite(fd, data, 0))
        if self._publish:
            self._file.close()

    def close(self) -> None:
        self._file.close()


class WakeBell:
    """The root's wake bell: 20 digits and the ringing session's id, overwritten in place.

    Many workers ring it; a host that polls reads it often and so learns which of many idle
    sessions to look at now (docs/protocol.md, "Waking a host that polls").
    """

    WIDTH = COUNTER_WIDTH + 64

    def __init__(self, path: Path, session_id: str) -> None:
        self.path = Path(path)
        self._id = session_id.encode("ascii", "replace")[:64].ljust(64)
        self._file = KeptFile(self.path, os.O_RDWR | os.O_CREAT)
        self._publish = publish_by_close(self.path.parent)

    def ring(self) -> None:
        data = b"%020d" % time.time_ns() + self._id
        self._file.run(lambda fd: os.pwrite(fd, data, 0))
        if self._publish:
            self._file.close()

    def close(self) -> None:
        self._file.close()


class CounterReader:
    """Reads a doorbell or heartbeat: one pread per look on a kept descriptor where the
    filesystem can be trusted, a fresh open and read elsewhere."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = KeptFile(self.path, os.O_RDONLY)
        self.fresh = fresh_reads(self.path.parent)

    def read(self) -> bytes:
        if self.fresh:
            return read_counter(self.path)
        try:
            return self._file.run(lambda fd: os.pread(fd, COUNTER_WIDTH, 0))
        except OSError:
            self._file.close()
            return b""

    def close(self) -> None:
        self._file.close()
