"""Read every source of a site into articles: the content folder, then remote feeds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.content.article import to_article
from syndicate.content.folder import SOURCE as FOLDER_SOURCE
from syndicate.content.folder import read_folder
from syndicate.content.sources import read_sources
from syndicate.models import Article, Problem, ReadReport
from syndicate.store.articles import StoredArticle, load_articles
from syndicate.text import title_key


def read_site(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    offline: bool = False,
) -> ReadReport:
    """All current articles, newest first, plus every problem met on the way."""
    folder = read_folder(settings, engine, now=now)
    remote, remote_problems = read_sources(settings, engine, now=now, offline=offline)
    articles = _articles((*folder.current, *remote))
    articles, clashes = _unique_urls(articles, settings.config.content.folder)
    # The one place that decides what is published: feeds, digests, archives and pages all
    # take ``articles``, so an article dated ahead appears everywhere at once when due.
    scheduled = sorted((a for a in articles if a.published > now), key=_newest_first, reverse=True)
    articles = _link_related([a for a in articles if a.published <= now])
    articles.sort(key=_newest_first, reverse=True)
    problems = sorted((*folder.problems, *clashes), key=lambda p: (p.path, p.line))
    return ReadReport(
        articles=tuple(articles),
        problems=(*problems, *remote_problems),
        parsed=folder.parsed,
        reused=folder.reused,
        scheduled=tuple(scheduled),
    )


def _newest_first(a: Article) -> tuple[datetime, str]:
    return (a.published, a.id)  # sort with reverse=True


def next_due(report: ReadReport) -> datetime | None:
    """When the earliest scheduled article becomes due (None: nothing is scheduled)."""
    return min((a.published for a in report.scheduled), default=None)


def stored_articles(settings: Settings, engine: Engine) -> list[Article]:
    """The articles as last read, from the store alone (no files, no network): what a
    worker on another machine needs to render a digest recorded elsewhere."""
    with engine.connect() as conn:
        rows = load_articles(conn, source=None)
    articles, _ = _unique_urls(_articles(rows.values()), settings.config.content.folder)
    return _link_related(articles)


def stored_article(r: StoredArticle) -> Article:
    """The Article of a stored row."""
    return to_article(
        id=r.id,
        source=r.source,
        key=r.key,
        first_seen=r.first_seen,
        changed_at=r.changed_at,
        content_hash=r.content_hash,
        payload=r.payload,
        html=r.html,
    )


def _articles(rows: Iterable[StoredArticle]) -> list[Article]:
    return [stored_article(r) for r in rows]


def _unique_urls(articles: list[Article], folder: str) -> tuple[list[Article], list[Problem]]:
    """Two local articles cannot share a canonical URL; the later path is reported."""
    owner: dict[str, Article] = {}
    kept: list[Article] = []
    problems: list[Problem] = []
    for article in sorted(articles, key=lambda a: (a.source != FOLDER_SOURCE, a.key)):
        first = owner.get(article.url)
        if first is not None and article.source == FOLDER_SOURCE:
            problems.append(
                Problem(
                    path=f"{folder}/{article.key}",
                    line=1,
                    reason=f"its URL {article.url} is already used by {folder}/{first.key}; "
                    "give one of them a unique `slug:` in the front matter",
                )
            )
            continue
        owner.setdefault(article.url, article)
        kept.append(article)
    return kept, problems


def _link_related(articles: list[Article]) -> list[Article]:
    """Give each related teaser the URL of the known article with the same title."""
    urls = {title_key(a.title): a.url for a in articles}
    out = []
    for article in articles:
        if article.related:
            related = tuple(
                replace(t, url=urls.get(title_key(t.title))) if t.url is None else t
                for t in article.related
            )
            if related != article.related:
                article = replace(article, related=related)
        out.append(article)
    return out
