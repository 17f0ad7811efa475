"""``syndicate build``: every feed file, rendered and written only when its inputs changed.

Each page gets a fingerprint of everything its files are made from. A file whose recorded
fingerprint, size and mtime still match is not rendered at all, so a build with no content
change reads the store and writes nothing. Pages are rendered in worker processes when
there are many, and written by a few threads (each write waits on its own fsync).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sqlalchemy import Engine

from syndicate import __version__
from syndicate.config import Settings
from syndicate.feeds.media import copy_media, fingerprint, plan_media
from syndicate.feeds.pages import FORMATS, Page, plan_pages
from syndicate.feeds.render import RenderContext, RenderJob, render_page
from syndicate.files import remove, sweep_temp, sync_dirs, write_atomic
from syndicate.models import Article
from syndicate.parallel import pmap
from syndicate.store import feeds as repo
from syndicate.store.feeds import FeedFile

# Bump when the rendering changes, so every file is rendered again.
RENDER_VERSION = "2"
# Below this many pages to render, worker processes cost more than they save.
PARALLEL_MIN_PAGES = 40
WRITER_THREADS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildReport:
    """What a build did, by path relative to the feeds folder."""

    written: tuple[str, ...]
    unchanged: int
    removed: tuple[str, ...]


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
        a.media,  # a body image that changed changes the HTML, not the file's hash
    )
    return hashlib.sha256(repr(fields).encode()).digest()


def _context(settings: Settings) -> RenderContext:
    pub, feeds = settings.publication, settings.config.feeds
    return RenderContext(
        feeds_url=settings.feeds_url,
        home_url=pub.base_url + "/",
        description=pub.description or pub.title,
        language=pub.language,
        author=pub.author or pub.title,
        hub=feeds.hub,
        authority=settings.id_authority,
        full_content=feeds.full_content,
    )


def _fingerprint(header: bytes, page: Page, digests: dict[str, bytes]) -> str:
    h = hashlib.sha256(header)
    h.update(
        repr((page.folder, page.title, page.archive, page.prev_archive, page.next_archive)).encode()
    )
    for article in page.articles:
        h.update(digests[article.id])
    return h.hexdigest()


def _rel(page: Page, fmt: str) -> str:
    return f"{page.folder}/{fmt}" if page.folder else fmt


def _same_file(path: Path, record: FeedFile) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return (st.st_size, st.st_mtime_ns) == (record.size, record.mtime_ns)


def _write(root: Path, rel: str, fingerprint: str, data: bytes) -> tuple[FeedFile, bool]:
    path = root / rel
    changed = write_atomic(path, data)
    st = path.stat()
    record = FeedFile(path=rel, fingerprint=fingerprint, size=st.st_size, mtime_ns=st.st_mtime_ns)
    return record, changed


def build_feeds(
    settings: Settings, engine: Engine, articles: Sequence[Article], *, workers: int | None = None
) -> BuildReport:
    """Write every feed file whose inputs changed; remove the ones no longer produced."""
    feeds, root = settings.config.feeds, settings.feeds_dir
    ctx = _context(settings)
    pages = plan_pages(
        articles,
        title=settings.publication.title,
        per_page=feeds.items,
        per_archive=feeds.archive_items,
        per_tag=feeds.per_tag,
    )
    header = repr((RENDER_VERSION, __version__, settings.publication.title, ctx)).encode()
    digests = {a.id: article_digest(a) for a in articles}
    with engine.connect() as conn:
        records = repo.load_feed_files(conn)
    if root.is_dir():
        sweep_temp(root)

    jobs: list[RenderJob] = []
    prints: list[str] = []
    produced: set[str] = set()
    unchanged = 0
    for page in pages:
        fp = _fingerprint(header, page, digests)
        stale = []
        for fmt in FORMATS:
            rel = _rel(page, fmt)
            produced.add(rel)
            record = records.get(rel)
            if record is not None and record.fingerprint == fp and _same_file(root / rel, record):
                unchanged += 1
            else:
                stale.append(fmt)
        if stale:
            jobs.append(RenderJob(page=page, formats=tuple(stale)))
            prints.append(fp)

    written: list[str] = []
    new_records: list[FeedFile] = []
    rendered = pmap(
        partial(render_page, ctx=ctx),
        jobs,
        workers=workers,
        min_items=PARALLEL_MIN_PAGES,
        preload="syndicate.feeds.render",
    )
    with ThreadPoolExecutor(max_workers=WRITER_THREADS) as writers:
        pending: list[tuple[str, Future[tuple[FeedFile, bool]]]] = []
        for job, fp, outputs in zip(jobs, prints, rendered, strict=True):
            for fmt, data in zip(job.formats, outputs, strict=True):
                rel = _rel(job.page, fmt)
                pending.append((rel, writers.submit(_write, root, rel, fp, data)))
        for rel, media in plan_media(articles).files.items():
            produced.add(rel)
            record = records.get(rel)
            if record is not None and record.fingerprint == fingerprint(media):
                if _same_file(root / rel, record):
                    unchanged += 1
                    continue
            copy = copy_media(settings.content_dir, media, settings.config.content.max_image_size)
            if copy is not None:
                pending.append((rel, writers.submit(_write, root, rel, fingerprint(media), copy)))
        for rel, future in pending:
            record, changed = future.result()
            new_records.append(record)
            if changed:
                written.append(rel)
            else:
                unchanged += 1

    removed = [rel for rel in sorted(records.keys() - produced) if remove(root / rel, root)]
    touched = {(root / rel).parent for rel in (*written, *removed)}
    sync_dirs({d for d in touched if d.exists()})
    with engine.begin() as conn:
        repo.save_feed_files(conn, new_records)
        repo.forget_feed_files(conn, records.keys() - produced)
    return BuildReport(written=tuple(written), unchanged=unchanged, removed=tuple(removed))
