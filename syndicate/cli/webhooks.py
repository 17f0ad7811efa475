"""``syndicate webhooks``: the outgoing webhooks' outbox (status, list, retry), a test ping,
and a fresh signing secret."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import click

from syndicate import aio
from syndicate.cli.base import Context, emit_json, emit_jsonl, err, errors, main, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.cli.sends import shown_time
from syndicate.config import CONFIG_NAME, Settings
from syndicate.config.webhooks import Webhook, new_secret
from syndicate.events.orphans import what_to_do
from syndicate.events.record import message_id, payload
from syndicate.store import open_store
from syndicate.store import webhook_outbox as repo
from syndicate.store.webhook_outbox import EndpointSummary
from syndicate.store.webhooks import EventRow, EventStatus
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
    due = found.next_attempt_at if found else None
    return {
        "name": key,
        "configured": hook is not None,
        "origin": _origin(hook) if hook else None,
        "events": list(hook.events) if hook else [],
        "counts": {s.value: counts.get(s, 0) for s in EventStatus},
        "oldest_pending": _when(found.oldest_pending if found else None),
        "next_attempt": _when(due),
        "due_now": due is not None and due <= wall_clock(),
        "waiting": found.waiting if found else 0,
        "last_error": found.last_error if found else None,
        "last_error_at": _when(found.last_error_at if found else None),
    }


def _stuck(counts: dict[str, int]) -> int:
    """Events that still wait: pending or given up."""
    return counts["pending"] + counts["failed"]


def _lines(doc: dict[str, Any], hooks: list[Webhook]) -> Iterator[str]:
    counts = doc["counts"]
    if doc["configured"]:
        events = "all events" if "*" in doc["events"] else ", ".join(doc["events"])
        yield f"{doc['name']}: {doc['origin']} ({events})"
    else:
        if stuck := _stuck(counts):
            them = "its event is" if stuck == 1 else f"its {stuck:,} events are"
            yield (
                f"{doc['name']}: no longer in {CONFIG_NAME}: {them} not sent; "
                f"{what_to_do(doc['name'], hooks)}"
            )
        else:
            yield f"{doc['name']}: no longer in {CONFIG_NAME}; nothing of it waits"
    parts = [f"{counts['delivered']:,} delivered", f"{counts['pending']:,} pending"]
    parts.append(f"{counts['failed']:,} failed")
    line = "  " + ", ".join(parts)
    if doc["oldest_pending"]:
        line += f"; oldest pending since {shown_time(doc['oldest_pending'])}"
    yield line
    if doc["oldest_pending"] and doc["configured"]:
        when = shown_time(doc["next_attempt"])
        if doc["due_now"]:
            yield f"  next attempt: due since {when} (`syndicate run` sends it)"
        else:
            yield f"  next attempt: {when}"
    if waiting := doc["waiting"]:
        verb = "waits" if waiting == 1 else "wait"
        yield (
            f"  {plural(waiting, 'event')} {verb} behind an earlier one of the same "
            "subscriber or send"
        )
    if doc["last_error"]:
        error = one_line(doc["last_error"], 200)
        yield f"  last error ({shown_time(doc['last_error_at'])}): {error}"


@webhooks.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Each endpoint: events delivered, pending and failed, the oldest pending, the last
    error. Exit status 1 when an event was given up (failed) or waits for an endpoint no
    longer in syndicate.toml."""
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
    failed = sum(d["counts"]["failed"] for d in docs if d["configured"])
    orphaned = [
        d for d in docs if not d["configured"] and d["counts"]["pending"] + d["counts"]["failed"]
    ]
    if as_json:
        emit_json({"webhooks": docs})
    elif not docs:
        out.print(
            f"no webhooks: add a [[webhooks]] table to {CONFIG_NAME} (url, events, secret_env)",
            markup=False,
        )
    else:
        for doc in docs:
            for line in _lines(doc, list(settings.config.webhooks)):
                out.print(line, markup=False)
        if failed:
            them = "it" if failed == 1 else "them"
            err.print(
                f"{plural(failed, 'event')} given up: `syndicate webhooks list --failed` lists "
                f"{them}, `syndicate webhooks retry` sends {them} again",
                markup=False,
            )
    sys.exit(1 if failed or orphaned else 0)


