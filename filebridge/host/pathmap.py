"""Rewriting the worker's paths into the host's, for workers on mounts (``--map R=L``)."""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["PathMap", "is_path_key", "parse_mapping"]

_PATH_KEYS = frozenset({"path", "file", "dir", "origin", "wd", "cwd", "tempdir"})
_PATH_SUFFIXES = ("_path", "_file", "_dir")
_PATH_LIST_SUFFIXES = ("_paths", "_locations")


def is_path_key(key: str) -> bool:
    return key in _PATH_KEYS or key.endswith(_PATH_SUFFIXES)


def parse_mapping(text: str) -> tuple[str, str]:
    """``REMOTE=LOCAL`` as given on the command line."""
    remote, sep, local = text.partition("=")
    if not sep or not remote or not local:
        raise ValueError(f"--map takes REMOTE_PREFIX=LOCAL_PREFIX, got {text!r}")
    return remote, local


class PathMap:
    """Prefix pairs, longest remote prefix first; a prefix matches whole path components."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        cleaned = [(remote.rstrip("/") or "/", local.rstrip("/") or "/")
                   for remote, local in pairs]
        self.pairs = sorted(cleaned, key=lambda pair: len(pair[0]), reverse=True)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def path(self, value: str) -> str:
        for remote, local in self.pairs:
            if value == remote:
                return local
            if remote == "/" or value.startswith(remote + "/"):
                rest = value[len(remote):].lstrip("/")
                return f"{local.rstrip('/')}/{rest}" if rest else local
        return value

    def args(self, args: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``args`` with every path field (docs/protocol.md) mapped, at any depth."""
        if not self.pairs:
            return args
        return {key: self._value(key, value) for key, value in args.items()}

    def _value(self, key: str, value: Any) -> Any:
        if isinstance(value, str) and is_path_key(key):
            return self.path(value)
        if isinstance(value, list) and key.endswith(_PATH_LIST_SUFFIXES):
            return [self.path(v) if isinstance(v, str) else v for v in value]
        if isinstance(value, dict):
            return self.args(value)
        return value
