"""Shadow ``.ipynb`` files: an editable notebook view of a source notebook that stays the truth.

Every decision is made from content hashes kept in a small state file in the session folder, so
a watcher, a later ``status`` and a ``reload`` from another process all see the same state, and
rename-saves, truncate-and-write saves and several saves within one second look alike: the bytes
differ from the ones recorded, or they do not. The source is re-hashed right before every write
to it, whatever events said. A sync of one changed file touches only the shadows of that file.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import logging
import os
import re
import secrets
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import orjson
from filelock import FileLock, Timeout

from filebridge.errors import NotebookConflict, NotebookError, NotebookFormatError
from filebridge.notebooks.files import (
    default_file_mode,
    read_bytes_or_none,
    read_complete,
    read_settled,
    replace_user_file,
    sha256_hex,
)
from filebridge.notebooks.ipynb import METADATA_KEY, to_ipynb, to_source
from filebridge.notebooks.languages import language_for_path, language_named
from filebridge.notebooks.notebook_json import dumps_ipynb, is_complete_json, loads_ipynb
from filebridge.notebooks.progress import PROGRESS_MIN_BYTES, ProgressCallback, Steps
from filebridge.notebooks.run_stub import remove_run_stub, write_run_stub
from filebridge.notebooks.runs import run_targets
from filebridge.wire.processes import pid_alive

__all__ = [
    "LOCATIONS",
    "SESSION_ENV",
    "ShadowEntry",
    "ShadowSession",
    "SyncEvent",
    "default_session_id",
    "default_workspace",
    "new_session_id",
    "sessions_folder",
    "shadow_path_for",
]

logger = logging.getLogger("filebridge.notebooks")

SESSION_ENV = "FILEBRIDGE_NOTEBOOK_SESSION"
LOCATIONS = ("temp", "workspace")
WORKSPACE_FOLDER = Path(".databricks") / "filebridge-notebooks"
_SESSION_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_READ_ONLY_STATES = ("stale", "conflict", "deleted")
_LOCK_TIMEOUT = 30.0


@dataclass
class ShadowEntry:
    """What the session remembers about one shadow (one line of ``state.json``)."""

    source: str
    shadow: str
    workspace: str
    location: str
    language: str
    source_sha256: str
    shadow_sha256: str
    status: str = "synced"
    reason: str = ""
    auto_reload: bool = False
    reported_sha256: str = ""
    version: str = ""

    @property
    def read_only(self) -> bool:
        return self.status in _READ_ONLY_STATES


@dataclass
class SyncEvent:
    """Something a sync did or found, for logs, ``--json`` output and tests."""

    kind: str
    source: str
    shadow: str
    message: str
    warnings: list[str] = field(default_factory=list)
    progress: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.progress is None:
            del out["progress"]
        return out


def new_session_id() -> str:
    """A random id: every window (watcher, integration) gets its own shadows."""
    return secrets.token_hex(6)


def default_session_id() -> str:
    """``$FILEBRIDGE_NOTEBOOK_SESSION``, else a new random id."""
    return os.environ.get(SESSION_ENV) or new_session_id()


def _user_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", user).lstrip(".") or "user"


def sessions_folder(temp_dir: Optional[Path] = None) -> Path:
    """``<tmp>/databricks-notebooks-<user>``: the folder holding this user's sessions."""
    base = Path(temp_dir) if temp_dir is not None else Path(tempfile.gettempdir())
    return base / f"databricks-notebooks-{_user_name()}"


def shadow_path_for(
    source: Union[str, os.PathLike[str]],
    workspace: Union[str, os.PathLike[str]],
    *,
    session_folder: Path,
    location: str = "temp",
) -> Path:
    """Where the shadow of ``source`` lives.

    The source's own name is kept as a folder (``nb/foo.py/foo.ipynb``) so ``foo.py`` and
    ``foo.sql`` side by side get different shadows; the workspace is identified by a hash of its
    real path so two checkouts never share a shadow.
    """
    real_source = Path(os.path.realpath(source))
    real_workspace = Path(os.path.realpath(workspace))
    try:
        relative = real_source.relative_to(real_workspace)
    except ValueError:
        raise NotebookError(f"{source} is not inside the workspace {workspace}") from None
    name = f"{real_source.stem}.ipynb"
    if location == "workspace":
        return real_workspace / WORKSPACE_FOLDER / relative / name
    if location != "temp":
        raise NotebookError(f"unknown shadow location {location!r} (use temp or workspace)")
    digest = hashlib.sha256(str(real_workspace).encode()).hexdigest()[:8]
    return session_folder / digest / relative / name


