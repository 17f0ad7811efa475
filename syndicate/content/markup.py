"""HTML bounded before nh3 parses it: nesting, element count and attributes, in one pass.

nh3's parser (html5ever) spends time proportional to the depth of its tree on many tags:
``<div>`` nested 40,000 deep took seconds to sanitise, 100,000 deep minutes; formatting
elements left open are re-opened in every later paragraph (a 160 KB entry sanitised to
98 MB), and a tag's attributes are compared with each other (quadratic in their number).

:func:`bounded_html` reads the HTML once, with the tokenizer rules of the HTML standard
(tags, attributes, comments, raw text), builds the stack of open elements much as the
parser does, and writes the same content out again with every element closed explicitly,
nothing hidden in comments or raw text, at most :data:`MAX_ATTRIBUTES` attributes a tag and
at most :data:`MAX_FORMATTING` formatting elements open at once. It refuses (``MarkupError``)
HTML nested deeper than :data:`MAX_DEPTH` or making more than :data:`MAX_ELEMENTS`
elements. nh3 then parses only this output, whose tree is as deep as the scan's stack (plus
the ``tbody``/``tr`` a parser adds): the cost of anything accepted is linear in its size,
whether or not the scan agrees with the parser on every malformed input.
"""

from __future__ import annotations

import re
from functools import lru_cache

from syndicate.content.elements import (
    DROPPED,
    MAX_DEPTH,
    MAX_ELEMENTS,
    MAX_FORMATTING,
    Attrs,
    MarkupError,
    OpenElements,
)

__all__ = [
    "HINT",
    "MAX_ATTRIBUTES",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_FORMATTING",
    "MarkupError",
    "bounded_html",
]

MAX_ATTRIBUTES = 100  # per tag; the rest are dropped
HINT = "simplify its HTML (no article needs that much; it is skipped, the others are read)"