def _event_doc(row: EventRow) -> dict[str, Any]:
    first = row.status is EventStatus.PENDING and row.waits_behind is None
    return {
        "id": row.id,
        "message_id": row.message_id,
        "endpoint": row.endpoint,
        "type": row.type,
        "key": row.order_key,
        "status": row.status.value,
        "attempts": row.attempts,
        "created": _when(row.created_at),
        "next_attempt": _when(row.next_attempt_at) if first else None,
        "waits_behind": row.waits_behind,
        "last_attempt": _when(row.last_attempt_at),
        "last_code": row.last_code,
        "last_error": row.last_error,
    }


def _event_line(doc: dict[str, Any]) -> str:
    line = (
        f"{doc['id']} {doc['message_id']} {doc['type']} ({doc['key']}) → {doc['endpoint']}: "
        f"{doc['status']}, {plural(doc['attempts'], 'attempt')}"
    )
    if doc["waits_behind"] is not None:
        line += f", waits behind event {doc['waits_behind']}"
    elif doc["next_attempt"]:
        if datetime.fromisoformat(doc["next_attempt"]) <= wall_clock():
            line += f", due since {shown_time(doc['next_attempt'])}"
        else:
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
                if endpoint is not None:
                    _known(ctx.settings, endpoint, repo.summaries(conn))
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
    fresh retry window. Exit status 1 when nothing was given up, or --id names no event
    (or one of another endpoint); 0 when it was delivered or is still pending."""
    with errors():
        settings = ctx.settings
        if name is not None:
            _hook(settings, name)
        configured = [name] if name is not None else [h.key for h in settings.config.webhooks]
        engine = open_store(settings.database_url)
        try:
            with engine.begin() as conn:
                if row_id is not None:
                    found = repo.get(conn, row_id)
                    why = _not_retryable(found, row_id, configured)
                    if why is not None:  # an unknown event or endpoint is an error
                        failed = found is None or found.endpoint not in configured
                        (err if failed else out).print(why, markup=False)
                        sys.exit(1 if failed else 0)
                count = repo.requeue_failed(
                    conn, now=wall_clock(), endpoints=configured, row_id=row_id
                )
        finally:
            engine.dispose()
    if not count:
        err.print("no failed events to retry", markup=False)
        sys.exit(1)
    them = "it" if count == 1 else "them"
    out.print(f"{plural(count, 'event')} queued again: `syndicate run` sends {them}", markup=False)


def _not_retryable(row: EventRow | None, row_id: int, configured: list[str]) -> str | None:
    """Why event ``row_id`` cannot be queued again (None: it can)."""
    if row is None:
        return (
            f"no event {row_id} (`syndicate webhooks list` shows the events; delivered and "
            "given-up ones are kept 30 days)"
        )
    if row.status is EventStatus.DELIVERED:
        when = shown_time(row.last_attempt_at)
        return f"event {row_id} was delivered at {when}; nothing to retry"
    if row.endpoint not in configured:
        return (
            f"event {row_id} is for endpoint {row.endpoint!r}, not "
            + (f"{configured[0]!r}" if len(configured) == 1 else "a configured one")
            + f"; nothing queued (`syndicate webhooks move {row.endpoint} NEW` first, if "
            "it was renamed)"
        )
    if row.status is EventStatus.PENDING:
        if row.waits_behind is not None:
            return (
                f"event {row_id} is still pending, waiting behind event {row.waits_behind}; "
                "nothing to retry"
            )
        when = shown_time(row.next_attempt_at)
        if row.next_attempt_at <= wall_clock():
            return f"event {row_id} is still pending, due since {when}; nothing to retry"
        return f"event {row_id} is still pending (next attempt {when}); nothing to retry"
    return None


def configured_names(settings: Settings) -> str:
    """The configured endpoints' names, for an error message."""
    return ", ".join(h.key for h in settings.config.webhooks) or "none"


def _hook(settings: Settings, name: str) -> Webhook:
    for hook in settings.config.webhooks:
        if hook.key == name:
            return hook
    raise click.UsageError(
        f"no webhook named {name!r} in {CONFIG_NAME}; configured: {configured_names(settings)}"
    )


def _known(settings: Settings, name: str, found: dict[str, EndpointSummary]) -> None:
    """``name`` is a configured endpoint or one the outbox still holds events of."""
    if name in found or any(h.key == name for h in settings.config.webhooks):
        return
    stored = sorted(k for k in found if k not in {h.key for h in settings.config.webhooks})
    extra = f" (no longer configured, still in the outbox: {', '.join(stored)})" if stored else ""
    raise click.UsageError(
        f"no webhook named {name!r}; configured: {configured_names(settings)}{extra}"
    )


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


from syndicate.cli import webhook_moves  # noqa: E402,F401  (registers move, drop)
