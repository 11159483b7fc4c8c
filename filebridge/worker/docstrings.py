"""Docstrings as HTML: the reST, numpydoc and Google-style constructs people actually write.

Standard library only (this runs in the worker). What is understood:

- paragraphs; section titles underlined with ``---``/``===``/``~~~`` (numpydoc), and Google
  sections (``Args:``, ``Returns:``, ``Raises:``, ``Examples:`` ...) with an indented body;
- definition lists (``name : type`` over an indented description), which is what numpydoc
  and Google parameter lists are; field lists (``:param x:``, ``:returns:``, ``:rtype:``);
- bullet and numbered lists; literal blocks after ``::``; doctest blocks (``>>>``);
  directives (``.. note::``, ``.. warning::``, ``.. versionadded::``, ``.. deprecated::``,
  ``.. code-block::``); tables and anything unrecognised as preformatted text;
- inline: ````code````, ``*em*``, ``**strong**``, ``:role:`target``` and ```name```
  as code, ```text <url>`_`` and bare http(s) URLs as links.

Everything from the docstring is escaped; the only tags are the ones written here.
"""

from __future__ import annotations

import html
import re
from typing import Optional

__all__ = ["docstring_html"]

_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
_GOOGLE = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters|"
    r"Returns?|Yields?|Raises|Exceptions?|Warns|Attributes|Methods|Examples?|Notes?|"
    r"See Also|References|Warnings?|Todo|Usage)\s*:\s*$")
_BULLET = re.compile(r"^([-*+\u2022])\s+(.*)$")
_NUMBER = re.compile(r"^(\d+[.)]|#\.|\(\d+\)|[a-zA-Z][.)])\s+(.*)$")
_FIELD = re.compile(r"^:([^:\s][^:]*):\s*(.*)$")
_DIRECTIVE = re.compile(r"^\.\.\s+([\w-]+)::\s*(.*)$")
_TABLE = re.compile(r"^(\+[-=+]+\+|=+(\s+=+)+)\s*$")
_ADMONITIONS = {"note", "warning", "tip", "important", "caution", "danger", "attention",
                "hint", "error", "seealso", "todo", "versionadded", "versionchanged",
                "deprecated", "admonition"}
_FIELD_TITLES = {"param": "Parameters", "parameter": "Parameters", "arg": "Parameters",
                 "argument": "Parameters", "key": "Parameters", "keyword": "Parameters",
                 "type": "", "returns": "Returns", "return": "Returns", "rtype": "Return type",
                 "raises": "Raises", "raise": "Raises", "except": "Raises",
                 "yields": "Yields", "yield": "Yields", "var": "Variables",
                 "ivar": "Attributes", "cvar": "Attributes"}


def docstring_html(text: Optional[str]) -> str:
    """``text`` (a docstring, already dedented as ``inspect.getdoc`` gives it) as HTML."""
    if not text or not text.strip():
        return ""
    lines = text.expandtabs(8).splitlines()
    return _Blocks(lines).render()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent(lines: list[str]) -> list[str]:
    depth = min((_indent(line) for line in lines if line.strip()), default=0)
    return [line[depth:] for line in lines]


