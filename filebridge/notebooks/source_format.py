"""Read and write Databricks source notebooks (``.py``, ``.sql``, ``.scala``, ``.r``), byte exact.

The standard layout is: the header line, then cell 0, then for every further cell a blank line,
the separator line, a blank line and the cell; a final newline. Real files drift from it (extra
blank lines, CRLF, no final newline, ``# MAGIC `` with a trailing space), so each cell carries a
small ``layout`` record of only what differs from the standard. Parsing checks every cell by
writing it again; a cell whose text cannot be rebuilt from its parsed form keeps its raw text, so
``render_source(parse_source(text)) == text`` holds for any input.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from filebridge.notebooks.languages import Language

__all__ = [
    "SourceCell",
    "SourceNotebook",
    "Title",
    "cell_digest",
    "is_magic_source",
    "parse_source",
    "render_source",
]

# A magic command is a whole token: `%sql`, `%md-sandbox`, `%run ./x`, or a cell magic such as
# `%%writefile x`; `% x` and `%%` alone are not.
_MAGIC_TOKEN = re.compile(r"%%?([A-Za-z][A-Za-z0-9_-]*)(?=\s|$)")
_MARKDOWN_MAGICS = ("md", "md-sandbox")
_TITLE_MODES = ("0", "1")


@dataclass(frozen=True)
class Title:
    """A ``DBTITLE <mode>,<text>`` line: a cell title, not part of the cell's text."""

    mode: str
    text: str


@dataclass
class SourceCell:
    """One cell as a user sees it, plus what is needed to write its exact original bytes.

    ``source`` uses ``\\n`` line ends. For markdown cells the ``%md`` line is not part of it:
    ``magic`` says which markdown magic it was and ``inline`` whether the text began on that line.
    ``layout`` is only valid while the cell is unchanged (``cell_digest``) and in the same
    position (first / last), which the caller checks.
    """

    kind: str
    source: str
    title: Optional[Title] = None
    magic: str = "md"
    inline: bool = False
    layout: Optional[dict[str, Any]] = None


@dataclass
class SourceNotebook:
    """A parsed file: its cells and the file-wide style every written cell follows."""

    language: Language
    cells: list[SourceCell] = field(default_factory=list)
    header: bool = True
    newline: str = "\n"
    final_newline: bool = True
    magic_blank: str = ""
    bom: bool = False
    bare_header: bool = False


def cell_digest(cell: SourceCell) -> str:
    """Fingerprint of what a user can change in a cell; a changed cell drops its layout."""
    title = f"{cell.title.mode},{cell.title.text}" if cell.title else ""
    magic = cell.magic if cell.kind == "markdown" else ""
    text = f"{cell.kind}\0{magic}\0{title}\0{cell.source}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def is_magic_source(source: str) -> bool:
    """True if a code cell's first line is a magic command, so it is written as ``MAGIC`` lines."""
    return source.startswith("%") and _MAGIC_TOKEN.match(source) is not None


