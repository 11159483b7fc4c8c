"""``importlib.metadata`` distributions of served packages, from the host's published index.

The host publishes, per root that has metadata (a ``*.dist-info`` folder or a ``pyproject.toml``
with a static name and version), the files ``importlib.metadata`` reads. Looking one up costs
no request, so ``version("proj")`` in ``proj/__init__.py`` works while ``proj`` is imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from importlib.metadata import Distribution
from pathlib import Path
from typing import Any, Optional

__all__ = ["RemoteDistribution", "matching_distributions", "normalized"]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class RemoteDistribution(Distribution):
    def __init__(self, key: str, published: dict[str, Any]) -> None:
        self._key = key
        self._files: dict[str, Any] = published.get("files") or {}
        self._source = str(published.get("source") or "")

    def read_text(self, filename: str) -> Optional[str]:
        text = self._files.get(str(filename))
        return text if isinstance(text, str) else None

    read_text.__doc__ = Distribution.read_text.__doc__

    def locate_file(self, path: Any) -> Path:
        return Path(os.path.dirname(self._source)) / str(path)

    @property
    def _normalized_name(self) -> str:
        return self._key.replace("-", "_")

    def __repr__(self) -> str:
        return f"<filebridge.RemoteDistribution {self._key!r} from {self._source!r}>"


def matching_distributions(published: dict[str, Any],
                           name: Optional[str]) -> Iterator[RemoteDistribution]:
    wanted = None if name is None else normalized(name)
    for key, dist in published.items():
        if wanted is None or normalized(key) == wanted:
            yield RemoteDistribution(key, dist)
