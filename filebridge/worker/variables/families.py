"""Default descriptions, one class per family of types.

numpy, pandas and polars are recognised only when the session already imported them
(``sys.modules``): the worker never imports them. No method here materialises a large object:
previews and pages read a bounded prefix (``islice``, ``.flat[:n]``, ``.iloc[:n]``), sizes come
from ``nbytes`` / shallow ``memory_usage`` / ``estimated_size``.
"""

from __future__ import annotations

import array
import collections
import functools
import keyword
import sys
import types
import unicodedata
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any, NamedTuple, Optional

from filebridge.errors import RemoteError

__all__ = ["PARENT", "Child", "Family", "attribute_expr", "family_of", "join_expr", "key_repr",
           "preview", "safe_repr", "top_level_expr"]

# In a child's expression, where the parent's expression goes; without it, the child's
# expression is appended to the parent's. repr() never yields a NUL, so it cannot clash.
PARENT = "\x00"


def join_expr(parent: Optional[str], expr: Optional[str]) -> Optional[str]:
    """The expression of a child from its parent's and its own (None when either is None)."""
    if parent is None or expr is None:
        return None
    return expr.replace(PARENT, parent) if PARENT in expr else parent + expr


def _plain_name(name: str) -> bool:
    """Source text that names exactly ``name``: an identifier, not a keyword, and unchanged by
    the NFKC normalisation the parser applies (``º`` would read as ``o``)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        return False
    return name.isascii() or unicodedata.normalize("NFKC", name) == name


def attribute_expr(name: str) -> str:
    """How to read attribute ``name``: ``.name``, or ``getattr(..., 'a b')`` otherwise."""
    return f".{name}" if _plain_name(name) else f"getattr({PARENT}, {name!r})"


def top_level_expr(name: str) -> str:
    return name if _plain_name(name) else f"globals()[{name!r}]"


def key_repr(key: Any) -> Optional[str]:
    """Source text that evaluates to an equal key: scalars and tuples of them; else None."""
    if key is None or (isinstance(key, (bool, str, int)) and type(key) in (bool, str, int)):
        return repr(key)
    if type(key) is float:
        return repr(key) if key == key and key not in (float("inf"), float("-inf")) else None
    if type(key) is tuple:
        parts = [key_repr(k) for k in key]
        if all(p is not None for p in parts):
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"  # type: ignore[arg-type]
    return None


class Child(NamedTuple):
    """One child of a value: its name, its access key (JSON-able) and how code reaches it."""

    name: str
    key: Any
    value: Any
    # Appended to the parent's evaluate name ("['a']", "[3]", ".x"); None: no expression does.
    expr: Optional[str]


class NotEvaluated:
    """A property or lazy attribute listed without running its getter."""

    def __init__(self, owner: type, name: str) -> None:
        self.owner = owner
        self.name = name


def safe_repr(value: Any, width: int) -> tuple[str, bool]:
    """``repr`` cut to ``width``; a failing repr is shown as such."""
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}: {exc}>"[:width], False
    if not isinstance(text, str):
        return f"<repr returned {type(text).__name__}>", False
    if len(text) > width:
        return text[:width], True
    return text, False


def preview(value: Any, width: int, items: int, depth: int,
            family: Optional[Family] = None) -> tuple[str, bool]:
    """A display value of at most ``width`` characters and ``items`` items a level."""
    try:
        chosen = family_of(type(value)) if family is None else family
        text, cut = chosen.preview(value, width, items, depth)
    except Exception as exc:
        text, cut = f"<display failed: {type(exc).__name__}: {exc}>", False
    if len(text) > width:
        return text[:width], True
    return text, cut


def _join(parts: Any, total: Optional[int], opening: str, closing: str, width: int,
          items: int, depth: int) -> tuple[str, bool]:
    """Preview an iterable of items (or of (key, value) pairs when ``parts`` yields pairs)."""
    if depth <= 0:
        return f"{opening}...{closing}", True
    out: list[str] = []
    used = len(opening) + len(closing)
    cut = False
    shown = 0
    inner = min(width, 128)
    for part in islice(parts, items):
        if isinstance(part, _Pair):
            key, _ = preview(part.key, inner, items, depth - 1)
            val, _ = preview(part.value, inner, items, depth - 1)
            text = f"{key}: {val}"
        else:
            text, _ = preview(part, inner, items, depth - 1)
        used += len(text) + 2
        shown += 1
        if used > width:
            cut = True
            break
        out.append(text)
    if total is not None and shown < total:
        cut = True
    if cut:
        out.append("...")
    return opening + ", ".join(out) + closing, cut


class _Pair(NamedTuple):
    key: Any
    value: Any


class Family:
    """The default description of a value; subclasses override what differs."""

    kind = "other"
    children_kind: Optional[str] = None  # "named" or "indexed", as DAP and VS Code page them
    count_is_length = False  # the number of children is ``length``, with no named extras
    hidden = False  # left out of the top-level list (modules)

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        return safe_repr(x, width)

    def display_type(self, x: Any, include_length: bool) -> str:
        name = type(x).__name__
        length = self.length(x) if include_length else None
        return f"{name} [{length}]" if length is not None else name

    def type_info(self, x: Any) -> str:
        cls = type(x)
        module = cls.__module__
        return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"

    def length(self, x: Any) -> Optional[int]:
        return None

    def shape(self, x: Any) -> Optional[list[int]]:
        length = self.length(x)
        return None if length is None else [length]

    def size(self, x: Any) -> Optional[int]:
        return None

    def has_children(self, x: Any) -> bool:
        return False

    def count(self, x: Any) -> int:
        """How many children ``children`` pages through."""
        return 0

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        return []

    def child(self, x: Any, key: Any) -> Any:
        raise _no_child(x, key)

    def has_viewer(self, x: Any) -> bool:
        return False

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        """What to append to the parent's expression to reach the child with ``key``."""
        return f"[{key}]" if self.children_kind == "indexed" and isinstance(key, int) else None

    def columns(self, x: Any) -> Optional[tuple[int, list[tuple[str, str]]]]:
        """(rows, [(column name, type name)]) of a table; None for other values."""
        return None

    def named_extras(self, x: Any) -> list[str]:
        """Attributes listed as named children beside indexed elements (DAP shows both)."""
        return []

    def named_children(self, x: Any, start: int, count: int) -> list[Child]:
        """The named children of a value whose main children are indexed."""
        names = self.named_extras(x)[start:start + count]
        return [Child(name, {"attr": name}, getattr(x, name), attribute_expr(name))
                for name in names]

    def find(self, x: Any, name: str) -> Optional[Any]:
        """The access key of the child shown as ``name`` (the CLI's paths), or None."""
        total = self.count(x)
        for start in range(0, min(total, 100_000), 1000):
            for child in self.children(x, start, 1000):
                if child.name == name:
                    return child.key
        return None


