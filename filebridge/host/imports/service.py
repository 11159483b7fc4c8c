"""Serving local Python source to workers: the provider, the index publisher and the watcher.

    from filebridge.host import Host
    from filebridge.host.imports.service import serve_sources

    host = Host(root)
    service = serve_sources(host, ["~/proj", "~/lib/src=mylib"])
    host.start()
"""

from __future__ import annotations

from typing import Optional, Sequence

from filebridge.host.imports.module_source import ModuleSourceProvider
from filebridge.host.imports.publish import IndexPublisher
from filebridge.host.imports.rules import SourceRules, parse_source
from filebridge.host.imports.watch import SourceWatcher
from filebridge.host.server import Host

__all__ = ["SourceService", "serve_sources"]


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
