"""Remote sources: fetch each feed, merge its entries into the store without duplicates.

Feeds in the wild change GUIDs on every fetch, drop links or republish the same text, so an
entry continues a stored article when its GUID matches, else its link, else its content hash.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from syndicate.config import FeedSource, Settings
from syndicate.content.article import dump_payload, finish
from syndicate.content.html import plain_text
from syndicate.content.identity import new_id
from syndicate.errors import SourceError
from syndicate.models import Entry, Problem
from syndicate.store import articles as repo
from syndicate.store.articles import RemoteState, StoredArticle
from syndicate.text import one_line, slugify

if TYPE_CHECKING:  # the HTTP client and feed parser load only when a site has sources
    from syndicate.content.remote import Fetched

log = logging.getLogger(__name__)


def entry_hash(entry: Entry) -> str:
    """Content hash of a remote entry: its title and visible text, whitespace-insensitive."""
    text = " ".join(entry.title.split()) + "\0" + plain_text(entry.html)
    return hashlib.sha256(text.encode()).hexdigest()


def read_sources(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    offline: bool = False,
) -> tuple[list[StoredArticle], list[Problem]]:
    """Fetch every remote source (unless offline); return all stored articles of each.

    A source that fails in any way is a problem of that source: the others, and the local
    content read with them, go on.
    """
    current: list[StoredArticle] = []
    problems: list[Problem] = []
    for source in settings.config.content.sources:
        with engine.connect() as conn:
            stored = repo.load_articles(conn, source=source.key)
            state = repo.load_remote_state(conn, source.key)
        if not offline:
            from syndicate.content.remote import Validators, fetch_source

            validators = None
            if state is not None and state.url == source.url:
                validators = Validators(etag=state.etag, last_modified=state.last_modified)
            try:
                fetched = fetch_source(source, validators)
            except SourceError as exc:
                # Nothing stored is lost: the articles fetched before are still current.
                problems.append(Problem(path=source.url, line=1, reason=exc.reason))
            except Exception as exc:  # a bug or MemoryError must not end the whole read
                log.debug("reading %s failed", source.url, exc_info=True)
                what = type(exc).__name__ + (f": {one_line(str(exc), 200)}" if str(exc) else "")
                why = f"could not be read ({what}); will retry on the next read"
                problems.append(Problem(path=source.url, line=1, reason=why))
            else:
                problems.extend(fetched.problems)
                problems.extend(_merge(settings, engine, source, fetched, stored, now=now))
        current.extend(stored.values())
    return current, problems


def _merge(
    settings: Settings,
    engine: Engine,
    source: FeedSource,
    fetched: Fetched,
    stored: dict[str, StoredArticle],
    *,
    now: datetime,
) -> list[Problem]:
    """Match fetched entries to stored articles, write new and changed ones and the state."""
    by_guid = {a.guid: a for a in stored.values() if a.guid}
    by_link = {a.link: a for a in stored.values() if a.link}
    by_hash = {a.content_hash: a for a in stored.values()}
    with engine.connect() as conn:
        taken = repo.article_ids(conn)
    seen: set[str] = set()
    changed: list[StoredArticle] = []
    problems: list[Problem] = []
    for number, entry in enumerate(fetched.entries, start=1):
        digest = entry_hash(entry)
        previous = (
            (by_guid.get(entry.guid) if entry.guid else None)
            or (by_link.get(entry.url) if entry.url else None)
            or by_hash.get(digest)
        )
        if previous is not None and previous.id in seen:
            continue  # the same article twice in one feed
        if previous is not None and (previous.content_hash, previous.guid, previous.link) == (
            digest,
            entry.guid,
            entry.url,
        ):
            seen.add(previous.id)
            continue
        key = entry.guid or entry.url or digest
        article_id = previous.id if previous else new_id(source.key, key, taken)
        first_seen = previous.first_seen if previous else now
        try:
            meta, html = finish(
                entry,
                id=article_id,
                default_slug=slugify(entry.title),
                first_seen=first_seen,
                publication=settings.publication,
                teaser_length=settings.config.content.teaser_length,
            )
        except (ValueError, OverflowError) as exc:
            problems.append(Problem(path=source.url, line=None, reason=f"entry {number}: {exc}"))
            continue
        article = StoredArticle(
            id=article_id,
            source=source.key,
            key=previous.key if previous else key,
            guid=entry.guid,
            link=entry.url,
            content_hash=digest,
            first_seen=first_seen,
            changed_at=now
            if not previous or previous.content_hash != digest
            else previous.changed_at,
            payload=dump_payload(meta),
            html=html,
        )
        seen.add(article_id)
        stored[article_id] = article
        changed.append(article)
        for index, value in ((by_guid, entry.guid), (by_link, entry.url), (by_hash, digest)):
            if value:
                index[value] = article
    # A feed with problems keeps no validators: the next read fetches it in full and reports
    # them again, where a 304 would have hidden them (remote_sources has nowhere to keep them).
    clean = not (fetched.problems or problems)
    state = RemoteState(
        source=source.key,
        url=source.url,
        etag=fetched.validators.etag if clean else None,
        last_modified=fetched.validators.last_modified if clean else None,
        fetched_at=now,
        status=fetched.status,
    )
    with engine.begin() as conn:
        repo.save_articles(conn, changed)
        repo.save_remote_state(conn, state)
    return problems