def _no_child(x: Any, key: Any) -> RemoteError:
    return RemoteError("not_found", f"{type(x).__name__} has no child {key!r}")


def _index_named(name: str, length: int) -> Optional[int]:
    try:
        index = int(name)
    except ValueError:
        return None
    return index if 0 <= index < length else None


def _int_key(key: Any, length: int, x: Any) -> int:
    if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < length:
        raise _no_child(x, key)
    return key


class ScalarFamily(Family):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        # int -> str is quadratic and refused past 4300 digits; say how big instead.
        if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 4096:
            return f"<int of {x.bit_length()} bits>", True
        return safe_repr(x, width)

    def size(self, x: Any) -> Optional[int]:
        return sys.getsizeof(x)


class TextFamily(Family):
    def __init__(self, kind: str) -> None:
        self.kind = kind

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        text, _ = safe_repr(x[:width], width + 16)
        return text, len(x) > width

    def length(self, x: Any) -> Optional[int]:
        return len(x)

    def size(self, x: Any) -> Optional[int]:
        return sys.getsizeof(x)


class _ContainerFamily(Family):
    """Built-in containers: their length is cheap and counts their children."""

    count_is_length = True

    def length(self, x: Any) -> Optional[int]:
        return len(x)

    def size(self, x: Any) -> Optional[int]:
        return sys.getsizeof(x)

    def has_children(self, x: Any) -> bool:
        return len(x) > 0

    def count(self, x: Any) -> int:
        return len(x)


