"""Sends that wait: ``send LIST --at TIME``, ``approve LIST``, ``reject LIST``, and how
``sends`` / ``status`` show them (``sends cancel ID`` lives with ``sends``).

``syndicate run`` carries them out (``service/queue.py``); these commands only write the
store, each change one conditional update, so a command and a ``run`` deciding the same row
at the same moment never both win.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection, Engine

from syndicate.cli.base import Context, emit_json, err, errors, main, now, out, pass_ctx
from syndicate.cli.post import Chosen
from syndicate.config import Settings
from syndicate.content.reader import read_site, stored_article
from syndicate.digest.assemble import ListState
from syndicate.digest.frozen import read as read_frozen
from syndicate.digest.note import load_note
from syndicate.digest.prepare import list_state
from syndicate.errors import SyndicateError
from syndicate.models import Article
from syndicate.service.clash import find_clash
from syndicate.service.scheduler import QUEUE_EVERY, list_timezone
from syndicate.store import open_store
from syndicate.store import queued as repo
from syndicate.store.articles import articles_by_id
from syndicate.store.queued import QueuedRow, QueuedStatus
from syndicate.text import one_line, plural

MAX_AT = 64  # characters of an --at value read
MIN_YEAR, MAX_YEAR = 1971, 9000
EXAMPLES = "'2026-12-24 08:00' (in the list's time zone{zone}) or '2026-12-24T08:00+01:00'"


def parse_at(text: str, zone: tzinfo, *, now: datetime) -> datetime:
    """``--at``: a wall-clock time in the list's zone, or ISO 8601 with an offset; a
    SyndicateError saying what to give for anything else, a time that does not exist or
    happens twice (clocks changing), or a time that has passed."""
    raw = text.strip()
    shown = repr(raw[:MAX_AT] + ("…" if len(raw) > MAX_AT else ""))
    forms = EXAMPLES.format(zone=f", {zone}")
    try:
        if len(raw) > MAX_AT:
            raise ValueError
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise SyndicateError(f"--at {shown}: not a date and time; give {forms}") from None
    if "T" not in raw.upper() and " " not in raw:
        raise SyndicateError(f"--at {shown}: give a time of day as well, e.g. {forms}")
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
    try:
        due = parse_at(at, zone, now=moment)
    except SyndicateError as exc:  # a usage error, exit status 2 (click's convention)
        raise click.UsageError(str(exc)) from None
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
            if post is not None and post.article is not None and not post.again:
                _not_twice(settings, engine, conn, list_name, post.article, due)
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
    title = post.article.title if post is not None and post.article is not None else None
    if as_json:
        emit_json(queued_doc(settings, row, title))
        return
    when = local_time(due, zone)
    in_utc = due.astimezone(zone).utcoffset() == timedelta(0)
    utc = "" if in_utc else f" ({due.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    what = what_of(settings, list_name, article_id, title)
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


def _not_twice(
    settings: Settings,
    engine: Engine,
    conn: Connection,
    list_name: str,
    article: Article,
    due: datetime,
) -> None:
    """Refuse to queue an article that a send which waits holds already (or will carry
    first): the list would get it twice. Says what waits, and how to go on."""
    clash = find_clash(settings, engine, conn, list_name, article, due=due)
    if clash is None:
        return
    row, zone = clash.row, list_timezone(settings, list_name)
    named = f"{article.id} ({one_line(article.title, 120)!r})"
    if clash.how == "holds":
        waits = (
            f"{row.digest_id} of {list_name} waits for approval (queued send {row.id}) "
            f"and holds {named}"
        )
    elif clash.how == "same":
        when = local_time(row.due_at, zone)
        waits = f"queued send {row.id} mails {named} to {list_name} at {when}"
    else:
        waits = (
            f"queued send {row.id} ({what_of(settings, list_name, None)} at "
            f"{local_time(row.due_at, zone)}) comes first and would carry {named}"
        )
    raise SyndicateError(
        f"{waits}: the article would go to {list_name} twice; add --again to queue it "
        f"anyway, or `syndicate sends cancel {row.id}` and queue it again; nothing was queued"
    )


def _waiting(settings: Settings, conn: Connection, list_name: str) -> QueuedRow:
    row = repo.waiting(conn, list_name)
    if row is None and not settings.mailing_list(list_name).approve:
        raise SyndicateError(
            f"{list_name} does not ask for approval (approve = true is not set in "
            f"[lists.{list_name}]): it sends without one"
        )
    if row is None:
        raise SyndicateError(
            f"nothing waits for approval on {list_name} "
            f"(`syndicate sends {list_name}` shows its sends)"
        )
    return row


def _frozen_state(row: QueuedRow) -> ListState:
    frozen = read_frozen(row.prepared or "", where=f"queued send {row.id}")
    return ListState(
        issue=frozen.issue, last_sent=frozen.last_sent, sent_ids=frozenset(frozen.sent_ids)
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
            moment = now()
            with engine.begin() as conn:
                row = _waiting(settings, conn, list_name)
                if row.status is QueuedStatus.APPROVED:
                    raise SyndicateError(
                        f"{row.digest_id} is approved already; `syndicate run` starts it"
                    )
                if row.wait_until is not None and row.wait_until <= moment:
                    cfg = settings.mailing_list(list_name)
                    raise SyndicateError(
                        f"{row.digest_id} waited until {local_time(row.wait_until, UTC)}: "
                        f"on_timeout = {cfg.on_timeout} decides it"
                    )
            stale = _frozen_state(row) != list_state(engine, list_name)
            with engine.begin() as conn:
                if stale:
                    repo.move(
                        conn, row.id, from_=QueuedStatus.AWAITING, to=QueuedStatus.SKIPPED,
                        now=moment, detail="another digest of the list was recorded since",
                    )  # fmt: skip
                    raise SyndicateError(
                        f"{row.digest_id} cannot be sent as it was prepared: {list_name} "
                        "recorded another digest since; it is dropped, and its articles go "
                        "in the next digest"
                    )
                moved = repo.move(
                    conn, row.id, from_=QueuedStatus.AWAITING, to=QueuedStatus.APPROVED,
                    now=moment, detail=f"approved by {_who()}",
                )  # fmt: skip
                if not moved:
                    raise SyndicateError(
                        f"{row.digest_id} was decided meanwhile (`syndicate sends {list_name}`)"
                    )
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
            with engine.begin() as conn:
                row = _waiting(settings, conn, list_name)
                if row.status is QueuedStatus.APPROVED:
                    raise SyndicateError(
                        f"{row.digest_id} is approved already and about to go out: "
                        "`syndicate run` starts it within seconds; nothing rejected"
                    )
                moved = repo.move(
                    conn, row.id, from_=QueuedStatus.AWAITING,
                    to=QueuedStatus.REJECTED, now=now(), detail=f"rejected by {_who()}",
                )  # fmt: skip
                if not moved:
                    raise SyndicateError(
                        f"{row.digest_id} was decided meanwhile (`syndicate sends {list_name}`)"
                    )
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
