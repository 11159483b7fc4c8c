"""filebridge: a running interpreter session and a local host, joined by a shared folder.

This module stays import-free: the worker side is copied into session folders and must import
on the standard library alone.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

__all__ = ["PROTOCOL_VERSION", "__version__"]
