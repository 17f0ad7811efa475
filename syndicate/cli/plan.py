"""A send's plan in words and as JSON: for `send` (its prompt, --dry-run) and `preview`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syndicate.config import Settings
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.mailable import LeftOut
from syndicate.digest.note import Note
from syndicate.digest.plan import Plan, Version
from syndicate.digest.prepare import Prepared
from syndicate.digest.render import render_digest
from syndicate.digest.testcopy import TestCopies
from syndicate.text import one_line, plural


def topics_label(topics: frozenset[str]) -> str:
    """``readers without topics`` or ``topics a, b``."""
    return f"topics {', '.join(sorted(topics))}" if topics else "readers without topics"


def version_line(v: Version, *, post: bool = False) -> str:
    """One version: who, how many articles, and the subject (or why it is skipped).
    ``post``: the version of one article mailed on its own, in the words its send uses."""
    who = f"{topics_label(v.topics)}: {plural(v.readers, 'subscriber')}"
    if post and v.skipped:
        return f"{who} · skipped: not their topics (they get nothing)"
    if post:
        return f"{who} · the article in full · subject {v.subject!r}"
    if v.skipped:
        return f"{who} · no new article for these topics: skipped (send_empty = false)"
    return f"{who} · {plural(v.articles, 'article')} · subject {v.subject!r}"


def left_out_lines(plan: Plan) -> list[str]:
    """One line per new article the digest leaves out, naming its file or feed entry."""
    return [
        f"left out {one_line(a.where, 300)} ({one_line(a.title, 120)!r}): {a.reason}"
        for a in plan.left_out
    ]


def plan_lines(plan: Plan) -> list[str]:
    """The whole plan, a heading line then one line per version, then what is left out."""
    if plan.nothing_new:
        return [
            f"{plan.list_name}: nothing new since the last digest; nothing would be sent",
            *left_out_lines(plan),
        ]
    head = (
        f"{plan.digest_id}: {plural(plan.fresh, 'new article')}, "
        f"{plural(plan.readers, 'recipient')}"
    )
    if plan.title is not None:  # one article on its own
        head = (
            f"{plan.digest_id}: {one_line(plan.title, 120)!r} on its own, "
            f"{plural(plan.readers, 'recipient')}"
        )
    if plan.skipped_readers:
        why = "not their topics" if plan.title is not None else "nothing new for their topics"
        head += f" ({plural(plan.skipped_readers, 'subscriber')} skipped: {why})"
    post = plan.title is not None
    lines = [f"  {version_line(v, post=post)}" for v in plan.versions]
    return [head, *lines, *left_out_lines(plan)]


def version_doc(v: Version) -> dict[str, Any]:
    """A version for ``--json``."""
    return {
        "topics": sorted(v.topics),
        "subscribers": v.readers,
        "articles": v.articles,
        "subject": v.subject,
        "skipped": v.skipped,
    }


def plan_doc(plan: Plan) -> dict[str, Any]:
    """The plan for ``--json``."""
    return {
        "list": plan.list_name,
        "digest": None if plan.nothing_new else plan.digest_id,
        "issue": None if plan.nothing_new else plan.issue,
        "new_articles": plan.fresh,
        "nothing_new": plan.nothing_new,
        "recipients": 0 if plan.nothing_new else plan.readers,
        "skipped": 0 if plan.nothing_new else plan.skipped_readers,
        "versions": [version_doc(v) for v in plan.versions],
        "left_out": [left_out_doc(a) for a in plan.left_out],
    }


def left_out_doc(a: LeftOut) -> dict[str, str]:
    """A left-out article for ``--json``."""
    return {"id": a.article_id, "where": a.where, "title": a.title, "reason": a.reason}


def render_versions(
    settings: Settings, prepared: Prepared, plan: Plan, *, note: Note | None, now: datetime
) -> None:
    """Render every version the plan mails once, as the send will (``send --dry-run``): a
    template mistake raises its ``templates/…:LINE: reason`` here, not only in the send."""
    if plan.nothing_new:
        return
    for v in plan.versions:
        if not v.skipped:
            digest = prepared.digests.get(v.topics) or prepared.digests[EVERYTHING]
            rendered = render_digest(digest, settings, note=note)
            TestCopies(rendered, settings, date=now).message("reader@example.org", None)
