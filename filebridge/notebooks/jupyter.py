"""Jupyter Server / JupyterLab open Databricks source notebooks directly as notebooks.

``DatabricksContentsManager`` serves a ``.py``, ``.sql``, ``.scala`` or ``.r`` file requested as
a notebook (``type=notebook``) converted by ``to_ipynb``, and saves a notebook sent to such a
path with ``to_source``: cells the user did not change keep their exact bytes. Every other
request goes to the base manager unchanged, so the same file still opens as text.

Enable it with ``--ServerApp.contents_manager_class=
filebridge.notebooks.jupyter.DatabricksContentsManager``, wrap another manager with
``build_contents_manager_class``, or enable this module as a server extension (what
``filebridge notebook jupyterlab --install`` does): it puts the Databricks rules in front of
whatever contents manager the server is configured with. Requires the ``jupyter`` extra.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import nbformat
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web

from filebridge.errors import NotebookError
from filebridge.notebooks.files import replace_user_file
from filebridge.notebooks.ipynb import to_ipynb, to_source
from filebridge.notebooks.languages import SOURCE_EXTENSIONS, language_for_path

__all__ = ["LABEXTENSION_PATH", "DatabricksContentsManager", "build_contents_manager_class"]

# jupytext's server extension, which also reads ``.py`` files as notebooks.
JUPYTEXT_EXTENSION = "jupyterlab_jupytext"

# The folder to give JupyterLab as ``--LabApp.extra_labextensions_path``: it holds the small
# front-end extension that offers "Open With > Notebook" for these file types.
LABEXTENSION_PATH = str(Path(__file__).with_name("labextensions"))

_KERNELS = {"python": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def is_source_notebook_path(path: str) -> bool:
    """True for the extensions a Databricks source notebook can have."""
    return os.path.splitext(path)[1].lower() in SOURCE_EXTENSIONS


def build_contents_manager_class(base: type[Any]) -> type[Any]:
    """A subclass of the (async) contents manager ``base`` that reads and writes Databricks
    source notebooks as notebooks; ``base`` handles everything else."""

    class DatabricksContents(base):  # type: ignore[misc]
        serves_databricks_notebooks = True

        async def get(self, path: str, content: bool = True, type: Any = None,
                      format: Any = None, **kwargs: Any) -> dict[str, Any]:
            if type != "notebook" or not is_source_notebook_path(path):
                model: dict[str, Any] = await super().get(
                    path, content=content, type=type, format=format, **kwargs
                )
                return model
            return await self._source_notebook_model(
                path.strip("/"), content, bool(kwargs.get("require_hash"))
            )

        async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
            path = path.strip("/")
            if model.get("type") != "notebook" or not is_source_notebook_path(path):
                saved: dict[str, Any] = await super().save(model, path)
                return saved
            if "content" not in model:
                raise web.HTTPError(400, "No file content provided")
            self.run_pre_save_hooks(model=model, path=path)
            os_path = self._get_os_path(path)
            try:
                result = to_source(model["content"], language_for_path(path))
                await self._write_source(os_path, result.text.encode("utf-8"))
            except NotebookError as exc:
                raise web.HTTPError(400, f"{path}: {exc}") from None
            if not await self.checkpoints.list_checkpoints(path):
                await self.create_checkpoint(path)
            answer = await self._source_notebook_model(path, content=False)
            if result.warnings:
                answer["message"] = "; ".join(result.warnings)
            self.run_post_save_hooks(model=answer, os_path=os_path)
            self.emit(data={"action": "save", "path": path})
            return answer

        async def _write_source(self, os_path: str, data: bytes) -> None:
            with self.perm_to_403(os_path):
                replace_user_file(Path(os_path), data)

        async def _source_notebook_model(
            self, path: str, content: bool, require_hash: bool = False
        ) -> dict[str, Any]:
            if not self.exists(path):
                raise web.HTTPError(404, f"No such file or directory: {path}")
            os_path = self._get_os_path(path)
            if os.path.isdir(os_path):
                raise web.HTTPError(400, f"{path} is a directory, not a notebook")
            model: dict[str, Any] = self._base_model(path)
            model["type"] = "notebook"
            if not content and not require_hash:
                return model
            data = Path(os_path).read_bytes()
            if require_hash:
                model.update(**self._get_hash(data))
            if not content:
                return model
            try:
                text = data.decode("utf-8")
                notebook = to_ipynb(text, language_for_path(path))
            except UnicodeDecodeError:
                raise web.HTTPError(400, f"{path} is not UTF-8 text") from None
            except NotebookError as exc:
                raise web.HTTPError(400, f"{path}: {exc}") from None
            language = notebook["metadata"]["language_info"]["name"]
            if language in _KERNELS:
                notebook["metadata"].setdefault("kernelspec", dict(_KERNELS[language]))
            node = nbformat.from_dict(notebook)  # type: ignore[no-untyped-call]
            self.mark_trusted_cells(node, path)
            model["content"] = node
            model["format"] = "json"
            self.validate_notebook_model(model)
            return model

    DatabricksContents.__name__ = f"Databricks{base.__name__}"
    DatabricksContents.__qualname__ = DatabricksContents.__name__
    return DatabricksContents


DatabricksContentsManager = build_contents_manager_class(AsyncLargeFileManager)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _link_jupyter_server_extension(serverapp: Any) -> None:
    """Runs before the server creates its contents manager: the configured class gets the
    Databricks rules in front of it. When jupytext's extension is enabled too, its manager is
    put between ours and the base, so jupytext still serves its other formats and, seeing a
    jupytext manager configured, leaves it alone instead of wrapping it once more."""
    base = serverapp.contents_manager_class
    if getattr(base, "serves_databricks_notebooks", False):
        return
    if not inspect.iscoroutinefunction(base.get):
        serverapp.log.warning(
            "filebridge: %s is not an async contents manager; Databricks source notebooks "
            "are not served as notebooks", base.__name__)
        return
    if serverapp.jpserver_extensions.get(JUPYTEXT_EXTENSION) and not hasattr(base, "formats"):
        try:
            from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class
        except ImportError:
            pass
        else:
            base = build_async_jupytext_contents_manager_class(base)
    serverapp.contents_manager_class = build_contents_manager_class(base)


def _load_jupyter_server_extension(serverapp: Any) -> None:
    serverapp.log.info("filebridge: Databricks source notebooks open as notebooks (%s)",
                       type(serverapp.contents_manager).__name__)
