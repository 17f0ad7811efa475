"""``approve LIST`` and ``reject LIST`` (a digest that waits for approval), ``sends cancel
ID``'s change of the store, and ``send``'s refusal while a digest waits.

Each change is one conditional update, so a command and a ``run`` deciding the same row at
the same moment never both win.
"""

from __future__ import annotations

import getpass
from datetime import UTC

import click
from sqlalchemy import Connection

from syndicate.cli.base import Context, errors, main, now, out, pass_ctx
from syndicate.cli.queued_view import local_time
from syndicate.config import Settings
from syndicate.digest.assemble import ListState
from syndicate.digest.frozen import read as read_frozen
from syndicate.digest.prepare import list_state
from syndicate.errors import SyndicateError
from syndicate.service.scheduler import QUEUE_EVERY
from syndicate.store import open_store
from syndicate.store import queued as repo
from syndicate.store import sends as send_repo
from syndicate.store.queued import QueuedRow, QueuedStatus


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "an editor"


def _waiting(settings: Settings, conn: Connection, list_name: str) -> QueuedRow:
    row = repo.waiting(conn, list_name)
    if row is None and not settings.mailing_list(list_name).approve:
        raise SyndicateError(
            f"{list_name} does not ask for approval (approve = true is not set in "
            f"[lists.{list_name}]): it sends without one"
        )
    if row is None:
        sending = _being_sent(conn, list_name)
        if sending is not None:
            raise SyndicateError(sending)
        raise SyndicateError(
            f"nothing waits for approval on {list_name} "
            f"(`syndicate sends {list_name}` shows its sends)"
        )
    return row


def _being_sent(conn: Connection, list_name: str) -> str | None:
    """ "LIST-N is being sent now (approved by …)" when the list's approved digest is being
    started or its send is in progress (trial16 U0: not "nothing waits"), else None."""
    row = repo.latest_approved(conn, list_name)
    if row is None or row.digest_id is None:
        return None
    if row.status is QueuedStatus.SENT:
        send = send_repo.find_send(conn, row.digest_id)
        if send is None or send.finished_at is not None:
            return None  # sent and done: nothing waits, as the plain message says
    how = f" ({row.detail})" if row.detail else ""
    return (
        f"{row.digest_id} is being sent now{how}; nothing waits for approval on {list_name} "
        f"(`syndicate sends {list_name}` shows its progress)"
    )


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