def parse_source(
    text: str, language: Language, progress: Optional[Callable[[float], None]] = None
) -> SourceNotebook:
    """Split a source notebook into cells; see the module docstring for the exactness rule.

    ``progress`` is called with the fraction of the text parsed so far (large files).
    """
    bom = text.startswith("\ufeff")
    body = text[1:] if bom else text
    first_end = body.find("\n")
    first_line = body if first_end < 0 else body[:first_end]
    newline = "\n"
    if first_end > 0 and first_line.endswith("\r"):
        first_line, newline = first_line[:-1], "\r\n"
    if first_line != language.header:
        # No header: Databricks imports such a file as one cell holding the whole text.
        return SourceNotebook(language, [SourceCell("code", text)], header=False)

    nb = SourceNotebook(
        language,
        header=True,
        newline=newline,
        final_newline=text.endswith("\n"),
        bom=bom,
        bare_header=first_end < 0,
    )
    rest = "" if first_end < 0 else body[first_end + 1 :]
    separator = re.compile(r"^" + re.escape(language.separator) + r"(\r?\n|\r?\Z)", re.MULTILINE)
    segments: list[str] = []
    separator_ends: list[str] = [""]
    start = 0
    for match in separator.finditer(rest):
        segments.append(rest[start : match.start()])
        separator_ends.append(match.group(1))
        start = match.end()
    segments.append(rest[start:])

    nb.magic_blank = _file_magic_blank(rest, language)
    last = len(segments) - 1
    done, total = 0, max(len(rest), 1)
    for index, segment in enumerate(segments):
        if progress is not None:
            done += len(segment) + len(separator_ends[index])
            progress(done / total)
        cell = _parse_segment(segment, index == 0, index == last, nb)
        if index > 0 and separator_ends[index] != newline:
            _layout(cell)["sep"] = separator_ends[index]
        if cell.layout is not None:
            cell.layout["at"] = [index == 0, index == last]
            cell.layout["digest"] = cell_digest(cell)
        nb.cells.append(cell)
    return nb


def render_source(nb: SourceNotebook) -> str:
    """Write a notebook: unchanged cells byte exact, all other cells in the standard layout."""
    if not nb.header:
        if len(nb.cells) == 1 and nb.cells[0].kind == "code" and nb.cells[0].title is None:
            return nb.cells[0].source
        raise ValueError("a notebook without header holds exactly one untitled code cell")
    lang = nb.language
    parts: list[str] = []
    last = len(nb.cells) - 1
    for index, cell in enumerate(nb.cells):
        layout = _usable_layout(cell, index == 0, index == last)
        if index > 0:
            parts.append(lang.separator + layout.get("sep", nb.newline))
        parts.append(_render_segment(cell, layout, index == 0, index == last, nb))
    body = "".join(parts)
    head = ("\ufeff" if nb.bom else "") + lang.header
    if not (nb.bare_header and body == ""):
        head += nb.newline
    return head + body


def _layout(cell: SourceCell) -> dict[str, Any]:
    if cell.layout is None:
        cell.layout = {}
    return cell.layout


def _usable_layout(cell: SourceCell, first: bool, last: bool) -> dict[str, Any]:
    layout = cell.layout
    if not layout or layout.get("at", [first, last]) != [first, last]:
        return {}
    return layout


def _standard_lead(first: bool, nb: SourceNotebook) -> str:
    return "" if first else nb.newline


def _standard_trail(last: bool, nb: SourceNotebook) -> str:
    if last:
        return nb.newline if nb.final_newline else ""
    return nb.newline + nb.newline


def _file_magic_blank(rest: str, language: Language) -> str:
    """The blank-line style of the first blank magic line (``# MAGIC`` or ``# MAGIC ``)."""
    match = re.search(r"^" + re.escape(language.magic) + r"( ?)\r?$", rest, re.MULTILINE)
    return match.group(1) if match else ""


def _split_line_end(text: str, end: int) -> int:
    """Index where the line ending just before ``end`` starts (``end`` if there is none)."""
    if text.endswith("\r\n", 0, end):
        return end - 2
    if text.endswith("\n", 0, end):
        return end - 1
    return end


def _parse_segment(segment: str, first: bool, last: bool, nb: SourceNotebook) -> SourceCell:
    start = 0
    if not first:
        if segment.startswith("\r\n"):
            start = 2
        elif segment.startswith("\n"):
            start = 1
    end = len(segment)
    for _ in range(1 if last else 2):
        if end <= start:
            break
        end = max(start, _split_line_end(segment, end))
    lead, content, trail = segment[:start], segment[start:end], segment[end:]
    if nb.newline != "\n":
        content = content.replace("\r\n", "\n")
    cell, blank = _parse_content(content, nb.language)

    layout: dict[str, Any] = {}
    if lead != _standard_lead(first, nb):
        layout["lead"] = lead
    if trail != _standard_trail(last, nb):
        layout["trail"] = trail
    if blank is not None and blank != nb.magic_blank:
        layout["blank"] = blank
    if _render_segment(cell, layout, first, last, nb) != segment:
        layout = {"raw": segment}
    cell.layout = layout or None
    return cell


