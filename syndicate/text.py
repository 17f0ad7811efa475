"""Small text helpers shared by several layers."""

from __future__ import annotations

import re
import unicodedata

_NON_SLUG = re.compile(r"[^a-z0-9]+")
# Characters XML 1.0 forbids outright (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F).
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_TRAILING = re.compile(r"[\s.!?:;,…]+$")
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# What must never reach a terminal or a log from someone else's text: C0/C1 controls (ANSI
# escapes), line/paragraph separators, bidi overrides and isolates, lone surrogates.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]+"
)


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
    """``1 article``, ``2 articles``, ``1,204 subscribers``; ``many`` for irregular plurals."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(found: re.Match[str]) -> str:
    return "".join(
        _ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        for c in found.group()
    )


def printable(text: str) -> str:
    """Text from anywhere (a file name, a title, a server's reply) fit to print as part of a
    line: control and bidi characters, line separators and lone surrogates written as
    escapes (``\\n``, ``\\x1b``, ``\\u202e``), so no value can end a line, start a forged
    one, move the cursor or recolour the terminal."""
    return _UNPRINTABLE.sub(_escape, text)


def one_line(text: str, limit: int) -> str:
    """Untrusted text (a server's reply) fit to print: one line, control and bidi characters
    made spaces, spaces collapsed, at most ``limit`` characters."""
    return " ".join(_UNPRINTABLE.sub(" ", text).split())[:limit]
