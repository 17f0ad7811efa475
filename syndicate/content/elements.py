"""The stack of open elements of an HTML document, as a parser keeps it, for markup.py.

:class:`OpenElements` takes the tokens markup.py reads and writes them out again with every
element closed explicitly, closing what a parser closes implicitly (an open ``<p>`` before a
``<div>``, a ``<li>`` before the next, a table cell before the next row…) and re-opening the
formatting elements a parser would re-open. Where each name and kind of barrier sits in the
stack is kept as lists of positions, so each scope question costs the same at any depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_DEPTH = 256  # elements open at once; real articles stay under 30
MAX_ELEMENTS = 200_000  # elements in one document (a long article has a few thousand)
MAX_FORMATTING = 12  # b, i, a… open at once; more are dropped (they would all be re-opened)


class MarkupError(ValueError):
    """HTML nested or repeated beyond what is read; the message says which bound and where."""


VOID = frozenset(
    "area base basefont bgsound br col embed frame hr img input keygen link meta param source "
    "track wbr".split()
)
FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
RAW_TEXT = frozenset("script style xmp iframe noembed noframes textarea title".split())
DROPPED = frozenset({"script", "style"})  # nh3 drops them with their content anyway
IGNORED = frozenset({"html", "head", "body", "frameset"})  # a parser merges or ignores them
TABLE_PARTS = frozenset("caption col colgroup tbody td tfoot th thead tr".split())
# The parser's "special" elements: no end tag of another name closes past one of them.
SPECIAL = frozenset(
    "address applet area article aside base basefont bgsound blockquote body br button caption "
    "center col colgroup dd details dir div dl dt embed fieldset figcaption figure footer form "
    "frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input keygen li "
    "link listing main marquee menu meta nav noembed noframes noscript object ol p param "
    "plaintext pre script search section select source style summary table tbody td template "
    "textarea tfoot th thead title tr track ul wbr xmp".split()
)
_SCOPE = frozenset("applet caption html table td th marquee object template".split())
_BUTTON_SCOPE = _SCOPE | {"button"}
_LIST_SCOPE = _SCOPE | {"ol", "ul"}
_TABLE_SCOPE = frozenset({"html", "table", "template"})
_CLOSES_P = frozenset(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption "
    "figure footer header hgroup main menu nav ol p search section summary ul h1 h2 h3 h4 h5 "
    "h6 pre listing form plaintext table hr xmp li dd dt".split()
)
# Start tags before which the parser does not re-open formatting elements (text inside does).
_NO_REOPEN = (_CLOSES_P - {"xmp"}) | {"textarea", "title", "script", "style", "template"}
# Tags that leave SVG or MathML content (``font`` only with color, face or size).
_BREAKOUT = frozenset(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img "
    "li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul "
    "var".split()
)
_INTEGRATION = frozenset("mi mo mn ms mtext foreignobject desc title".split())
_SECTIONS = ("tbody", "thead", "tfoot")
# What a table part closes first: the first group found open (in table scope) is popped to.
_CELL_CLOSES: dict[str, tuple[tuple[str, ...], ...]] = {
    "td": (("td", "th"),),
    "th": (("td", "th"),),
    "tr": (("tr",), ("td", "th")),
    **{
        n: (("tbody", "thead", "tfoot"), ("tr",), ("td", "th")) for n in ("tbody", "thead", "tfoot")
    },
}
_TABLE_NAMES = frozenset("td th tr tbody thead tfoot table caption colgroup".split())
_HTML_ENCODING = re.compile(r'encoding="(?:text/html|application/xhtml\+xml)"', re.IGNORECASE)
Attrs = list[tuple[str, str]]


def _serialize(name: str, attrs: Attrs) -> str:
    if not attrs:
        return f"<{name}>"
    return "<" + name + "".join(f' {k}="{v.replace(chr(34), "&quot;")}"' for k, v in attrs) + ">"


_SCOPE_KIND = ("scope", "foreign")
_BUTTON_KIND = ("scope", "button", "foreign")
_LIST_KIND = ("scope", "list", "foreign")
_TABLE_KIND = ("table", "foreign")
_CELL_KIND = ("table", "cell", "foreign")  # a table is only inside another in a cell
_SPECIAL_KIND = ("special", "foreign")
_STRICT_KIND = ("strict", "foreign")  # special but address, div and p: what li/dd/dt stop at


def _kinds(name: str, foreign: bool) -> tuple[str, ...]:
    """The barriers an element is (see ``_Builder.find``)."""
    found = _KINDS.get((name, foreign))
    if found is None:
        found = _KINDS[(name, foreign)] = _kinds_of(name, foreign)
    return found


_KINDS: dict[tuple[str, bool], tuple[str, ...]] = {}


def _kinds_of(name: str, foreign: bool) -> tuple[str, ...]:
    if foreign:
        return ("foreign",)
    kinds = ["html"]
    if name in _SCOPE:
        kinds.append("scope")
    if name == "button":
        kinds.append("button")
    if name in ("ol", "ul"):
        kinds.append("list")
    if name in _TABLE_SCOPE:
        kinds.append("table")
    if name in ("td", "th", "caption"):
        kinds.append("cell")
    if name in SPECIAL:
        kinds.append("special")
        if name not in ("address", "div", "p"):
            kinds.append("strict")
    return tuple(kinds)


class OpenElements:
    """The stack of open elements, writing what it reads with every element closed.

    Where each name and each kind of barrier sits in the stack is kept as lists of
    positions, so every scope question is answered in constant time, however deep.
    """

    def __init__(self) -> None:
        self.out: list[str] = []
        self.stack: list[tuple[str, bool, str]] = []  # (name, foreign, start tag as written)
        self.at: dict[tuple[str, bool], list[int]] = {}  # (name, foreign) -> positions
        self.kind_at: dict[str, list[int]] = {}  # barrier kind -> positions
        self.stale: list[tuple[str, str]] = []  # formatting closed implicitly: re-opened later
        self.elements = 0
        self.formatting = 0  # formatting elements open
        self.form_open = False

    # --- the stack ---

    def count(self, offset: int) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise MarkupError(
                f"HTML with more than {MAX_ELEMENTS:,} elements (at character {offset:,})"
            )

    def push(self, name: str, foreign: bool, tag: str, offset: int) -> None:
        self.count(offset)
        index = len(self.stack)
        if index >= MAX_DEPTH:
            raise MarkupError(
                f"HTML nested more than {MAX_DEPTH} elements deep (at character {offset:,})"
            )
        self.out.append(tag)
        self.stack.append((name, foreign, tag))
        self.at.setdefault((name, foreign), []).append(index)
        for kind in _kinds(name, foreign):
            self.kind_at.setdefault(kind, []).append(index)
        if name in FORMATTING and not foreign:
            self.formatting += 1

    def pop(self, *, implicit: bool) -> None:
        name, foreign, tag = self.stack.pop()
        self.out.append(f"</{name}>")
        self.at[(name, foreign)].pop()
        for kind in _kinds(name, foreign):
            self.kind_at[kind].pop()
        if name in FORMATTING and not foreign:
            self.formatting -= 1
            if implicit:  # the parser keeps it in its list of formatting elements
                self.stale.append((name, tag))

    def pop_to(self, index: int) -> None:
        while len(self.stack) > index + 1:
            self.pop(implicit=True)
        self.pop(implicit=False)

    def top(self, name: str, foreign: bool = False) -> int:
        found = self.at.get((name, foreign))
        return found[-1] if found else -1

    def top_kind(self, kinds: tuple[str, ...]) -> int:
        top = -1
        for kind in kinds:
            found = self.kind_at.get(kind)
            if found and found[-1] > top:
                top = found[-1]
        return top

    def find(self, names: Iterable[str], kinds: tuple[str, ...]) -> int | None:
        """The position of the nearest open HTML element named in ``names`` if no barrier
        of ``kinds`` lies above it (the element itself may be one)."""
        index = -1
        for name in names:
            found = self.at.get((name, False))
            if found and found[-1] > index:
                index = found[-1]
        if index < 0:
            return None
        for kind in kinds:
            found = self.kind_at.get(kind)
            if found and found[-1] > index:
                return None
        return index

    def foreign_open(self) -> bool:
        return self.top_kind(("foreign",)) >= 0

    def in_foreign(self) -> bool:
        if not self.stack or not self.stack[-1][1]:
            return False
        name, _, tag = self.stack[-1]
        if name == "annotation-xml":
            return not _HTML_ENCODING.search(tag)
        return name not in _INTEGRATION

    def reopen(self, offset: int) -> None:
        """Formatting elements closed implicitly come back before text or an element."""
        if self.stale:
            stale, self.stale = self.stale, []
            for name, tag in stale[-max(0, MAX_FORMATTING - self.formatting) :]:
                self.push(name, False, tag, offset)

    # --- tokens ---

    def text(self, text: str, offset: int) -> None:
        if self.stale and not self.in_foreign():
            self.reopen(offset)
        self.out.append(text.replace("<", "&lt;"))

    def start(self, name: str, attrs: Attrs, self_closing: bool, offset: int) -> bool:
        """Handle a start tag; True when the element is open and raw text follows."""
        tag = _serialize(name, attrs)
        if self.in_foreign():
            font = name == "font" and any(k in ("color", "face", "size") for k, _ in attrs)
            if name not in _BREAKOUT and not font:
                self.push(name, True, tag, offset)
                if self_closing:
                    self.pop(implicit=False)
                return False
            while self.in_foreign():
                self.pop(implicit=False)
        if name in IGNORED or (name == "form" and self.form_open):
            return False
        if name in TABLE_PARTS and self.top("table") < 0:
            return False  # outside a table the parser ignores them
        if name in FORMATTING and self.formatting >= MAX_FORMATTING:
            return False
        if name not in _NO_REOPEN:
            self.reopen(offset)
        self.close_implied(name)
        if name in ("svg", "math"):
            self.push(name, True, tag, offset)
            if self_closing:
                self.pop(implicit=False)
            return False
        if name in VOID:
            self.count(offset)
            # Inside SVG or MathML a parser may not take it as void: close it explicitly.
            self.out.append(tag if name == "br" or not self.foreign_open() else f"{tag}</{name}>")
            return False
        if name == "form":
            self.form_open = True
        self.push(name, False, tag, offset)
        return name in RAW_TEXT or name == "plaintext"

    def close_implied(self, name: str) -> None:
        """What the parser closes before it opens ``name``."""
        if name in _CLOSES_P and (i := self.find(("p",), _BUTTON_KIND)) is not None:
            self.pop_to(i)
        if name in ("li", "dd", "dt"):
            same = ("li",) if name == "li" else ("dd", "dt")
            if (i := self.find(same, _STRICT_KIND)) is not None:
                self.pop_to(i)
        elif name in HEADINGS and self.stack and self.stack[-1][0] in HEADINGS:
            self.pop(implicit=False)
        elif name in ("option", "optgroup") and self.stack and self.stack[-1][0] == "option":
            self.pop(implicit=False)
        elif name in _CELL_CLOSES:
            for group in _CELL_CLOSES[name]:
                if (i := self.find(group, _TABLE_KIND)) is not None:
                    self.pop_to(i)
                    break
        elif name == "table" and (i := self.find(("table",), _CELL_KIND)) is not None:
            self.pop_to(i)  # a table straight in a table (not in a cell) closes it
        elif name in ("a", "nobr", "button", "select"):
            kinds = _SPECIAL_KIND if name in FORMATTING else _SCOPE_KIND
            if (i := self.find((name,), kinds)) is not None:
                self.pop_to(i)
            self.stale = [(n, t) for n, t in self.stale if n != name]

    def end(self, name: str) -> None:
        if self.stack and self.stack[-1][1]:  # in SVG or MathML
            index = self.top(name, True)
            if index >= 0 and index > self.top_kind(("html",)):
                self.pop_to(index)
                return
            if name not in ("p", "br"):
                if self.in_foreign():
                    return
            else:
                while self.stack and self.stack[-1][1]:
                    self.pop(implicit=False)
        if name in IGNORED:
            return
        if name == "br":
            self.count(0)
            self.out.append("<br>")
            return
        if name == "form":
            self.form_open = False
        if name in FORMATTING:
            for i in range(len(self.stale) - 1, -1, -1):
                if self.stale[i][0] == name:  # the parser would re-open it: now it will not
                    del self.stale[i]
                    return
        targets: Iterable[str] = HEADINGS if name in HEADINGS else (name,)
        kinds: tuple[str, ...]
        if name in _TABLE_NAMES:
            kinds = _TABLE_KIND
        elif name in FORMATTING or name not in SPECIAL:
            kinds = _SPECIAL_KIND
        elif name == "li":
            kinds = _LIST_KIND
        else:
            kinds = _BUTTON_KIND if name == "p" else _SCOPE_KIND
        found = self.find(targets, kinds)
        if found is not None:
            self.pop_to(found)
        elif name == "p":  # the parser makes an empty paragraph of a stray </p>
            self.out.append("<p></p>")

    def finish(self) -> str:
        while self.stack:
            self.pop(implicit=False)
        return "".join(self.out)
