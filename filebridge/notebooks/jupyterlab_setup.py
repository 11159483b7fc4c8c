"""Install filebridge into JupyterLab: Databricks source notebooks open as notebooks on
double-click, saving byte exact.

Three files of fixed names, each removed by ``uninstall``; nothing else is edited:

- ``<config>/jupyter_server_config.d/filebridge-databricks.json`` enables the server extension
  ``filebridge.notebooks.jupyter``, which puts the Databricks contents manager in front of the
  configured one (a server extension, not ``contents_manager_class``: a server whose
  filebridge was uninstalled still starts, with a warning);
- ``<config>/labconfig/default_setting_overrides.d/filebridge-databricks.json`` sets JupyterLab's
  ``defaultViewers`` for the chosen file types to the notebook editor (a default the user's own
  settings still override);
- ``<data>/labextensions/filebridge-databricks/``, the front-end extension that lets the notebook
  editor view those file types (a copy of the one inside the package).

``<config>`` and ``<data>`` are the environment's (``sys.prefix/etc/jupyter``,
``sys.prefix/share/jupyter``) or the user's (``jupyter --config-dir``, ``--data-dir``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filebridge.errors import NotebookError
from filebridge.notebooks.files import replace_user_file

__all__ = ["DOUBLE_CLICK_TYPES", "SCOPES", "Locations", "install", "locations", "status",
           "uninstall"]

NAME = "filebridge-databricks"
SERVER_EXTENSION = "filebridge.notebooks.jupyter"
DOCMANAGER_PLUGIN = "@jupyterlab/docmanager-extension:plugin"
NOTEBOOK_FACTORY = "Notebook"
SCOPES = ("sys-prefix", "user")
BUNDLED_LABEXTENSION = Path(__file__).with_name("labextensions") / NAME

# JupyterLab's file type names per extension: its own ``python`` and ``r`` (which matches
# ``.r`` and ``.R``); ``.sql`` and ``.scala`` have none in JupyterLab, so the front-end
# extension registers these two.
DOUBLE_CLICK_TYPES: dict[str, str] = {
    "py": "python", "sql": "databricks-sql", "scala": "databricks-scala", "r": "r",
}


@dataclass(frozen=True)
class Locations:
    """Where the three installed pieces go for one scope."""

    scope: str
    config_dir: Path
    data_dir: Path

    @property
    def server_config(self) -> Path:
        return self.config_dir / "jupyter_server_config.d" / f"{NAME}.json"

    @property
    def settings(self) -> Path:
        return self.config_dir / "labconfig" / "default_setting_overrides.d" / f"{NAME}.json"

    @property
    def labextension(self) -> Path:
        return self.data_dir / "labextensions" / NAME


def locations(scope: str) -> Locations:
    """The folders of ``scope``: ``sys-prefix`` (this Python environment) or ``user``."""
    if scope == "sys-prefix":
        prefix = Path(sys.prefix)
        return Locations(scope, prefix / "etc" / "jupyter", prefix / "share" / "jupyter")
    if scope == "user":
        try:
            from jupyter_core.paths import jupyter_config_dir, jupyter_data_dir
        except ImportError:
            raise NotebookError(
                "JupyterLab is not installed here: pip install 'filebridge[jupyter]'"
            ) from None
        return Locations(scope, Path(jupyter_config_dir()), Path(jupyter_data_dir()))
    raise NotebookError(f"unknown scope {scope!r}: one of {', '.join(SCOPES)}")


def parse_double_click(value: str) -> list[str]:
    """``py,sql`` -> ``["py", "sql"]``; ``none`` -> ``[]``; anything else is an error."""
    if value.strip().lower() == "none":
        return []
    chosen = [part.strip().lower().lstrip(".") for part in value.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in DOUBLE_CLICK_TYPES]
    if unknown or not chosen:
        raise NotebookError(
            f"--double-click takes some of {','.join(DOUBLE_CLICK_TYPES)} or none, "
            f"not {value!r}")
    return sorted(set(chosen), key=list(DOUBLE_CLICK_TYPES).index)


def install(scope: str, double_click: Iterable[str]) -> dict[str, Any]:
    """Write the three pieces for ``scope`` (replacing an earlier install); returns what was
    written and the notes a user should read."""
    where = locations(scope)
    chosen = list(double_click)
    _check_jupyterlab()
    _write_json(where.server_config,
                {"ServerApp": {"jpserver_extensions": {SERVER_EXTENSION: True}}})
    if chosen:
        viewers = {DOUBLE_CLICK_TYPES[ext]: NOTEBOOK_FACTORY for ext in chosen}
        _write_json(where.settings, {DOCMANAGER_PLUGIN: {"defaultViewers": viewers}})
    else:
        _remove_file(where.settings)
    _copy_labextension(where.labextension)
    report = status(scope)
    report["written"] = [str(path) for path in
                         (where.server_config, where.settings, where.labextension)
                         if path.exists()]
    return report


def uninstall(scope: str) -> dict[str, Any]:
    """Remove what ``install`` wrote for ``scope``; returns the paths removed."""
    where = locations(scope)
    removed = [str(path) for path in (where.server_config, where.settings) if _remove_file(path)]
    if where.labextension.is_dir():
        if not _is_our_labextension(where.labextension):
            raise NotebookError(f"{where.labextension} is not filebridge's; left in place")
        shutil.rmtree(where.labextension)
        removed.append(str(where.labextension))
    for folder in (where.settings.parent, where.settings.parent.parent,
                   where.server_config.parent, where.labextension.parent):
        _remove_if_empty(folder)
    return {"scope": scope, "removed": removed}


def status(scope: str) -> dict[str, Any]:
    """What is installed for ``scope``: the pieces present, the file types that open as
    notebooks on double-click, and notes (a user setting that hides ours, jupytext)."""
    where = locations(scope)
    double_click: list[str] = []
    if where.settings.is_file():
        viewers = _read_json(where.settings).get(DOCMANAGER_PLUGIN, {}).get("defaultViewers", {})
        double_click = [ext for ext, name in DOUBLE_CLICK_TYPES.items()
                        if viewers.get(name) == NOTEBOOK_FACTORY]
    pieces = {
        "server_extension": where.server_config.is_file(),
        "default_viewers": where.settings.is_file(),
        "labextension": _is_our_labextension(where.labextension),
    }
    notes = []
    if double_click and _user_sets_default_viewers():
        notes.append("your own JupyterLab setting Document Manager > defaultViewers replaces "
                     "filebridge's; add the file types there (python, r, databricks-sql, "
                     "databricks-scala: Notebook) for double-click to open notebooks")
    if pieces["server_extension"] and importlib.util.find_spec("jupyterlab_jupytext"):
        notes.append("jupytext is installed: .py, .sql, .scala and .r files opened as "
                     "notebooks are served by filebridge (a file without the Databricks header "
                     "as one cell), also through Open With > Jupytext Notebook; jupytext keeps "
                     "its other formats")
    return {
        "scope": scope,
        "installed": pieces["server_extension"] and pieces["labextension"],
        "pieces": pieces,
        "double_click": double_click,
        "config_dir": str(where.config_dir),
        "data_dir": str(where.data_dir),
        "notes": notes,
    }


def _user_sets_default_viewers() -> bool:
    """True when the user's own settings (JupyterLab's Settings Editor) set ``defaultViewers``,
    which then replaces the default filebridge's install gives."""
    try:
        settings_dir = os.environ.get("JUPYTERLAB_SETTINGS_DIR") or str(
            locations("user").config_dir / "lab" / "user-settings")
        settings_file = Path(settings_dir, "@jupyterlab", "docmanager-extension",
                             "plugin.jupyterlab-settings")
        text = settings_file.read_text(encoding="utf-8")
    except (NotebookError, OSError, UnicodeDecodeError):
        return False
    # The file is JSON5 (comments allowed): a key outside comments is enough to matter.
    return any('"defaultViewers"' in line.split("//")[0] for line in text.splitlines())


def _check_jupyterlab() -> None:
    # Found, not imported: importing JupyterLab's server takes seconds of CPU.
    if any(importlib.util.find_spec(name) is None for name in ("jupyter_server", "jupyterlab")):
        raise NotebookError(
            "JupyterLab is not installed in this environment: pip install 'filebridge[jupyter]'"
        )


def _copy_labextension(target: Path) -> None:
    if target.exists() and not _is_our_labextension(target):
        raise NotebookError(f"{target} exists and is not filebridge's; not replaced")
    staging = target.with_name(f".{NAME}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(BUNDLED_LABEXTENSION, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)


def _is_our_labextension(folder: Path) -> bool:
    try:
        return bool(_read_json(folder / "package.json").get("name") == NAME)
    except NotebookError:
        return False


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_user_file(path, (json.dumps(value, indent=2) + "\n").encode("utf-8"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise NotebookError(f"{path}: {exc}") from None
    return value if isinstance(value, dict) else {}


def _remove_file(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
