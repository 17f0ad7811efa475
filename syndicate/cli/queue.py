"""Sends that wait: ``send LIST --at TIME``, ``approve LIST``, ``reject LIST``, and how
``sends`` / ``status`` show them (``sends cancel ID`` lives with ``sends``).

``syndicate run`` carries them out (``service/queue.py``); these commands only write the
store, each change one conditional update, so a command and a ``run`` deciding the same row
at the same moment never both win.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection

from syndicate.cli.base import Context, emit_json, err, errors, main, now, out, pass_ctx
from syndicate.cli.post import Chosen
from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.digest.note import load_note
from syndicate.errors import SyndicateError
from syndicate.service import approval
from syndicate.service.scheduler import QUEUE_EVERY, list_timezone
from syndicate.store import open_store
from syndicate.store import queued as repo
from syndicate.store.queued import QueuedRow, QueuedStatus
from syndicate.text import plural

MAX_AT = 64  # characters of an --at value read
MIN_YEAR, MAX_YEAR = 1971, 9000
EXAMPLES = "'2026-12-24 08:00' (in the list's time zone) or '2026-12-24T08:00+01:00'"


def parse_at(text: str, zone: tzinfo, *, now: datetime) -> datetime:
    """``--at``: a wall-clock time in the list's zone, or ISO 8601 with an offset; a
    SyndicateError saying what to give for anything else, a time that does not exist or
    happens twice (clocks changing), or a time that has passed."""
    raw = text.strip()
    shown = repr(raw[:MAX_AT] + ("…" if len(raw) > MAX_AT else ""))
    try:
        if len(raw) > MAX_AT:
            raise ValueError
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise SyndicateError(f"--at {shown}: not a date and time; give {EXAMPLES}") from None
    if "T" not in raw.upper() and " " not in raw:
        raise SyndicateError(f"--at {shown}: give a time of day as well, e.g. {EXAMPLES}")
    if not MIN_YEAR <= when.year <= MAX_YEAR:  # beyond, a zone's offset overflows the calendar
        raise SyndicateError(f"--at {shown}: give a year between {now.year} and {MAX_YEAR}")
    if when.tzinfo is None:
        local = when.replace(tzinfo=zone)
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != when:
            raise SyndicateError(
                f"--at {shown}: that time does not exist in {zone} (the clocks skip it); "
                "give a time after the change, or an offset"
            )
        if local.replace(fold=1).utcoffset() != local.utcoffset():
            first = local.strftime("%z")
            raise SyndicateError(
                f"--at {shown}: that time happens twice in {zone} (the clocks go back); "
                f"add the offset you mean, e.g. {when:%Y-%m-%dT%H:%M}{first[:3]}:{first[3:]}"
            )
        when = local
    if when <= now:
        raise SyndicateError(
            f"--at {shown}: that time has passed (it is now {local_time(now, zone)}); "
            "give a time ahead, or leave out --at to send now"
        )
    return when


def local_time(moment: datetime, zone: tzinfo) -> str:
    """``2026-12-24 08:00 CET``: a time as people of the list read it (with its seconds
    when it has any)."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S %Z}" if local.second else f"{local:%Y-%m-%d %H:%M %Z}"


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def queued_doc(settings: Settings, row: QueuedRow) -> dict[str, Any]:
    """One waiting (or once waiting) send as ``sends --json`` and ``status --json`` show it."""
    cfg = settings.config.lists.get(row.list_name)
    return {
        "id": row.id,
        "list": row.list_name,
        "kind": "article" if row.article_id is not None else "digest",
        "article": row.article_id,
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


def what_of(settings: Settings, list_name: str, article_id: str | None) -> str:
    """What a queued send mails: one article, the list's next digest, or (a post list)
    its new articles."""
    if article_id is not None:
        return f"article {article_id}"
    cfg = settings.config.lists.get(list_name)
    if cfg is not None and cfg.mode == "post":
        return f"the new articles of {list_name}"
    return f"the next digest of {list_name}"


def queued_line(settings: Settings, row: QueuedRow) -> str:
    """One waiting send in words."""
    name = row.list_name
    zone = list_timezone(settings, name) if name in settings.config.lists else UTC
    what = what_of(settings, name, row.article_id)
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


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "an editor"


def queue_send(
    settings: Settings,
    list_name: str,
    at: str,
    *,
    note_file: Path | None,
    as_json: bool,
    post: Chosen | None = None,
) -> None:
    """``send LIST --at TIME [--article ID [--again]]``: queue the list's next digest (or
    that one article) for TIME. The article is checked now (an unknown id, or one the list
    had without --again: an error) and again when it is due."""
    zone = list_timezone(settings, list_name)
    moment = now()
    due = parse_at(at, zone, now=moment)
    article_id = None if post is None else post.article_id
    cfg = settings.mailing_list(list_name)
    if post is not None:
        post.check(post_list=cfg.mode == "post", note_file=note_file)
    note = None
    if note_file is not None:  # read now: the file may be gone by then
        note = load_note(note_file, base_url=settings.publication.base_url).source
    engine = open_store(settings.database_url)
    try:
        if post is not None and article_id is not None:
            read = read_site(settings, engine, now=moment)
            post.choose(engine, settings, list_name, read, at=due)
            post.say_earlier()
            assert post.article is not None
            article_id = post.article.id
        with engine.begin() as conn:
            _no_second_send(settings, conn, list_name, due)
            row_id = repo.queue(
                conn,
                list_name,
                due=due,
                now=moment,
                note=note,
                article_id=article_id,
                again=post is not None and post.again,
            )
            row = repo.get(conn, row_id)
    finally:
        engine.dispose()
    assert row is not None
    if as_json:
        emit_json(queued_doc(settings, row))
        return
    when = local_time(due, zone)
    in_utc = due.astimezone(zone).utcoffset() == timedelta(0)
    utc = "" if in_utc else f" ({due.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    what = what_of(settings, list_name, article_id)
    out.print(f"queued {row_id}: {what} at {when}{utc}", markup=False)
    if cfg.approve and article_id is None:
        err.print(
            f"{list_name} waits for approval: at {when}, `syndicate run` prepares the digest "
            f"and mails a preview to {plural(len(settings.email.editors), 'editor')}; it is "
            f"sent once approved (`syndicate approve {list_name}`); "
            f"`syndicate sends cancel {row_id}` cancels it",
            markup=False,
        )
        return
    if cfg.approve:
        err.print(
            f"not held for approval: an article queued on its own goes to readers at {when}",
            markup=False,
        )
    err.print(
        f"`syndicate run` sends it then; `syndicate sends cancel {row_id}` cancels it",
        markup=False,
    )


SAME_TIME = timedelta(minutes=1)


def _no_second_send(settings: Settings, conn: Connection, list_name: str, due: datetime) -> None:
    """Refuse a second send of the list queued for (nearly) the same time: when both come
    due in one look at the queue, only the first could go (the second would find nothing
    new, or the first still waiting for approval)."""
    other = repo.queued_near(conn, list_name, due, within=SAME_TIME)
    if other is None:
        return
    zone = list_timezone(settings, list_name)
    raise SyndicateError(
        f"queued send {other.id} ({what_of(settings, list_name, other.article_id)} at "
        f"{local_time(other.due_at, zone)}) is due within a minute of that; give a time "
        f"at least a minute apart, or `syndicate sends cancel {other.id}` and queue again"
    )


@main.command()
@click.argument("list_name", metavar="LIST")
@pass_ctx
def approve(ctx: Context, list_name: str) -> None:
    """Send LIST's digest that waits for approval, exactly as previewed to the editors.

    `syndicate run` starts it within seconds. Exit status 1 when nothing waits.
    """
    with errors():
        settings = ctx.settings
        settings.mailing_list(list_name)
        engine = open_store(settings.database_url)
        try:
            row = approval.approve(settings, engine, list_name, who=_who(), now=now())
        finally:
            engine.dispose()
    seconds = int(QUEUE_EVERY.total_seconds())
    out.print(
        f"{row.digest_id} approved: `syndicate run` sends it within {seconds} s "
        f"(`syndicate sends {list_name}` shows it)",
        markup=False,
    )


@main.command()
@click.argument("list_name", metavar="LIST")
@pass_ctx
def reject(ctx: Context, list_name: str) -> None:
    """Drop LIST's digest that waits for approval: nothing is sent, and its articles stay
    new for the list's next digest. Exit status 1 when nothing waits, or when the digest
    was approved already (it is about to go out)."""
    with errors():
        settings = ctx.settings
        settings.mailing_list(list_name)
        engine = open_store(settings.database_url)
        try:
            row = approval.reject(settings, engine, list_name, who=_who(), now=now())
        finally:
            engine.dispose()
    out.print(
        f"{row.digest_id} rejected: nothing was sent; its articles go in the next digest",
        markup=False,
    )


def cancel_queued(settings: Settings, row_id: int) -> QueuedRow:
    """``sends cancel ID``: cancel a send that waits (queued, or prepared for approval)."""
    engine = open_store(settings.database_url)
    try:
        with engine.begin() as conn:
            row = repo.get(conn, row_id)
            if row is None:
                raise SyndicateError(
                    f"no queued send {row_id} (`syndicate sends` lists them with their ids)"
                )
            if row.status is QueuedStatus.STARTING:
                raise SyndicateError(f"queued send {row_id} is being started right now")
            if not row.is_open:
                raise SyndicateError(
                    f"queued send {row_id} is {row.status.value}: nothing to cancel"
                )
            moved = repo.move(
                conn, row.id,
                from_=(QueuedStatus.QUEUED, QueuedStatus.AWAITING, QueuedStatus.APPROVED),
                to=QueuedStatus.CANCELLED, now=now(), detail=f"cancelled by {_who()}",
            )  # fmt: skip
            if not moved:
                raise SyndicateError(f"queued send {row_id} was started meanwhile")
    finally:
        engine.dispose()
    return row


def no_send_while_waiting(conn: Connection, list_name: str) -> None:
    """``send LIST`` refuses while a digest of the list waits for approval: it would take
    that digest's issue number and articles."""
    row = repo.waiting(conn, list_name)
    if row is not None:
        raise SyndicateError(
            f"{row.digest_id} of {list_name} waits for approval: `syndicate approve "
            f"{list_name}` sends it, `syndicate reject {list_name}` drops it; then send again"
        )
