"""Teasers: the first paragraph, cut at a sentence or word boundary."""

from __future__ import annotations

import re

ELLIPSIS = "…"
# A sentence ends at . ! or ? (optionally followed by a closing quote/bracket) and a space.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]?(?= )")


def make_teaser(text: str, limit: int = 300) -> str:
    """``text`` with whitespace collapsed, cut to at most ``limit`` characters.

    Prefers the last sentence end that keeps at least half the budget, then the last word
    boundary; a cut text ends with an ellipsis, which counts towards the limit.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    window = text[: limit - 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] >= limit // 2 and ends[-1] <= limit - 2:
        return window[: ends[-1]] + " " + ELLIPSIS
    cut = window.rsplit(" ", 1)[0] if " " in window else window
    return cut.rstrip(" ,;:-–—") + ELLIPSIS
