"""Small text helpers shared by several layers."""

from __future__ import annotations

import re
import unicodedata

_NON_SLUG = re.compile(r"[^a-z0-9]+")
# Characters XML 1.0 forbids outright (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F).
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_TRAILING = re.compile(r"[\s.!?:;,…]+$")
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def slugify(text: str) -> str:
    """ASCII, lowercase, hyphen-separated; at most 80 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NON_SLUG.sub("-", ascii_text.lower()).strip("-")[:80].rstrip("-")


def xml_safe(text: str) -> str:
    """``text`` without the characters no XML document may contain."""
    return _XML_FORBIDDEN.sub("", text)


def title_key(title: str) -> str:
    """Titles compared loosely: case, quote style, spacing and final punctuation ignored."""
    return _TRAILING.sub("", " ".join(title.translate(_QUOTES).casefold().split()))


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 article``, ``2 articles``, ``1,204 subscribers``; ``many`` for irregular plurals
    (the service layer's logs; the CLI has the same helper in ``cli/base.py``)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
