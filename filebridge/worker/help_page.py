"""Python help as a page people can read: pydoc's layout, docstrings rendered from reST.

pydoc's HTML shows each docstring as preformatted text, with the reST, numpydoc and Google
markup left raw; here pydoc lays the page out and ``filebridge.worker.docstrings`` renders
every docstring. The page carries its own style sheet, light or dark as the system is.
"""

from __future__ import annotations

import pydoc
from typing import Any, Callable, Optional

from filebridge.worker.docstrings import docstring_html

__all__ = ["help_html"]

STYLE = """
:root { color-scheme: light dark; --fg: #1d232a; --bg: #fff; --muted: #5d6670;
        --line: #d9dee3; --code: #f1f3f5; --accent: #2563eb; --note: #eef3ff; --warn: #fff4e5; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e3e7ec; --bg: #1e242b; --muted: #9aa4ae; --line: #39414a; --code: #262d35;
          --accent: #8fb4ff; --note: #22304a; --warn: #3a2a10; }
}
body { font: 14px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg);
       margin: 1em 1.5em; max-width: 60em; }
a { color: var(--accent); }
table.heading, table.section { width: 100%; border-collapse: collapse; margin: .8em 0; }
table.heading .title { font-size: 1.5em; font-weight: 600; }
td.extra { text-align: right; color: var(--muted); font-size: .9em; }
.section-title { font-size: 1.15em; font-weight: 600; border-bottom: 1px solid var(--line); }
.decor { background: none; }
.grey { color: var(--muted); }
.code { display: block; }
dl { margin: .3em 0 .8em; }
dt { margin-top: .5em; }
dd { margin-left: 1.5em; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
            font-size: .92em; background: var(--code); border-radius: 3px; }
code { padding: 0 .25em; }
pre { padding: .5em .7em; overflow-x: auto; line-height: 1.35; }
.docstring h4 { margin: 1em 0 .3em; font-size: 1em; text-transform: none;
                border-bottom: 1px solid var(--line); }
.docstring .type { color: var(--muted); font-style: italic; }
.docstring p { margin: .4em 0; }
.admonition { border-left: 4px solid var(--accent); background: var(--note);
              padding: .3em .8em; margin: .6em 0; }
.admonition.warning { border-color: #d97706; background: var(--warn); }
.admonition-title { font-weight: 600; margin: .2em 0; }
blockquote { margin: .4em 0 .4em 1.5em; }
"""


class _DocstringHTML(pydoc.HTMLDoc):
    """pydoc's HTML with docstrings rendered, not preformatted."""

    def markup(self, text: str, escape: Optional[Callable[[str], str]] = None,
               funcs: Any = None, classes: Any = None, methods: Any = None) -> str:
        if escape == self.preformat:  # a docstring (pydoc's other text is not preformatted)
            return f'<div class="docstring">{docstring_html(text)}</div>'
        return super().markup(text, escape, funcs or {}, classes or {}, methods or {})

    def page(self, title: str, contents: str) -> str:
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                '<meta name="color-scheme" content="light dark">'
                f"<title>Python: {pydoc.html.escape(title)}</title><style>{STYLE}</style>"
                f"</head><body>\n{contents}\n</body></html>")


_RENDERER = _DocstringHTML()


def help_html(obj: Any, name: str) -> str:
    """The help page of ``obj`` (found as ``name``)."""
    return _RENDERER.page(pydoc.describe(obj), _RENDERER.document(obj, name))
