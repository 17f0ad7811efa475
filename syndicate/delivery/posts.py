"""A run of a post list (``mode = "post"``): each new article mailed on its own, in order.

Under the list's lock, held for the whole run: first the post a crash interrupted, if any
(resumed as any send is); then the batch of :func:`syndicate.digest.post.next_posts`, oldest
first, each a send of its own on the ledger (recorded, queued, delivered, marked once). A
post that stops (server unusable, Ctrl-C, the day's allowance used up) ends the run: the
next one resumes it, then goes on with the articles still new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from syndicate.delivery.report import SendReport
from syndicate.digest.plan import Plan
from syndicate.digest.post import AlreadyMailed, next_posts
from syndicate.models import Article

if TYPE_CHECKING:
    from syndicate.delivery.engine import Sender


def _halts(report: SendReport) -> bool:
    return report.error is not None or report.stopped or report.paused is not None


async def run_posts(
    sender: Sender,
    list_name: str,
    articles: Sequence[Article],
    report: SendReport,
    *,
    deliver: bool,
) -> None:
    """Resume the list's interrupted post, then mail each new article on its own; ``report``
    gets one entry per post in ``posts`` and sums them up."""
    report.mode = "post"
    resumed = SendReport(list_name=list_name)
    if sender.start(list_name, articles, resumed, None, resume_only=True):
        await sender.deliver(list_name, resumed, deliver=deliver)
        report.posts.append(resumed)
    if not report.posts or not _halts(resumed):
        batch = next_posts(sender.settings, sender.engine, list_name, articles, now=sender.clock())
        for number, article in enumerate(batch.articles, 1):
            if sender.stopping:
                break
            one = SendReport(list_name=list_name)
            last = number == len(batch.articles)
            try:
                started = sender.start(
                    list_name,
                    articles,
                    one,
                    None,
                    resume_only=False,
                    article=article,
                    cursor=batch.cursor if last else None,
                )
            except AlreadyMailed:  # another process mailed it meanwhile
                continue
            if started:
                await sender.deliver(list_name, one, deliver=deliver)
                report.posts.append(one)
                if _halts(one):
                    break
        if not report.posts:
            report.nothing_new = True
            report.plan = Plan(
                list_name=list_name,
                digest_id="",
                issue=0,
                fresh=0,
                send_empty=False,
                versions=(),
                left_out=batch.left_out,
            )
    _sum_up(report)


def _sum_up(report: SendReport) -> None:
    """The run as one report: the last post's identity, every post's counts added up."""
    posts = report.posts
    if not posts:
        return
    last = posts[-1]
    report.send_id, report.digest_id, report.plan = last.send_id, last.digest_id, last.plan
    report.title, report.interrupted = last.title, posts[0].interrupted
    report.resumed = len(posts) == 1 and last.resumed  # only the interrupted post went out
    report.finished = all(p.finished for p in posts)
    report.stopped = any(p.stopped for p in posts)
    report.error = next((p.error for p in posts if p.error is not None), None)
    report.paused = last.paused
    report.processes = max(p.processes for p in posts)
    report.connections = last.connections
    counts: dict[str, int] = {}
    for p in posts:
        for key, n in p.counts.items():
            counts[key] = counts.get(key, 0) + n
    report.counts = counts
    retries = [p.next_retry for p in posts if p.next_retry is not None]
    report.next_retry = min(retries) if retries else None
