"""``send LIST --at TIME [--article ID]``: queue a send for later (checked now: the time,
the article, and what already waits). ``approve``/``reject`` live in ``cli/approval.py``,
how ``sends``/``status`` show what waits in ``cli/queued_view.py``.

``syndicate run`` carries them out (``service/queue.py``); these commands only write the
store, each change one conditional update, so a command and a ``run`` deciding the same row
at the same moment never both win.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import click
from sqlalchemy import Connection, Engine

from syndicate.cli.approval import cancel_queued as cancel_queued
from syndicate.cli.approval import no_send_while_waiting as no_send_while_waiting
from syndicate.cli.base import emit_json, err, now, out
from syndicate.cli.post import Chosen
from syndicate.cli.queued_view import local_time as local_time
from syndicate.cli.queued_view import queued_doc as queued_doc
from syndicate.cli.queued_view import queued_line as queued_line
from syndicate.cli.queued_view import queued_titles as queued_titles
from syndicate.cli.queued_view import what_of as what_of
from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.digest.note import load_note
from syndicate.errors import SyndicateError
from syndicate.models import Article
from syndicate.service.clash import find_clash
from syndicate.service.scheduler import list_timezone
from syndicate.store import open_store
from syndicate.store import queued as repo
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
