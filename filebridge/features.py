"""What a feature is, and the one registry that ``serve``, the web page, the command line, the
demo and ``bench`` collect features from (docs/architecture.md, "How to add a feature").

The features shipped with filebridge are listed here; another package adds one with an entry
point in the ``filebridge.features`` group naming its ``Feature`` object::

    [project.entry-points."filebridge.features"]
    mine = "mypackage.feature:FEATURE"

References are ``"module:attribute"`` strings, loaded when first needed, so that this module
imports none of the features and a command that needs none of them loads none.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

if TYPE_CHECKING:
    from filebridge.demo import DemoContext
    from filebridge.host import Host

__all__ = ["ENTRY_POINT_GROUP", "DemoStep", "Feature", "Stoppable", "features",
           "install_features", "load"]

ENTRY_POINT_GROUP = "filebridge.features"

BUILTIN: tuple[str, ...] = (
    "filebridge.host.imports.feature:FEATURE",
    "filebridge.host.viewers.feature:FEATURE",
    "filebridge.host.variables.feature:FEATURE",
    "filebridge.notebooks.feature:FEATURE",
    "filebridge.r.feature:FEATURE",
    "filebridge.host.vscode_r.feature:FEATURE",
    "filebridge.testing.record_feature:FEATURE",
)

log = logging.getLogger("filebridge.features")


class Stoppable(Protocol):
    def stop(self) -> None: ...


def _no_options(parser: argparse.ArgumentParser) -> None:
    """A feature without ``serve`` options."""


def _nothing_to_install(host: Host, args: argparse.Namespace) -> None:
    """A feature with no host side (its worker side and commands are all there is)."""


@dataclass(frozen=True)
class DemoStep:
    """One step of ``filebridge demo``: ``run`` raises ``DemoFailure`` when the step fails."""

    title: str
    run: Callable[[DemoContext], None]


@dataclass(frozen=True)
class Feature:
    """Everything filebridge needs to know about a feature.

    ``install(host, args)`` registers the feature's handlers on a host built by ``serve`` (or an
    embedding program) from the parsed options that ``add_serve_arguments`` added; whatever it
    returns is stopped with the host, so after ``host.stop()`` nothing of the feature runs.
    ``commands`` are ``register(subparsers)`` functions of its ``filebridge`` subcommands;
    ``panels`` name the web page's panels (``"module:attribute"`` of a
    ``filebridge.ui.panels.Panel``); ``benchmarks`` are the NAMEs of ``filebridge bench NAME``.
    """

    name: str
    summary: str
    install: Callable[[Host, argparse.Namespace], Optional[Stoppable]] = _nothing_to_install
    add_serve_arguments: Callable[[argparse.ArgumentParser], None] = _no_options
    commands: Sequence[Callable[[Any], None]] = ()
    panels: Sequence[str] = ()
    demo: Optional[DemoStep] = None
    benchmarks: Sequence[str] = ()


def load(reference: str) -> Any:
    """The object ``"module:attribute"`` names."""
    module, _, attribute = reference.partition(":")
    value: Any = importlib.import_module(module)
    for part in filter(None, attribute.split(".")):
        value = getattr(value, part)
    return value


_lock = threading.Lock()
_loaded: Optional[list[Feature]] = None


def _entry_point_references() -> list[tuple[str, str]]:
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        group = entry_points(group=ENTRY_POINT_GROUP)
    else:
        group = entry_points().get(ENTRY_POINT_GROUP, ())
    return [(point.name, point.value) for point in group]


def features() -> list[Feature]:
    """Every feature, the built-in ones first, in a fixed order; loaded once per process."""
    global _loaded
    with _lock:
        if _loaded is None:
            loaded: list[Feature] = []
            names: set[str] = set()
            extra = [reference for _, reference in _entry_point_references()
                     if reference not in BUILTIN]
            for reference in (*BUILTIN, *extra):
                try:
                    feature = load(reference)
                except Exception:
                    log.exception("feature %s could not be loaded; serving without it", reference)
                    continue
                if not isinstance(feature, Feature):
                    log.error("feature %s is not a filebridge.features.Feature", reference)
                elif feature.name in names:
                    log.error("feature %s: the name %r is taken", reference, feature.name)
                else:
                    names.add(feature.name)
                    loaded.append(feature)
            _loaded = loaded
        return list(_loaded)


def install_features(host: Host, args: argparse.Namespace) -> None:
    """Install every feature on ``host``; each one's running part stops with the host."""
    for feature in features():
        installed = feature.install(host, args)
        if installed is not None:
            host.on_stop(installed.stop)
