"""How sends that wait (queued for a time, or for approval) are shown: ``sends``, ``status``,
their ``--json``, and in the lines of the commands that queue, approve or cancel them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection

from syndicate.config import Settings
from syndicate.content.reader import stored_article
from syndicate.service.scheduler import list_timezone
from syndicate.store.articles import articles_by_id
from syndicate.store.queued import QueuedRow, QueuedStatus
from syndicate.text import one_line


def local_time(moment: datetime, zone: tzinfo) -> str:
    """``2026-12-24 08:00 CET``: a time as people of the list read it (with its seconds
    when it has any)."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S %Z}" if local.second else f"{local:%Y-%m-%d %H:%M %Z}"


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def queued_titles(conn: Connection, rows: Iterable[QueuedRow]) -> dict[str, str]:
    """The title of each article queued on its own among ``rows`` (as the store last read
    it; an article gone since has none)."""
    ids = {r.article_id for r in rows if r.article_id is not None}
    return {r.id: stored_article(r).title for r in articles_by_id(conn, ids)} if ids else {}


def queued_doc(settings: Settings, row: QueuedRow, title: str | None = None) -> dict[str, Any]:
    """One waiting (or once waiting) send as ``sends --json`` and ``status --json`` show it
    (``title``: the queued article's)."""
    cfg = settings.config.lists.get(row.list_name)
    return {
        "id": row.id,
        "list": row.list_name,
        "kind": "article" if row.article_id is not None else "digest",
        "article": row.article_id,
        "title": title if row.article_id is not None else None,
        "again": row.again,
        "origin": row.origin.value,
        "status": row.status.value,
        "due": _when(row.due_at),
        "digest": row.digest_id,
        "waits_until": _when(row.wait_until) if row.status is QueuedStatus.AWAITING else None,
        "on_timeout": cfg.on_timeout if cfg is not None and cfg.approve else None,
        "detail": row.detail,
        "created": _when(row.created_at),
        "updated": _when(row.updated_at),
    }


def what_of(
    settings: Settings, list_name: str, article_id: str | None, title: str | None = None
) -> str:
    """What a queued send mails: one article (with its title when known), the list's next
    digest, or (a post list) its new articles."""
    if article_id is not None and title is not None:
        return f"article {article_id} {one_line(title, 120)!r}"
    if article_id is not None:
        return f"article {article_id}"
    cfg = settings.config.lists.get(list_name)
    if cfg is not None and cfg.mode == "post":
        return f"the new articles of {list_name}"
    return f"the next digest of {list_name}"


def queued_line(settings: Settings, row: QueuedRow, title: str | None = None) -> str:
    """One waiting send in words (``title``: the queued article's)."""
    name = row.list_name
    zone = list_timezone(settings, name) if name in settings.config.lists else UTC
    what = what_of(settings, name, row.article_id, title)
    if row.again:
        what += " (--again)"
    due = local_time(row.due_at, zone)
    status = row.status
    if status is QueuedStatus.QUEUED:
        return f"queued {row.id}: {what}, due {due} (`syndicate sends cancel {row.id}` cancels it)"
    if status is QueuedStatus.AWAITING:
        cfg = settings.config.lists.get(name)
        then = "sent" if cfg is not None and cfg.on_timeout == "send" else "skipped"
        until = local_time(row.wait_until or row.due_at, zone)
        return (
            f"waiting {row.id}: {row.digest_id} waits for approval until {until} (then "
            f"{then}): `syndicate approve {name}` sends it, `syndicate reject {name}` drops it"
        )
    if status is QueuedStatus.APPROVED:
        return f"approved {row.id}: {row.digest_id}, `syndicate run` starts it"
    if status is QueuedStatus.STARTING:
        return f"starting {row.id}: {row.digest_id or what}, due {due}"
    if status is QueuedStatus.SENT:
        return f"sent {row.id}: {what}, due {due}, went out as {row.digest_id}"
    label = row.digest_id or what
    return f"{status.value} {row.id}: {label}, due {due}" + (
        f": {row.detail}" if row.detail else ""
    )
