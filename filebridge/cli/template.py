"""``filebridge template KIND --session DIR``: the line that starts a worker in a session."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from filebridge.cli.output import CommandFailed, emit
from filebridge.cli.paths import session_templates_dir
from filebridge.host.bootstrap_copy import copy_bootstrap

__all__ = ["register", "render_template"]

SNIPPET = "snippet.txt"


def _kinds() -> list[str]:
    folder = session_templates_dir()
    return sorted(p.name for p in folder.iterdir() if (p / SNIPPET).is_file())


def render_template(kind: str, session_dir: Path, **values: str) -> str:
    """The snippet of ``session_templates/KIND/snippet.txt`` for a session.

    The session gets a bootstrap folder first: a copy of the worker side of filebridge, and of
    the template's other files, so the worker needs nothing installed.
    """

    template_dir = session_templates_dir() / kind
    snippet = template_dir / SNIPPET
    if not snippet.is_file():
        raise CommandFailed(f"no template {kind!r}; there are: {', '.join(_kinds())}")
    session_dir = session_dir.expanduser().resolve()
    bootstrap = session_dir / "bootstrap"
    copy_bootstrap(bootstrap)
    # A template's other files (the R worker script) go beside the Python bootstrap.
    for extra in template_dir.iterdir():
        if extra.is_file() and extra.suffix != ".txt":
            shutil.copy2(extra, bootstrap / extra.name)
    fields = {"session_dir": str(session_dir), "bootstrap_dir": str(bootstrap),
              "source_names": "[]", "source_name": "", **values}
    try:
        return snippet.read_text().format_map(fields).strip()
    except KeyError as exc:
        raise CommandFailed(f"template {kind!r} needs a value for {exc}") from None


def _template(args: argparse.Namespace) -> int:
    values: dict[str, Any] = {}
    if args.source_name:
        values["source_name"] = args.source_name[0]
        values["source_names"] = repr(list(args.source_name))
    session = Path(args.session).expanduser()
    if not session.is_dir():
        raise CommandFailed(f"no session folder {session} (make one with `filebridge "
                            "new-session`)")
    snippet = render_template(args.kind, session, **values)
    emit({"kind": args.kind, "session": args.session, "snippet": snippet}, args.json, snippet)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "template", help="print the snippet that starts a worker in a session",
        description="Print the one line that connects a worker (python, deephaven, r) to a "
                    "session folder. A bootstrap copy of the worker side is placed in the "
                    "session first, so the worker needs nothing installed.")
    parser.add_argument("kind", help="python, deephaven or r")
    parser.add_argument("--session", required=True, help="the session folder")
    parser.add_argument("--source-name", action="append", default=[],
                        help="a source root name the worker imports through the bridge")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=_template)