class SequenceFamily(_ContainerFamily):
    kind = "collection"
    children_kind = "indexed"

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        if isinstance(x, list):
            opening, closing = "[", "]"
        elif isinstance(x, tuple):
            opening, closing = "(", ")"
        else:
            opening, closing = f"{type(x).__name__}([", "])"
        return _join(iter(x), len(x), opening, closing, width, items, depth)

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        stop = min(len(x), start + count)
        if isinstance(x, collections.deque):
            values: Any = islice(x, start, stop)
        else:
            values = (x[i] for i in range(start, stop))
        return [Child(str(i), i, v, f"[{i}]") for i, v in zip(range(start, stop), values)]

    def child(self, x: Any, key: Any) -> Any:
        return x[_int_key(key, len(x), x)]

    def has_viewer(self, x: Any) -> bool:
        return len(x) > 0

    def find(self, x: Any, name: str) -> Optional[Any]:
        return _index_named(name, len(x))


def _is_json_key(key: Any) -> bool:
    if isinstance(key, float):
        return key == key and key not in (float("inf"), float("-inf"))
    return key is None or isinstance(key, (str, int))


class MappingFamily(_ContainerFamily):
    kind = "map"
    children_kind = "named"

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        pairs = (_Pair(k, v) for k, v in x.items())
        return _join(pairs, len(x), "{", "}", width, items, depth)

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        out = []
        for position, (key, value) in enumerate(islice(x.items(), start, start + count), start):
            name, _ = preview(key, 128, 5, 1)
            source = key_repr(key)
            expr = f"[{source}]" if source is not None else \
                f"list({PARENT}.values())[{position}]"
            out.append(Child(name, key if _is_json_key(key) else {"at": position}, value, expr))
        return out

    def child(self, x: Any, key: Any) -> Any:
        if isinstance(key, dict):
            position = key.get("at")
            if isinstance(position, int) and position >= 0:
                for _, value in islice(x.items(), position, position + 1):
                    return value
            raise _no_child(x, key)
        try:
            return x[key]
        except (KeyError, TypeError):
            raise _no_child(x, key) from None

    def has_viewer(self, x: Any) -> bool:
        return len(x) > 0

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        if isinstance(key, dict):
            position = key.get("at")
            return f"list({PARENT}.values())[{position}]" if isinstance(position, int) else None
        source = key_repr(key)
        return None if source is None else f"[{source}]"

    def find(self, x: Any, name: str) -> Optional[Any]:
        if name in x:
            return name
        return super().find(x, name)


class SetFamily(_ContainerFamily):
    kind = "collection"
    children_kind = "indexed"

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        position = key.get("at") if isinstance(key, dict) else None
        return f"list({PARENT})[{position}]" if isinstance(position, int) else None

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        if not x:
            return f"{type(x).__name__}()", False
        opening, closing = ("{", "}") if type(x) is set else (f"{type(x).__name__}({{", "})")
        return _join(iter(x), len(x), opening, closing, width, items, depth)

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        values = islice(x, start, start + count)
        return [Child(str(i), {"at": i}, v, f"list({PARENT})[{i}]")
                for i, v in enumerate(values, start)]

    def child(self, x: Any, key: Any) -> Any:
        position = key.get("at") if isinstance(key, dict) else None
        if isinstance(position, int) and position >= 0:
            for value in islice(x, position, position + 1):
                return value
        raise _no_child(x, key)


class CallableFamily(Family):
    kind = "function"


class ClassFamily(Family):
    kind = "class"

    def display_type(self, x: Any, include_length: bool) -> str:
        return "type"


class ModuleFamily(Family):
    hidden = True

    def display_type(self, x: Any, include_length: bool) -> str:
        return "module"


def _slot_names(cls: type) -> list[str]:
    names: list[str] = []
    for base in cls.__mro__:
        slots = base.__dict__.get("__slots__", ())
        for name in [slots] if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return names


def _lazy_names(cls: type) -> list[str]:
    names = []
    for base in cls.__mro__[:-1]:
        for name, attr in base.__dict__.items():
            lazy = isinstance(attr, (property, functools.cached_property))
            if lazy and not name.startswith("_") and name not in names:
                names.append(name)
    return names


