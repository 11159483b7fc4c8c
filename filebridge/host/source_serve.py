"""The remote-imports feature of ``filebridge serve``: ``--source``, ``--include``, ``--exclude``.

    from filebridge.host import Host
    from filebridge.host.source_serve import serve_sources

    host = Host(root)
    service = serve_sources(host, ["~/proj", "~/lib/src=mylib"])
    host.start()
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from filebridge.host.module_source import ModuleSourceProvider
from filebridge.host.server import Host
from filebridge.host.source_publish import IndexPublisher
from filebridge.host.source_rules import DEFAULT_EXCLUDES, SourceRules, parse_source
from filebridge.host.source_watch import SourceWatcher

__all__ = ["SourceService", "add_serve_arguments", "install", "serve_sources"]


class SourceService:
    """The running pieces: provider (answers), publisher (index files), watcher (changes)."""

    def __init__(self, provider: ModuleSourceProvider, publisher: IndexPublisher,
                 watcher: Optional[SourceWatcher]) -> None:
        self.provider = provider
        self.publisher = publisher
        self.watcher = watcher

    def stop(self) -> None:
        """Stop watching and publishing; later module_spec requests are answered "not found"."""
        self.publisher.close()
        if self.watcher is not None:
            self.watcher.stop()


def serve_sources(host: Host, sources: Sequence[str], *, include: Sequence[str] = (),
                  exclude: Sequence[str] = (), watch: bool = True,
                  force_polling: Optional[bool] = None) -> SourceService:
    """Serve ``sources`` (each ``DIR`` or ``DIR=NAME``) to the host's workers.

    The folders are polled when one is on a network filesystem, or with
    ``force_polling=True``; otherwise file events keep the index current.

    Raises SourceConfigError for a missing folder, a name that is not an identifier, or two
    sources with one name.
    """
    provider = ModuleSourceProvider([parse_source(text) for text in sources],
                                    SourceRules(include, exclude))
    publisher = IndexPublisher(host, provider)
    publisher.install()
    watcher = None
    if watch:
        watcher = SourceWatcher(provider, publisher.publish_all, force_polling=force_polling)
        publisher.watcher = watcher
        watcher.start()
    service = SourceService(provider, publisher, watcher)
    host.on_stop(service.stop)
    return service


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote imports")
    group.add_argument("--source", action="append", default=[], metavar="DIR[=NAME]",
                       help="serve the Python modules in DIR to workers as NAME (default: the "
                            "folder's name); repeatable")
    group.add_argument("--include", action="append", default=[], metavar="GLOB",
                       help="serve only module files matching GLOB; repeatable")
    group.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                       help="never serve files or folders matching GLOB, in addition to "
                            f"{', '.join(DEFAULT_EXCLUDES)}; repeatable")


def install(host: Host, args: argparse.Namespace) -> Optional[SourceService]:
    """Serve the ``--source`` folders, if any were given."""
    sources = getattr(args, "source", None) or []
    if not sources:
        return None
    return serve_sources(host, sources, include=getattr(args, "include", None) or [],
                         exclude=getattr(args, "exclude", None) or [])
