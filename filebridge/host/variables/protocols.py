"""The variables of a session in the two shapes editors speak: DAP's and Positron's.

    from filebridge.host import DapVariables, PositronVariables
    dap = DapVariables(provider, session_id)
    scope = dap.scopes()["scopes"][0]                       # one scope: the globals
    body = dap.variables(scope["variablesReference"], filter="indexed", start=0, count=100)
    positron = PositronVariables(provider, session_id)
    positron.list(); positron.inspect(["df"]); positron.update()   # since the last update

Both sit on a ``VariablesProvider`` (docs/variables.md): the top level comes from the
session's snapshot, children from the worker. Every answer is plain JSON-able data in the
field names of the specification (tests/schemas/).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, List, Optional

from filebridge.errors import FilebridgeError
from filebridge.host.variables.provider import child_counts

if TYPE_CHECKING:
    from filebridge.host.variables.provider import VariablesProvider

__all__ = ["DapVariables", "PositronVariables"]

# Positron's variable kinds equal ours; DAP's presentation kinds for each of them.
_DAP_KIND = {"function": "method", "class": "class", "lazy": "property"}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class DapVariables:
    """DAP's ``scopes`` and ``variables`` requests for one session, with integer references.

    A reference names a path of access keys; references stay valid until ``reset()`` (call it
    when the session's snapshot version changes, as a debug adapter does when execution
    resumes). Reference 1 is the globals scope.
    """

    def __init__(self, provider: VariablesProvider, session_id: str) -> None:
        self.provider = provider
        self.session_id = session_id
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._paths: list[tuple[str, ...]] = [(), ()]  # 0 is "no children" in DAP
            self._refs: dict[tuple[str, ...], int] = {(): 1}
            self._counts: dict[tuple[str, ...], tuple[int, int]] = {}

    def _reference(self, path: tuple[str, ...], counts: tuple[int, int]) -> int:
        with self._lock:
            self._counts[path] = counts
            found = self._refs.get(path)
            if found is None:
                found = self._refs[path] = len(self._paths)
                self._paths.append(path)
            return found

    def path_of(self, reference: int) -> tuple[str, ...]:
        with self._lock:
            if not 0 < reference < len(self._paths):
                raise FilebridgeError(f"variablesReference {reference} is unknown "
                                      "(references end at reset())")
            return self._paths[reference]

    def scopes(self) -> dict[str, Any]:
        """The ``scopes`` response body: one scope, the session's globals."""
        snapshot = self.provider.snapshot(self.session_id)
        return {"scopes": [{"name": "Globals", "presentationHint": "globals",
                            "variablesReference": 1,
                            "namedVariables": _int(snapshot.get("length")),
                            "expensive": False}]}

    def variable(self, entry: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        """One DAP ``Variable`` from an entry of the wire format."""
        named, indexed = child_counts(entry)
        expandable = named + indexed > 0
        kind = str(entry.get("kind", "other"))
        attributes = []
        if kind in ("string", "bytes"):
            attributes.append("rawString")
        if kind == "lazy":
            attributes.append("hasSideEffects")
        hint: dict[str, Any] = {"kind": _DAP_KIND.get(kind, "data"), "attributes": attributes,
                                "visibility": "private" if str(entry.get("display_name", ""))
                                .startswith("_") else "public",
                                "lazy": kind == "lazy"}
        variable: dict[str, Any] = {
            "name": str(entry.get("display_name", "")),
            "value": str(entry.get("display_value", "")),
            "type": str(entry.get("display_type", "")),
            "presentationHint": hint,
            "variablesReference": self._reference(path, (named, indexed)) if expandable else 0,
        }
        if entry.get("evaluate_name") is not None:
            variable["evaluateName"] = str(entry["evaluate_name"])
        if named:
            variable["namedVariables"] = named
        if indexed:
            variable["indexedVariables"] = indexed
        return variable

    def variables(self, variablesReference: int, filter: Optional[str] = None,
                  start: int = 0, count: int = 0) -> dict[str, Any]:
        """The ``variables`` response body. ``count`` 0 means all (DAP), paged by 1000."""
        if filter not in (None, "named", "indexed"):
            raise FilebridgeError("filter is 'named' or 'indexed'")
        path = self.path_of(variablesReference)
        if not path:
            if filter == "indexed":
                return {"variables": []}
            listed = self.provider.list(self.session_id, start=start,
                                        count=count or None)
            return {"variables": [self.variable(e, (str(e["access_key"]),))
                                  for e in listed["children"]]}
        out: list[dict[str, Any]] = []
        counts = self._counts.get(path, (1, 1))
        kinds = [k for k, n in zip(("named", "indexed"), counts)
                 if n and (filter is None or k == filter)]
        for kind in kinds:
            first, wanted = start, count
            while True:
                size = min(wanted, 1000) if wanted else 1000
                page = self.provider._ask(self.session_id, "inspect", path=list(path),
                                          start=first, count=size, children=kind)
                if page.get("children_kind", kind) != kind:
                    break  # a worker that pages one kind only answered the other
                for entry in page["children"]:
                    out.append(self.variable(entry, (*path, str(entry["access_key"]))))
                got = len(page["children"])
                first += got
                if wanted:
                    wanted -= got
                if got == 0 or first >= page["length"] or (count and wanted <= 0):
                    break
        return {"variables": out}


class PositronVariables:
    """Positron's variables comm for one session: its requests as methods, its events from
    ``update()`` (assigned / removed / unevaluated since the last call, and a version)."""

    def __init__(self, provider: VariablesProvider, session_id: str) -> None:
        self.provider = provider
        self.session_id = session_id
        self._seen: dict[str, tuple[Any, ...]] = {}

    @staticmethod
    def variable(entry: dict[str, Any]) -> dict[str, Any]:
        """One Positron ``Variable`` from an entry of the wire format."""
        return {
            "access_key": str(entry.get("access_key", "")),
            "display_name": str(entry.get("display_name", "")),
            "display_value": str(entry.get("display_value", "")),
            "display_type": str(entry.get("display_type", "")),
            "type_info": str(entry.get("type_info", "")),
            "size": _int(entry.get("size")),
            "kind": str(entry.get("kind", "other")),
            "length": _int(entry.get("length")),
            "has_children": bool(entry.get("has_children")),
            "has_viewer": bool(entry.get("has_viewer")),
            "is_truncated": bool(entry.get("is_truncated")),
            "updated_time": _int(entry.get("updated_time")),
        }

    def list(self) -> dict[str, Any]:
        """``list``: a VariableList."""
        snapshot = self.provider.snapshot(self.session_id)
        variables = [self.variable(e) for e in snapshot["variables"]]
        return {"variables": variables, "length": len(variables),
                "version": _int(snapshot.get("version"))}

    def refresh(self) -> dict[str, Any]:
        """The ``refresh`` event: everything, and the baseline of the next ``update``."""
        listed = self.list()
        self._seen = {v["access_key"]: tuple(v.values()) for v in listed["variables"]}
        return listed

    def update(self) -> dict[str, Any]:
        """The ``update`` event against the previous update (or refresh)."""
        snapshot = self.provider.snapshot(self.session_id)
        current = {str(e.get("access_key")): e for e in snapshot["variables"]}
        unevaluated_names = set(snapshot.get("unevaluated") or [])
        assigned, unevaluated = [], []
        seen: dict[str, tuple[Any, ...]] = {}
        for key, entry in current.items():
            variable = self.variable(entry)
            seen[key] = tuple(variable.values())
            if key in unevaluated_names or entry.get("not_described") is not None:
                unevaluated.append(variable)
            elif self._seen.get(key) != seen[key]:
                assigned.append(variable)
        removed = [key for key in self._seen if key not in current]
        self._seen = seen
        return {"assigned": assigned, "unevaluated": unevaluated, "removed": removed,
                "version": _int(snapshot.get("version"))}

    def inspect(self, path: List[str]) -> dict[str, Any]:
        """``inspect``: an InspectedVariable (every child, paged from the worker)."""
        children: List[dict[str, Any]] = []
        start, total = 0, 1
        while start < total:
            page = self.provider.inspect(self.session_id, path, start=start, count=1000)
            total = int(page["length"])
            children.extend(self.variable(c) for c in page["children"])
            if not page["children"]:
                break
            start += len(page["children"])
        return {"children": children, "length": len(children)}

    def clear(self, include_hidden_objects: bool = False) -> None:
        self.provider.clear(self.session_id, include_hidden_objects)

    def delete(self, names: List[str]) -> List[str]:
        return list(self.provider.delete(self.session_id, names)["removed"])

    def clipboard_format(self, path: List[str], format: str) -> dict[str, Any]:
        """``clipboard_format``: a FormattedVariable (text/plain, or text/html as a table)."""
        if format == "text/html":
            table = self.provider.view(self.session_id, path)
            fields = [c["field"] for c in table["columns"]]
            head = "".join(f"<th>{_escape(c['headerName'])}</th>" for c in table["columns"])
            rows = "".join("<tr>" + "".join(f"<td>{_escape(row.get(f))}</td>" for f in fields)
                           + "</tr>" for row in table["data"])
            return {"content": f"<table><tr>{head}</tr>{rows}</table>"}
        answer = self.provider.clipboard_format(self.session_id, path, format)
        return {"content": str(answer["content"])}

    def view(self, path: List[str]) -> Optional[str]:
        """``view``: the id of the opened view (here its title; ``provider.view`` has the
        table itself)."""
        return str(self.provider.view(self.session_id, path)["title"])

    def query_table_summary(self, path: List[str], query_types: List[str]) -> dict[str, Any]:
        return self.provider.query_table_summary(self.session_id, path)


def _escape(value: Any) -> str:
    import html

    return html.escape("" if value is None else str(value))