class ObjectFamily(Family):
    """Instances of other classes: children are their attributes.

    Properties and cached properties are listed unevaluated (their getters are user code) and
    run only when a request names them.
    """

    children_kind = "named"

    def _attributes(self, x: Any) -> list[tuple[str, Any]]:
        attrs: list[tuple[str, Any]] = []
        try:
            own = object.__getattribute__(x, "__dict__")
        except (AttributeError, TypeError):
            own = {}
        if isinstance(own, dict):
            attrs.extend((k, v) for k, v in own.items() if isinstance(k, str))
        seen = {name for name, _ in attrs}
        for name in _slot_names(type(x)):
            try:
                attrs.append((name, object.__getattribute__(x, name)))
            except AttributeError:
                continue
            seen.add(name)
        for name in _lazy_names(type(x)):
            if name not in seen:
                attrs.append((name, NotEvaluated(type(x), name)))
        return attrs

    def length(self, x: Any) -> Optional[int]:
        return len(self._attributes(x))

    def shape(self, x: Any) -> Optional[list[int]]:
        return None

    def has_children(self, x: Any) -> bool:
        return bool(self._attributes(x))

    def count(self, x: Any) -> int:
        return len(self._attributes(x))

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        return [Child(name, {"attr": name}, value, attribute_expr(name))
                for name, value in self._attributes(x)[start:start + count]]

    def child(self, x: Any, key: Any) -> Any:
        name = key.get("attr") if isinstance(key, dict) else None
        if not isinstance(name, str):
            raise _no_child(x, key)
        try:
            return getattr(x, name)
        except AttributeError:
            raise _no_child(x, key) from None

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        name = key.get("attr") if isinstance(key, dict) else None
        return attribute_expr(name) if isinstance(name, str) else None

    def find(self, x: Any, name: str) -> Optional[Any]:
        return {"attr": name} if any(n == name for n, _ in self._attributes(x)) else None

    def display_type(self, x: Any, include_length: bool) -> str:
        return type(x).__name__


class NotEvaluatedFamily(Family):
    kind = "lazy"

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        return "<not evaluated: ask for it to run its getter>", False

    def display_type(self, x: Any, include_length: bool) -> str:
        return "property"


def _np_items(x: Any, items: int) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in x.flat[:items]]


class NumpyArrayFamily(Family):
    kind = "collection"
    children_kind = "indexed"

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        if x.ndim == 0:
            return safe_repr(x.item(), width)
        values = _np_items(x, items)
        text, cut = _join(iter(values), x.size, "[", "]", width, items, 1)
        if x.ndim > 1:
            text = f"{text} flat"
        return text, cut

    def display_type(self, x: Any, include_length: bool) -> str:
        dims = "x".join(str(n) for n in x.shape)
        return f"ndarray {x.dtype} [{dims}]" if include_length else f"ndarray {x.dtype}"

    def length(self, x: Any) -> Optional[int]:
        return int(x.shape[0]) if x.ndim else None

    def shape(self, x: Any) -> Optional[list[int]]:
        return [int(n) for n in x.shape]

    def size(self, x: Any) -> Optional[int]:
        return int(x.nbytes)

    def has_children(self, x: Any) -> bool:
        return bool(x.ndim) and x.shape[0] > 0

    def count(self, x: Any) -> int:
        return int(x.shape[0]) if x.ndim else 0

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        stop = min(self.count(x), start + count)
        return [Child(str(i), i, x[i], f"[{i}]") for i in range(start, stop)]

    def has_viewer(self, x: Any) -> bool:
        return x.ndim in (1, 2)

    def named_extras(self, x: Any) -> list[str]:
        return ["dtype", "shape", "ndim", "size", "nbytes"]

    def child(self, x: Any, key: Any) -> Any:
        if isinstance(key, dict) and key.get("attr") in self.named_extras(x):
            return getattr(x, key["attr"])
        return x[_int_key(key, self.count(x), x)]

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        if isinstance(key, dict):
            return f".{key['attr']}" if key.get("attr") in self.named_extras(x) else None
        return f"[{key}]"

    def find(self, x: Any, name: str) -> Optional[Any]:
        return _index_named(name, self.count(x))


class NumpyScalarFamily(ScalarFamily):
    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        return safe_repr(x.item(), width)

    def display_type(self, x: Any, include_length: bool) -> str:
        return str(x.dtype)

    def size(self, x: Any) -> Optional[int]:
        return int(x.nbytes)


