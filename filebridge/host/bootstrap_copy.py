"""The worker side of filebridge, copied into a session folder: a worker with nothing
installed imports it from there (``sys.path.insert(0, "<session>/bootstrap")``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import filebridge
from filebridge.wire.layout import make_private_dir

__all__ = ["BOOTSTRAP_PARTS", "copy_bootstrap"]

# What a worker with nothing installed needs: the worker side and the wire format.
BOOTSTRAP_PARTS = ("__init__.py", "errors.py", "wire", "worker")


def copy_bootstrap(target: Path) -> Path:
    """Copy the worker side of filebridge into ``target``/filebridge; return ``target``."""
    source = Path(filebridge.__file__).resolve().parent
    package = target / "filebridge"
    make_private_dir(package)
    for part in BOOTSTRAP_PARTS:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, package / part, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, package / part)
    return target
