"""Names typed into the public subscribe form: short, plain, and no links.

Anyone can type anything into the form, for any address; what is stored is later shown to
the editor and, once the reader confirmed, may greet them in digests. So a name is bounded
to :data:`MAX_NAME` characters, holds no control or format characters (:func:`refused_character`,
the rule every way in shares: the API, the CLI and the CSV import) and no RFC 2047 encoded
word, and carries no web address: ``://``, ``www.``, or a dotted token that looks like a
domain (``evil.example``, ``evil．example``), which mail clients turn into links. Initials
and abbreviations (``J.R.R. Tolkien``, ``Dr. Smith``) are names, not domains.
"""

from __future__ import annotations

import re

from syndicate.errors import SyndicateError

MAX_NAME = 80
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"  # C0, DEL, C1, line and paragraph separators
# Unicode format characters (category Cf): invisible, yet they reorder (bidi overrides and
# isolates, U+202E), hide (zero-width space U+200B, word joiner, BOM, soft hyphen) or tag
# text. The zero-width non-joiner and joiner (U+200C, U+200D) are allowed: Persian and Indic
# names and emoji sequences need them. The astral ones are given as characters, not
# ``\U…`` escapes, which ECMAScript readers of the API's document would misread.
_ASTRAL: tuple[tuple[int, int], ...] = (
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),  # up to U+1343F: Unicode 15 added U+13439..1343F
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
_FORMAT = (
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
) + "".join(f"{chr(a)}-{chr(b)}" for a, b in _ASTRAL)
# One line of plain text, as a pattern both Python's ``re`` and pydantic's Rust regex read:
# the API's models check names, topics and consent sources with it, and its document shows it.
PLAIN_LINE = f"^[^{_CONTROLS}{_FORMAT}]+$"
_CONTROL = re.compile(f"[{_CONTROLS}" r"\ud800-\udfff]")  # surrogates: never text, and not Rust's
_FORMATTING = re.compile(f"[{_FORMAT}]")
# Full stops that IDNA (and so browsers and mail clients) read as the dot of a domain.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# A token with a dot between two label characters, ending in a label of two or more letters.
_DOMAIN = re.compile(r"[^\W_](?:[\w-]*[^\W_])?\.(?:[\w-]+\.)*[^\W\d_]{2,}(?![\w-])")


class NameRefused(SyndicateError):
    """A name that cannot be stored; the message says why, to show the person."""


def refused_character(text: str) -> str | None:
    """Why ``text`` cannot be a name (or a consent note, a topic): "a control character
    (U+000A)" or "an invisible format control character (U+202E)"; None when it can."""
    if (found := _CONTROL.search(text)) is not None:
        return f"a control character (U+{ord(found[0]):04X})"
    if (found := _FORMATTING.search(text)) is not None:
        return f"an invisible format control character (U+{ord(found[0]):04X})"
    return None


def escape_refused(text: str) -> str:
    """``text`` with what :func:`refused_character` refuses written as ``\\u202e`` escapes
    (what an export writes, so that its file imports again)."""
    text = _CONTROL.sub(lambda m: f"\\u{ord(m[0]):04x}", text)
    return _FORMATTING.sub(
        lambda m: f"\\u{ord(m[0]):04x}" if ord(m[0]) <= 0xFFFF else f"\\U{ord(m[0]):08x}", text
    )


def looks_like_link(text: str) -> bool:
    """Whether ``text`` holds a web address or a domain-like token."""
    folded = text.translate(_DOTS).casefold()
    return "://" in folded or "www." in folded or _DOMAIN.search(folded) is not None


def clean_name(raw: str | None) -> str | None:
    """A name fit for the store, a header and a page, or :class:`NameRefused`.

    Surrounding spaces are dropped and runs of spaces collapsed; empty is None.
    """
    if raw is None:
        return None
    if (why := refused_character(raw)) is not None:
        raise NameRefused(f"the name contains {why}")
    text = " ".join(raw.split())
    if "=?" in text:
        raise NameRefused("the name must not contain '=?'")
    if len(text) > MAX_NAME:
        raise NameRefused(f"the name is longer than {MAX_NAME} characters ({len(text)})")
    if looks_like_link(text):
        raise NameRefused("the name must not contain a web address or domain (like example.com)")
    return text or None