class ShadowSession:
    """All shadows of one session: ``<tmp>/databricks-notebooks-<user>/<session id>/``."""

    def __init__(self, session_id: Optional[str] = None, *, temp_dir: Optional[Path] = None):
        self.session_id = session_id or default_session_id()
        if not _SESSION_ID.fullmatch(self.session_id):
            raise NotebookError(
                f"bad session id {self.session_id!r}: use 1-64 of A-Z a-z 0-9 _ . -"
            )
        self.temp_dir = temp_dir
        self.folder = sessions_folder(temp_dir) / self.session_id
        self.state_path = self.folder / "state.json"
        self.owner_path = self.folder / "owner.json"
        self._lock = FileLock(str(self.folder / "state.lock"), timeout=_LOCK_TIMEOUT)

    @classmethod
    def existing(cls, temp_dir: Optional[Path] = None) -> list[ShadowSession]:
        """Every session of this user that has a folder, oldest first."""
        root = sessions_folder(temp_dir)
        try:
            names = [entry for entry in os.scandir(root) if entry.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        names.sort(key=lambda entry: entry.stat(follow_symlinks=False).st_mtime)
        return [cls(entry.name, temp_dir=temp_dir) for entry in names
                if _SESSION_ID.fullmatch(entry.name)]

    # -- public operations ------------------------------------------------------------------

    def open(
        self,
        source: Union[str, os.PathLike[str]],
        *,
        workspace: Union[str, os.PathLike[str], None] = None,
        location: str = "temp",
        auto_reload: bool = False,
        progress: Optional[Callable[[SyncEvent], None]] = None,
    ) -> SyncEvent:
        """Create the shadow of ``source`` (or reuse this session's), and return where it is.

        ``progress`` receives ``progress`` events while a source over 1 MB is converted.
        """
        real_source = Path(os.path.realpath(source))
        language = language_for_path(real_source)
        if not real_source.is_file():
            raise NotebookError(f"{source}: no such source notebook")
        root = Path(workspace) if workspace is not None else default_workspace(real_source)
        self._ensure_folder()
        shadow = shadow_path_for(
            real_source, root, session_folder=self.folder, location=location
        )
        with self._state(lambda item: item.get("shadow") == str(shadow)) as state:
            entry = state.get(str(shadow))
            if entry is not None and Path(entry.shadow).is_file():
                entry.auto_reload = auto_reload
                events = self._sync_entry(entry, reopen=True)
                detail = "; ".join(event.message for event in events)
                message = f"reusing {shadow}" + (f" ({detail})" if detail else "")
                warnings = [w for event in events for w in event.warnings]
                return SyncEvent("reused", entry.source, entry.shadow, message, warnings)
            entry = ShadowEntry(
                source=str(real_source),
                shadow=str(shadow),
                workspace=os.path.realpath(root),
                location=location,
                language=language.name,
                source_sha256="",
                shadow_sha256="",
                auto_reload=auto_reload,
            )
            self._make_folders(shadow, location)
            self._regenerate(entry, keep_from=None, progress=_progress_events(entry, progress))
            state[entry.shadow] = entry
            return SyncEvent("opened", entry.source, entry.shadow, f"opened {shadow}")

    def sync(self, source: Union[str, os.PathLike[str], None] = None) -> list[SyncEvent]:
        """Bring every shadow (or those of ``source``) in line with its source, once."""
        if not self.state_path.exists():
            return []
        events: list[SyncEvent] = []
        with self._state(self._of_source(source)) as state:
            for entry in list(state.values()):
                events.extend(self._sync_entry(entry))
        return events

    def sync_paths(self, paths: Iterable[Union[str, os.PathLike[str]]]) -> list[SyncEvent]:
        """Sync only the shadows whose source or shadow is one of ``paths`` (changed files).

        This is what a file event calls: its cost does not grow with the number of shadows
        beyond one look-up each.
        """
        wanted = {os.path.realpath(path) for path in paths}
        wanted |= {os.path.abspath(path) for path in paths}
        if not wanted or not self.state_path.exists():
            return []
        events: list[SyncEvent] = []
        def select(item: dict[str, Any]) -> bool:
            return item.get("shadow") in wanted or item.get("source") in wanted

        with self._state(select) as state:
            for entry in list(state.values()):
                events.extend(self._sync_entry(entry))
        return events

    def reload(self, source: Union[str, os.PathLike[str]]) -> list[SyncEvent]:
        """Regenerate the shadow(s) of ``source`` from it, ending read-only or conflict states.

        Outputs of cells whose text did not change are kept; shadow edits not yet saved back are
        dropped (a conflict already kept a copy of them).
        """
        events: list[SyncEvent] = []
        with self._state(self._of_source(source)) as state:
            entries = list(state.values())
            if not entries:
                raise NotebookError(f"{source} has no shadow in session {self.session_id}")
            for entry in entries:
                if not Path(entry.source).is_file():
                    raise NotebookError(f"{entry.source}: the source is deleted; cannot reload")
                self._make_folders(Path(entry.shadow), entry.location)
                self._regenerate(entry, keep_from=read_bytes_or_none(Path(entry.shadow)))
                events.append(
                    SyncEvent("reloaded", entry.source, entry.shadow, f"reloaded {entry.shadow}")
                )
        return events

    def close(self, source: Union[str, os.PathLike[str]]) -> list[SyncEvent]:
        """Save pending edits of ``source``'s shadow(s) back, then remove them from the session.

        Conflict copies are kept (they hold edits that were not saved anywhere else).
        """
        events: list[SyncEvent] = []
        with self._state(self._of_source(source)) as state:
            entries = list(state.values())
            if not entries:
                raise NotebookError(f"{source} has no shadow in session {self.session_id}")
            for entry in entries:
                events.extend(self._close_entry(state, entry))
        return events

    def end(self) -> list[SyncEvent]:
        """Close every shadow and remove the session folder (kept if it holds conflict copies)."""
        events: list[SyncEvent] = []
        if self.folder.is_dir():
            with self._state() as state:
                for entry in list(state.values()):
                    events.extend(self._close_entry(state, entry))
            self._remove_folder_if_unused()
        return events

    def claim(self) -> None:
        """Record this process as the session's owner: the session ends when it exits."""
        self._ensure_folder()
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        replace_user_file(self.owner_path, orjson.dumps(owner), 0o600)

    def owner_alive(self) -> Optional[bool]:
        """Whether the owning process still runs; None when the session has no owner."""
        data = read_bytes_or_none(self.owner_path)
        if data is None:
            return None
        try:
            owner = orjson.loads(data)
            pid, host = int(owner["pid"]), str(owner["host"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return False
        if host != socket.gethostname():
            return True  # another machine's process cannot be checked from here
        return pid_alive(pid)

    def prune(self) -> list[SyncEvent]:
        """Remove shadows whose source is deleted (and their folders); keep unsaved edits."""
        events: list[SyncEvent] = []
        if not self.state_path.exists():
            return events
        with self._state() as state:
            for entry in list(state.values()):
                if not Path(entry.source).exists():
                    events.extend(self._close_entry(state, entry))
        return events

    def entries(self) -> list[ShadowEntry]:
        """Every shadow this session knows, as last recorded (no file is touched)."""
        return list(self._load().values())

    def status(self) -> list[dict[str, Any]]:
        """The recorded state of each shadow, plus what changed since, judged by hashes now."""
        out = []
        for entry in self.entries():
            source_bytes = read_bytes_or_none(Path(entry.source))
            shadow_bytes = read_bytes_or_none(Path(entry.shadow))
            item = asdict(entry)
            del item["reported_sha256"]
            item["session"] = self.session_id
            item["read_only"] = entry.read_only
            item["source_exists"] = source_bytes is not None
            item["shadow_exists"] = shadow_bytes is not None
            item["source_changed"] = (
                source_bytes is not None and sha256_hex(source_bytes) != entry.source_sha256
            )
            item["shadow_changed"] = (
                shadow_bytes is not None and sha256_hex(shadow_bytes) != entry.shadow_sha256
            )
            out.append(item)
        return out

    def watched_folders(self) -> list[Path]:
        """The parent folders of every source and shadow: editors replace files by rename."""
        return sorted(Path(folder) for folder in self.folder_names() if os.path.isdir(folder))

    def folder_names(self) -> set[str]:
        """The parent folders of every source and shadow as recorded, existing or not."""
        folders: set[str] = set()
        for item in self._load_raw(read_bytes_or_none(self.state_path)).values():
            if isinstance(item, dict):
                for key in ("source", "shadow"):
                    if isinstance(item.get(key), str):
                        folders.add(os.path.dirname(item[key]))
        return folders

    # -- state file -------------------------------------------------------------------------

    def _ensure_folder(self) -> None:
        self.folder.parent.parent.mkdir(parents=True, exist_ok=True)
        for folder in (self.folder.parent, self.folder):
            folder.mkdir(mode=0o700, exist_ok=True)
            if hasattr(os, "getuid"):
                info = folder.lstat()
                if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
                    raise NotebookError(f"{folder} is not a folder owned by this user; not used")
                if stat.S_IMODE(info.st_mode) != 0o700:
                    os.chmod(folder, 0o700)

    def _load(self) -> dict[str, ShadowEntry]:
        raw = self._load_raw(read_bytes_or_none(self.state_path))
        return _entries(raw, None, self.state_path)

    def _load_raw(self, data: Optional[bytes]) -> dict[str, Any]:
        if not data:
            return {}
        try:
            shadows = orjson.loads(data)["shadows"]
            if isinstance(shadows, dict):
                return shadows
        except (orjson.JSONDecodeError, KeyError, TypeError):
            pass
        logger.warning("%s is unreadable; starting with no shadows", self.state_path)
        return {}

    @contextlib.contextmanager
    def _state(
        self, select: Optional[Callable[[dict[str, Any]], bool]] = None
    ) -> Iterator[dict[str, ShadowEntry]]:
        """The recorded shadows (only those ``select`` accepts), written back when changed.

        Entries not selected stay as they were read and are never turned into objects: a sync
        of one file costs a parse of the state file, not work on every shadow.
        """
        self._ensure_folder()
        try:
            with self._lock:
                before = read_bytes_or_none(self.state_path)
                raw = self._load_raw(before)
                state = _entries(raw, select, self.state_path)
                chosen = set(state)
                yield state
                for key in chosen - set(state):
                    raw.pop(key, None)
                raw.update((key, dict(vars(entry))) for key, entry in state.items())
                payload = {"version": 1, "shadows": raw}
                data = orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                if data != before:
                    # Hashes lost in a crash only make the next sync see changes that are not
                    # there (read-only, never a lost edit); not worth an fsync per event.
                    replace_user_file(self.state_path, data, 0o600, durable=False)
        except Timeout:
            raise NotebookError(f"{self.state_path} stayed locked; is a sync stuck?") from None

    def _of_source(
        self, source: Union[str, os.PathLike[str], None]
    ) -> Optional[Callable[[dict[str, Any]], bool]]:
        if source is None:
            return None
        names = {os.path.realpath(source), os.path.abspath(source)}
        return lambda item: item.get("source") in names

    def _close_entry(self, state: dict[str, ShadowEntry], entry: ShadowEntry) -> list[SyncEvent]:
        events = self._sync_entry(entry) if Path(entry.source).exists() else []
        shadow = Path(entry.shadow)
        shadow_bytes = read_bytes_or_none(shadow)
        if (shadow_bytes is not None and entry.status != "conflict"
                and sha256_hex(shadow_bytes) != entry.shadow_sha256):
            copy = self._keep_copy(entry, shadow_bytes)
            events.append(
                self._event("kept", entry, f"shadow edits not saved back; kept in {copy}")
            )
        shadow.unlink(missing_ok=True)
        _marker(shadow).unlink(missing_ok=True)
        remove_run_stub(shadow)
        del state[entry.shadow]
        self._remove_empty_folders(shadow.parent, entry)
        events.append(self._event("closed", entry, f"closed {entry.shadow}"))
        return events

    def _remove_empty_folders(self, folder: Path, entry: ShadowEntry) -> None:
        stop = self.folder if entry.location == "temp" else (
            Path(entry.workspace) / WORKSPACE_FOLDER
        )
        while folder != stop and stop in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _remove_folder_if_unused(self) -> None:
        leftovers = [path for path in self.folder.rglob("*")
                     if path.is_file() and path.name not in ("state.json", "state.lock",
                                                              "owner.json")]
        if not leftovers:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            self.owner_path.unlink(missing_ok=True)

    # -- the sync rules ---------------------------------------------------------------------

    def _read_source(self, entry: ShadowEntry) -> Optional[bytes]:
        data = read_bytes_or_none(Path(entry.source))
        if data is not None and sha256_hex(data) != entry.source_sha256:
            # A changed source may be half way through a truncate-and-write save.
            data = read_settled(Path(entry.source))
        return data

    def _read_shadow(self, entry: ShadowEntry) -> Optional[bytes]:
        data = read_bytes_or_none(Path(entry.shadow))
        if data is not None and sha256_hex(data) != entry.shadow_sha256:
            data = read_complete(Path(entry.shadow), is_complete_json)
        return data

    def _sync_entry(self, entry: ShadowEntry, *, reopen: bool = False) -> list[SyncEvent]:
        source_bytes = self._read_source(entry)
        shadow_bytes = self._read_shadow(entry)
        if source_bytes is None:
            if entry.status != "deleted":
                self._set_read_only(entry, "deleted", "the source was deleted")
                return [self._event("deleted", entry, "source deleted; shadow is read-only")]
            shadow_hash = sha256_hex(shadow_bytes) if shadow_bytes is not None else ""
            if shadow_hash and shadow_hash != entry.shadow_sha256 and (
                entry.reported_sha256 != shadow_hash
            ):
                entry.reported_sha256 = shadow_hash
                return [self._event("ignored", entry, "the source is deleted; shadow edit not "
                                    "saved anywhere (restore the source or copy the shadow)")]
            return []
        if shadow_bytes is None:
            if reopen:
                self._regenerate(entry, keep_from=None)
                return [self._event("reloaded", entry, "shadow was missing; regenerated")]
            if entry.reported_sha256 == "missing":
                return []
            entry.reported_sha256 = "missing"
            return [self._event("missing", entry, "shadow is gone; run open to regenerate")]

        source_changed = sha256_hex(source_bytes) != entry.source_sha256
        shadow_hash = sha256_hex(shadow_bytes)
        shadow_changed = shadow_hash != entry.shadow_sha256
        if entry.read_only:
            if source_changed and not shadow_changed and (entry.auto_reload or reopen):
                self._regenerate(entry, keep_from=shadow_bytes)
                return [self._event("reloaded", entry, "source changed; shadow regenerated")]
            if entry.status == "deleted" and not source_changed and not shadow_changed:
                self._set_writable(entry)
                return [self._event("restored", entry, "source is back unchanged; shadow writable")]
            if entry.status == "deleted" and source_changed:
                self._set_read_only(entry, "stale", "the source came back with other content")
                return [self._event("read-only", entry, "source came back; run reload")]
            if shadow_changed and entry.reported_sha256 != shadow_hash:
                entry.reported_sha256 = shadow_hash
                return [self._event("ignored", entry, f"shadow is read-only ({entry.reason}); "
                                    "edit not saved back, run reload")]
            return []
        if source_changed:
            if shadow_changed:
                return [self._conflict(entry, shadow_bytes, "source and shadow both changed")]
            if entry.auto_reload or reopen:
                self._regenerate(entry, keep_from=shadow_bytes)
                return [self._event("reloaded", entry, "source changed; shadow regenerated")]
            self._set_read_only(entry, "stale", "the source changed outside the shadow")
            return [self._event("read-only", entry, "source changed; shadow is read-only "
                                "until reload")]
        if shadow_changed:
            return self._save_back(entry, shadow_bytes, shadow_hash, source_bytes)
        return []

    def _save_back(
        self, entry: ShadowEntry, shadow_bytes: bytes, shadow_hash: str, source_bytes: bytes
    ) -> list[SyncEvent]:
        try:
            notebook = loads_ipynb(shadow_bytes)
            result = to_source(notebook, language_named(entry.language))
        except NotebookFormatError as exc:
            # An editor still writing after the wait, or a broken file: the next event retries.
            if entry.reported_sha256 != shadow_hash:
                entry.reported_sha256 = shadow_hash
                return [self._event("waiting", entry, f"shadow not readable yet ({exc})")]
            return []
        based_on = _shadow_version(notebook)
        if entry.version and based_on and based_on != entry.version:
            return [self._conflict(
                entry, shadow_bytes,
                f"the shadow was saved from an older version of the source ({based_on}, now "
                f"{entry.version}), by an editor still holding it before a reload",
            )]
        new_bytes = result.text.encode("utf-8")
        if new_bytes == source_bytes:
            entry.shadow_sha256 = shadow_hash
            return []
        current = read_bytes_or_none(Path(entry.source))
        if current is None or sha256_hex(current) != entry.source_sha256:
            return [self._conflict(entry, shadow_bytes, "source and shadow both changed")]
        replace_user_file(Path(entry.source), new_bytes)
        entry.source_sha256 = sha256_hex(new_bytes)
        entry.shadow_sha256 = shadow_hash
        return [self._event("saved", entry, "shadow saved to source", result.warnings)]

    def _keep_copy(self, entry: ShadowEntry, shadow_bytes: bytes) -> Path:
        shadow = Path(entry.shadow)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        copy = shadow.with_name(f"{shadow.stem}.conflict-{stamp}.ipynb")
        n = 1
        while copy.exists():
            n += 1
            copy = shadow.with_name(f"{shadow.stem}.conflict-{stamp}-{n}.ipynb")
        replace_user_file(copy, shadow_bytes, self._writable_mode(entry))
        return copy

    def _conflict(self, entry: ShadowEntry, shadow_bytes: bytes, reason: str) -> SyncEvent:
        copy = self._keep_copy(entry, shadow_bytes)
        self._set_read_only(entry, "conflict", reason)
        # These bytes are reported here; the same bytes must not be reported again as ignored.
        entry.reported_sha256 = sha256_hex(shadow_bytes)
        error = NotebookConflict(
            f"{entry.source}: {reason}: the source was not overwritten; shadow edits kept in "
            f"{copy}; run reload"
        )
        return self._event("conflict", entry, str(error))

    def _regenerate(self, entry: ShadowEntry, keep_from: Optional[bytes],
                    progress: Optional[ProgressCallback] = None) -> None:
        source_bytes = read_bytes_or_none(Path(entry.source))
        if source_bytes is None:
            raise NotebookError(f"{entry.source}: no such source notebook")
        if len(source_bytes) < PROGRESS_MIN_BYTES:
            progress = None
        steps = Steps(progress, 0.0, 0.9)
        try:
            text = source_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise NotebookFormatError(f"{entry.source}: not UTF-8 text") from None
        notebook = to_ipynb(text, entry.language, steps if progress else None)
        if keep_from is not None:
            _carry_over(keep_from, notebook)
        source_hash = sha256_hex(source_bytes)
        version = f"{source_hash[:12]}.{secrets.token_hex(3)}"
        saved = notebook["metadata"][METADATA_KEY]
        saved["version"] = version
        runs = run_targets(notebook["cells"], entry.source, entry.workspace)
        if runs:
            saved["runs"] = [run.to_dict() for run in runs]
        data = dumps_ipynb(notebook).encode("utf-8")
        shadow = Path(entry.shadow)
        replace_user_file(shadow, data, self._writable_mode(entry))
        if entry.location == "workspace" and entry.language == "python":
            # Only there can a language server find it (docs/notebooks.md, %run).
            write_run_stub(shadow, Path(entry.source), runs, Path(entry.workspace))
        if progress is not None:
            progress(1.0)
        _marker(shadow).unlink(missing_ok=True)
        entry.source_sha256 = source_hash
        entry.shadow_sha256 = sha256_hex(data)
        entry.version = version
        entry.status, entry.reason, entry.reported_sha256 = "synced", "", ""

    def _set_writable(self, entry: ShadowEntry) -> None:
        shadow = Path(entry.shadow)
        os.chmod(shadow, self._writable_mode(entry))
        _marker(shadow).unlink(missing_ok=True)
        entry.status, entry.reason, entry.reported_sha256 = "synced", "", ""

    def _set_read_only(self, entry: ShadowEntry, status: str, reason: str) -> None:
        entry.status, entry.reason = status, reason
        shadow = Path(entry.shadow)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(shadow, 0o444)
        if shadow.parent.is_dir():
            replace_user_file(_marker(shadow), f"{status}: {reason}\n".encode(), 0o644)

    def _writable_mode(self, entry: ShadowEntry) -> int:
        return 0o600 if entry.location == "temp" else default_file_mode()

    def _make_folders(self, shadow: Path, location: str) -> None:
        if location == "temp":
            # Every level below the 0700 session folder is private too.
            folder = shadow.parent
            missing = []
            while not folder.exists() and folder != self.folder:
                missing.append(folder)
                folder = folder.parent
            for folder in reversed(missing):
                folder.mkdir(mode=0o700, exist_ok=True)
        else:
            shadow.parent.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _event(kind: str, entry: ShadowEntry, message: str,
               warnings: Optional[list[str]] = None) -> SyncEvent:
        return SyncEvent(kind, entry.source, entry.shadow, message, list(warnings or []))


def _entries(
    raw: dict[str, Any], select: Optional[Callable[[dict[str, Any]], bool]], state_path: Path
) -> dict[str, ShadowEntry]:
    out: dict[str, ShadowEntry] = {}
    for key, item in raw.items():
        if not isinstance(item, dict) or (select is not None and not select(item)):
            continue
        try:
            out[key] = ShadowEntry(**item)
        except TypeError:
            logger.warning("%s: entry %s is unreadable; skipped", state_path, key)
    return out


def _progress_events(
    entry: ShadowEntry, on_event: Optional[Callable[[SyncEvent], None]]
) -> Optional[ProgressCallback]:
    if on_event is None:
        return None

    def report(fraction: float) -> None:
        on_event(SyncEvent("progress", entry.source, entry.shadow,
                           f"converting: {fraction:.0%}", progress=round(fraction, 3)))

    return report


def _shadow_version(notebook: dict[str, Any]) -> str:
    """The source version a saved shadow was generated from ("" if an editor dropped it)."""
    metadata = notebook.get("metadata")
    saved = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    version = saved.get("version") if isinstance(saved, dict) else None
    return version if isinstance(version, str) else ""


def _marker(shadow: Path) -> Path:
    return shadow.with_name(shadow.name + ".readonly")


def default_workspace(source: Path) -> Path:
    """The current folder if it holds the source, else the source's own folder."""
    cwd = Path(os.path.realpath(os.getcwd()))
    return cwd if cwd in source.parents else source.parent


def _carry_over(old_shadow: bytes, notebook: dict[str, Any]) -> None:
    """Keep outputs, ids and the editor's notebook metadata for cells whose text is unchanged."""
    try:
        old = loads_ipynb(old_shadow)
    except NotebookFormatError:
        return
    old_cells = old.get("cells")
    if not isinstance(old_cells, list):
        return
    pool: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in old_cells:
        if isinstance(cell, dict) and isinstance(cell.get("source"), (str, list)):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(
                str(part) for part in cell["source"]
            )
            pool.setdefault((str(cell.get("cell_type")), source), []).append(cell)
    used_ids = set()
    for cell in notebook["cells"]:
        matches = pool.get((cell["cell_type"], "".join(cell["source"])))
        if not matches:
            continue
        old_cell = matches.pop(0)
        old_id = old_cell.get("id")
        if isinstance(old_id, str) and old_id not in used_ids and re.fullmatch(
            r"[A-Za-z0-9_-]{1,64}", old_id
        ):
            cell["id"] = old_id
        if cell["cell_type"] == "code":
            if isinstance(old_cell.get("outputs"), list):
                cell["outputs"] = old_cell["outputs"]
            count = old_cell.get("execution_count")
            cell["execution_count"] = count if isinstance(count, int) else None
    for cell in notebook["cells"]:
        used_ids.add(cell["id"])
    if len(used_ids) != len(notebook["cells"]):
        # An old id collided with a new one; fresh ids are safer than invalid duplicates.
        for index, cell in enumerate(notebook["cells"]):
            cell["id"] = f"{cell['id'][:50]}-{index}"
    old_meta = old.get("metadata")
    if isinstance(old_meta, dict):
        for key, value in old_meta.items():
            if key not in (METADATA_KEY, "language_info"):
                notebook["metadata"].setdefault(key, value)
