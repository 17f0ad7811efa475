"""Articles a digest cannot carry: left out of it and reported, never the whole send.

An article's text reaches the Subject (through the list's subject template) and both
parts of every copy. Two things in it would make a copy unsafe to build, and a send refuse
the digest: a title that cannot be a mail header, and the per-recipient marker prefix
(``SYNDICATEx9…``), which delivery would fill with a reader's own unsubscribe link or
refuse as a marker "altered by rendering". Such an article is left out of every version,
named in the send's plan (and so in ``send``, ``send --dry-run`` and ``preview``), and
comes back in a later digest once its file or feed entry is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy as policies
from email.message import EmailMessage

from syndicate.content.folder import SOURCE as FOLDER_SOURCE
from syndicate.digest.message import HeaderError, subject_header
from syndicate.digest.text import clean
from syndicate.models import Article

_RESERVED = re.compile("syndicatex9", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftOut:
    """An article left out of a digest, and why."""

    article_id: str
    where: str  # ``content/a.md``, or ``source partner: https://…`` for a feed entry
    title: str
    reason: str


def _texts(article: Article) -> Iterable[tuple[str, str]]:
    """Every text of an article a template may print, with the field's name."""
    yield "title", article.title
    yield "teaser", article.teaser
    yield "url", article.url
    yield "body", article.html
    for name in ("author", "author_bio", "image", "image_credit"):
        value = getattr(article, name)
        if value:
            yield name, value
    for tag in article.tags:
        yield "tags", tag
    for teaser in article.related:
        yield "related teaser", teaser.title + " " + teaser.excerpt


def unmailable(article: Article) -> str | None:
    """Why ``article`` cannot go into a digest (None: it can)."""
    for field, text in _texts(article):
        if _RESERVED.search(text):
            return (
                f"its {field} holds 'SYNDICATEx9', which digests reserve for each reader's "
                "own links; change that text"
            )
    scratch = EmailMessage(policy=policies.SMTP)
    try:
        subject_header(scratch, clean(article.title) or "-")
    except HeaderError as exc:
        return f"its title cannot be a mail subject ({exc})"
    return None


def split_mailable(
    articles: Sequence[Article], content_folder: str
) -> tuple[tuple[Article, ...], tuple[LeftOut, ...]]:
    """``articles`` without the unmailable ones, and those, each with its reason."""
    kept: list[Article] = []
    left: list[LeftOut] = []
    for article in articles:
        reason = unmailable(article)
        if reason is None:
            kept.append(article)
            continue
        where = (
            f"{content_folder}/{article.key}"
            if article.source == FOLDER_SOURCE
            else f"source {article.source}: {article.url}"
        )
        left.append(LeftOut(article_id=article.id, where=where, title=article.title, reason=reason))
    return tuple(kept), tuple(left)
