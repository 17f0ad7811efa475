"""Which articles a list's next digest holds (pure: the store is read by the caller).

New for a list means never carried by one of its digests and appeared since its last sent
digest: first seen or published after it, whichever is later (an article added today but
dated yesterday is new; one dated ahead counts from its date, when it is published). A
subscriber's topics narrow that down further; every distinct topic set gets its own version
of the digest, rendered once, however many subscribers share it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from syndicate.config import MailingList, Publication
from syndicate.models import Article, Digest, Teaser
from syndicate.text import title_key

EVERYTHING: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class ListState:
    """What the store says about a list's past digests."""

    issue: int
    last_sent: datetime | None
    sent_ids: frozenset[str]


def new_articles(articles: Iterable[Article], cfg: MailingList, state: ListState) -> list[Article]:
    """The articles new for the list, newest first, limited to the list's tags if it has any.

    New: never carried by a digest (or post) of the list (``sent_ids``, which holds every
    article a previous mail considered, those cut by ``max_articles`` too) and appeared *at
    or after* its last send. At, not only after: times are kept to the second, so an
    article first seen in the second a send started would otherwise be lost for good; one
    that send already carried is in ``sent_ids``, so nothing is mailed twice.
    """
    wanted = {t.casefold() for t in cfg.tags}
    last = state.last_sent
    # A backdated article (written earlier, added after the last send) is still news; an
    # archive imported or a source added today is not: its old entries would flood the list.
    oldest = None if last is None else last - timedelta(seconds=cfg.backdated_within)
    out = [
        a
        for a in articles
        if a.id not in state.sent_ids
        and (last is None or (appeared(a) >= last and oldest is not None and a.published >= oldest))
        and (not wanted or wanted.intersection(t.casefold() for t in a.tags))
    ]
    out.sort(key=lambda a: (a.published, a.id), reverse=True)
    return out


def appeared(article: Article) -> datetime:
    """When an article reached readers: first seen, or published if that came later."""
    return max(article.first_seen, article.published)


def matches(article: Article, topics: frozenset[str]) -> bool:
    """Whether an article belongs in the version for ``topics`` (empty: everything)."""
    return not topics or any(t.casefold() in topics for t in article.tags)


def assemble(
    list_name: str,
    cfg: MailingList,
    fresh: Sequence[Article],
    *,
    state: ListState,
    publication: Publication,
    topics: frozenset[str] = EVERYTHING,
    known_urls: frozenset[str] = frozenset(),
    now: datetime,
) -> Digest:
    """The digest (version) for readers of ``topics``, from the list's new articles.

    ``known_urls``: URLs of every article the site has, so "Also on" only links to real
    pages. The result may hold no article; whether to send it is the caller's call.
    """
    chosen = [a for a in fresh if matches(a, topics)]
    shown = chosen[: cfg.max_articles]
    lead_count = min(cfg.lead_articles, len(shown))
    # Deduplicated by title (teasers of articles the site does not have carry no URL) and
    # against the digest itself; a URL to a page the site does not have is dropped.
    seen = {title_key(a.title) for a in shown}
    also: list[Teaser] = []
    for article in shown:
        for teaser in article.related:
            key = title_key(teaser.title)
            if key in seen:
                continue
            seen.add(key)
            if teaser.url and known_urls and teaser.url not in known_urls:
                teaser = replace(teaser, url=None)
            also.append(teaser)
    base = publication.base_url
    return Digest(
        id=f"{list_name}-{state.issue}",
        list_name=list_name,
        list_title=cfg.title,
        issue=state.issue,
        created=now,
        lead=tuple(shown[:lead_count]),
        rest=tuple(shown[lead_count:]),
        also=tuple(also),
        more=len(chosen) - len(shown),
        more_url=f"{base}/",
        archive_url=f"{base}/archive/{list_name}/{state.issue}.html",
        topics=topics or None,
    )


def versions(
    list_name: str,
    cfg: MailingList,
    fresh: Sequence[Article],
    topic_sets: Iterable[frozenset[str]],
    *,
    state: ListState,
    publication: Publication,
    known_urls: frozenset[str] = frozenset(),
    now: datetime,
) -> dict[frozenset[str], Digest]:
    """One digest per distinct topic set (the empty set: readers without topics)."""
    return {
        topics: assemble(
            list_name,
            cfg,
            fresh,
            state=state,
            publication=publication,
            topics=topics,
            known_urls=known_urls,
            now=now,
        )
        for topics in set(topic_sets)
    }
