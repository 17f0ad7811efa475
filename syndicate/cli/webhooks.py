"""``syndicate webhooks``: the outgoing webhooks' outbox (status, list, retry), a test ping,
and a fresh signing secret."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import click

from syndicate import aio
from syndicate.cli.base import Context, emit_json, emit_jsonl, err, errors, main, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.cli.sends import shown_time
from syndicate.config import CONFIG_NAME, Settings
from syndicate.config.webhooks import Webhook, new_secret
from syndicate.errors import ConfigError
from syndicate.events.record import message_id, payload
from syndicate.store import open_store
from syndicate.store import webhooks as repo
from syndicate.store.webhooks import EndpointSummary, EventRow, EventStatus
from syndicate.text import one_line, plural

TEST_EVENT = "webhook.test"


@main.group()
def webhooks() -> None:
    """Outgoing webhooks ([[webhooks]]): what waits, what failed, a test ping."""


def _origin(hook: Webhook) -> str:
    """The endpoint's scheme, host and port: its path or query may hold a token."""
    parts = urlsplit(hook.url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _when(moment: Any) -> str | None:
    return moment.isoformat() if moment else None


def _endpoint_doc(key: str, hook: Webhook | None, found: EndpointSummary | None) -> dict[str, Any]:
    counts = found.counts if found else {}
    return {
        "name": key,
        "configured": hook is not None,
        "origin": _origin(hook) if hook else None,
        "events": list(hook.events) if hook else [],
        "counts": {s.value: counts.get(s, 0) for s in EventStatus},
        "oldest_pending": _when(found.oldest_pending if found else None),
        "next_attempt": _when(found.next_attempt_at if found else None),
        "last_error": found.last_error if found else None,
        "last_error_at": _when(found.last_error_at if found else None),
    }


def _lines(doc: dict[str, Any]) -> Iterator[str]:
    counts = doc["counts"]
    if doc["configured"]:
        events = "all events" if "*" in doc["events"] else ", ".join(doc["events"])
        yield f"{doc['name']}: {doc['origin']} ({events})"
    else:
        yield f"{doc['name']}: no longer in {CONFIG_NAME}; its events are not sent"
    parts = [f"{counts['delivered']:,} delivered", f"{counts['pending']:,} pending"]
    parts.append(f"{counts['failed']:,} failed")
    line = "  " + ", ".join(parts)
    if doc["oldest_pending"]:
        line += f"; oldest pending since {shown_time(doc['oldest_pending'])}"
        line += f", next attempt {shown_time(doc['next_attempt'])}"
    yield line
    if doc["last_error"]:
        error = one_line(doc["last_error"], 200)
        yield f"  last error ({shown_time(doc['last_error_at'])}): {error}"


@webhooks.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Each endpoint: events delivered, pending and failed, the oldest pending, the last
    error. Exit status 1 when an event was given up (failed)."""
    with errors():
        settings = ctx.settings
        engine = open_store(settings.database_url)
        try:
            with engine.connect() as conn:
                found = repo.summaries(conn)
        finally:
            engine.dispose()
    configured = {h.key: h for h in settings.config.webhooks}
    keys = [*configured, *sorted(k for k in found if k not in configured)]
    docs = [_endpoint_doc(k, configured.get(k), found.get(k)) for k in keys]
    failed = sum(d["counts"]["failed"] for d in docs)
    if as_json:
        emit_json({"webhooks": docs})
    elif not docs:
        out.print(
            f"no webhooks: add a [[webhooks]] table to {CONFIG_NAME} (url, events, secret_env)",
            markup=False,
        )
    else:
        for doc in docs:
            for line in _lines(doc):
                out.print(line, markup=False)
        if failed:
            them = "it" if failed == 1 else "them"
            err.print(
                f"{plural(failed, 'event')} given up: `syndicate webhooks list --failed` lists "
                f"{them}, `syndicate webhooks retry` sends {them} again",
                markup=False,
            )
    sys.exit(1 if failed else 0)


def _event_doc(row: EventRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "message_id": row.message_id,
        "endpoint": row.endpoint,
        "type": row.type,
        "key": row.order_key,
        "status": row.status.value,
        "attempts": row.attempts,
        "created": _when(row.created_at),
        "next_attempt": _when(row.next_attempt_at) if row.status is EventStatus.PENDING else None,
        "last_attempt": _when(row.last_attempt_at),
        "last_code": row.last_code,
        "last_error": row.last_error,
    }


def _event_line(doc: dict[str, Any]) -> str:
    line = (
        f"{doc['id']} {doc['message_id']} {doc['type']} ({doc['key']}) → {doc['endpoint']}: "
        f"{doc['status']}, {plural(doc['attempts'], 'attempt')}"
    )
    if doc["next_attempt"]:
        line += f", next {shown_time(doc['next_attempt'])}"
    if doc["last_error"]:
        line += f"; last: {one_line(doc['last_error'], 160)}"
    return line


@webhooks.command("list")
@click.option("--failed", "which", flag_value="failed", help="Only events given up.")
@click.option("--pending", "which", flag_value="pending", help="Only events still to send.")
@click.option("--delivered", "which", flag_value="delivered", help="Only delivered events.")
@click.option("--endpoint", default=None, metavar="NAME", help="Only this endpoint's events.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, None))
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one event a line.")
@pass_ctx
def list_(ctx: Context, which: str | None, endpoint: str | None, limit: int, as_json: bool) -> None:
    """The outbox's events, newest first (delivered and failed ones are kept 30 days)."""
    with errors():
        engine = open_store(ctx.settings.database_url)
        try:
            with engine.connect() as conn:
                status = EventStatus(which) if which else None
                docs = [
                    _event_doc(r)
                    for r in repo.iter_events(conn, status=status, endpoint=endpoint, limit=limit)
                ]
        finally:
            engine.dispose()
    if as_json:
        emit_jsonl(docs)
        return
    for doc in docs:
        out.print(_event_line(doc), markup=False)
    if not docs:
        err.print(f"no {which + ' ' if which else ''}events", markup=False)


@webhooks.command()
@click.argument("name", required=False)
@click.option("--id", "row_id", type=int, default=None, help="Only this event (its number).")
@pass_ctx
def retry(ctx: Context, name: str | None, row_id: int | None) -> None:
    """Send the events given up (of endpoint NAME, or one --id) again, from now on, with a
    fresh retry window."""
    with errors():
        settings = ctx.settings
        if name is not None:
            _hook(settings, name)
        engine = open_store(settings.database_url)
        try:
            with engine.begin() as conn:
                count = repo.requeue_failed(conn, now=wall_clock(), endpoint=name, row_id=row_id)
        finally:
            engine.dispose()
    if not count:
        err.print("no failed events to retry", markup=False)
        sys.exit(1)
    them = "it" if count == 1 else "them"
    out.print(f"{plural(count, 'event')} queued again: `syndicate run` sends {them}", markup=False)


def _hook(settings: Settings, name: str) -> Webhook:
    for hook in settings.config.webhooks:
        if hook.key == name:
            return hook
    declared = ", ".join(h.key for h in settings.config.webhooks) or "none"
    raise ConfigError([f"{CONFIG_NAME}: no webhook named {name!r}; declared: {declared}"])


@webhooks.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def test(ctx: Context, name: str, as_json: bool) -> None:
    """POST a signed test event (type "webhook.test") to endpoint NAME now, and say what it
    answered. Nothing is stored. Exit status 1 unless it answered 2xx."""
    from syndicate.events.sender import Answer, Poster  # httpx loads only here

    with errors():
        settings = ctx.settings
        hook = _hook(settings, name)
        when = wall_clock()
        mid = message_id()
        body = payload(TEST_EVENT, {"publication": settings.publication.title}, now=when)

        async def ping() -> Answer:
            poster = Poster([hook])
            try:
                return await poster.attempt(hook, mid, body)
            finally:
                await poster.aclose()

        answer = aio.run(ping())
    doc = {
        "name": hook.key,
        "origin": _origin(hook),
        "message_id": mid,
        "delivered": answer.ok,
        "code": answer.code,
        "error": answer.error,
    }
    where = f"{hook.key} ({_origin(hook)})"
    if as_json:
        emit_json(doc)
    elif answer.ok:
        out.print(f"{where}: HTTP {answer.code}, delivered {mid}", markup=False)
    else:
        err.print(f"{where}: {answer.error}", markup=False)
    sys.exit(0 if answer.ok else 1)


@webhooks.command()
def secret() -> None:
    """Print a new signing secret (whsec_ + base64 of 32 random bytes): give it to the
    endpoint and put it in the variable secret_env names."""
    out.print(new_secret(), markup=False)
