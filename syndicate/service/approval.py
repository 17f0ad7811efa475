"""Deciding a digest that waits for an editor's approval (``[lists.NAME] approve = true``):
approve it (``run`` then sends it exactly as previewed) or reject it (nothing is sent, its
articles stay new). ``syndicate approve/reject`` and the desk's buttons both call these, so
the rules are the same: each change is one conditional update, and a digest whose list
recorded another digest since it was prepared is dropped, not sent as it was."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from syndicate.config import Settings
from syndicate.digest.assemble import ListState
from syndicate.digest.frozen import read as read_frozen
from syndicate.digest.prepare import list_state
from syndicate.errors import SyndicateError
from syndicate.store import queued as repo
from syndicate.store import sends as send_repo
from syndicate.store.queued import QueuedRow, QueuedStatus


def shown_time(moment: datetime) -> str:
    """``2026-12-24 08:00 UTC`` (with seconds when it has any)."""
    at = moment.astimezone(UTC)
    return f"{at:%Y-%m-%d %H:%M:%S %Z}" if at.second else f"{at:%Y-%m-%d %H:%M %Z}"


def waiting(settings: Settings, conn: Connection, list_name: str) -> QueuedRow:
    """The list's digest that waits for approval, or an error saying why there is none."""
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
    started or its send is in progress (not "nothing waits"), else None."""
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


def approve(
    settings: Settings, engine: Engine, list_name: str, *, who: str, now: datetime
) -> QueuedRow:
    """Approve the list's waiting digest (``run`` starts it); the row as it was."""
    settings.mailing_list(list_name)
    with engine.begin() as conn:
        row = waiting(settings, conn, list_name)
        if row.status is QueuedStatus.APPROVED:
            raise SyndicateError(f"{row.digest_id} is approved already; `syndicate run` starts it")
        if row.wait_until is not None and row.wait_until <= now:
            cfg = settings.mailing_list(list_name)
            raise SyndicateError(
                f"{row.digest_id} waited until {shown_time(row.wait_until)}: "
                f"on_timeout = {cfg.on_timeout} decides it"
            )
    stale = _frozen_state(row) != list_state(engine, list_name)
    with engine.begin() as conn:
        if stale:
            repo.move(
                conn, row.id, from_=QueuedStatus.AWAITING, to=QueuedStatus.SKIPPED,
                now=now, detail="another digest of the list was recorded since",
            )  # fmt: skip
            stale_error = SyndicateError(
                f"{row.digest_id} cannot be sent as it was prepared: {list_name} "
                "recorded another digest since; it is dropped, and its articles go "
                "in the next digest"
            )
        else:
            stale_error = None
            moved = repo.move(
                conn, row.id, from_=QueuedStatus.AWAITING, to=QueuedStatus.APPROVED,
                now=now, detail=f"approved by {who}",
            )  # fmt: skip
            if not moved:
                raise SyndicateError(
                    f"{row.digest_id} was decided meanwhile (`syndicate sends {list_name}`)"
                )
    if stale_error is not None:  # raised after the commit: the skip is recorded
        raise stale_error
    return row


def reject(
    settings: Settings,
    engine: Engine,
    list_name: str,
    *,
    who: str,
    now: datetime,
    digest_id: str | None = None,
) -> QueuedRow:
    """Reject the list's waiting digest: nothing is sent; the row as it was. With
    ``digest_id`` (the one the editor was asked about) only that digest is rejected."""
    settings.mailing_list(list_name)
    with engine.begin() as conn:
        row = waiting(settings, conn, list_name)
        if digest_id is not None and row.digest_id != digest_id:
            raise SyndicateError(
                f"{digest_id} no longer waits for approval ({row.digest_id} does now); "
                "nothing rejected"
            )
        if row.status is QueuedStatus.APPROVED:
            raise SyndicateError(
                f"{row.digest_id} is approved already and about to go out: "
                "`syndicate run` starts it within seconds; nothing rejected"
            )
        moved = repo.move(
            conn, row.id, from_=QueuedStatus.AWAITING,
            to=QueuedStatus.REJECTED, now=now, detail=f"rejected by {who}",
        )  # fmt: skip
        if not moved:
            raise SyndicateError(
                f"{row.digest_id} was decided meanwhile (`syndicate sends {list_name}`)"
            )
    return row
