"""JSON Feed 1.1 documents (feedgen has none), written with the json module.

Pagination follows JSON Feed's own model: ``next_url`` leads from the subscription feed to
ever older archive pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from syndicate.feeds.items import FeedItem
from syndicate.feeds.xmlfeeds import Channel

VERSION = "https://jsonfeed.org/version/1.1"


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonLinks:
    """Where a JSON page sits in the chain of pages."""

    next_url: str | None = None


def json_document(channel: Channel, items: tuple[FeedItem, ...], links: JsonLinks) -> bytes:
    """A JSON Feed 1.1 document, deterministic byte for byte."""
    doc: dict[str, Any] = {
        "version": VERSION,
        "title": channel.title,
        "home_page_url": channel.home_url,
        "feed_url": channel.self_url,
        "description": channel.description,
        "language": channel.language,
        "authors": [{"name": channel.author}],
    }
    if links.next_url:
        doc["next_url"] = links.next_url
    if channel.hub:
        doc["hubs"] = [{"type": "WebSub", "url": channel.hub}]
    doc["items"] = [_item(i) for i in items]
    # Compact: json's C encoder only runs without indent, and archives hold thousands of items.
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _item(item: FeedItem) -> dict[str, Any]:
    out: dict[str, Any] = {"id": item.id, "url": item.url, "title": item.title}
    if item.content_html:
        out["content_html"] = item.content_html
    else:
        out["content_text"] = item.summary
    out["summary"] = item.summary
    if item.image:
        out["image"] = item.image.url
    out["date_published"] = item.published.isoformat()
    out["date_modified"] = item.updated.isoformat()
    if item.author:
        out["authors"] = [{"name": item.author}]
    if item.tags:
        out["tags"] = list(item.tags)
    return out