class PandasFrameFamily(Family):
    kind = "table"
    children_kind = "named"

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        rows, cols = x.shape
        names = ", ".join(str(c) for c in x.columns[:items])
        more = ", ..." if cols > items else ""
        return f"[{rows} rows x {cols} columns] {names}{more}", bool(more)

    def display_type(self, x: Any, include_length: bool) -> str:
        rows, cols = x.shape
        name = type(x).__name__
        return f"{name} [{rows}x{cols}]" if include_length else name

    def length(self, x: Any) -> Optional[int]:
        return int(x.shape[1])

    def shape(self, x: Any) -> Optional[list[int]]:
        return [int(n) for n in x.shape]

    def size(self, x: Any) -> Optional[int]:
        return int(x.memory_usage(index=True, deep=False).sum())

    def has_children(self, x: Any) -> bool:
        return int(x.shape[1]) > 0

    def count(self, x: Any) -> int:
        return int(x.shape[1])

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        return [Child(str(x.columns[i]), i, x.iloc[:, i], self.key_expr(x, i))
                for i in range(start, min(self.count(x), start + count))]

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        label = x.columns[key]
        source = key_repr(label) if x.columns.is_unique else None
        return f"[{source}]" if source is not None else f".iloc[:, {key}]"

    def child(self, x: Any, key: Any) -> Any:
        return x.iloc[:, _int_key(key, self.count(x), x)]

    def has_viewer(self, x: Any) -> bool:
        return True

    def columns(self, x: Any) -> Optional[tuple[int, list[tuple[str, str]]]]:
        return int(x.shape[0]), [(str(c), str(t)) for c, t in zip(x.columns, x.dtypes)]

    def find(self, x: Any, name: str) -> Optional[Any]:
        for i, label in enumerate(x.columns):
            if str(label) == name:
                return i
        return None


class PandasSeriesFamily(Family):
    kind = "collection"
    children_kind = "indexed"

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        return _join(iter(x.iloc[:items].tolist()), len(x), "[", "]", width, items, depth)

    def display_type(self, x: Any, include_length: bool) -> str:
        name = f"{type(x).__name__} {x.dtype}"
        return f"{name} [{len(x)}]" if include_length else name

    def length(self, x: Any) -> Optional[int]:
        return len(x)

    def size(self, x: Any) -> Optional[int]:
        return int(x.memory_usage(index=True, deep=False))

    def has_children(self, x: Any) -> bool:
        return len(x) > 0

    def count(self, x: Any) -> int:
        return len(x)

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        stop = min(len(x), start + count)
        labels = x.index[start:stop]
        values = x.iloc[start:stop].tolist()
        return [Child(str(label), i, v, f".iloc[{i}]")
                for i, label, v in zip(range(start, stop), labels, values)]

    def named_extras(self, x: Any) -> list[str]:
        return ["dtype", "name", "shape"]

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        if isinstance(key, dict):
            return f".{key['attr']}" if key.get("attr") in self.named_extras(x) else None
        return f".iloc[{key}]"

    def child(self, x: Any, key: Any) -> Any:
        if isinstance(key, dict) and key.get("attr") in self.named_extras(x):
            return getattr(x, key["attr"])
        return x.iloc[_int_key(key, len(x), x)]

    def has_viewer(self, x: Any) -> bool:
        return True


class PolarsFrameFamily(PandasFrameFamily):
    def size(self, x: Any) -> Optional[int]:
        return int(x.estimated_size())

    def columns(self, x: Any) -> Optional[tuple[int, list[tuple[str, str]]]]:
        return int(x.shape[0]), [(str(c), str(t)) for c, t in zip(x.columns, x.dtypes)]

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        names = x.columns
        stop = min(len(names), start + count)
        return [Child(names[i], i, x.to_series(i), f"[{names[i]!r}]")
                for i in range(start, stop)]

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        return f"[{x.columns[key]!r}]"

    def child(self, x: Any, key: Any) -> Any:
        return x.to_series(_int_key(key, self.count(x), x))


class PolarsSeriesFamily(PandasSeriesFamily):
    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        return _join(iter(x.head(items).to_list()), len(x), "[", "]", width, items, depth)

    def size(self, x: Any) -> Optional[int]:
        return int(x.estimated_size())

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        values = x.slice(start, count).to_list()
        return [Child(str(i), i, v, f"[{i}]") for i, v in enumerate(values, start)]

    def key_expr(self, x: Any, key: Any) -> Optional[str]:
        if isinstance(key, dict):
            return f".{key['attr']}" if key.get("attr") in self.named_extras(x) else None
        return f"[{key}]"

    def child(self, x: Any, key: Any) -> Any:
        if isinstance(key, dict) and key.get("attr") in self.named_extras(x):
            return getattr(x, key["attr"])
        return x[_int_key(key, len(x), x)]