class _Blocks:
    """A block-level reader over ``lines`` (all at one indentation level)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = _dedent(lines)
        self.at = 0
        self.out: list[str] = []
        self.section = ""  # the title of the section being read, lower case

    def render(self) -> str:
        while self.at < len(self.lines):
            if not self.lines[self.at].strip():
                self.at += 1
                continue
            self._block()
        return "".join(self.out)

    # -- reading helpers -------------------------------------------------------------------

    def _line(self, offset: int = 0) -> str:
        index = self.at + offset
        return self.lines[index] if index < len(self.lines) else ""

    def _indented_after(self, start: int) -> tuple[list[str], int]:
        """The lines from ``start`` that are blank or indented deeper than column 0 (of the
        current level), with trailing blanks dropped; and where they end."""
        end = start
        while end < len(self.lines) and (not self.lines[end].strip()
                                         or _indent(self.lines[end]) > 0):
            end += 1
        body = self.lines[start:end]
        while body and not body[-1].strip():
            body.pop()
        return body, start + len(body)

    def _paragraph_lines(self) -> list[str]:
        found: list[str] = []
        while self.at < len(self.lines):
            line = self.lines[self.at]
            if not line.strip() or (_indent(line) > 0 and found):
                break
            if found and (_BULLET.match(line) or _DIRECTIVE.match(line)
                          or line.lstrip().startswith(">>>")):
                break
            found.append(line)
            self.at += 1
        return found

    # -- blocks ----------------------------------------------------------------------------

    def _block(self) -> None:
        line = self.lines[self.at]
        stripped = line.strip()
        if _indent(line) > 0:
            body, self.at = self._indented_after(self.at)
            self.out.append(f"<blockquote>{_Blocks(body).render()}</blockquote>")
            return
        if _UNDERLINE.match(self._line(1)) and len(self._line(1).strip()) >= len(stripped) \
                and not _UNDERLINE.match(line):
            self.out.append(f"<h4>{_inline(stripped)}</h4>")
            self.section = stripped.lower()
            self.at += 2
            return
        if _UNDERLINE.match(line) and _UNDERLINE.match(self._line(2)):  # an overlined title
            self.out.append(f"<h4>{_inline(self._line(1).strip())}</h4>")
            self.at += 3
            return
        google = _GOOGLE.match(line)
        if google and (_indent(self._line(1)) > 0 and self._line(1).strip()):
            self.at += 1
            body, self.at = self._indented_after(self.at)
            self.out.append(f"<h4>{html.escape(google.group(1))}</h4>")
            self.out.append(_google_section(google.group(1), body))
            return
        if stripped.startswith(">>>"):
            self._doctest()
            return
        if _TABLE.match(line):
            self._preformatted_until_blank()
            return
        directive = _DIRECTIVE.match(line)
        if directive:
            self._directive(directive.group(1).lower(), directive.group(2))
            return
        if line.startswith(".."):  # a comment, a target or a substitution: not shown
            self.at += 1
            _, self.at = self._indented_after(self.at)
            return
        if _FIELD.match(line):
            self._fields()
            return
        if _BULLET.match(line) or _NUMBER.match(line):
            self._list()
            return
        next_line = self._line(1)
        if (next_line.strip() and _indent(next_line) > 0) or self._see_also_entry(line):
            self._definitions()
            return
        self._paragraph()

    def _see_also_entry(self, line: str) -> bool:
        """numpydoc's See Also lists ``name : what it is``, often on one line each."""
        return self.section == "see also" and bool(re.match(r"^\S+(, \S+)*\s+:\s", line))

    def _paragraph(self) -> None:
        lines = self._paragraph_lines()
        text = " ".join(line.strip() for line in lines)
        literal = text.endswith("::")
        if literal:
            text = text[:-2].rstrip()
            if text and not text.endswith(":"):
                text += ":"
        if text:
            self.out.append(f"<p>{_inline(text)}</p>")
        if literal:
            while self.at < len(self.lines) and not self.lines[self.at].strip():
                self.at += 1
            body, self.at = self._indented_after(self.at)
            if body:
                self.out.append(_pre(_dedent(body)))

    def _doctest(self) -> None:
        lines = []
        while self.at < len(self.lines) and self.lines[self.at].strip():
            lines.append(self.lines[self.at])
            self.at += 1
        self.out.append(_pre(lines, "doctest"))

    def _preformatted_until_blank(self) -> None:
        lines = []
        while self.at < len(self.lines) and self.lines[self.at].strip():
            lines.append(self.lines[self.at])
            self.at += 1
        self.out.append(_pre(lines))

    def _directive(self, name: str, argument: str) -> None:
        self.at += 1
        body, self.at = self._indented_after(self.at)
        options = [line for line in _dedent(body) if line.startswith(":")] if body else []
        content = _dedent([line for line in body if line.strip() not in options]) if body else []
        if name in ("code-block", "code", "sourcecode", "doctest", "testcode", "math"):
            self.out.append(_pre(_strip_blank_edges(content), "code"))
            return
        if name in _ADMONITIONS:
            title = {"versionadded": "New in version", "versionchanged": "Changed in version",
                     "deprecated": "Deprecated since version", "seealso": "See also"}.get(
                         name, name.capitalize())
            head = f"{title} {argument}".strip() if name.startswith(("version", "deprecated")) \
                else (argument if name == "admonition" and argument else title)
            inner = "" if not content else _Blocks(content).render()
            if argument and not name.startswith(("version", "deprecated")) \
                    and name != "admonition":
                inner = f"<p>{_inline(argument)}</p>" + inner
            kind = "warning" if name in ("warning", "caution", "danger", "deprecated",
                                         "attention", "error") else "note"
            self.out.append(f'<div class="admonition {kind}"><p class="admonition-title">'
                            f"{_inline(head)}</p>{inner}</div>")
            return
        # an unknown directive: its text as it is, so nothing is lost
        self.out.append(_pre([f".. {name}:: {argument}".rstrip()] + ["   " + line
                                                                      for line in content]))

    def _fields(self) -> None:
        groups: dict[str, list[tuple[str, str, str]]] = {}
        types: dict[str, str] = {}
        while self.at < len(self.lines):
            found = _FIELD.match(self.lines[self.at])
            if not found:
                break
            self.at += 1
            body, self.at = self._indented_after(self.at)
            words = found.group(1).split()
            kind = words[0].lower()
            name = " ".join(words[1:])
            text = " ".join([found.group(2).strip()] + [line.strip() for line in body]).strip()
            if kind == "type":
                types[name] = text
                continue
            if kind == "param" and len(words) == 3:  # :param int x:
                name, types[words[2]] = words[2], words[1]
            title = _FIELD_TITLES.get(kind, found.group(1).capitalize())
            groups.setdefault(title, []).append((name, kind, text))
        for title, entries in groups.items():
            self.out.append(f"<h4>{html.escape(title)}</h4><dl class=\"fields\">")
            for name, _kind, text in entries:
                kind_of = f' <span class="type">({_inline(types[name])})</span>' \
                    if name in types else ""
                term = f"<code>{html.escape(name)}</code>{kind_of}" if name else ""
                self.out.append((f"<dt>{term}</dt>" if term else "")
                                + f"<dd>{_inline(text)}</dd>")
            self.out.append("</dl>")

    def _list(self) -> None:
        ordered = bool(_NUMBER.match(self.lines[self.at]))
        pattern = _NUMBER if ordered else _BULLET
        items: list[str] = []
        while self.at < len(self.lines):
            found = pattern.match(self.lines[self.at])
            if not found:
                break
            first = found.group(2)
            self.at += 1
            body, self.at = self._indented_after(self.at)
            items.append(_Blocks([first, *_dedent(body)]).render() if body else _inline(first))
            while (self.at < len(self.lines) and not self.lines[self.at].strip()
                   and pattern.match(self._line(1))):
                self.at += 1
        tag = "ol" if ordered else "ul"
        self.out.append(f"<{tag}>" + "".join(f"<li>{_unwrap(item)}</li>" for item in items)
                        + f"</{tag}>")

    def _definitions(self) -> None:
        self.out.append("<dl>")
        while self.at < len(self.lines):
            term = self.lines[self.at]
            following = self._line(1)
            one_line = self._see_also_entry(term)
            if _indent(term) > 0 or not term.strip() or _GOOGLE.match(term) \
                    or _FIELD.match(term) or (not one_line and (
                        not following.strip() or _indent(following) == 0)):
                break
            self.at += 1
            body, self.at = self._indented_after(self.at)
            described = re.match(r"^(.+?)\s+:\s+(.+)$", term.strip())
            if self.section == "see also" and described:  # name : what it is
                self.out.append(f"<dt><code>{html.escape(described.group(1))}</code></dt><dd>"
                                f"{_inline(described.group(2))} "
                                f"{_unwrap(_Blocks(body).render())}</dd>")
            else:
                self.out.append(f"<dt>{_term(term.strip())}</dt>"
                                f"<dd>{_unwrap(_Blocks(body).render())}</dd>")
            while self.at < len(self.lines) and not self.lines[self.at].strip():
                self.at += 1
        self.out.append("</dl>")


