"""Names typed into the public subscribe form: short, plain, and no links.

Anyone can type anything into the form, for any address; what is stored is later shown to
the editor and, once the reader confirmed, may greet them in digests. So a name is bounded
to :data:`MAX_NAME` characters, holds no control or bidi characters and no RFC 2047 encoded
word, and carries no web address: ``://``, ``www.``, or a dotted token that looks like a
domain (``evil.example``, ``evil．example``), which mail clients turn into links. Initials
and abbreviations (``J.R.R. Tolkien``, ``Dr. Smith``) are names, not domains.
"""

from __future__ import annotations

import re

from syndicate.errors import SyndicateError

MAX_NAME = 80
# C0 and C1 controls, DEL, line/paragraph separators, bidi overrides and isolates, surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Full stops that IDNA (and so browsers and mail clients) read as the dot of a domain.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# A token with a dot between two label characters, ending in a label of two or more letters.
_DOMAIN = re.compile(r"[^\W_](?:[\w-]*[^\W_])?\.(?:[\w-]+\.)*[^\W\d_]{2,}(?![\w-])")


class NameRefused(SyndicateError):
    """A name that cannot be stored; the message says why, to show the person."""


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
    found = _UNSAFE.search(raw)
    if found is not None:
        raise NameRefused(f"the name contains a control character (U+{ord(found[0]):04X})")
    text = " ".join(raw.split())
    if "=?" in text:
        raise NameRefused("the name must not contain '=?'")
    if len(text) > MAX_NAME:
        raise NameRefused(f"the name is longer than {MAX_NAME} characters ({len(text)})")
    if looks_like_link(text):
        raise NameRefused("the name must not contain a web address or domain (like example.com)")
    return text or None
