"""Which feed documents exist and what each holds (pure: no I/O).

The subscription feeds hold the newest ``items`` articles. Older ones go to RFC 5005 archive
pages counted from the oldest article, so the entries of a full archive page never change: a
new article only touches the main feeds, the newest archive page and its tag feeds (and, when
it opens a new archive page, the ``next-archive`` link of the one before).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from syndicate.models import Article
from syndicate.text import slugify

FORMATS = ("rss.xml", "atom.xml", "feed.json")
ARCHIVE = "archive"
TAGS = "tags"
# Anything beyond letters, digits, spaces, hyphens and underscores is lost by slugify, so
# such tags ("C++", "C#") get a hash suffix to keep them apart.
_LOSSY = re.compile(r"[^\w\s-]|[^\x00-\x7f]")
_SUFFIXED = re.compile(r"-[0-9a-f]{8}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One feed document, written in every format into ``folder`` under the feeds folder."""

    folder: str
    title: str
    articles: tuple[Article, ...]
    archive: bool = False
    prev_archive: str | None = None
    next_archive: str | None = None


@functools.lru_cache(maxsize=4096)  # a site has few tags, used by thousands of articles
def tag_slug(tag: str) -> str:
    """A path-safe, stable folder name for a tag."""
    base = slugify(tag)
    # A tag that already looks suffixed ("c-951a4d36") is suffixed too, or "C#" would share it.
    if base and not _LOSSY.search(tag) and not _SUFFIXED.search(base):
        return base
    digest = hashlib.sha256(tag.casefold().encode()).hexdigest()[:8]
    return f"{base or 'tag'}-{digest}"


def plan_pages(
    articles: Sequence[Article],
    *,
    title: str,
    per_page: int,
    per_archive: int | None = None,
    per_tag: bool,
) -> list[Page]:
    """Every page of the site's feeds. ``articles`` come newest first."""
    ordered = list(articles)
    older = ordered[per_page:][::-1]  # oldest first, so page boundaries never move
    per_archive = per_archive or per_page
    count = -(-len(older) // per_archive)
    pages = [
        Page(
            folder="",
            title=title,
            articles=tuple(ordered[:per_page]),
            prev_archive=_archive(count) if count else None,
        )
    ]
    for n in range(1, count + 1):
        chunk = older[(n - 1) * per_archive : n * per_archive]
        pages.append(
            Page(
                folder=_archive(n),
                title=f"{title} (archive {n})",
                articles=tuple(reversed(chunk)),
                archive=True,
                prev_archive=_archive(n - 1) if n > 1 else None,
                next_archive=_archive(n + 1) if n < count else None,
            )
        )
    if per_tag:
        pages.extend(_tag_pages(articles, title=title, per_page=per_page))
    return pages


def _archive(n: int) -> str:
    return f"{ARCHIVE}/{n}"


def _tag_pages(articles: Sequence[Article], *, title: str, per_page: int) -> list[Page]:
    by_slug: dict[str, list[Article]] = {}
    names: dict[str, str] = {}
    for article in articles:
        for tag in article.tags:
            slug = tag_slug(tag)
            names.setdefault(slug, tag)
            members = by_slug.setdefault(slug, [])
            # Two tags of one article may share a slug ("Trade", "trade"): list it once.
            if len(members) < per_page and (not members or members[-1].id != article.id):
                members.append(article)
    return [
        Page(folder=f"{TAGS}/{slug}", title=f"{title}: {names[slug]}", articles=tuple(members))
        for slug, members in sorted(by_slug.items())
    ]