def _google_section(title: str, body: list[str]) -> str:
    """A Google section's body: parameter-like entries (``name (type): text``) as a list of
    definitions, examples as code, anything else as blocks."""
    lines = _dedent(body)
    if title.lower().startswith("example") and any(line.lstrip().startswith(">>>")
                                                   for line in lines):
        return _Blocks(lines).render()
    entry = re.compile(r"^(\*{0,2}[\w.]+(?:\s*\([^)]*\))?|[\w.]+(?:\[[^\]]*\])?)\s*:\s*(.*)$")
    if not lines or not entry.match(lines[0]) or title.lower().startswith(("note", "warn")):
        return _Blocks(lines).render()
    out = ["<dl>"]
    at = 0
    while at < len(lines):
        found = entry.match(lines[at]) if _indent(lines[at]) == 0 else None
        if not found:
            if lines[at].strip():
                out.append(f"<dd>{_inline(lines[at].strip())}</dd>")
            at += 1
            continue
        at += 1
        more = []
        while at < len(lines) and (not lines[at].strip() or _indent(lines[at]) > 0):
            more.append(lines[at])
            at += 1
        text = found.group(2)
        rest = _Blocks(more).render() if any(line.strip() for line in more) else ""
        out.append(f"<dt>{_term(found.group(1))}</dt><dd>{_inline(text)}{rest}</dd>")
    out.append("</dl>")
    return "".join(out)


