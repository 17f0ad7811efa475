"""Reader for plain-text article exports: title, body, image credit, author bio, teasers.

The exports have no markup, so structure is recovered from paragraph shape alone. The tail of
an export is, in order: an optional ``[image credit]`` line, an optional author bio, then
related-article teasers (a title line and an excerpt ending in an ellipsis). Everything is
decided per paragraph with plain string tests and a few bounded regexes, so the reader is
linear in the input size whatever the input.
"""

from __future__ import annotations

import html
import re

from syndicate.errors import ContentError
from syndicate.models import Entry, Teaser

# (first line number, stripped non-blank lines)
_Para = tuple[int, list[str]]

MAX_TITLE = 300
MAX_TEASER_TITLE = 200
# A bio is a few sentences; capping what the disclaimer regex sees keeps its cost bounded.
_MAX_DISCLAIMER_SCAN = 4000
_MAX_NAME_WORD = 40

# Control characters would end up in HTML and mail; lone surrogates cannot be encoded at all.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Matched from its fixed tail ("are those of the author") so no pattern needs an unbounded
# gap; the "views ... expressed" part is then checked in the same sentence, just before it.
_DISCLAIMER_TAIL = re.compile(
    r"\b(?:are|is)\s+(?:solely\s+|entirely\s+|only\s+)?"
    r"(?:(?:those|that)\s+of\s+the\s+authors?|the\s+authors?(?:['\u2019]s?)?\s+own)\b",
    re.IGNORECASE,
)
_VIEWS = re.compile(r"\b(?:views|opinions)\b", re.IGNORECASE)
_MAX_SENTENCE = 300

_ELLIPSES = ("...", "…")
_NOT_TITLE_ENDINGS = (".", ":", ",", ";")
_PARTICLES = frozenset(
    "de van von der den da di del della dos das du la le bin binti ibn al el ter ten y".split()
)
# Elided particles glued to the name: al-Sayed, d'Alembert (or with U+2019), l'Estrange.
_GLUED_PARTICLES = _PARTICLES | {"d", "l"}
_NAME_PUNCT = frozenset("-'\u2019.")
_BIO_VERBS = frozenset(
    "is was has had writes wrote serves served teaches taught works worked holds leads heads "
    "directs lectures researches specialises specializes studies studied covers received "
    "earned graduated lives joined founded chairs edits reports contributes".split()
)
_ADVERBS = frozenset("currently previously formerly also now recently".split())
# Capitalised sentence openers that would otherwise pass for a one-word name ("This is ...").
_NOT_NAMES = frozenset(
    "the this that these those it he she they we i you there here his her our their its what "
    "which who one a an in on at but and so such all each every no if as my".split()
)


def read_plaintext(path: str, text: str) -> Entry:
    """Parse one plain-text article export into an :class:`Entry`.

    ``text`` must already be decoded with ``"\\n"`` line endings. The first non-blank line
    is the title; the image credit, author bio and related teasers are recognised at the
    tail by shape and kept out of the body. Slug, URL, dates, summary, tags and image are
    left for the caller. Raises :class:`ContentError` (and nothing else) when the text has
    no usable title or body.
    """
    paras = _paragraphs(text)
    if not paras:
        raise ContentError(
            path, 1, "empty file: there is no text; write the article title on the first line"
        )
    title_line, title_lines = paras[0]
    title = title_lines[0]
    if len(title) > MAX_TITLE:
        raise ContentError(
            path,
            title_line,
            f"first line is {len(title)} characters; the first line must be the article title "
            f"(at most {MAX_TITLE} characters)",
        )
    body = paras[1:]
    if len(title_lines) > 1:
        body.insert(0, (title_line + 1, title_lines[1:]))
    if not body:
        raise ContentError(
            path,
            title_line,
            "no body: the title must be followed by a blank line and at least one paragraph",
        )

    end, related = _strip_teasers(body)
    credit_at: int | None = None
    bio: str | None = None
    if end and _credit(body[end - 1]) is not None:
        # Bio-then-credit layout: only a disclaimer can identify the bio here.
        credit_at = end - 1
        end -= 1
        if end and _has_disclaimer(_text(body[end - 1])):
            bio = _text(body[end - 1])
            end -= 1
    elif end:
        last = _text(body[end - 1])
        after_credit = end >= 2 and _credit(body[end - 2]) is not None
        if _has_disclaimer(last) or (after_credit and _author_name(last) is not None):
            bio = last
            end -= 1
            if after_credit:
                credit_at = end - 1
    if credit_at is None:
        # No credit at the tail: take the first one elsewhere, e.g. right under the title.
        credit_at = next((i for i in range(end) if _credit(body[i]) is not None), None)
    kept = [p for i, p in enumerate(body[:end]) if i != credit_at]
    if not kept:
        raise ContentError(
            path,
            body[0][0],
            "no body left: every paragraph after the title looks like an image credit, author "
            "bio or related-article teaser; put the article text between the title and them",
        )
    texts = [_text(p) for p in kept]
    return Entry(
        title=" ".join(title.split()),
        html="\n".join(f"<p>{html.escape(t, quote=False)}</p>" for t in texts),
        lead=" ".join(texts[0].split()),
        author=_author_name(bio) if bio is not None else None,
        author_bio=bio,
        image_credit=_credit(body[credit_at]) if credit_at is not None else None,
        related=related,
    )


