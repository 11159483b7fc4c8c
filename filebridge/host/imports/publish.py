"""Publishing the module index into session folders, and the import commands.

The index goes to ``<session>/modules.json`` by atomic replace: a worker checks the file's
identity before each import under its roots and parses it again only when it was replaced.
Commands: ``module_spec`` (one module), ``module_sources`` (many, for a worker whose cache is
cold), ``module_index`` (what changed since a generation, after a fresh look at the files) and
``module_resource`` (a data file or folder of a served package).

A ``module_index`` look costs what changed, not the size of the tree, when the served folders
report file events (SourceWatcher.settle); otherwise, or for a tree small enough that a stat of
each file is quicker, it ``stat``s every served file.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from filebridge.errors import FilebridgeError, RemoteError
from filebridge.host.dispatch import Call
from filebridge.host.imports.module_source import ModuleSourceProvider
from filebridge.host.imports.resources import read_resource
from filebridge.host.server import Host, HostEvent
from filebridge.wire.codec import dumps
from filebridge.wire.files import atomic_write
from filebridge.wire.layout import SessionLayout

if TYPE_CHECKING:
    from filebridge.host.imports.watch import SourceWatcher

__all__ = ["INDEX_FILE", "IndexPublisher", "index_path"]

INDEX_FILE = "modules.json"
PUBLISHED_TO = ("alive", "stale")
STAT_LOOK_LIMIT = 400  # modules; a stat is 2-20 us, waiting for the events about 10 ms
log = logging.getLogger("filebridge.host.imports")


def index_path(layout: SessionLayout) -> Path:
    return layout.folder / INDEX_FILE


class IndexPublisher:
    """Keeps every served session's ``modules.json`` equal to the provider's index."""

    def __init__(self, host: Host, provider: ModuleSourceProvider) -> None:
        self.host = host
        self.provider = provider
        self._lock = threading.Lock()
        self._encoded: tuple[int, bytes] = (-1, b"")
        self._active = True
        self._publishing = threading.Lock()
        self.watcher: Optional[SourceWatcher] = None  # set when the folders are watched
        # Up to this many modules a stat of each is quicker than waiting for the events.
        self.stat_look_limit = STAT_LOOK_LIMIT

    def install(self) -> None:
        self.host.register("module_spec", self.module_spec, idempotent=True, inline=True)
        self.host.register("module_index", self.module_index, idempotent=True)
        self.host.register("module_sources", self.module_sources, idempotent=True)
        self.host.register("module_resource", self.module_resource, idempotent=True)
        self.host.subscribe(self._on_event)
        self.publish_all()

    def close(self) -> None:
        """Stop publishing; the host has no way to drop handlers, so they answer "not found"."""
        self._active = False

    def module_spec(self, call: Call) -> dict[str, Any]:
        name = call.args.get("name")
        known = call.args.get("known_hash")
        if not isinstance(name, str):
            raise RemoteError("bad_request", "module_spec needs a string 'name'")
        if not self._active:
            return {"found": False, "name": name}
        return self.provider.find(name, known if isinstance(known, str) else None)

    def module_sources(self, call: Call) -> dict[str, Any]:
        names = call.args.get("names")
        if not isinstance(names, list):
            raise RemoteError("bad_request", "module_sources needs a list 'names'")
        if not self._active:
            return {"modules": [{"found": False, "name": name} for name in names]}
        return {"modules": self.provider.find_many(names)}

    def module_resource(self, call: Call) -> dict[str, Any]:
        if not self._active:
            raise RemoteError("unavailable", "this host no longer serves module source")
        return read_resource(self.provider, call.args.get("root"), call.args.get("path"),
                             read=call.args.get("read", True) is not False)

    def module_index(self, call: Call) -> dict[str, Any]:
        """Look at the files now (a save may be newer than the watcher's last event); answer
        what changed since the worker's ``since`` generation, else the whole index."""
        if not self._active:
            raise RemoteError("unavailable", "this host no longer serves module source")
        tree = self.provider.tree
        watcher = self.watcher
        settled = (watcher is not None and tree.module_count() > self.stat_look_limit
                   and watcher.settle())
        # Folders a watcher polls: a light look (SourceIndex.verify); the watcher's own
        # poll bounds how late an in-place save of a long-untouched file can be.
        light = watcher is not None and watcher.polls
        if not settled and tree.verify(light=light):
            # The answer goes first; the session files follow on a thread of their own.
            threading.Thread(target=self.publish_all, name="filebridge-index-publish",
                             daemon=True).start()
        index = tree.index()
        since = call.args.get("since")
        changed = (tree.changes_since(since)
                   if isinstance(since, int) and not isinstance(since, bool) else None)
        if changed is None:
            return index
        answer = {"v": index["v"], "generation": index["generation"], "since": since,
                  "roots": index["roots"], "changed": changed,
                  "distributions": index["distributions"]}
        if call.args.get("sources") is True:
            answer["sources"] = self._sources_of([n for n, e in changed.items()
                                                  if e is not None and e["origin"]])
        return answer

    def _sources_of(self, names: list[str]) -> dict[str, Any]:
        """name -> {hash, source} of changed modules, up to the batch size of source."""
        found: dict[str, Any] = {}
        for answer in self.provider.find_many(names):
            if answer.get("found") and isinstance(answer.get("source"), str):
                found[answer["name"]] = {"hash": answer["hash"], "source": answer["source"]}
        return found

    def _encoded_index(self) -> bytes:
        index = self.provider.index()
        with self._lock:
            if self._encoded[0] != index["generation"]:
                self._encoded = (index["generation"], dumps(index))
            return self._encoded[1]

    def publish(self, layout: SessionLayout) -> None:
        try:
            atomic_write(index_path(layout), self._encoded_index())
        except OSError as exc:
            log.warning("cannot publish the module index to %s: %s", layout.folder, exc)

    def publish_all(self) -> None:
        if not self._active:
            return
        with self._publishing:
            for session in self.host.sessions():
                if session.status in PUBLISHED_TO:
                    self.publish(session.layout)

    def _on_event(self, event: HostEvent) -> None:
        if not self._active or event.kind not in ("session_added", "attached"):
            return
        try:
            session = self.host.session(event.session_id)
        except FilebridgeError:
            return
        if session.status != "refused":
            self.publish(session.layout)
