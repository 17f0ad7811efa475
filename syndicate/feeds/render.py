"""Rendering one page into its files (pure, picklable: runs in worker processes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from syndicate.feeds.items import FeedItem, feed_item
from syndicate.feeds.jsonfeed import JsonLinks, json_document
from syndicate.feeds.pages import Page
from syndicate.feeds.xmlfeeds import Channel, atom_document, rss_document
from syndicate.text import xml_safe

# The ``updated`` of a feed with no items: any fixed instant keeps empty feeds byte-stable.
EMPTY_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderContext:
    """The site-wide facts every page needs."""

    feeds_url: str
    home_url: str
    description: str
    language: str
    author: str
    hub: str | None
    authority: str
    full_content: bool

    def url(self, folder: str, fmt: str) -> str:
        """Public URL of one file of a page."""
        return f"{self.feeds_url}/{folder}/{fmt}" if folder else f"{self.feeds_url}/{fmt}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderJob:
    """A page and which of its files to render."""

    page: Page
    formats: tuple[str, ...]


def render_page(job: RenderJob, ctx: RenderContext) -> tuple[bytes, ...]:
    """The bytes of each requested file of the page, in ``job.formats`` order."""
    page = job.page
    items = tuple(
        feed_item(a, authority=ctx.authority, full_content=ctx.full_content) for a in page.articles
    )
    return tuple(_render(page, items, fmt, ctx) for fmt in job.formats)


def _render(page: Page, items: tuple[FeedItem, ...], fmt: str, ctx: RenderContext) -> bytes:
    newest = max((i.updated for i in items), default=None)
    channel = Channel(
        title=xml_safe(page.title),
        description=xml_safe(ctx.description),
        language=ctx.language,
        author=xml_safe(ctx.author),
        home_url=ctx.home_url,
        self_url=ctx.url(page.folder, fmt),
        updated=newest or EMPTY_UPDATED,
        hub=ctx.hub,
        archive=page.archive,
        current_url=ctx.url("", fmt) if page.archive else None,
        prev_archive_url=ctx.url(page.prev_archive, fmt) if page.prev_archive else None,
        next_archive_url=ctx.url(page.next_archive, fmt) if page.next_archive else None,
    )
    if fmt == "rss.xml":
        return rss_document(channel, items)
    if fmt == "atom.xml":
        return atom_document(channel, items)
    # JSON Feed pages chain towards older items: main → newest archive → … → oldest.
    older = ctx.url(page.prev_archive, fmt) if page.prev_archive else None
    return json_document(channel, items, JsonLinks(next_url=older))
