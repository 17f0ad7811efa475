"""From a reader's ``Entry`` to a publishable ``Article``.

``finish`` does the costly, config-dependent work once (URL, teaser, sanitizing) and returns
what the store keeps — a small JSON payload of metadata plus the sanitized HTML, stored apart
so that loading 10k articles decodes kilobytes of JSON, not megabytes — so an unchanged
article is never parsed or sanitized again. ``to_article`` rebuilds the value from the store.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from syndicate.config import Content, Publication
from syndicate.content.html import absolute_http_url, sanitize
from syndicate.content.media import MediaResolver, is_local, media_from_payload, media_payload
from syndicate.content.teaser import make_teaser
from syndicate.models import Article, Entry, Teaser
from syndicate.text import slugify

# Bump when readers or ``finish`` change what they produce: every cached file is re-parsed.
PARSER_VERSION = "2"
# Payload key of an undated file's publication time: its own, set once (see folder.py).
UNDATED = "undated"


def parse_key(publication: Publication, content: Content, media_url: str = "") -> str:
    """Fingerprint of everything a cached payload depends on besides the file itself."""
    relevant = {
        "v": PARSER_VERSION,
        "media_url": media_url,
        "max_image_size": content.max_image_size,
        "base_url": publication.base_url,
        "article_url": publication.article_url,
        "timezone": publication.timezone,
        "author": publication.author,
        "teaser_length": content.teaser_length,
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:32]


def _aware(value: datetime | None, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def finish(
    entry: Entry,
    *,
    id: str,
    default_slug: str,
    first_seen: datetime,
    publication: Publication,
    teaser_length: int,
    default_author: str | None = None,
    media: MediaResolver | None = None,
) -> tuple[dict[str, Any], str]:
    """The stored payload of an article (canonical URL, teaser…) and its sanitized HTML.

    ``media`` resolves local images against the article's file (content folder articles);
    its ``errors`` say which could not be published.
    """
    tz = ZoneInfo(publication.timezone)
    date = _aware(entry.date, tz)
    slug = entry.slug or slugify(default_slug) or "article"
    url = absolute_http_url(entry.url, publication.base_url + "/") if entry.url else None
    if url is None:
        when = (date or first_seen).astimezone(tz)
        url = publication.article_url.format(
            base_url=publication.base_url,
            slug=slug,
            year=f"{when.year:04d}",
            month=f"{when.month:02d}",
            day=f"{when.day:02d}",
            id=id,
        )
    updated = _aware(entry.updated, tz)
    image = None
    if entry.image and media is not None and is_local(entry.image):
        image = media.url(entry.image)
    elif entry.image:
        image = absolute_http_url(entry.image, url)
    html = sanitize(entry.html, url, image_url=media.url if media is not None else None)
    meta: dict[str, Any] = {
        "slug": slug,
        "title": entry.title,
        "url": url,
        "date": date.isoformat() if date else None,
        "updated": updated.isoformat() if updated else None,
        "author": entry.author or default_author,
        "author_bio": entry.author_bio,
        "teaser": make_teaser(entry.summary or entry.lead, teaser_length),
        "tags": list(entry.tags),
        "image": image,
        "image_credit": entry.image_credit,
        "related": [[t.title, t.excerpt] for t in entry.related],
    }
    if media is not None and media.found:
        meta["media"] = media_payload(list(media.found.values()))
    return meta, html


def dump_payload(payload: dict[str, Any]) -> str:
    """Serialize a payload for the store."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def to_article(
    *,
    id: str,
    source: str,
    key: str,
    first_seen: datetime,
    changed_at: datetime,
    content_hash: str,
    payload: str,
    html: str,
) -> Article:
    """Rebuild an Article from its stored row.

    The publication date falls back to the undated file's own time, else first_seen; the
    update date to the last time the content changed after it was first seen. Neither
    depends on when this runs.
    """
    p = json.loads(payload)
    date = datetime.fromisoformat(p["date"]) if p["date"] else None
    undated = p.get(UNDATED)
    published = date or (datetime.fromisoformat(undated) if undated else first_seen)
    updated = datetime.fromisoformat(p["updated"]) if p["updated"] else None
    if updated is None and changed_at > first_seen:
        updated = changed_at
    if updated is not None and updated < published:
        updated = None
    return Article(
        id=id,
        source=source,
        key=key,
        slug=p["slug"],
        title=p["title"],
        url=p["url"],
        published=published,
        updated=updated,
        first_seen=first_seen,
        author=p["author"],
        author_bio=p["author_bio"],
        teaser=p["teaser"],
        tags=tuple(p["tags"]),
        image=p["image"],
        image_credit=p["image_credit"],
        html=html,
        related=tuple(Teaser(title=t, excerpt=e) for t, e in p["related"]),
        content_hash=content_hash,
        media=media_from_payload(p.get("media")),
    )
