"""``syndicate subscribers list|show|count``: what the store holds, for people and scripts.

Addresses are shown with their domain in Unicode (``bücher.example``); ``--json`` keeps the
stored form (ASCII domain, as mail carries it), so scripts get what the store holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import click

from syndicate.cli.base import Context, emit_json, emit_jsonl, err, errors, out, pass_ctx
from syndicate.cli.subscribers import STATUSES, _store, subscribers
from syndicate.models import SUPPRESSED, Status
from syndicate.store import feedback_views, history, welcomes
from syndicate.store import subscribers as repo
from syndicate.subscribers.address import display_address, escaped, normalize_address
from syndicate.text import one_line, plural


@subscribers.command(name="list")
@click.argument("list_name", metavar="LIST")
@click.option("--status", type=STATUSES, default=None, help="Only subscribers in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, one subscriber a line.")
@pass_ctx
def list_(ctx: Context, list_name: str, status: str | None, as_json: bool) -> None:
    """List the subscribers of LIST (address, status, name, topics on LIST)."""
    with _store(ctx, list_name) as engine, engine.connect() as conn:
        found = repo.iter_list(conn, list_name, Status(status) if status else None)
        if as_json:
            emit_jsonl(
                {
                    "email": sub.email,
                    "name": sub.name,
                    "status": state.value,
                    "topics": list(sub.topics),
                }
                for sub, state in found
            )
            return
        for sub, state in found:
            topics = ",".join(sub.topics)
            click.echo(f"{display_address(sub.email)}\t{state.value}\t{sub.name or ''}\t{topics}")


def _history_rows(records: list[history.DeliveryRecord]) -> Iterator[dict[str, Any]]:
    for r in records:
        yield {
            "list": r.list_name,
            "digest": r.digest_id,
            "at": r.at.isoformat(),
            "status": r.status,
            "attempts": r.attempts,
            "code": r.code,
            "reply": r.reply,
        }


@subscribers.command()
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def show(ctx: Context, email: str, as_json: bool) -> None:
    """Show one subscriber: lists and topics on each, the consent trail, and every
    digest delivery (status, and the mail server's last reply)."""
    with _store(ctx) as engine, engine.connect() as conn:
        with errors():
            key = normalize_address(email).key
        found = repo.subscriber_by_key(conn, key)
        if found is None:
            err.print(f"error: no subscriber {email}", markup=False)
            raise SystemExit(1)
        lists = repo.subscriptions_of(conn, found.id)
        topics = repo.topics_of(conn, found.id)
        trail = repo.events_of(conn, found.id)
        deliveries = history.delivery_history(conn, found.id)
        feedback = feedback_views.feedback_of(conn, found.id)
        welcomed = welcomes.of_subscriber(conn, found.id)
    if as_json:
        emit_json(
            {
                "email": found.email,
                "name": found.name,
                "created": found.created_at.isoformat(),
                "attributes": dict(found.attributes),
                "lists": {k: v.value for k, v in sorted(lists.items())},
                # Topics belong to a list: chosen per list, [] meaning everything.
                "topics": {k: list(topics.get(k, ())) for k in sorted(lists)},
                "trail": [
                    {
                        "list": e.list_name,
                        "status": e.status.value,
                        "previous": e.previous.value if e.previous else None,
                        "at": e.at.isoformat(),
                        "source": e.source.value,
                        "detail": e.detail,
                    }
                    for e in trail
                ],
                "deliveries": list(_history_rows(deliveries)),
                "feedback": [
                    {
                        "at": e.received_at.isoformat(),
                        "outcome": e.outcome,
                        "dsn_status": e.status,
                        "send": e.digest_id,
                        "matched_by": e.matched_by,
                        "trusted": e.counts,
                        "effect": e.effect,
                        "diagnostic": e.diagnostic,
                    }
                    for e in feedback
                ],
                "welcomes": [
                    {
                        "list": w.list_name,
                        "status": w.status,
                        "at": w.at.isoformat(),
                        "detail": w.detail,
                    }
                    for w in welcomed
                ],
            }
        )
        return
    shown = display_address(found.email)
    since = f"{found.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"  # like the trail below
    out.print(f"{shown}  {found.name or ''}  (since {since})", markup=False)
    if found.email != shown:
        out.print(f"  sent as {found.email}", markup=False)
    for key_, value in found.attributes:  # imported as found: escaped for the terminal
        out.print(f"  {escaped(key_)}: {escaped(value)}", markup=False)
    out.print("lists:", markup=False)
    for name, state in sorted(lists.items()):
        chosen = ", ".join(topics.get(name, ())) or "all"
        out.print(f"  {name}: {state.value} (topics: {chosen})", markup=False)
    out.print("consent trail:", markup=False)
    for e in trail:
        out.print(
            f"  {e.at:%Y-%m-%d %H:%M} {e.list_name}: {e.previous or '-'} → "
            f"{e.status.value} ({e.source.value}{', ' + e.detail if e.detail else ''})",
            markup=False,
        )
    for w in welcomed:
        said = f" ({w.detail})" if w.detail else ""
        out.print(
            f"welcome mail: {w.list_name}: {w.status} {w.at:%Y-%m-%d %H:%M}{said}", markup=False
        )
    out.print(f"deliveries: {plural(len(deliveries), 'copy', 'copies')}", markup=False)
    for r in deliveries:
        reply = f" {r.code} {r.reply}" if r.code or r.reply else ""
        tries = f" after {plural(r.attempts, 'attempt')}" if r.attempts > 1 else ""
        out.print(
            f"  {r.at:%Y-%m-%d %H:%M} {r.digest_id}: {r.status}{tries}{reply}".rstrip(),
            markup=False,
        )
    if feedback:
        out.print(f"feedback: {plural(len(feedback), 'report')} (newest first)", markup=False)
    for f in feedback:
        code = f" {f.status}" if f.status else ""
        on = f" on {f.digest_id}" if f.digest_id else ""
        what = f.effect or ("not trusted" if not f.counts else "")
        out.print(
            f"  {f.received_at:%Y-%m-%d %H:%M} {f.outcome}{code}{on} [{f.matched_by}]: "
            f"{what}; {one_line(f.diagnostic, 120)}".rstrip("; "),
            markup=False,
        )


@subscribers.command()
@click.argument("list_name", metavar="LIST", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def count(ctx: Context, list_name: str | None, as_json: bool) -> None:
    """Count subscribers per list and status."""
    with _store(ctx, list_name) as engine, engine.connect() as conn:
        found = repo.counts(conn, list_name)
    names = [list_name] if list_name else sorted(set(ctx.settings.config.lists) | set(found))
    table = {n: {s.value: found.get(n, {}).get(s, 0) for s in Status} for n in names}
    if as_json:
        emit_json({"lists": table})
        return
    for name, by_status in table.items():
        mailable = by_status[Status.ACTIVE.value]
        suppressed = sum(by_status[s.value] for s in SUPPRESSED)
        out.print(
            f"{name}: {mailable:,} active, {by_status['pending']:,} pending, "
            f"{suppressed:,} suppressed",
            markup=False,
        )