_SIMPLE_TAG = re.compile(
    r"<(/?)([A-Za-z][^\t\n\f\r />]*)"
    r"((?:[\t\n\f\r ]++[^\t\n\f\r />\"'=<`]++"
    r"(?:=(?:\"[^\"]*+\"|'[^']*+'|[^\t\n\f\r >\"'=<`]++))?+)*+)"
    r"[\t\n\f\r ]*+(/?)>"
)
_SIMPLE_ATTR = re.compile(
    r"[\t\n\f\r ]+([^\t\n\f\r />\"'=<`]+)(?:=(?:\"([^\"]*)\"|'([^']*)'|([^\t\n\f\r >\"'=<`]+)))?"
)
_NAME = re.compile(r"[A-Za-z][^\t\n\f\r />]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
_ATTR_NAME = re.compile(r"=?[^\t\n\f\r />=]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
_TAG_START = re.compile(r"</?[A-Za-z]")
_COMMENT_END = re.compile(r"--!?>")
_GOOD_ATTR = re.compile(r"[^\t\n\f\r />\"'<=`\x00]+")


def _attrs(raw: str) -> Attrs:
    """The attributes of a simple tag (quoted, unquoted or bare values)."""
    if not raw:
        return []
    found: dict[str, str] = {}
    for m in _SIMPLE_ATTR.finditer(raw):
        key = m.group(1).lower()
        if key not in found and len(found) < MAX_ATTRIBUTES:
            found[key] = next((g for g in m.groups()[1:] if g is not None), "")
    return list(found.items())


def _full_tag(html: str, i: int) -> tuple[int, bool, str, Attrs, bool] | None:
    """A tag read by the standard's tokenizer states; None when the document ends in it."""
    closing = html.startswith("</", i)
    name_match = _NAME.match(html, i + (2 if closing else 1))
    assert name_match is not None
    name = name_match.group().lower()
    pos, size = name_match.end(), len(html)
    found: dict[str, str] = {}
    self_closing = False
    while True:
        pos = _SPACES.match(html, pos).end()  # type: ignore[union-attr]
        if pos >= size:
            return None
        c = html[pos]
        if c == ">":
            break
        if c == "/":
            if html.startswith("/>", pos):
                self_closing = True
                pos += 1
                break
            pos += 1
            continue
        key_match = _ATTR_NAME.match(html, pos)
        assert key_match is not None
        key, pos = key_match.group().lower(), key_match.end()
        after = _SPACES.match(html, pos).end()  # type: ignore[union-attr]
        value = ""
        if html.startswith("=", after):
            pos = _SPACES.match(html, after + 1).end()  # type: ignore[union-attr]
            if pos >= size:
                return None
            quote = html[pos]
            if quote in "\"'":
                close = html.find(quote, pos + 1)
                if close < 0:
                    return None
                value, pos = html[pos + 1 : close], close + 1
            elif quote != ">":
                unquoted = _UNQUOTED.match(html, pos)
                assert unquoted is not None
                value, pos = unquoted.group(), unquoted.end()
        if key and key not in found and len(found) < MAX_ATTRIBUTES and _GOOD_ATTR.fullmatch(key):
            found[key] = value
    return pos + 1, closing, name, list(found.items()), self_closing


def _raw_end(name: str) -> re.Pattern[str]:
    return _raw_ends.get(name) or _raw_ends.setdefault(
        name, re.compile(f"</{name}[\\t\\n\\f\\r />]", re.IGNORECASE)
    )


_raw_ends: dict[str, re.Pattern[str]] = {}


def bounded_html(html: str) -> str:
    """``html`` written out again within the bounds (see the module docstring); raises
    :class:`MarkupError` when it nests too deep or makes too many elements."""
    if "<" not in html:
        return html
    # A reader checks a body, then sanitizes it and takes its text: a big one is read once.
    return _bounded_cached(html) if len(html) >= CACHED_FROM else _bounded(html)


CACHED_FROM = 64 * 1024


@lru_cache(maxsize=2)
def _bounded_cached(html: str) -> str:
    return _bounded(html)


def _bounded(html: str) -> str:
    build = OpenElements()
    pos, size = 0, len(html)
    while pos < size:
        lt = html.find("<", pos)
        if lt < 0:
            build.text(html[pos:], pos)
            break
        if lt > pos:
            build.text(html[pos:lt], pos)
        pos = lt
        nxt = html[lt + 1 : lt + 2]
        if _TAG_START.match(html, lt):
            simple = _SIMPLE_TAG.match(html, lt)
            if simple is not None:
                closing, name, attrs = (
                    bool(simple.group(1)),
                    simple.group(2).lower(),
                    _attrs(simple.group(3)),
                )
                self_closing, pos = bool(simple.group(4)), simple.end()
            else:
                full = _full_tag(html, lt)
                if full is None:
                    break  # the document ends inside a tag: the parser drops it
                pos, closing, name, attrs, self_closing = full
            if closing:
                build.end(name)
                continue
            raw = build.start(name, attrs, self_closing, lt)
            if raw:
                stop = None if name == "plaintext" else _raw_end(name).search(html, pos)
                content = html[pos : stop.start() if stop else size]
                if name in DROPPED:  # nh3 drops it with its content: so does this
                    build.pop(implicit=False)
                    del build.out[-2:]
                else:
                    build.out.append(content.replace("<", "&lt;"))
                pos = stop.start() if stop else size
            continue
        if html.startswith("<!--", lt):
            if html.startswith(">", lt + 4):
                pos = lt + 5
            elif html.startswith("->", lt + 4):
                pos = lt + 6
            else:
                end = _COMMENT_END.search(html, lt + 4)
                pos = end.end() if end else size
            continue
        if build.in_foreign() and html.startswith("<![CDATA[", lt):
            end_at = html.find("]]>", lt + 9)
            build.text(html[lt + 9 : end_at if end_at >= 0 else size], lt)
            pos = end_at + 3 if end_at >= 0 else size
            continue
        if nxt in ("!", "?") or nxt == "/":
            if html.startswith("</>", lt):
                pos = lt + 3
                continue
            end_at = html.find(">", lt)  # a bogus comment, up to the first ">"
            pos = end_at + 1 if end_at >= 0 else size
            continue
        build.text("<", lt)
        pos = lt + 1
    return build.finish()