def _parse_content(content: str, lang: Language) -> tuple[SourceCell, Optional[str]]:
    """The cell in ``content`` (LF line ends) and the blank-line style of its magic lines."""
    lines = content.split("\n")
    title = None
    if lines[0].startswith(lang.title):
        mode, comma, text = lines[0][len(lang.title) :].partition(",")
        if comma and mode in _TITLE_MODES:
            title = Title(mode, text)
            lines = lines[1:]
    code = "\n".join(lines)
    if not lines:
        return SourceCell("code", code, title), None

    block = _magic_block(lines, lang)
    if block is None:
        return SourceCell("code", code, title), None
    texts, blanks = block
    blank = blanks.pop() if len(blanks) == 1 else None

    first = texts[0]
    for name in _MARKDOWN_MAGICS:
        command = "%" + name
        if first == command:
            return SourceCell("markdown", "\n".join(texts[1:]), title, magic=name), blank
        if first.startswith(command + " "):
            texts[0] = first[len(command) + 1 :]
            return SourceCell("markdown", "\n".join(texts), title, magic=name, inline=True), blank
    return SourceCell("code", "\n".join(texts), title), blank


def _magic_block(lines: list[str], lang: Language) -> Optional[tuple[list[str], set[str]]]:
    """The texts after ``# MAGIC`` if ``lines`` are a magic cell, and the blank-line styles.

    Databricks still reads a cell as a magic cell when blank lines surround the block, when
    blank ``# MAGIC`` lines come before the command, or when two spaces follow ``MAGIC``; those
    are left out of the texts (the cell keeps its exact bytes in its layout).
    """
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    magic, magic_space = lang.magic, lang.magic + " "
    texts: list[str] = []
    blanks: set[str] = set()
    for line in lines[start:end]:
        if line == magic:
            texts.append("")
            blanks.add("")
        elif line.startswith(magic_space):
            text = line[len(magic_space) :]
            texts.append(text)
            if not text:
                blanks.add(" ")
        else:
            return None
    while texts and not texts[0].strip():
        texts.pop(0)
    if not texts:
        return None
    texts[0] = texts[0].lstrip(" ")
    if not is_magic_source(texts[0]):
        return None
    return texts, blanks


def _render_content(cell: SourceCell, lang: Language, blank: str) -> str:
    """A cell's lines in the standard form, with ``\\n`` line ends."""
    out: list[str] = []
    if cell.title is not None:
        out.append(f"{lang.title}{cell.title.mode},{cell.title.text}")
    if cell.kind == "markdown":
        lines = cell.source.split("\n") if cell.source else []
        command = "%" + cell.magic
        if cell.inline:
            texts = [f"{command} {lines[0] if lines else ''}", *lines[1:]]
        else:
            texts = [command, *lines]
    elif is_magic_source(cell.source):
        texts = cell.source.split("\n")
    else:
        out.append(cell.source)
        return "\n".join(out)
    magic_space, magic_blank = lang.magic + " ", lang.magic + blank
    out.extend(magic_space + text if text else magic_blank for text in texts)
    return "\n".join(out)


def _render_segment(
    cell: SourceCell, layout: dict[str, Any], first: bool, last: bool, nb: SourceNotebook
) -> str:
    raw = layout.get("raw")
    if isinstance(raw, str):
        return raw
    content = _render_content(cell, nb.language, layout.get("blank", nb.magic_blank))
    if nb.newline != "\n":
        content = content.replace("\n", nb.newline)
    lead = layout.get("lead", _standard_lead(first, nb))
    trail = layout.get("trail", _standard_trail(last, nb))
    return f"{lead}{content}{trail}"
