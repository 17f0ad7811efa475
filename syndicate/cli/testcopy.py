"""Test copies (``syndicate send LIST --to ADDRESS``) and the recipient of a preview.

A test copy is the version of the next digest that readers of ``--topics`` get (default:
the whole digest), sent to each ``--to`` address through the site's transport, with inert
links and its own Message-ID (:mod:`syndicate.digest.testcopy`). Nothing is recorded: the
real send afterwards still goes to everyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from syndicate.cli.base import err, out
from syndicate.cli.plan import topics_label
from syndicate.cli.post import preview_post
from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.delivery.dkim import sign as dkim_sign
from syndicate.delivery.setup import dkim_key, make_transport
from syndicate.delivery.transport import Kind, Outcome
from syndicate.digest.note import Note, load_note
from syndicate.digest.prepare import prepare
from syndicate.digest.render import render_digest
from syndicate.digest.testcopy import TestCopies
from syndicate.errors import SyndicateError
from syndicate.models import Digest, Status
from syndicate.store import open_store
from syndicate.store import subscribers as subscriber_repo
from syndicate.subscribers.address import AddressError, display_address, normalize_address
from syndicate.text import plural


def split_addresses(values: Sequence[str]) -> list[str]:
    """Every address of the ``--to`` options (repeated and/or comma-separated), checked and
    normalized, duplicates dropped; SyndicateError naming every bad one before any is sent."""
    found: dict[str, str] = {}
    bad: list[str] = []
    for value in values:
        for raw in value.split(","):
            if not raw.strip():
                continue
            try:
                address = normalize_address(raw)
            except AddressError as exc:
                bad.append(f"--to {raw.strip()!r}: {exc}")
                continue
            found.setdefault(address.key, address.email)
    if bad:
        raise SyndicateError("; ".join(bad) + "; no test copy was sent")
    if not found:
        raise SyndicateError("--to: no address given; no test copy was sent")
    return list(found.values())


def parse_topics(text: str) -> frozenset[str]:
    """``--topics a,b``: the topic set (case-folded); empty for the whole digest."""
    return frozenset(t.strip().casefold() for t in text.split(",") if t.strip())


def warn_unoffered(settings: Settings, list_name: str, topics: frozenset[str]) -> None:
    """Say which of ``--topics`` the list does not offer (its ``tags``): most likely a typo,
    and a version nobody on the list is offered. Lists without tags offer any topic."""
    offered = {t.casefold() for t in settings.mailing_list(list_name).tags}
    if not offered:
        return
    for topic in sorted(topics - offered):
        err.print(
            f"warning: {list_name} offers no topic {topic!r} "
            f"(its topics: {', '.join(sorted(offered))})",
            markup=False,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reader:
    """Whose version a preview shows: their address, name and topics."""

    email: str
    name: str | None
    topics: frozenset[str]


def reader_of(engine: Engine, list_name: str, address: str) -> Reader:
    """The subscriber ``address`` of ``list_name`` (``preview --as``); SyndicateError when
    they are not on the list. A reader who is not active is shown with a warning."""
    try:
        key = normalize_address(address).key
    except AddressError as exc:
        raise SyndicateError(f"--as {address!r}: {exc}") from None
    with engine.connect() as conn:
        sub = subscriber_repo.subscriber_by_key(conn, key, list_name)
        status = subscriber_repo.subscriptions_of(conn, sub.id).get(list_name) if sub else None
    if sub is None or status is None:
        raise SyndicateError(
            f"--as {address}: not a subscriber of {list_name} "
            f"(see `syndicate subscribers list {list_name}`)"
        )
    if status is not Status.ACTIVE:
        err.print(
            f"warning: {display_address(sub.email)} is {status.value} on {list_name}: "
            "they get no digest",
            markup=False,
        )
    return Reader(
        email=sub.email, name=sub.name, topics=frozenset(t.casefold() for t in sub.topics)
    )


def describe(digest: Digest, topics: frozenset[str]) -> str:
    """``weekly-3 (topics: trade; 2 articles)``: which version a copy shows."""
    label = ", ".join(sorted(topics)) or "all topics"
    return f"{digest.id} ({label}; {plural(len(digest.articles), 'article')})"


def send_test_copies(
    settings: Settings,
    list_name: str,
    *,
    to: Sequence[str],
    topics: str,
    note_file: Path | None,
    offline: bool,
    when: datetime,
    article_id: str | None = None,
) -> int:
    """Send one test copy of the list's next digest to each address; the exit status
    (0 when every copy was accepted). ``article_id`` (or a post list): the post instead."""
    addresses = split_addresses(to)
    wanted = parse_topics(topics)
    warn_unoffered(settings, list_name, wanted)
    note: Note | None = None
    if note_file is not None:
        note = load_note(note_file, base_url=settings.publication.base_url)
    engine = open_store(settings.database_url)
    try:
        read = read_site(settings, engine, now=when, offline=offline)
        post = preview_post(
            settings, engine, list_name, read, article_id=article_id, wanted=wanted, now=when
        )
        if post is not None:
            prepared, said_first = post
            if said_first is not None:
                err.print(f"note: {said_first}", markup=False)
        else:
            prepared = prepare(
                settings, engine, list_name, read.articles, now=when, extra_topics=[wanted]
            )
    finally:
        engine.dispose()
    digest = prepared.digests[wanted]
    rendered = render_digest(digest, settings, note=note)
    if not digest.articles:
        said = (  # the list may well have news: only not for these topics
            f"this version has no article; {topics_label(wanted)} get nothing"
            if prepared.fresh
            else f"nothing is new for {list_name}; readers would get no digest"
        )
        err.print(
            f"note: {said} (unless send_empty = true). Sending the test copy anyway.",
            markup=False,
        )
    for warning in rendered.warnings:
        err.print(f"warning: {warning}", markup=False)
    copies = TestCopies(rendered, settings, date=when)
    key = dkim_key(settings)
    messages = []
    for address in addresses:
        data = copies.message(address, None)
        messages.append((address, dkim_sign(data, key) if key is not None else bytes(data)))
    outcomes = asyncio.run(deliver_copies(settings, messages))
    err.print(f"subject: {rendered.subject}", markup=False)
    for address, outcome in zip(addresses, outcomes, strict=True):
        reply = " ".join(str(p) for p in (outcome.code, outcome.reply) if p)
        out.print(
            f"test copy of {describe(digest, wanted)} to {display_address(address)}: "
            f"{'sent' if outcome.kind is Kind.SENT else 'not sent'}"  # test copies: no retry
            + (f" ({reply})" if reply else ""),
            markup=False,
        )
    return 0 if all(o.kind is Kind.SENT for o in outcomes) else 1


async def deliver_copies(
    settings: Settings, messages: Sequence[tuple[str, bytes]]
) -> list[Outcome]:
    """Send each (address, message) once through the site's transport; the outcomes."""
    # With [bounces], a test copy's bounce goes to the bounce address too (listed by
    # `bounces list`, unmatched: a test copy names no delivery), not the editor's inbox.
    bounces = settings.config.bounces
    envelope = bounces.address if bounces is not None else settings.email.from_address
    transport = make_transport(settings, connections=1)
    try:
        return [await transport.send(envelope, to, data) for to, data in messages]
    finally:
        await transport.close()
