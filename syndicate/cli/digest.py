"""``syndicate preview``: the next digest of a list, exactly as it would be sent."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from sqlalchemy import Engine

from syndicate.cli.base import Context, err, errors, main, now, pass_ctx
from syndicate.cli.plan import plan_lines, topics_label
from syndicate.content.reader import read_site
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.message import mail_host, message_id
from syndicate.digest.personalize import Personalizer, Recipient
from syndicate.digest.plan import make_plan
from syndicate.digest.prepare import prepare
from syndicate.digest.render import render_digest
from syndicate.digest.wire import WireTemplate
from syndicate.models import Status
from syndicate.store import open_store
from syndicate.store import subscribers as subscriber_repo
from syndicate.subscribers.tokens import site_signer

SAMPLE = Recipient(subscriber_id=1, email="reader@example.org", name="Sample Reader")


@main.command()
@click.argument("list_name", metavar="LIST")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "text", "eml"]),
    default="html",
    show_default=True,
    help="HTML part, text part, or the whole RFC 5322 message.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of stdout.",
)
@click.option("--open", "open_it", is_flag=True, help="Open the result in a browser / mail app.")
@click.option("--topics", default="", help="Preview the version for these topics (a,b).")
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
@pass_ctx
def preview(
    ctx: Context,
    list_name: str,
    fmt: str,
    out_file: Path | None,
    open_it: bool,
    topics: str,
    offline: bool,
) -> None:
    """Render LIST's next digest for a sample recipient. Sends nothing, records nothing.

    The sample recipient is the list's first active subscriber, if it has one.

    \b
    Examples:
      syndicate preview weekly --open
      syndicate preview weekly --format eml --out next.eml
      syndicate preview weekly --format text --topics trade
    """
    when = now()
    with errors():
        settings = ctx.settings
        settings.mailing_list(list_name)
        signer = site_signer(settings)
        engine = open_store(settings.database_url)
        try:
            recipient, their_topics = _sample(engine, list_name)
            wanted = frozenset(t.strip().casefold() for t in topics.split(",") if t.strip())
            wanted = wanted or their_topics
            articles = read_site(settings, engine, now=when, offline=offline).articles
            prepared = prepare(
                settings, engine, list_name, articles, now=when, extra_topics=[wanted]
            )
        finally:
            engine.dispose()
        digest = prepared.digests[wanted]
        rendered = render_digest(digest, settings)
        filler = Personalizer(
            rendered, list_name=list_name, web_url=settings.web_url, signer=signer, now=when
        )
        personal = filler.fill(recipient)
        if fmt == "html":
            data = personal.html.encode("utf-8")
        elif fmt == "text":
            data = personal.text.encode("utf-8")
        else:
            # The same bytes a send would hand to the server.
            wire = WireTemplate(rendered, filler, settings=settings, list_name=list_name, date=when)
            data = wire.message(
                recipient, message_id(digest, recipient.subscriber_id, mail_host(settings))
            )
    for line in plan_lines(make_plan(settings, list_name, prepared)):  # as `send --dry-run`
        err.print(line, markup=False)
    if not digest.articles:
        err.print(
            f"note: this version has no article; {topics_label(wanted)} get nothing "
            "(unless send_empty = true)",
            markup=False,
        )
    for warning in rendered.warnings:
        err.print(f"warning: {warning}", markup=False)
    err.print(f"subject: {rendered.subject}", markup=False)
    if out_file is None and open_it:
        suffix = {"html": ".html", "text": ".txt", "eml": ".eml"}[fmt]
        out_file = Path(tempfile.mkstemp(prefix="syndicate-preview-", suffix=suffix)[1])
    if out_file is None:
        sys.stdout.buffer.write(data)
        return
    out_file.write_bytes(data)
    err.print(f"wrote {out_file}", markup=False)
    if open_it:
        click.launch(str(out_file))


def _sample(engine: Engine, list_name: str) -> tuple[Recipient, frozenset[str]]:
    """The list's first active subscriber and their topics, else a made-up reader."""
    with engine.connect() as conn:
        for sub, _ in subscriber_repo.iter_list(conn, list_name, Status.ACTIVE):
            recipient = Recipient(subscriber_id=sub.id, email=sub.email, name=sub.name)
            return recipient, frozenset(t.casefold() for t in sub.topics)
    return SAMPLE, EVERYTHING
