"""What ``syndicate send`` says for a post list (``mode = "post"``): the articles it mails,
each on its own, oldest first; and the prompt and ``--dry-run`` of that run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from syndicate.cli.base import emit_json, err, out
from syndicate.cli.plan import left_out_doc, left_out_lines, plan_lines, render_versions
from syndicate.config import Settings
from syndicate.digest.plan import Plan, make_plan
from syndicate.digest.post import Batch, mailed_before, next_posts, prepare_post
from syndicate.digest.prepare import Prepared
from syndicate.errors import SyndicateError
from syndicate.models import Article, ReadReport
from syndicate.service.posts import choose_article, find_article
from syndicate.text import one_line, plural


@dataclass(slots=True)
class Chosen:
    """``send --article ID [--again]``: the article to mail on its own, once chosen."""

    article_id: str | None
    again: bool
    article: Article | None = None
    earlier: str | None = None  # "already in news-2 on …" (sent again with --again)

    def check(self, *, post_list: bool, note_file: Path | None) -> None:
        """Refuse the options that do not go with ``--article`` (or ``--again`` alone)."""
        if self.again and self.article_id is None:
            raise SyndicateError(
                "--again goes with --article ID: it mails an article the list already had once more"
            )
        if note_file is not None and (post_list or self.article_id is not None):
            raise SyndicateError(
                "--note goes with digests: an article mailed on its own carries none"
            )

    def choose(
        self,
        engine: Engine,
        settings: Settings,
        list_name: str,
        read: ReadReport,
        *,
        at: datetime | None = None,
    ) -> None:
        """Find the article (an unknown id, or one the list had without --again: an error;
        ``at``: when a queued send is due, so an article scheduled by then is taken)."""
        assert self.article_id is not None
        self.article = choose_article(
            engine, settings, list_name, read, self.article_id, again=self.again, at=at
        )
        self.earlier = mailed_before(engine, list_name, self.article)

    def say_earlier(self) -> None:
        """Before a dry run or the prompt: where the list had the article already (--again)."""
        if self.earlier:
            err.print(f"note: {self.earlier}; --again mails it once more", markup=False)

    def prepare(
        self, engine: Engine, settings: Settings, list_name: str, *, now: datetime
    ) -> Prepared:
        """The post of the chosen article, as the send will record it."""
        assert self.article is not None
        return prepare_post(settings, engine, list_name, self.article, now=now)

    def reaches(self, plan: Plan) -> None:
        """Refuse a post nobody would get (recording it would only use the article up)."""
        if plan.readers or self.article is None:
            return
        why = "it has no active subscribers"
        if plan.skipped_readers:
            why = (
                f"its {plural(plan.skipped_readers, 'subscriber')} chose topics, and the "
                f"article's tags ({', '.join(self.article.tags) or 'none'}) are none of them"
            )
        raise SyndicateError(
            f"{plan.list_name}: nobody would get {self.article.id}: {why}; nothing was recorded"
        )

    def after_resume(self, list_name: str) -> None:
        """Say that a resumed send came first and the article waits for the next command."""
        if self.article_id is not None:
            err.print(
                f"the article is not mailed this time: run `syndicate send {list_name} "
                f"--article {self.article_id}` again once the resumed send is done",
                markup=False,
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PostRun:
    """The posts the next run of a post list mails, each with its plan."""

    list_name: str
    batch: Batch
    plans: tuple[Plan, ...]  # one per article of the batch, in order
    max_articles: int
    timezone: str

    @property
    def nothing_new(self) -> bool:
        return not self.batch.articles

    @property
    def readers(self) -> int:
        """The most subscribers one of the posts goes to."""
        return max((p.readers for p in self.plans), default=0)

    def question(self) -> str:
        count = len(self.batch.articles)
        each = ", each on its own" if count > 1 else ", on its own"
        return f"Mail {plural(count, 'article')} to {plural(self.readers, 'subscriber')}{each}?"

    def lines(self) -> list[str]:
        if self.nothing_new:
            head = f"{self.list_name}: nothing new since the last post; nothing would be sent"
            return [head, *left_out_lines(self._left())]
        zone = ZoneInfo(self.timezone)
        count = len(self.batch.articles)
        how = "each mailed on its own, oldest first" if count > 1 else "mailed on its own"
        lines = [f"{self.list_name}: {plural(count, 'new article')}, {how}"]
        for article, plan in zip(self.batch.articles, self.plans, strict=True):
            lines.append(
                f"  {one_line(article.title, 120)!r} ({article.id}, "
                f"{article.published.astimezone(zone):%Y-%m-%d %H:%M %Z}): "
                f"{plural(plan.readers, 'recipient')}"
                + (
                    f" ({plan.skipped_readers} skipped: not their topics)"
                    if plan.skipped_readers
                    else ""
                )
            )
        if self.batch.waiting:
            lines.append(
                f"  {plural(self.batch.waiting, 'more new article')} wait for the next run "
                f"(max_articles = {self.max_articles})"
            )
        return [*lines, *left_out_lines(self._left())]

    def show(self, as_json: bool) -> None:
        """The dry run: what the run would mail, in words or as one JSON object."""
        if as_json:
            emit_json(self.doc())
            return
        for line in self.lines():
            out.print(line, markup=False)

    def doc(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "mode": "post",
            "nothing_new": self.nothing_new,
            "posts": [
                {
                    "article": a.id,
                    "title": a.title,
                    "published": a.published.isoformat(),
                    "subject": p.versions[0].subject if p.versions else a.title,
                    "recipients": p.readers,
                    "skipped": p.skipped_readers,
                }
                for a, p in zip(self.batch.articles, self.plans, strict=True)
            ],
            "waiting": self.batch.waiting,
            "left_out": [left_out_doc(a) for a in self.batch.left_out],
        }

    def _left(self) -> Plan:
        return Plan(
            list_name=self.list_name,
            digest_id="",
            issue=0,
            fresh=0,
            send_empty=False,
            versions=(),
            left_out=self.batch.left_out,
        )


def post_run(
    settings: Settings,
    engine: Engine,
    list_name: str,
    articles: tuple[Article, ...],
    *,
    now: datetime,
) -> PostRun:
    """The next run of a post list, each post rendered once as the send will render it (a
    template mistake is said here, before any prompt or record)."""
    cfg = settings.mailing_list(list_name)
    batch = next_posts(settings, engine, list_name, articles, now=now)
    plans = []
    for article in batch.articles:
        prepared = prepare_post(settings, engine, list_name, article, now=now)
        plan = make_plan(settings, list_name, prepared)
        render_versions(settings, prepared, plan, note=None, now=now)
        plans.append(plan)
    return PostRun(
        list_name=list_name,
        batch=batch,
        plans=tuple(plans),
        max_articles=cfg.max_articles,
        timezone=cfg.timezone or settings.publication.timezone,
    )


def preview_post(
    settings: Settings,
    engine: Engine,
    list_name: str,
    read: ReadReport,
    *,
    article_id: str | None,
    wanted: frozenset[str],
    now: datetime,
) -> tuple[Prepared, str | None] | None:
    """The post ``preview`` shows, and a note to say: ``--article``'s, else for a post list
    the first of its next run (or its newest article when nothing is new). None: a digest."""
    if article_id is not None:
        article = find_article(read, article_id, list_name=list_name)
        note = None
    elif settings.mailing_list(list_name).mode != "post":
        return None
    else:
        batch = next_posts(settings, engine, list_name, read.articles, now=now)
        if batch.articles:
            article = batch.articles[0]
            rest = len(batch.articles) - 1
            note = f"the next run mails {plural(rest, 'more article')} after it" if rest else None
        elif read.articles:
            article = max(read.articles, key=lambda a: (a.published, a.id))
            note = "nothing new since the last post; this is the newest article, as mailed"
        else:
            return None
    prepared = prepare_post(settings, engine, list_name, article, now=now, extra_topics=[wanted])
    return prepared, note


def question_for(plan: Plan | None, run: PostRun | None) -> tuple[list[str], str] | None:
    """What ``send`` shows before it asks, and the question; None when nothing is sent."""
    if run is not None:
        return None if run.nothing_new else (run.lines(), run.question())
    if plan is None or plan.nothing_new:
        return None
    return plan_lines(plan), f"Send {plan.digest_id} to {plural(plan.readers, 'subscriber')}?"
