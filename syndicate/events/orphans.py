"""Events stored for an endpoint no longer in ``syndicate.toml`` (renamed, or its URL's host
changed while it has no ``name``): nothing sends them, so ``check`` and ``webhooks status``
name each such endpoint, its count, and the commands that hand the events on or forget them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from syndicate.config.paths import CONFIG_NAME
from syndicate.config.webhooks import Webhook
from syndicate.store import webhook_outbox as outbox
from syndicate.store.webhooks import EventStatus
from syndicate.text import plural


def orphaned(conn: Connection, hooks: Sequence[Webhook]) -> dict[str, int]:
    """Endpoint names in the outbox that no ``[[webhooks]]`` table has, with how many of
    their events still wait (pending or given up); only those with some."""
    configured = {h.key for h in hooks}
    found = {}
    for name, summary in outbox.summaries(conn).items():
        stuck = summary.counts.get(EventStatus.PENDING, 0) + summary.counts.get(
            EventStatus.FAILED, 0
        )
        if name not in configured and stuck:
            found[name] = stuck
    return found


def what_to_do(name: str, hooks: Sequence[Webhook]) -> str:
    """The commands that resolve an orphaned endpoint ``name``."""
    target = hooks[0].key if len(hooks) == 1 else "NEW"
    move = f"`syndicate webhooks move {name} {target}` hands them to a configured endpoint"
    if not hooks:
        move = "add its [[webhooks]] table back"
    return f"{move}, `syndicate webhooks drop {name}` forgets them"


def orphan_problem(name: str, count: int, hooks: Sequence[Webhook]) -> str:
    """One line for ``check``: the endpoint, its waiting events, what to do."""
    return (
        f"{CONFIG_NAME}: [[webhooks]]: no endpoint named {name!r} any more, but "
        f"{plural(count, 'event')} for it wait in the outbox and are not sent; "
        f"{what_to_do(name, hooks)}"
    )


def orphan_problems(conn: Connection, hooks: Sequence[Webhook]) -> list[str]:
    """``check``'s lines for every orphaned endpoint."""
    return [orphan_problem(n, c, hooks) for n, c in sorted(orphaned(conn, hooks).items())]
