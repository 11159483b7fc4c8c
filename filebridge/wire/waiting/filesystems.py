"""Which filesystem a path lives on, and whether its watchers can be trusted."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["REMOTE_TYPES", "filesystem_type", "is_remote"]

# Writes made by another machine (or the host of a VM) raise no event on these.
REMOTE_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "9p", "v9fs", "virtiofs",
    "afs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "davfs", "fuse", "fuseblk",
    "vboxsf", "vmhgfs", "prl_fs", "grpcfuse",
})


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return (field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            .replace("\\134", "\\"))


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding ``path`` ("" when it cannot be told)."""
    if not sys.platform.startswith("linux"):
        return ""
    target = os.path.realpath(path)
    best, best_type = "", ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) < 5 or not right:
                    continue
                mount = _unescape(fields[4])
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, best_type = mount, right.split()[0]
    except OSError:
        return ""
    return best_type


def is_remote(path: Path) -> bool:
    return is_remote_type(filesystem_type(path))


def is_remote_type(kind: str) -> bool:
    """Whether a filesystem of type ``kind`` (as /proc/self/mountinfo names it) is remote."""
    return kind in REMOTE_TYPES or kind.startswith("fuse.")