def _paragraphs(text: str) -> list[_Para]:
    """Group non-blank lines into paragraphs, remembering each one's first line number."""
    paras: list[_Para] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.split("\n"), 1):
        # isprintable() is a cheap C pre-check; only odd lines pay for the regexes.
        if not raw.isprintable():
            raw = _SURROGATE.sub("\ufffd", _CONTROL.sub("", raw))
        line = raw.strip()
        if line:
            if not current:
                start = number
            current.append(line)
        elif current:
            paras.append((start, current))
            current = []
    if current:
        paras.append((start, current))
    return paras


def _text(para: _Para) -> str:
    return " ".join(para[1])


def _strip_teasers(body: list[_Para]) -> tuple[int, tuple[Teaser, ...]]:
    """Peel (title, excerpt) pairs off the end; return where the article proper ends."""
    end = len(body)
    found: list[Teaser] = []
    while end >= 2 and _is_teaser_title(body[end - 2]):
        excerpt = _text(body[end - 1])
        if not excerpt.endswith(_ELLIPSES):
            break
        found.append(Teaser(title=" ".join(body[end - 2][1][0].split()), excerpt=excerpt))
        end -= 2
    found.reverse()
    return end, tuple(found)


def _is_teaser_title(para: _Para) -> bool:
    # Titles may end in "?" or "!" (the sample's first teaser does); sentences and lead-ins
    # ending in ".", ":", "," or ";" are body text, and "[...]" lines are credits.
    lines = para[1]
    if len(lines) != 1:
        return False
    line = lines[0]
    return (
        len(line) <= MAX_TEASER_TITLE
        and not line.endswith(_NOT_TITLE_ENDINGS)
        and not line.endswith(_ELLIPSES)
        and _credit(para) is None
    )


def _credit(para: _Para) -> str | None:
    """The inner text of a one-line ``[...]`` paragraph, or None if it is not one."""
    lines = para[1]
    if len(lines) != 1:
        return None
    line = lines[0]
    if len(line) < 3 or line[0] != "[" or line[-1] != "]":
        return None
    inner = line[1:-1]
    # "[a] and [b]" starts and ends with brackets but is not one bracketed line.
    if "[" in inner or "]" in inner:
        return None
    inner = inner.strip()
    return inner or None


def _has_disclaimer(text: str) -> bool:
    """Whether ``text`` says the views expressed are the author's, in any usual wording."""
    for match in _DISCLAIMER_TAIL.finditer(text, 0, _MAX_DISCLAIMER_SCAN):
        sentence = text[max(0, match.start() - _MAX_SENTENCE) : match.start()]
        sentence = sentence[sentence.rfind(".") + 1 :]
        cut = sentence.lower().rfind("expressed")
        if cut > 0 and _VIEWS.search(sentence, 0, cut) is not None:
            return True
    return False


def _author_name(text: str) -> str | None:
    """The name a bio opens with ("Jean-Luc de la Croix is ..."), or None.

    Done by walking the first few words rather than by regex: a name is a short run of
    capitalised words, initials and particles that ends right before a bio verb.
    """
    name: list[str] = []
    capitalised = 0
    for word in text.split(None, 10)[:10]:
        low = word.lower()
        if low in _BIO_VERBS or low in _ADVERBS:
            if capitalised and name[-1].lower() not in _PARTICLES:
                return " ".join(name)
            return None
        if not name and low in _NOT_NAMES:
            return None
        if _is_name_word(word):
            capitalised += 1
            if capitalised > 6:
                return None
        elif low not in _PARTICLES:
            return None
        name.append(word)
    return None


def _is_name_word(word: str) -> bool:
    if len(word) > _MAX_NAME_WORD:
        return False
    if not (word[0].isupper() or word[0].istitle()):
        for sep in "-'\u2019":
            head, found, tail = word.partition(sep)
            if found and head.lower() in _GLUED_PARTICLES and tail[:1].isupper():
                word = tail
                break
        else:
            return False
    return any(c.isalpha() for c in word) and all(c.isalpha() or c in _NAME_PUNCT for c in word)
