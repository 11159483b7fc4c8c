"""Data files of served packages: ``importlib.resources`` and ``get_data`` over the bridge.

``importlib.resources.files("proj")`` gives a ``RemoteTraversable`` for the package's folder on
the host; reading a file sends one ``module_resource`` request (docs/protocol-imports.md).
Works with the Traversable API of Python 3.9 to 3.13 and the older read_text/open_binary
functions, which go through ``TraversableResources``.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from typing import IO, Any, Optional, Protocol

try:  # Python 3.11 and later
    from importlib.resources.abc import Traversable, TraversableResources
except ImportError:  # pragma: no cover - Python 3.9 and 3.10
    from importlib.abc import Traversable, TraversableResources  # type: ignore[no-redef,unused-ignore]

__all__ = ["RemoteResourceReader", "RemoteTraversable", "ResourceSource"]


class ResourceSource(Protocol):
    """What resources need from the finder: one ``module_resource`` request."""

    def resource(self, root: str, parts: list[str], read: bool) -> dict[str, Any]: ...


class RemoteTraversable(Traversable):
    """A file or folder under a served root, named by its path parts below the root folder."""

    def __init__(self, source: ResourceSource, root: str, folder: str,
                 parts: tuple[str, ...] = ()) -> None:
        self._source = source
        self._root = root
        self._folder = folder  # the root folder on the host, for str() and as_file names
        self._parts = parts
        self._answer: Optional[dict[str, Any]] = None

    # -- looking ----------------------------------------------------------------------

    def _look(self) -> dict[str, Any]:
        if self._answer is None:
            self._answer = self._source.resource(self._root, list(self._parts), False)
        return self._answer

    def is_dir(self) -> bool:
        answer = self._look()
        return bool(answer.get("found")) and answer.get("kind") == "dir"

    def is_file(self) -> bool:
        answer = self._look()
        return bool(answer.get("found")) and answer.get("kind") == "file"

    def iterdir(self) -> Iterator[RemoteTraversable]:
        answer = self._look()
        if answer.get("kind") != "dir":
            raise NotADirectoryError(f"not a folder on the host: {self}")
        for name, _is_dir in answer.get("entries") or []:
            yield self.joinpath(str(name))

    @property
    def name(self) -> str:
        return self._parts[-1] if self._parts else os.path.basename(self._folder)

    def joinpath(self, *descendants: Any) -> RemoteTraversable:
        parts = list(self._parts)
        for descendant in descendants:
            for part in str(descendant).replace("\\", "/").split("/"):
                if part in ("", "."):
                    continue
                if part == "..":
                    if parts:
                        parts.pop()
                    continue
                parts.append(part)
        return RemoteTraversable(self._source, self._root, self._folder, tuple(parts))

    def __truediv__(self, child: Any) -> RemoteTraversable:
        return self.joinpath(child)

    # -- reading ----------------------------------------------------------------------

    def read_bytes(self) -> bytes:
        answer = self._source.resource(self._root, list(self._parts), True)
        if not answer.get("found"):
            raise FileNotFoundError(f"no such file on the host: {self}")
        if answer.get("kind") != "file":
            raise IsADirectoryError(f"a folder on the host: {self}")
        return base64.b64decode(answer.get("data") or "")

    def read_text(self, encoding: Optional[str] = None, errors: Optional[str] = None) -> str:
        return self.read_bytes().decode(encoding or "utf-8", errors or "strict")

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        if mode not in ("r", "rb", "rt"):
            raise ValueError(f"served resources are read-only; open mode {mode!r}")
        data = io.BytesIO(self.read_bytes())
        if mode == "rb":
            return data
        encoding = kwargs.get("encoding") or (args[0] if args else None) or "utf-8"
        return io.TextIOWrapper(data, encoding=encoding, errors=kwargs.get("errors"),
                                newline=kwargs.get("newline"))

    def __str__(self) -> str:
        return os.path.join(self._folder, *self._parts)

    def __repr__(self) -> str:
        return f"<filebridge.RemoteTraversable {str(self)!r}>"


class RemoteResourceReader(TraversableResources):
    """The resource reader of one served package (``loader.get_resource_reader``)."""

    def __init__(self, folder: RemoteTraversable) -> None:
        self._folder = folder

    def files(self) -> RemoteTraversable:
        return self._folder
