"""Full-article mails: which articles a post list mails next, and each one's mail, prepared.

A post is recorded like a digest (an issue of the list, on the same ledger, so it is sent
once and survives ``kill -9``) that carries one article, rendered with the post templates
(:mod:`syndicate.digest.postrender`). Which articles: as for digests, those never mailed to
the list that appeared since its *post cursor* — where the last batch that mailed every new
article there was left off — at most ``max_articles`` a run, oldest first, so they arrive
in order. A batch cut short by ``max_articles`` keeps the cursor where it was, so the rest
go out next time. A list's first run mails only the newest article: turning a list with
``schedule = "on-publish"`` on over a folder of a hundred articles mails one, not ten.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from syndicate.config import MailingList, Publication, Settings
from syndicate.digest.assemble import EVERYTHING, ListState, matches, new_articles
from syndicate.digest.mailable import LeftOut, split_mailable
from syndicate.digest.prepare import Prepared, list_state
from syndicate.errors import SyndicateError
from syndicate.models import Article, Digest
from syndicate.store import digests as repo
from syndicate.store import sends as send_repo
from syndicate.store.sends import SendStatus
from syndicate.text import one_line


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """The posts a run of a post list mails, oldest first, and what it leaves."""

    articles: tuple[Article, ...]
    cursor: datetime | None  # recorded with the last post: where the next selection starts
    waiting: int = 0  # new articles left for a later run by ``max_articles``
    left_out: tuple[LeftOut, ...] = ()  # new articles no mail can carry, and why


def next_posts(
    settings: Settings,
    engine: Engine,
    list_name: str,
    articles: Sequence[Article],
    *,
    now: datetime,
) -> Batch:
    """The articles the list's next run mails, each on its own (reads the store only)."""
    cfg = settings.mailing_list(list_name)
    state = list_state(engine, list_name, kind=repo.POST)
    # Appeared at the cursor counts too (first seen in the second the last batch was
    # chosen, after it was): see new_articles; what was mailed is in sent_ids.
    fresh, left_out = split_mailable(
        new_articles(articles, cfg, state),
        settings.config.content.folder,
    )  # newest first
    if state.last_sent is None:  # the list's first post: the newest, never the archive
        chosen, waiting = fresh[:1], 0
    else:
        chosen, waiting = fresh[-cfg.max_articles :], max(0, len(fresh) - cfg.max_articles)
    cursor = now if waiting == 0 else state.last_sent
    return Batch(
        articles=tuple(reversed(chosen)), cursor=cursor, waiting=waiting, left_out=left_out
    )


def post_digest(
    list_name: str,
    cfg: MailingList,
    article: Article | None,
    *,
    issue: int,
    publication: Publication,
    now: datetime,
) -> Digest:
    """The post (issue ``issue`` of the list) that mails ``article`` on its own."""
    base = publication.base_url
    return Digest(
        id=f"{list_name}-{issue}",
        list_name=list_name,
        list_title=cfg.title,
        issue=issue,
        created=now,
        lead=(article,) if article is not None else (),
        rest=(),
        also=(),
        more=0,
        more_url=f"{base}/",
        archive_url=f"{base}/archive/{list_name}/{issue}.html",
        kind=repo.POST,
    )


def post_version(whole: Digest, topics: frozenset[str]) -> Digest:
    """The post as readers of ``topics`` get it: empty (skipped) when the article is not
    one of their topics, as a digest without a matching article is."""
    shown = tuple(a for a in whole.lead if matches(a, topics))
    return dataclasses.replace(whole, lead=shown, topics=topics or None)


def _versions(whole: Digest, topic_sets: Iterable[frozenset[str]]) -> dict[frozenset[str], Digest]:
    return {topics: post_version(whole, topics) for topics in {EVERYTHING, *topic_sets}}


