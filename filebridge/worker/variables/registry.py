"""Per-type display methods that package authors register (ark's method set).

    from filebridge.worker.variables import register
    register("mypkg.Matrix", display_value=lambda m, width: f"Matrix {m.rows}x{m.cols}",
             has_children=lambda m: False)

A type is named by the class itself or by ``"module.QualName"``, so a package can register
without the worker importing it. The most specific registered class in the value's MRO wins.
A method that raises falls back to the default and is reported once; ``get_child_at`` has no
default to fall back to, so its failure fails that request.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional, Union

__all__ = ["ARK_METHODS", "METHOD_NAMES", "Registration", "failures", "lookup", "register",
           "register_method", "report_failure", "unregister"]

log = logging.getLogger("filebridge.worker.variables")

# The allow-list: ark's seven methods, and ``view`` (the table a viewer shows). Nothing else
# is accepted, and nothing is found on classes by itself: registration is explicit.
ARK_METHODS = ("display_value", "display_type", "kind", "has_children", "get_children",
               "get_child_at", "has_viewer")
METHOD_NAMES = (*ARK_METHODS, "view")
# ark's generic names for the same methods (``.ark.register_method(generic, class, fn)``).
GENERIC_PREFIXES = ("ark_positron_variable_", "positron_variable_")

Target = Union[type, str]


class Registration:
    """The methods registered for one type."""

    def __init__(self, name: str, methods: dict[str, Callable[..., Any]]) -> None:
        self.name = name
        self.methods = methods

    def get(self, method: str) -> Optional[Callable[..., Any]]:
        return self.methods.get(method)


_by_name: dict[str, Registration] = {}
_cache: dict[type, Optional[Registration]] = {}
_reported: set[tuple[str, str]] = set()
_failures: list[dict[str, str]] = []
_lock = threading.Lock()


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(target: Target, **methods: Callable[..., Any]) -> None:
    """Register display methods for a type (a class or ``"module.QualName"``).

    Methods and their signatures: ``display_value(x, width) -> str``, ``display_type(x,
    include_length) -> str``, ``kind(x) -> str``, ``has_children(x) -> bool``,
    ``get_children(x) -> list of (name, value) or dict``, ``get_child_at(x, index, name)``,
    ``has_viewer(x) -> bool``, ``view(x) -> table payload dict`` (docs/variables.md).
    Registering a type again replaces all of its methods.
    """
    methods = {method_name(name): fn for name, fn in methods.items()}
    unknown = sorted(set(methods) - set(METHOD_NAMES))
    if unknown:
        raise TypeError(f"unknown display method(s) {', '.join(unknown)}; "
                        f"expected some of {', '.join(METHOD_NAMES)}")
    for name, fn in methods.items():
        if not callable(fn):
            raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
    name = target if isinstance(target, str) else _type_name(target)
    if not name or "." not in name:
        raise ValueError(f"name a type as 'module.QualName', got {name!r}")
    with _lock:
        _by_name[name] = Registration(name, dict(methods))
        _cache.clear()


def method_name(name: str) -> str:
    """``display_value`` for itself and for ark's ``positron_variable_display_value``."""
    for prefix in GENERIC_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def register_method(generic: str, target: Target, fn: Callable[..., Any]) -> None:
    """ark's form: add one method (by its name or ark's generic name) to a type's others."""
    name = method_name(generic)
    if name not in METHOD_NAMES:
        raise TypeError(f"unknown display method {generic!r}; expected one of "
                        f"{', '.join(METHOD_NAMES)}")
    if not callable(fn):
        raise TypeError(f"{generic} must be callable, got {type(fn).__name__}")
    key = target if isinstance(target, str) else _type_name(target)
    with _lock:
        known = dict(_by_name[key].methods) if key in _by_name else {}
    known[name] = fn
    register(target, **known)


def unregister(target: Target) -> None:
    name = target if isinstance(target, str) else _type_name(target)
    with _lock:
        _by_name.pop(name, None)
        _cache.clear()


def lookup(cls: type) -> Optional[Registration]:
    """The registration that applies to instances of ``cls``, if any."""
    try:
        return _cache[cls]
    except KeyError:
        pass
    found = None
    if _by_name:
        for base in cls.__mro__:
            found = _by_name.get(_type_name(base))
            if found is not None:
                break
    with _lock:
        _cache[cls] = found
    return found


def report_failure(registration: Registration, method: str, exc: BaseException) -> None:
    """Log a failing registered method the first time it fails, and keep it for snapshots."""
    key = (registration.name, method)
    with _lock:
        if key in _reported:
            return
        _reported.add(key)
        _failures.append({"type": registration.name, "method": method,
                          "error": f"{type(exc).__name__}: {exc}"[:500]})
    log.warning("filebridge: %s.%s failed (%s: %s); showing the default instead "
                "(reported once)",
                registration.name, method, type(exc).__name__, exc)


def failures() -> list[dict[str, str]]:
    """Every registered method that failed so far, once each."""
    with _lock:
        return list(_failures)
