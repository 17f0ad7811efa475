"""The next digest of a list, read from the store: its state, its new articles, its versions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.digest.assemble import EVERYTHING, ListState, new_articles, versions
from syndicate.digest.mailable import LeftOut, split_mailable
from syndicate.digest.note import Note, parse_note
from syndicate.digest.render import render_digest
from syndicate.models import Article, Digest, RenderedDigest
from syndicate.store import digests as repo
from syndicate.store import queued as queued_repo


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """Everything needed to render (and later send) a list's next digest."""

    state: ListState
    fresh: tuple[Article, ...]
    digests: dict[frozenset[str], Digest]  # one per topic set; EVERYTHING is always there
    audience: dict[frozenset[str], int]  # active subscribers per topic set
    note: Note | None = None  # the editor's note of this issue, shown at the top
    left_out: tuple[LeftOut, ...] = ()  # new articles no digest can carry (see mailable.py)
    cursor: datetime | None = None  # a post that ends a batch: the list's new post cursor


def list_state(engine: Engine, list_name: str, *, kind: str = repo.DIGEST) -> ListState:
    """Issue number, last send and already-sent articles of a list (for posts, ``last_sent``
    is the list's post cursor: see :func:`syndicate.store.digests.post_cursor`)."""
    with engine.connect() as conn:
        last = repo.last_sent if kind == repo.DIGEST else repo.post_cursor
        return ListState(
            issue=repo.next_issue(conn, list_name),
            last_sent=last(conn, list_name),
            sent_ids=frozenset(repo.sent_article_ids(conn, list_name)),
        )


def prepare(
    settings: Settings,
    engine: Engine,
    list_name: str,
    articles: Sequence[Article],
    *,
    now: datetime,
    extra_topics: Iterable[frozenset[str]] = (),
    note: Note | None = None,
) -> Prepared:
    """Assemble every version of the list's next digest. Reads the store, writes nothing.

    ``extra_topics``: topic sets to assemble too although no subscriber has them (previews);
    ``note``: the editor's note of the issue.
    """
    cfg = settings.mailing_list(list_name)
    state = list_state(engine, list_name)
    with engine.connect() as conn:
        audience = repo.topic_sets(conn, list_name)
    fresh, left_out = split_mailable(
        new_articles(articles, cfg, state), settings.config.content.folder
    )
    digests = versions(
        list_name,
        cfg,
        fresh,
        {EVERYTHING, *audience, *extra_topics},
        state=state,
        publication=settings.publication,
        known_urls=frozenset(a.url for a in articles),
        now=now,
    )
    return Prepared(
        state=state,
        fresh=fresh,
        digests=digests,
        audience=audience,
        note=note,
        left_out=left_out,
    )


def render_for_audience(
    prepared: Prepared, settings: Settings, *, send_empty: bool = False
) -> dict[frozenset[str], RenderedDigest]:
    """Each version that has readers, rendered once however many readers share it.

    Versions without articles are left out unless ``send_empty``.
    """
    return {
        topics: render_digest(prepared.digests[topics], settings, note=prepared.note)
        for topics in prepared.audience
        if send_empty or prepared.digests[topics].articles
    }


def prepare_recorded(
    settings: Settings,
    engine: Engine,
    list_name: str,
    digest_id: str,
    articles: Sequence[Article],
) -> Prepared:
    """The versions of a digest recorded earlier (a send being resumed), rebuilt exactly.

    The articles are those the digest was recorded with, whatever is new since, and so is
    the editor's note.
    """
    cfg = settings.mailing_list(list_name)
    with engine.connect() as conn:
        found = repo.digest_articles(conn, digest_id)
        audience = repo.topic_sets(conn, list_name)
        source = repo.digest_note(conn, digest_id)
        kind, _ = repo.digest_kind(conn, digest_id)
        frozen = queued_repo.frozen_of(conn, list_name, digest_id)
    if frozen is not None:  # an approved digest: resumed as the editors saw it
        from syndicate.digest.frozen import thaw  # it builds on this module

        return thaw(settings, frozen, audience, where=digest_id)
    if found is None:
        raise ValueError(f"digest {digest_id!r} is not recorded")
    issue, created, ids = found
    if kind == repo.POST:
        from syndicate.digest.post import recorded_post  # post.py builds on this module

        return recorded_post(settings, list_name, issue, created, ids, articles, audience)
    chosen = set(ids)
    recorded = sorted(
        (a for a in articles if a.id in chosen), key=lambda a: (a.published, a.id), reverse=True
    )
    # An article recorded before it could be checked (or edited since) is left out too.
    fresh, left_out = split_mailable(recorded, settings.config.content.folder)
    state = ListState(issue=issue, last_sent=None, sent_ids=frozenset())
    digests = versions(
        list_name,
        cfg,
        fresh,
        {EVERYTHING, *audience},
        state=state,
        publication=settings.publication,
        known_urls=frozenset(a.url for a in articles),
        now=created,
    )
    note = None
    if source is not None:
        note = parse_note(source, base_url=settings.publication.base_url, where=digest_id)
    return Prepared(
        state=state,
        fresh=fresh,
        digests=digests,
        audience=audience,
        note=note,
        left_out=left_out,
    )
