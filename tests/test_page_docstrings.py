"""Docstrings rendered as HTML for the help page (no browser: the HTML itself is checked)."""

from __future__ import annotations

import inspect
import json
import re
from html.parser import HTMLParser

from filebridge.worker.docstrings import docstring_html
from filebridge.worker.help_page import help_html


class _Tags(HTMLParser):
    """Whether the HTML nests properly, and its text."""

    VOID = frozenset({"br", "meta", "link", "hr", "img", "input"})

    def __init__(self, strict: bool = True) -> None:
        super().__init__()
        self.strict = strict
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.strict:
            return
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _checked(html: str, strict: bool = True) -> str:
    """``html``'s text, after checking every tag is closed in order (``strict``)."""
    tags = _Tags(strict)
    tags.feed(html)
    tags.close()
    assert not strict or tags.open == [], tags.open
    return "".join(tags.text)


NUMPYDOC = '''Add two arrays.

Parameters
----------
a : array_like
    The first array.
b : int, optional
    The second one. See :func:`numpy.add` and ``np.sum``.

Returns
-------
out : ndarray
    The sum.

See Also
--------
numpy.subtract : Take one from the other.

Examples
--------
>>> add([1], 2)
array([3])
'''

GOOGLE = '''Fetch rows.

Args:
    table (str): The table; see `the guide <https://example.org/guide>`_.
    *keys: Keys, such as ``[1, 2]``.
        Continued on a second line.

Returns:
    dict: A mapping of **keys** to *rows*.

Raises:
    KeyError: When a key is missing.
'''

SPHINX = '''Open a thing.

:param str path: where it is
:param mode: how to open it
:type mode: str
:returns: the handle
:rtype: Handle
:raises OSError: when it cannot
'''


def test_numpydoc_sections_become_headings_and_definition_lists() -> None:
    html = docstring_html(NUMPYDOC)
    text = _checked(html)
    assert "<h4>Parameters</h4>" in html and "<h4>Returns</h4>" in html
    assert '<dt><code>a</code> <span class="type">array_like</span></dt>' in html
    assert '<dt><code>b</code> <span class="type">int, optional</span></dt>' in html
    assert "<code>numpy.add</code>" in html and "<code>np.sum</code>" in html
    assert "<dt><code>numpy.subtract</code></dt><dd>Take one from the other." in html
    assert '<pre class="doctest">&gt;&gt;&gt; add([1], 2)\narray([3])</pre>' in html
    assert "----" not in text and "``" not in text and ":func:" not in text


def test_google_sections_links_and_emphasis() -> None:
    html = docstring_html(GOOGLE)
    text = _checked(html)
    assert "<h4>Args</h4>" in html and "<h4>Raises</h4>" in html
    assert '<code>table</code> <span class="type">str</span>' in html
    assert ('<a href="https://example.org/guide" target="_blank" rel="noreferrer noopener">'
            "the guide</a>") in html
    assert "<dt><code>*keys</code></dt>" in html and "Continued on a second line." in text
    assert "<strong>keys</strong>" in html and "<em>rows</em>" in html
    assert "<dt><code>KeyError</code></dt><dd>When a key is missing.</dd>" in html
    assert "Args:" not in text and "`_" not in text


def test_sphinx_field_lists_group_parameters_with_their_types() -> None:
    html = docstring_html(SPHINX)
    _checked(html)
    assert "<h4>Parameters</h4>" in html
    assert '<dt><code>path</code> <span class="type">(str)</span></dt><dd>where it is</dd>' in html
    assert '<dt><code>mode</code> <span class="type">(str)</span></dt>' in html
    assert "<h4>Returns</h4>" in html and "<h4>Return type</h4>" in html
    assert "<dt><code>OSError</code></dt><dd>when it cannot</dd>" in html


def test_lists_literal_blocks_directives_and_tables() -> None:
    html = docstring_html(inspect.cleandoc('''
        Steps:

        - first *step*
        - second, which
          goes on

        1. one
        2. two

        Run it like this::

            run(x) < 3

        .. warning:: Not thread-safe.

        .. versionadded:: 2.1

        .. code-block:: python

            print("hi")

        =====  =====
        a      b
        =====  =====
        1      2
        =====  =====

        .. _a-target: https://example.org
        '''))
    text = _checked(html)
    assert "<ul><li>first <em>step</em></li><li>second, which goes on</li></ul>" in html
    assert "<ol><li>one</li><li>two</li></ol>" in html
    assert "<p>Run it like this:</p>" in html
    assert '<pre class="literal">run(x) &lt; 3</pre>' in html
    assert '<div class="admonition warning"><p class="admonition-title">Warning</p>' in html
    assert "New in version 2.1" in text
    assert '<pre class="code">print(&quot;hi&quot;)</pre>' in html
    assert '<pre class="literal">=====  =====\na      b' in html
    assert "a-target" not in text  # a link target is not shown


def test_everything_from_the_docstring_is_escaped() -> None:
    html = docstring_html('Say <script>alert(1)</script> & `<b>` and '
                          '`x <javascript:alert(1)>`_ and :func:`<img src=x>`.')
    assert "<script>" not in html and "<b>" not in html and "<img" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;" in html


def test_plain_text_and_nothing_stay_readable() -> None:
    assert docstring_html(None) == ""
    assert docstring_html("   ") == ""
    assert docstring_html("One line.") == "<p>One line.</p>"
    html = docstring_html("First paragraph\ncontinues here.\n\nSecond.")
    assert html == "<p>First paragraph continues here.</p><p>Second.</p>"


def test_help_page_of_a_module_renders_every_docstring_and_keeps_pydoc_layout() -> None:
    page = help_html(json, "json")
    text = _checked(page, strict=False)  # pydoc's own layout leaves tags open
    for docstring in (json.dumps.__doc__, json.JSONDecoder.__doc__, json.__doc__):
        _checked(docstring_html(inspect.cleandoc(docstring or "")))
    assert "prefers-color-scheme: dark" in page
    assert page.count('<div class="docstring">') > 5
    assert "dumps" in text and "JSONDecoder" in text
    # json's docstrings use ``literals``: none is left raw
    assert "``" not in text
    assert re.search(r"<code>ensure_ascii</code>", page)
