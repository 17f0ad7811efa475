"""``syndicate webhooks move|drop``: the events of an endpoint no longer in syndicate.toml
(renamed, or its URL's host changed while it has no ``name``) handed to a configured
endpoint, or forgotten. Both change the store: they ask first, unless ``--yes``."""

from __future__ import annotations

import sys

import click

from syndicate.cli.base import Context, err, errors, out, pass_ctx
from syndicate.cli.webhooks import configured_names, webhooks
from syndicate.config import CONFIG_NAME, Settings
from syndicate.config.webhooks import ALL_EVENTS, EVENT_TYPES, Webhook
from syndicate.store import open_store
from syndicate.store import webhook_outbox as repo
from syndicate.store.webhooks import EventStatus
from syndicate.text import plural


def _configured(settings: Settings, name: str) -> Webhook | None:
    return next((h for h in settings.config.webhooks if h.key == name), None)


def _orphan(settings: Settings, name: str, found: dict[str, repo.EndpointSummary]) -> None:
    if _configured(settings, name) is not None:
        raise click.UsageError(
            f"{name!r} is configured in {CONFIG_NAME}: its events are being sent; only an "
            "endpoint no longer configured can be moved or dropped"
        )
    if name not in found:
        raise click.UsageError(f"the outbox holds no events for {name!r}")


def _agreed(question: str, yes: bool) -> None:
    """Ask ``question`` unless ``yes``; exit 1 when not agreed (or no terminal to ask)."""
    if yes:
        return
    try:
        agreed = click.confirm(question, err=True)
    except click.Abort:
        if sys.stdin.isatty():
            raise  # Ctrl-C at the question
        err.print("", markup=False)
        err.print("no answer (no terminal): add --yes to do it without asking", markup=False)
        agreed = False
    if not agreed:
        err.print("nothing changed", markup=False)
        sys.exit(1)


def _breakdown(counts: dict[EventStatus, int]) -> str:
    shown = [f"{counts[s]:,} {s.value}" for s in EventStatus if counts.get(s)]
    return ", ".join(shown) or "none"


@webhooks.command()
@click.argument("old")
@click.argument("new")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def move(ctx: Context, old: str, new: str, yes: bool) -> None:
    """Hand the pending and given-up events of OLD (an endpoint no longer in syndicate.toml)
    to the configured endpoint NEW, in their order; only the event types NEW subscribes to.
    Given-up events stay given up (`syndicate webhooks retry NEW` sends them again)."""
    with errors():
        settings = ctx.settings
        target = _configured(settings, new)
        if target is None:
            raise click.UsageError(
                f"no webhook named {new!r} in {CONFIG_NAME}; configured: "
                f"{configured_names(settings)}"
            )
        engine = open_store(settings.database_url)
        try:
            with engine.connect() as conn:
                found = repo.summaries(conn)
            _orphan(settings, old, found)
            counts = found[old].counts
            waiting = counts.get(EventStatus.PENDING, 0) + counts.get(EventStatus.FAILED, 0)
            if not waiting:
                out.print(f"nothing to move: {old} has no pending or given-up events", markup=False)
                return
            some = "" if ALL_EVENTS in target.events else "up to "  # only the types it wants
            _agreed(f"move {some}{plural(waiting, 'event')} of {old} to {new}?", yes)
            given_up = counts.get(EventStatus.FAILED, 0)
            types = [t for t in EVENT_TYPES if target.wants(t)]
            with engine.begin() as conn:
                moved = repo.move(conn, old, new, types=types)
                left = repo.summaries(conn).get(old)
        finally:
            engine.dispose()
    them = "it" if moved == 1 else "them"
    line = f"moved {plural(moved, 'event')} from {old} to {new}: `syndicate run` sends {them}"
    if given_up:
        line += f" (given-up ones after `syndicate webhooks retry {new}`)"
    out.print(line, markup=False)
    if left is not None:
        stuck = left.counts.get(EventStatus.PENDING, 0) + left.counts.get(EventStatus.FAILED, 0)
        if stuck:
            out.print(
                f"{plural(stuck, 'event')} of types {new} does not subscribe to stayed with "
                f"{old}: `syndicate webhooks drop {old}` forgets them",
                markup=False,
            )


@webhooks.command()
@click.argument("old")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def drop(ctx: Context, old: str, yes: bool) -> None:
    """Forget every event of OLD, an endpoint no longer in syndicate.toml: its pending and
    given-up events are never sent."""
    with errors():
        settings = ctx.settings
        engine = open_store(settings.database_url)
        try:
            with engine.connect() as conn:
                found = repo.summaries(conn)
            _orphan(settings, old, found)
            counts = found[old].counts
            total = sum(counts.values())
            _agreed(f"forget {plural(total, 'event')} of {old} ({_breakdown(counts)})?", yes)
            with engine.begin() as conn:
                gone = repo.drop(conn, old)
        finally:
            engine.dispose()
    out.print(
        f"dropped {plural(sum(gone.values()), 'event')} of {old} ({_breakdown(gone)})",
        markup=False,
    )