def _term(text: str) -> str:
    """A definition's term: ``name : type`` (numpydoc) or ``name (type)`` (Google)."""
    found = re.match(r"^(.+?)\s+:\s+(.+)$", text) or re.match(r"^([\w*.,\s]+?)\s*\((.+)\)$", text)
    if found:
        return (f"<code>{html.escape(found.group(1).strip())}</code> "
                f'<span class="type">{_inline(found.group(2).strip())}</span>')
    if re.fullmatch(r"[\w.*, ]+", text):
        return f"<code>{html.escape(text)}</code>"
    return _inline(text)


def _unwrap(rendered: str) -> str:
    """A lone paragraph in a list item or definition reads better without its margins."""
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        return rendered[3:-4]
    return rendered


def _strip_blank_edges(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _pre(lines: list[str], kind: str = "literal") -> str:
    return f'<pre class="{kind}">{html.escape(chr(10).join(lines))}</pre>'


# -- inline markup -------------------------------------------------------------------------

_INLINE = re.compile(
    r"(?P<literal>``(?P<literal_text>.+?)``)"
    r"|(?P<role>:(?:[\w-]+:)?[\w-]+:`(?P<role_text>[^`]+)`)"
    r"|(?P<link>`(?P<link_text>[^`<]+?)\s*<(?P<link_url>https?://[^>\s]+)>`__?)"
    r"|(?P<ref>`(?P<ref_text>[^`]+)`_{1,2}(?!\w))"
    r"|(?P<interpreted>`(?P<interpreted_text>[^`]+)`)"
    r"|(?P<strong>\*\*(?P<strong_text>[^*\s](?:[^*]*[^*\s])?)\*\*)"
    r"|(?P<em>(?<![\w*])\*(?P<em_text>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*]))"
    r"|(?P<url>https?://[^\s<>\"'`)]+[^\s<>\"'`).,;:])")


def _inline(text: str) -> str:
    out = []
    here = 0
    for found in _INLINE.finditer(text):
        out.append(html.escape(text[here:found.start()]))
        here = found.end()
        kind = found.lastgroup
        if found.group("literal"):
            out.append(f"<code>{html.escape(found.group('literal_text'))}</code>")
        elif found.group("role"):
            out.append(f"<code>{html.escape(_role_target(found.group('role_text')))}</code>")
        elif found.group("link"):
            url = found.group("link_url")
            out.append(f'<a href="{html.escape(url)}" target="_blank" rel="noreferrer noopener">'
                       f"{html.escape(found.group('link_text').strip())}</a>")
        elif found.group("ref"):
            out.append(html.escape(found.group("ref_text")))
        elif found.group("interpreted"):
            out.append(f"<code>{html.escape(found.group('interpreted_text'))}</code>")
        elif found.group("strong"):
            out.append(f"<strong>{html.escape(found.group('strong_text'))}</strong>")
        elif found.group("em"):
            out.append(f"<em>{html.escape(found.group('em_text'))}</em>")
        elif kind == "url" or found.group("url"):
            url = found.group("url")
            out.append(f'<a href="{html.escape(url)}" target="_blank" rel="noreferrer noopener">'
                       f"{html.escape(url)}</a>")
    out.append(html.escape(text[here:]))
    return "".join(out)


def _role_target(text: str) -> str:
    """``:func:`~pkg.mod.name``` shows ``name``; ``:ref:`title <target>``` shows ``title``."""
    titled = re.match(r"^(.+?)\s*<[^>]+>$", text)
    if titled:
        return titled.group(1)
    if text.startswith("~"):
        return text[1:].rsplit(".", 1)[-1]
    return text.lstrip("!")
