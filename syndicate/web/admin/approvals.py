"""How the desk words a digest held for approval: where it stands (waiting for the editor
until its deadline, or approved and going out), and the notice after a decision, shown
only for a digest the store has in that state (the query string only names it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from syndicate.store.queued import QueuedRow, QueuedStatus
from syndicate.web.admin import format as formats

GOING = (QueuedStatus.APPROVED, QueuedStatus.STARTING)  # approved, not yet a send


def approval_line(row: QueuedRow, zone: Callable[[str | None], tzinfo]) -> str:
    """Where a list's held digest stands, in words (no raw state names): waiting for the
    editor until its deadline (in the list's zone), or approved and going out now."""
    if row.status is QueuedStatus.AWAITING:
        until = row.wait_until
        tail = f" until {formats.when(until, zone(row.list_name))}" if until else ""
        return f"{row.digest_id} waits for your approval{tail}"
    if row.status in GOING:
        return f"{row.digest_id} {row.detail or 'approved'}; going out now"
    return f"{row.digest_id}: {row.status.value}"


def decided_notice(row: QueuedRow | None, done: str) -> str | None:
    """The notice after a decision, only for a digest really in that state (the query
    string names it; anything else shows nothing)."""
    if row is None or row.prepared is None:
        return None
    said = f" {row.detail}" if row.detail and row.detail.startswith(done) else f" {done}"
    if done == "approved" and row.status in GOING:
        return f"{row.digest_id}{said}: going out now."
    if done == "approved" and row.status is QueuedStatus.SENT:
        return f"{row.digest_id} approved and sent."
    if done == "rejected" and row.status is QueuedStatus.REJECTED:
        return f"{row.digest_id}{said}: nothing was sent; its articles go in the next digest."
    return None
