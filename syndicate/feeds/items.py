"""One format-neutral feed item per article, built once per build and shared by every page.

Everything here is already safe for any feed: XML-forbidden characters removed, HTML that
came from the sanitizer plus markup we build ourselves with every value escaped.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlsplit

from syndicate.models import Article
from syndicate.text import xml_safe


@dataclass(frozen=True, slots=True, kw_only=True)
class Related:
    """A related article the item links to."""

    title: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """The item's image; ``type`` is None when it cannot be told from the URL."""

    url: str
    type: str | None
    length: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedItem:
    """What every feed format says about one article."""

    id: str
    title: str
    url: str
    published: datetime
    updated: datetime
    author: str | None
    tags: tuple[str, ...]
    summary: str
    content_html: str
    image: Image | None
    related: tuple[Related, ...]


def entry_id(article: Article, authority: str) -> str:
    """A tag URI (RFC 4151) that never changes: the article id under the site's authority."""
    return f"tag:{authority},{article.first_seen:%Y-%m-%d}:{article.id}"


def feed_item(article: Article, *, authority: str, full_content: bool) -> FeedItem:
    """The feed item of an article."""
    image = None
    local = next((m for m in article.media if m.url == article.image), None)
    if local is not None:  # published by us: its real type and length
        image = Image(url=xml_safe(local.url), type=local.type, length=local.size)
    elif article.image:
        kind = mimetypes.guess_type(urlsplit(article.image).path)[0]
        image = Image(url=xml_safe(article.image), type=kind if kind else None)
    return FeedItem(
        id=entry_id(article, authority),
        title=xml_safe(article.title),
        url=xml_safe(article.url),
        published=article.published,
        updated=article.updated or article.published,
        author=xml_safe(article.author) if article.author else None,
        tags=tuple(xml_safe(t) for t in article.tags),
        summary=xml_safe(article.teaser),
        content_html=xml_safe(_content(article)) if full_content else "",
        image=image,
        related=tuple(
            Related(title=xml_safe(t.title), url=xml_safe(t.url)) for t in article.related if t.url
        ),
    )


def _content(article: Article) -> str:
    """The article's HTML with its image and credit, related reading and author bio."""
    parts = []
    credit = escape(article.image_credit) if article.image_credit else ""
    if article.image:
        caption = f"<figcaption>{credit}</figcaption>" if credit else ""
        src, alt = escape(article.image), escape(article.title)
        parts.append(f'<figure><img src="{src}" alt="{alt}">{caption}</figure>')
    parts.append(article.html)
    if credit and not article.image:
        parts.append(f"<p><small>{credit}</small></p>")
    if article.author_bio:
        parts.append(f"<p><em>{escape(article.author_bio)}</em></p>")
    if article.related:
        items = []
        for t in article.related:
            title = escape(t.title)
            link = f'<a href="{escape(t.url)}">{title}</a>' if t.url else title
            items.append(f"<li>{link}: {escape(t.excerpt)}</li>")
        parts.append(f"<h3>Related</h3><ul>{''.join(items)}</ul>")
    return "\n".join(parts)
