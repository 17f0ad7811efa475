"""Plain-text helpers for the text part of a digest: wrapping and numbered link references.

The text template writes ``Title [1]`` and, at the end, a ``Links:`` list of ``[1] https://…``
lines. Wrapping keeps paragraphs, wraps at 78 columns and never breaks a URL or a
per-recipient marker: such a word longer than a line gets a line of its own.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from syndicate.digest import markers

WIDTH = 78
ELLIPSIS = "…"
# Removed from single lines: controls (CR, LF, TAB, NUL…), lone surrogates, line separators.
_UNPRINTABLE = frozenset(("Cc", "Cs", "Zl", "Zp"))
# Joins a suffix (e.g. `` [3]``) to the last word so that it never wraps onto a line alone.
_GLUE = "\x00"
_PARAGRAPHS = re.compile(r"\n[ \t\r\f\v]*\n")
_BLANK_RUNS = re.compile(r"\n{3,}")
_URLISH = re.compile(r"^[\[(<\"']*(?:[a-z][a-z0-9+.-]*://|mailto:|\[\d+\])", re.IGNORECASE)


def _unbreakable(word: str) -> bool:
    return bool(_URLISH.match(word)) or any(m in word for m in markers.ALL)


class _Wrapper(textwrap.TextWrapper):
    """A TextWrapper that hard-breaks over-long words, except URLs, references and markers."""

    def _handle_long_word(
        self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
    ) -> None:
        if _unbreakable(reversed_chunks[-1]):
            if not cur_line:  # the URL gets a line of its own, however long
                cur_line.append(reversed_chunks.pop())
            return
        super()._handle_long_word(reversed_chunks, cur_line, cur_len, width)


def clean(text: str) -> str:
    """``text`` as one line of plain text: control characters dropped, whitespace collapsed."""
    text = "".join(" " if unicodedata.category(c) in _UNPRINTABLE else c for c in text)
    return " ".join(text.split())


def wrap(
    text: str, width: int = WIDTH, indent: str = "", first: str | None = None, suffix: str = ""
) -> str:
    """``text`` wrapped at ``width`` columns, paragraph by paragraph, each line indented.

    Blank lines separate paragraphs in the input and in the output; other whitespace and any
    control character collapse to single spaces. ``first`` replaces the indent of the very
    first line (a bullet such as ``"* "``). ``suffix`` is glued to the last word, so that a
    reference such as `` [3]`` always stays on the line of the word before it.
    """
    wrapper = _Wrapper(
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    )
    paragraphs = [p for p in (clean(p) for p in _PARAGRAPHS.split(text)) if p]
    if suffix:
        glued = suffix.replace(" ", _GLUE)
        if paragraphs:
            paragraphs[-1] += glued
        else:
            paragraphs = [glued.lstrip(_GLUE)]
    blocks = []
    for i, paragraph in enumerate(paragraphs):
        wrapper.initial_indent = first if i == 0 and first is not None else indent
        blocks.append("\n".join(wrapper.wrap(paragraph)))
    return "\n\n".join(blocks).replace(_GLUE, " ")


def tidy(text: str) -> str:
    """A whole text part: no trailing spaces, at most one blank line in a row, one final LF.

    The signature delimiter ``"-- "`` keeps its space.
    """
    lines = "\n".join(line if line == "-- " else line.rstrip() for line in text.splitlines())
    return _BLANK_RUNS.sub("\n\n", lines).strip("\n") + "\n"


class LinkRefs:
    """Numbered link references for one text part: ``ref(url)`` is the number of ``url``.

    Equal URLs share a number; numbers count from 1 in order of first use. Pass a fresh
    instance into every render as ``ref`` and list ``ref.links`` at the end.
    """

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}

    def __call__(self, url: str) -> int:
        """The reference number of ``url``, allocating the next one on first use."""
        return self._numbers.setdefault(url, len(self._numbers) + 1)

    @property
    def links(self) -> list[tuple[int, str]]:
        """Every referenced URL with its number, in number order."""
        return [(n, url) for url, n in self._numbers.items()]

    def __len__(self) -> int:
        return len(self._numbers)


def single_line(text: str) -> str:
    """``text`` as one header-safe line: whitespace collapsed, every control char removed."""
    text = " ".join(text.split())
    text = "".join(c for c in text if unicodedata.category(c) not in _UNPRINTABLE)
    return " ".join(text.split())


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, ending with "…"."""
    if len(text) <= limit:
        return text
    window = text[: limit - 1]
    cut = window.rsplit(" ", 1)[0] if " " in window[limit // 2 :] else window
    return cut.rstrip(" ,.;:-–—") + ELLIPSIS


def format_date(value: datetime, tz: str = "UTC") -> str:
    """``27 November 2026``: the day of ``value`` in the time zone ``tz`` (naive: UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(ZoneInfo(tz))
    return f"{local.day} {local:%B} {local.year}"
