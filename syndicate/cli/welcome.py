"""``syndicate welcome LIST``: the list's welcome mail as a new reader gets it, or test copies.

Like ``preview`` and ``send --to``: the links are inert (they lead to the test-copy pages),
the Message-ID is the copy's own, and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection

from syndicate.cli.base import (
    Context,
    emit_json,
    err,
    errors,
    main,
    now,
    out,
    pass_ctx,
    preview_output,
    write_preview,
)
from syndicate.cli.testcopy import deliver_copies, split_addresses
from syndicate.config import CONFIG_NAME, Settings
from syndicate.delivery.dkim import sign as dkim_sign
from syndicate.delivery.setup import dkim_key
from syndicate.delivery.transport import Kind
from syndicate.digest.testcopy import SAMPLE_NAME, TestCopies
from syndicate.digest.welcome import (
    WELCOME_TEMPLATES,
    latest_issue,
    load_welcome,
    render_welcome,
)
from syndicate.errors import SyndicateError
from syndicate.store import open_store
from syndicate.store import welcomes as welcome_repo
from syndicate.subscribers.address import display_address
from syndicate.text import plural

SAMPLE_EMAIL = "reader@example.org"


def welcome_problem(settings: Settings, list_name: str) -> str | None:
    """Why the list's welcome file cannot be used now (``file:line: reason``), or None
    (also for a list without a welcome)."""
    if not settings.mailing_list(list_name).welcome:
        return None
    try:
        load_welcome(settings, list_name)
    except SyndicateError as exc:
        return str(exc)
    return None


def stuck_welcomes(
    conn: Connection, settings: Settings, list_name: str | None
) -> list[dict[str, Any]]:
    """The lists whose welcomes wait behind a broken welcome file: how many, and why."""
    found = []
    for name, count in sorted(welcome_repo.waiting_counts(conn).items()):
        if list_name not in (None, name) or name not in settings.config.lists:
            continue
        problem = welcome_problem(settings, name)
        if problem is not None:
            found.append({"list": name, "waiting": count, "error": problem})
    return found


def stuck_line(doc: dict[str, Any]) -> str:
    """``status``'s line for :func:`stuck_welcomes`' entry ``doc``."""
    count = doc["waiting"]
    verb = "waits" if count == 1 else "wait"
    return (
        f"welcome: {plural(count, 'welcome mail')} of {doc['list']} {verb}: {doc['error']}; "
        f"once the file is fixed `syndicate run` sends {'it' if count == 1 else 'them'} "
        "(`syndicate check`)"
    )


@main.command()
@click.argument("list_name", metavar="LIST")
@preview_output
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="ADDRESS[,ADDRESS…]",
    help="Send a test copy to each address instead (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="With --to: print the outcome as JSON.")
@pass_ctx
def welcome(
    ctx: Context,
    list_name: str,
    fmt: str,
    out_file: Path | None,
    open_it: bool,
    to: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show LIST's welcome mail (lists.LIST.welcome) as a new reader gets it, or send test
    copies of it with --to. Its links are inert; nothing is recorded.

    \b
    Examples:
      syndicate welcome weekly --open
      syndicate welcome weekly --format text
      syndicate welcome weekly --to editor@example.org
    """
    when = now()
    with errors():
        settings = ctx.settings
        if not settings.mailing_list(list_name).welcome:
            raise SyndicateError(
                f"{CONFIG_NAME}: lists.{list_name}.welcome: not set: {list_name} sends no "
                f'welcome mail; set welcome = "welcome.md" (a Markdown file in the site folder)'
            )
        _ = settings.email  # a clear error without an [email] section, before any work
        addresses = split_addresses(to) if to else []
        mail = load_welcome(settings, list_name)
        latest = None
        if mail.latest_issue:
            engine = open_store(settings.database_url)
            try:
                with engine.connect() as conn:
                    latest = latest_issue(conn, settings, list_name)
            finally:
                engine.dispose()
        rendered = render_welcome(settings, list_name, mail, latest, now=when)
        copies = TestCopies(rendered, settings, date=when, templates=WELCOME_TEMPLATES)
        if addresses:
            key = dkim_key(settings)
            messages = []
            for address in addresses:
                data = bytes(copies.message(address, None))
                messages.append((address, dkim_sign(data, key) if key is not None else data))
            outcomes = asyncio.run(deliver_copies(settings, messages))
    if mail.latest_issue and latest is None:
        err.print(f"note: {list_name} has sent no issue yet: the welcome shows none", markup=False)
    err.print(f"subject: {rendered.subject}", markup=False)
    if addresses:
        sent = [o.kind is Kind.SENT for o in outcomes]
        if as_json:
            emit_json(
                {
                    "list": list_name,
                    "subject": rendered.subject,
                    "copies": [
                        {"to": a, "sent": ok, "code": o.code, "reply": o.reply}
                        for a, ok, o in zip(addresses, sent, outcomes, strict=True)
                    ],
                }
            )
        else:
            for address, ok, outcome in zip(addresses, sent, outcomes, strict=True):
                reply = " ".join(str(p) for p in (outcome.code, outcome.reply) if p)
                out.print(
                    f"test copy of the welcome of {list_name} to {display_address(address)}: "
                    f"{'sent' if ok else 'not sent'}" + (f" ({reply})" if reply else ""),
                    markup=False,
                )
        sys.exit(0 if all(sent) else 1)
    personal = copies.personal(SAMPLE_EMAIL, SAMPLE_NAME)
    if fmt == "html":
        data = personal.html.encode("utf-8")
    elif fmt == "text":
        data = personal.text.encode("utf-8")
    else:
        data = bytes(copies.message(SAMPLE_EMAIL, SAMPLE_NAME))
    write_preview(data, fmt, out_file, open_it=open_it, prefix="syndicate-welcome-")
