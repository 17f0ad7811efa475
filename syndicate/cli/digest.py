"""``syndicate preview``: the next digest of a list, exactly as it would be sent."""

from __future__ import annotations

from pathlib import Path

import click

from syndicate.cli.base import (
    Context,
    err,
    errors,
    main,
    now,
    pass_ctx,
    preview_output,
    write_preview,
)
from syndicate.cli.plan import plan_lines, topics_label
from syndicate.cli.post import preview_post
from syndicate.cli.testcopy import Reader, describe, parse_topics, reader_of, warn_unoffered
from syndicate.content.reader import read_site
from syndicate.digest.note import Note, load_note
from syndicate.digest.plan import make_plan
from syndicate.digest.prepare import prepare
from syndicate.digest.render import render_digest
from syndicate.digest.testcopy import SAMPLE_NAME, TestCopies
from syndicate.store import open_store
from syndicate.subscribers.address import display_address

SAMPLE = Reader(email="reader@example.org", name=SAMPLE_NAME, topics=frozenset())


@main.command()
@click.argument("list_name", metavar="LIST")
@preview_output
@click.option("--topics", default="", help="Preview the version for these topics (a,b).")
@click.option(
    "--as",
    "as_email",
    default=None,
    metavar="EMAIL",
    help="Preview the version this subscriber gets (their topics and name; links inert).",
)
@click.option(
    "--note",
    "note_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An editor's note (Markdown) shown at the top of the issue.",
)
@click.option(
    "--article",
    "article_id",
    default=None,
    metavar="ID",
    help="Preview this article mailed on its own (as `send --article ID` sends it).",
)
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
@pass_ctx
def preview(
    ctx: Context,
    list_name: str,
    fmt: str,
    out_file: Path | None,
    open_it: bool,
    topics: str,
    as_email: str | None,
    note_file: Path | None,
    article_id: str | None,
    offline: bool,
) -> None:
    """Render LIST's next digest as a reader would get it. Sends nothing, records nothing.

    The preview shows the whole digest for a sample reader; --as shows the version a
    subscriber gets (their topics, their name). Its links are inert (they lead to a page
    saying this is a test copy) and its Message-ID is its own.

    \b
    Examples:
      syndicate preview weekly --open
      syndicate preview weekly --format eml --out next.eml
      syndicate preview weekly --format text --topics trade
      syndicate preview weekly --as ada@example.org --note note.md
      syndicate preview weekly --article kazakhstan-mediator --format text

    A list with mode = "post" previews the first article its next run mails.
    """
    when = now()
    with errors():
        settings = ctx.settings
        settings.mailing_list(list_name)
        note: Note | None = None
        if note_file is not None:
            note = load_note(note_file, base_url=settings.publication.base_url)
        engine = open_store(settings.database_url)
        try:
            reader = SAMPLE if as_email is None else reader_of(engine, list_name, as_email)
            warn_unoffered(settings, list_name, parse_topics(topics))
            wanted = parse_topics(topics) or reader.topics
            read = read_site(settings, engine, now=when, offline=offline)
            post = preview_post(
                settings, engine, list_name, read, article_id=article_id, wanted=wanted, now=when
            )
            said = post[1] if post is not None else None
            prepared = post[0] if post is not None else None
            if prepared is None:
                prepared = prepare(
                    settings, engine, list_name, read.articles, now=when, extra_topics=[wanted]
                )
        finally:
            engine.dispose()
        digest = prepared.digests[wanted]
        rendered = render_digest(digest, settings, note=note)
        copies = TestCopies(rendered, settings, date=when)
        personal = copies.personal(reader.email, reader.name)
        if fmt == "html":
            data = personal.html.encode("utf-8")
        elif fmt == "text":
            data = personal.text.encode("utf-8")
        else:
            data = bytes(copies.message(reader.email, reader.name))  # what a send would write
    for line in plan_lines(make_plan(settings, list_name, prepared)):  # as `send --dry-run`
        err.print(line, markup=False)
    if said is not None:
        err.print(f"note: {said}", markup=False)
    if not digest.articles:
        err.print(
            f"note: this version has no article; {topics_label(wanted)} get nothing "
            "(unless send_empty = true)",
            markup=False,
        )
    for warning in rendered.warnings:
        err.print(f"warning: {warning}", markup=False)
    err.print(f"subject: {rendered.subject}", markup=False)
    err.print(
        f"version: {describe(digest, wanted)} as {display_address(reader.email)}", markup=False
    )
    write_preview(data, fmt, out_file, open_it=open_it, prefix="syndicate-preview-")
