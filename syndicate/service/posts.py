"""Mail one chosen article to a list on its own (``syndicate send LIST --article ID``).

Two steps, so a command that queues the send for later (``--at``) can check now and send
when it is due: :func:`choose_article` finds the article and refuses what cannot be mailed
(unknown id, scheduled, already mailed to the list without ``again``);
:func:`start_article_send` does both and sends it. The once-per-list check is made again
under the list's lock when the send is recorded, so two processes cannot both mail it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender, SendReport
from syndicate.delivery.policy import Policy
from syndicate.delivery.transport import Transport
from syndicate.digest.mailable import split_mailable
from syndicate.digest.post import check_once
from syndicate.errors import SyndicateError
from syndicate.models import Article, ReadReport
from syndicate.subscribers.tokens import Signer
from syndicate.text import one_line


class UnknownArticle(SyndicateError):
    """No published article has that id."""


def find_article(
    read: ReadReport, article_id: str, *, at: datetime | None = None, list_name: str = "LIST"
) -> Article:
    """The published article whose id (or, failing that, slug) is ``article_id``.

    ``at``: when the send is due (``--at``); an article scheduled for then or earlier is
    taken too (the check is made again when the send comes due, on the articles published
    by then). ``list_name``: named in the way out a scheduled article's refusal gives.
    """
    wanted = article_id.strip()
    for article in read.articles:
        if article.id == wanted:
            return article
    by_slug = [a for a in read.articles if a.slug == wanted]
    if len(by_slug) == 1:
        return by_slug[0]
    shown = one_line(article_id, 100)
    for article in read.scheduled:
        if wanted in (article.id, article.slug):
            if at is not None and article.published <= at:
                return article
            raise UnknownArticle(
                f"article {shown!r} is scheduled for {article.published:%Y-%m-%d %H:%M} UTC; "
                f"it can be mailed once it is published: `syndicate send {list_name} --at TIME "
                f"--article {article.id}` queues it for TIME at or after that date"
            )
    known = [*read.articles, *(read.scheduled if at is not None else ())]
    names = [a.id for a in known] + [a.slug for a in known if a.slug]  # slugs: what people type
    close = difflib.get_close_matches(wanted, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownArticle(
        f"no article with id {shown!r}{hint}; `syndicate articles` lists each article's id "
        "after its title"
    )


def choose_article(
    engine: Engine,
    settings: Settings,
    list_name: str,
    read: ReadReport,
    article_id: str,
    *,
    again: bool,
    at: datetime | None = None,
) -> Article:
    """The article ``send --article`` would mail to the list, or the error saying why not
    (``at``: when a queued send is due, see :func:`find_article`)."""
    settings.mailing_list(list_name)
    article = find_article(read, article_id, at=at, list_name=list_name)
    _, left_out = split_mailable([article], settings.config.content.folder)
    if left_out:
        raise SyndicateError(f"{left_out[0].where}: cannot be mailed: {left_out[0].reason}")
    check_once(engine, list_name, article, again=again)
    return article


async def start_article_send(
    engine: Engine,
    settings: Settings,
    list_name: str,
    article_id: str,
    *,
    again: bool,
    now: Callable[[], datetime],
    signer: Signer,
    transport: Transport,
    policy: Policy | None = None,
    deliver: bool = True,
    offline: bool = False,
    articles: Sequence[Article] | None = None,
) -> SendReport:
    """Mail the article ``article_id`` to ``list_name`` on its own, now (a digest list too).

    ``articles``: the site's articles when the caller has read them already (else read
    here). An interrupted send of the list is resumed first, as by any send; then
    ``report.resumed`` is true and the article is not sent (run it again).
    """
    if articles is None:
        read = read_site(settings, engine, now=now(), offline=offline)
    else:
        read = ReadReport(articles=tuple(articles))
    article = choose_article(engine, settings, list_name, read, article_id, again=again)
    sender = Sender(settings, engine, transport, signer, clock=now, policy=policy)
    return await sender.run(list_name, read.articles, deliver=deliver, article=article, again=again)
