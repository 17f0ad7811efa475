"""``approve LIST`` and ``reject LIST`` (a digest that waits for approval), ``sends cancel
ID``'s change of the store, and ``send``'s refusal while a digest waits.

Each change is one conditional update, so a command and a ``run`` deciding the same row at
the same moment never both win.
"""

from __future__ import annotations

import getpass

import click
from sqlalchemy import Connection

from syndicate.cli.base import Context, errors, main, now, out, pass_ctx
from syndicate.config import Settings
from syndicate.errors import SyndicateError
from syndicate.service import approval
from syndicate.service.scheduler import QUEUE_EVERY
from syndicate.store import open_store
from syndicate.store import queued as repo
from syndicate.store.queued import QueuedRow, QueuedStatus


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "an editor"


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