class DeephavenTableFamily(Family):
    """A Deephaven table (``deephaven.table.Table``): its size and columns come from the
    table's definition, never from its data; the viewer reads the first rows only."""

    kind = "table"
    children_kind = "named"

    def _columns(self, x: Any) -> list[Any]:
        return list(x.columns)

    def preview(self, x: Any, width: int, items: int, depth: int) -> tuple[str, bool]:
        columns = self._columns(x)
        names = ", ".join(c.name for c in columns[:items])
        more = ", ..." if len(columns) > items else ""
        live = " refreshing" if getattr(x, "is_refreshing", False) else ""
        return f"[{x.size} rows x {len(columns)} columns{live}] {names}{more}", bool(more)

    def display_type(self, x: Any, include_length: bool) -> str:
        name = type(x).__name__
        return f"{name} [{x.size}x{len(self._columns(x))}]" if include_length else name

    def length(self, x: Any) -> Optional[int]:
        return len(self._columns(x))

    def shape(self, x: Any) -> Optional[list[int]]:
        return [int(x.size), len(self._columns(x))]

    def has_children(self, x: Any) -> bool:
        return bool(self._columns(x))

    def count(self, x: Any) -> int:
        return len(self._columns(x))

    def children(self, x: Any, start: int, count: int) -> list[Child]:
        columns = self._columns(x)
        return [Child(columns[i].name, i, str(columns[i].data_type), None)
                for i in range(start, min(len(columns), start + count))]

    def child(self, x: Any, key: Any) -> Any:
        columns = self._columns(x)
        return str(columns[_int_key(key, len(columns), x)].data_type)

    def has_viewer(self, x: Any) -> bool:
        return True

    def columns(self, x: Any) -> Optional[tuple[int, list[tuple[str, str]]]]:
        return int(x.size), [(c.name, str(c.data_type)) for c in self._columns(x)]

    def find(self, x: Any, name: str) -> Optional[Any]:
        for i, column in enumerate(self._columns(x)):
            if column.name == name:
                return i
        return None


_CALLABLES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
              types.BuiltinMethodType, types.MethodWrapperType, functools.partial)
_SEQUENCES = (list, tuple, collections.deque, range, array.array)

_NONE = ScalarFamily("empty")
_BOOL = ScalarFamily("boolean")
_NUMBER = ScalarFamily("number")
_STRING = TextFamily("string")
_BYTES = TextFamily("bytes")
_cache: dict[type, Family] = {}


def _optional_family(cls: type) -> Optional[Family]:
    np = sys.modules.get("numpy")
    if np is not None:
        if issubclass(cls, np.ndarray):
            return NumpyArrayFamily()
        if issubclass(cls, np.generic):
            if issubclass(cls, np.bool_):
                return NumpyScalarFamily("boolean")
            if issubclass(cls, np.number):
                return NumpyScalarFamily("number")
    pd = sys.modules.get("pandas")
    if pd is not None:
        if issubclass(cls, pd.DataFrame):
            return PandasFrameFamily()
        if issubclass(cls, pd.Series):
            return PandasSeriesFamily()
    dh = sys.modules.get("deephaven.table")
    table = getattr(dh, "Table", None)
    if isinstance(table, type) and issubclass(cls, table):
        return DeephavenTableFamily()
    pl = sys.modules.get("polars")
    if pl is not None:
        if issubclass(cls, pl.DataFrame):
            return PolarsFrameFamily()
        if issubclass(cls, pl.Series):
            return PolarsSeriesFamily()
    return None


def _select(cls: type) -> Family:
    optional = _optional_family(cls)
    if optional is not None:
        return optional
    if cls is type(None):
        return _NONE
    if issubclass(cls, bool):
        return _BOOL
    if issubclass(cls, (int, float, complex)):
        return _NUMBER
    if issubclass(cls, str):
        return _STRING
    if issubclass(cls, (bytes, bytearray)):
        return _BYTES
    if cls is NotEvaluated:
        return NotEvaluatedFamily()
    if issubclass(cls, (dict, Mapping)):
        return MappingFamily()
    if issubclass(cls, (set, frozenset)):
        return SetFamily()
    if issubclass(cls, _SEQUENCES) or (issubclass(cls, Sequence) and cls is not memoryview):
        return SequenceFamily()
    if issubclass(cls, type):
        return ClassFamily()
    if issubclass(cls, types.ModuleType):
        return ModuleFamily()
    if issubclass(cls, _CALLABLES):
        return CallableFamily()
    return ObjectFamily()


def family_of(cls: type) -> Family:
    """The default description of instances of ``cls`` (cached per type)."""
    family = _cache.get(cls)
    if family is None:
        family = _cache[cls] = _select(cls)
    return family
