"""``syndicate build``: every feed file, rendered and written only when its inputs changed.

Each page gets a fingerprint of everything its files are made from. A file whose recorded
fingerprint, size and mtime still match is not rendered at all, so a build with no content
change reads the store and writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from syndicate import __version__
from syndicate.config import Settings
from syndicate.feeds.items import FeedItem, feed_item
from syndicate.feeds.jsonfeed import JsonLinks, json_document
from syndicate.feeds.pages import FORMATS, Page, plan_pages
from syndicate.feeds.writer import remove, sync_dirs, write_atomic
from syndicate.feeds.xmlfeeds import Channel, atom_document, rss_document
from syndicate.models import Article
from syndicate.store import feeds as repo
from syndicate.store.feeds import FeedFile

# Bump when the rendering changes, so every file is rendered again.
RENDER_VERSION = "1"
# The ``updated`` of a feed with no items: any fixed instant keeps empty feeds byte-stable.
EMPTY_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildReport:
    """What a build did, by path relative to the feeds folder."""

    written: tuple[str, ...]
    unchanged: int
    removed: tuple[str, ...]


class _Builder:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        pub, feeds = settings.publication, settings.config.feeds
        self.feeds = feeds
        self.root = settings.feeds_dir
        self.base = settings.feeds_url
        self.items: dict[str, FeedItem] = {}
        header = (
            RENDER_VERSION,
            __version__,
            pub.title,
            pub.description,
            pub.language,
            pub.base_url,
            self.base,
            feeds.hub,
            feeds.full_content,
            settings.id_authority,
        )
        self.header = repr(header)

    def url(self, folder: str, fmt: str) -> str:
        return f"{self.base}/{folder}/{fmt}" if folder else f"{self.base}/{fmt}"

    def item(self, article: Article) -> FeedItem:
        found = self.items.get(article.id)
        if found is None:
            found = feed_item(
                article,
                authority=self.settings.id_authority,
                full_content=self.feeds.full_content,
            )
            self.items[article.id] = found
        return found

    def fingerprint(self, page: Page, digests: dict[str, bytes]) -> str:
        h = hashlib.sha256(self.header.encode())
        h.update(
            repr(
                (page.folder, page.title, page.archive, page.prev_archive, page.next_archive)
            ).encode()
        )
        for article in page.articles:
            h.update(digests[article.id])
        return h.hexdigest()

    def render(self, page: Page, fmt: str) -> bytes:
        items = tuple(self.item(a) for a in page.articles)
        pub = self.settings.publication
        newest = max((i.updated for i in items), default=None)
        channel = Channel(
            title=page.title,
            description=pub.description or pub.title,
            language=pub.language,
            home_url=pub.base_url + "/",
            self_url=self.url(page.folder, fmt),
            updated=newest or EMPTY_UPDATED,
            hub=self.feeds.hub,
            archive=page.archive,
            current_url=self.url("", fmt) if page.archive else None,
            prev_archive_url=self.url(page.prev_archive, fmt) if page.prev_archive else None,
            next_archive_url=self.url(page.next_archive, fmt) if page.next_archive else None,
        )
        if fmt == "rss.xml":
            return rss_document(channel, items)
        if fmt == "atom.xml":
            return atom_document(channel, items)
        # JSON Feed pages chain towards older items: main → newest archive → … → oldest.
        older = page.prev_archive
        return json_document(
            channel, items, JsonLinks(next_url=self.url(older, fmt) if older else None)
        )


def article_digest(a: Article) -> bytes:
    """Everything about an article that a feed shows; ``content_hash`` stands for its HTML."""
    fields = (
        a.id,
        a.content_hash,
        a.url,
        a.title,
        a.published,
        a.updated,
        a.first_seen,
        a.author,
        a.author_bio,
        a.teaser,
        a.tags,
        a.image,
        a.image_credit,
        a.related,
    )
    return hashlib.sha256(repr(fields).encode()).digest()


def build_feeds(settings: Settings, engine: Engine, articles: Sequence[Article]) -> BuildReport:
    """Write every feed file whose inputs changed; remove the ones no longer produced."""
    builder = _Builder(settings)
    feeds = settings.config.feeds
    pages = plan_pages(
        articles, title=settings.publication.title, per_page=feeds.items, per_tag=feeds.per_tag
    )
    digests = {a.id: article_digest(a) for a in articles}
    with engine.connect() as conn:
        records = repo.load_feed_files(conn)
    root = settings.feeds_dir
    written: list[str] = []
    unchanged = 0
    produced: set[str] = set()
    new_records: list[FeedFile] = []
    dirs: set[Path] = set()
    for page in pages:
        fp = builder.fingerprint(page, digests)
        for fmt in FORMATS:
            rel = f"{page.folder}/{fmt}" if page.folder else fmt
            produced.add(rel)
            path = root / rel
            record = records.get(rel)
            if record is not None and record.fingerprint == fp and _same_file(path, record):
                unchanged += 1
                continue
            changed = write_atomic(path, builder.render(page, fmt))
            st = path.stat()
            new_records.append(
                FeedFile(path=rel, fingerprint=fp, size=st.st_size, mtime_ns=st.st_mtime_ns)
            )
            if changed:
                written.append(rel)
                dirs.add(path.parent)
            else:
                unchanged += 1
    removed = [rel for rel in sorted(records.keys() - produced) if remove(root / rel, root)]
    sync_dirs(dirs | {(root / rel).parent for rel in removed if (root / rel).parent.exists()})
    with engine.begin() as conn:
        repo.save_feed_files(conn, new_records)
        repo.forget_feed_files(conn, records.keys() - produced)
    return BuildReport(written=tuple(written), unchanged=unchanged, removed=tuple(removed))


def _same_file(path: Path, record: FeedFile) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return (st.st_size, st.st_mtime_ns) == (record.size, record.mtime_ns)