def prepare_post(
    settings: Settings,
    engine: Engine,
    list_name: str,
    article: Article,
    *,
    now: datetime,
    cursor: datetime | None = None,
    extra_topics: Iterable[frozenset[str]] = (),
) -> Prepared:
    """Every version of the post that mails ``article`` to the list next (writes nothing).

    ``cursor``: recorded with it when it is the last post of a batch (else None);
    ``extra_topics``: versions to make although no subscriber has them (previews).
    """
    cfg = settings.mailing_list(list_name)
    state = list_state(engine, list_name, kind=repo.POST)
    with engine.connect() as conn:
        audience = repo.topic_sets(conn, list_name)
    fresh, left_out = split_mailable([article], settings.config.content.folder)
    if left_out:
        raise SyndicateError(f"{left_out[0].where}: cannot be mailed: {left_out[0].reason}")
    whole = post_digest(
        list_name, cfg, article, issue=state.issue, publication=settings.publication, now=now
    )
    return Prepared(
        state=state,
        fresh=fresh,
        digests=_versions(whole, [*audience, *extra_topics]),
        audience=audience,
        cursor=cursor,
    )


def recorded_post(
    settings: Settings,
    list_name: str,
    issue: int,
    created: datetime,
    ids: Sequence[str],
    articles: Sequence[Article],
    audience: dict[frozenset[str], int],
) -> Prepared:
    """A post recorded earlier (a send being resumed or retried), rebuilt as it was."""
    cfg = settings.mailing_list(list_name)
    found = next((a for a in articles if a.id in set(ids)), None)
    fresh, left_out = split_mailable([found] if found else [], settings.config.content.folder)
    whole = post_digest(
        list_name,
        cfg,
        fresh[0] if fresh else None,
        issue=issue,
        publication=settings.publication,
        now=created,
    )
    return Prepared(
        state=ListState(issue=issue, last_sent=None, sent_ids=frozenset()),
        fresh=fresh,
        digests=_versions(whole, audience),
        audience=audience,
        left_out=left_out,
    )


class AlreadyMailed(SyndicateError):
    """The article was mailed to the list on its own before (``--again`` sends it again)."""


def mailed_before(engine: Engine, list_name: str, article: Article) -> str | None:
    """Where the list had ``article`` last (a post, or a digest that carried it), in words
    ("… was already mailed to news in the digest news-2 on …", the time its send
    finished; or that its send is still in progress); None when it never did."""
    with engine.connect() as conn:
        earlier = repo.mailings_of(conn, list_name, article.id)
        if not earlier:
            return None
        digest_id, created, kind, sent_at = earlier[-1]
        send = send_repo.find_send(conn, digest_id)
    how = "as" if kind == repo.POST else "in the digest"
    named = f"{article.id} ({one_line(article.title, 120)!r})"
    finished = send.finished_at if send is not None else None
    if send is not None and send.status is SendStatus.ABANDONED:
        when = f" (its send was abandoned on {finished:%Y-%m-%d %H:%M} UTC)" if finished else ""
        return f"{named} was already mailed to {list_name} {how} {digest_id}{when}"
    finished = finished or sent_at
    if finished is not None:
        return (
            f"{named} was already mailed to {list_name} {how} {digest_id} "
            f"on {finished:%Y-%m-%d %H:%M} UTC"
        )
    started = send.created_at if send is not None else created
    return (
        f"{named} is being mailed to {list_name} {how} {digest_id}: its send is in progress "
        f"(started {started:%Y-%m-%d %H:%M} UTC; `syndicate sends {list_name}` shows it)"
    )


def check_once(engine: Engine, list_name: str, article: Article, *, again: bool) -> None:
    """Refuse to mail ``article`` to the list on its own when the list had it already (on
    its own or in a digest), unless ``again``."""
    if again:
        return
    earlier = mailed_before(engine, list_name, article)
    if earlier is not None:
        raise AlreadyMailed(f"{earlier}; add --again to mail it to the list again")
