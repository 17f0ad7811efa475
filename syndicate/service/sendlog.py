"""What a send did, as one line of ``run``'s log."""

from __future__ import annotations

from syndicate.delivery.report import SendReport
from syndicate.text import one_line, plural


def skipped_words(report: SendReport) -> str:
    """ " (1 subscriber skipped: …)" for the readers a send left out by their topics, or "".
    A post (one chosen article) is simply not their topics; a digest had nothing new
    for them."""
    plan = report.plan
    if plan is None or not plan.skipped_readers:
        return ""
    why = "not their topics" if report.title is not None else "nothing new for their topics"
    return f" ({plural(plan.skipped_readers, 'subscriber')} skipped: {why})"


def describe(report: SendReport) -> str:
    """One line: what a send did (and which new articles it left out, and why)."""
    left = report.plan.left_out if report.plan is not None else ()
    skipped = "".join(f"; left out {one_line(a.where, 300)}: {a.reason}" for a in left)
    if report.posts:  # a post list's run: each article mailed on its own
        return "; ".join(describe(p) for p in report.posts) + skipped
    if report.nothing_new:
        last = "post" if report.mode == "post" else "digest"
        return f"nothing new since the last {last}; nothing sent" + skipped
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items())) or "no recipients"
    state = "finished" if report.finished else f"unfinished, next retry {report.next_retry}"
    if report.paused is not None:
        state = f"paused: {report.paused.sentence()}"
    if report.error is not None:
        state = f"stopped: {report.error}"
    resumed = " (resumed)" if report.resumed else ""
    title = f" {one_line(report.title, 120)!r}" if report.title else ""
    return f"{report.digest_id}{title}{resumed}: {counts}{skipped_words(report)} ({state}){skipped}"
