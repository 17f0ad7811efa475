"""Confirmation mails with ``[bounces]``: the envelope sender a real SMTP server sees is the
bounce address with a token naming the subscriber, and a hard bounce of one, taken by
``syndicate bounces import``, ends the *pending* subscription (no more confirmation mails);
forged bounces, for mails we never sent or sent long ago, change nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.delivery.outbox import OutboxSender
from syndicate.models import Source, Status
from syndicate.store import signups
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.tables import subscribers
from syndicate.subscribers.signup import Signups
from syndicate.subscribers.tokens import site_signer
from syndicate.web.render import web_env
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_feedback_intake import ADDRESS, BOUNCES, cli, dsn, maildir, status
from tests.test_outbox import transport
from tests.test_send import CONFIG, SECRET, article
from tests.test_web import WEB_CONFIG, Clock


@pytest.fixture
def mail_site(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(WEB_CONFIG + BOUNCES)
    return site


def ask(site: Site, email: str, server: SmtpServer, when: datetime) -> int:
    """A subscribe request for weekly, carried out and its confirmation mailed at ``when``:
    how many mails the outbox sent."""
    with site.engine.begin() as conn:
        signups.add(conn, email=email, name=None, lists=["weekly"], detail="web form", now=when)

    async def go() -> int:
        smtp = transport(server.port)
        try:
            prepare = Signups(
                site.settings,
                site.engine,
                signer=site_signer(site.settings),
                env=web_env(site.root),
            )
            sender = OutboxSender(site.engine, smtp, clock=Clock(when), prepare=prepare)
            return await sender.run_due()
        finally:
            await smtp.close()

    return asyncio.run(go())


def subscriber(site: Site, email: str) -> int:
    with site.engine.connect() as conn:
        return int(conn.scalar(select(subscribers.c.id).where(subscribers.c.email == email)))


def test_a_confirmation_mail_bounces_to_the_bounce_address_and_ends_the_pending_list(
    mail_site: Site, tmp_path: Path
) -> None:
    site, now = mail_site, datetime.now(UTC)
    with serve_smtp() as server:
        assert ask(site, "gone@example.org", server, now) == 1
        [mail] = server.messages
        sid = subscriber(site, "gone@example.org")
        # What the server saw: our bounce address with a confirmation token, not [email].
        local, _, domain = mail.sender.partition("@")
        assert local.startswith("bounces+c-") and domain == ADDRESS.partition("@")[2]
        assert status(site, sid) == {"weekly": Status.PENDING}
        box = maildir(
            tmp_path / "in",
            [dsn(mail.sender, "gone@example.org", "5.1.1", "550 5.1.1 user unknown")],
        )
        code, output = cli(site, "bounces", "import", str(box))
        assert code == 0 and "1 matched, 1 hard" in output, output
        assert status(site, sid) == {"weekly": Status.BOUNCED}
        with site.engine.connect() as conn:
            last = subscriber_repo.events_of(conn, sid)[-1]
        assert (last.status, last.previous, last.source) == (
            Status.BOUNCED,
            Status.PENDING,
            Source.BOUNCE,
        )
        assert last.detail is not None and last.detail.startswith("confirmation mail hard")
        # The form asks again: the bounced address gets no more confirmation mails.
        assert ask(site, "gone@example.org", server, now + timedelta(hours=1)) == 0
        assert len(server.messages) == 1


def test_forged_bounces_of_confirmation_mails_change_nothing(
    mail_site: Site, tmp_path: Path
) -> None:
    site, now = mail_site, datetime.now(UTC)
    with serve_smtp() as server:
        ask(site, "old@example.org", server, now - timedelta(days=30))  # before the window
        ask(site, "recent@example.org", server, now)
        senders = {m.recipients[0]: m.sender for m in server.messages}
    old, recent = subscriber(site, "old@example.org"), subscriber(site, "recent@example.org")
    with site.engine.begin() as conn:  # pending, but no confirmation mail ever sent
        never = subscriber_repo.insert_subscribers(
            conn,
            [
                subscriber_repo.NewSubscriber(
                    email="never@example.org", key="never@example.org", name=None, attributes=()
                )
            ],
            now=now,
        )["never@example.org"]
        subscriber_repo.apply_changes(
            conn,
            [
                subscriber_repo.Change(
                    subscriber_id=never,
                    list_name="weekly",
                    status=Status.PENDING,
                    previous=None,
                    source=Source.WEB,
                    detail="test",
                )
            ],
            now=now,
        )
    tampered = senders["recent@example.org"][: -len("@news.example.org") - 1] + "0"
    tampered = tampered if tampered != senders["recent@example.org"] else tampered[:-1] + "1"
    box = maildir(
        tmp_path / "in",
        [
            # a genuine token, but issued 30 days ago; then no token at all
            dsn(senders["old@example.org"], "old@example.org", "5.1.1", "user unknown"),
            dsn(ADDRESS, "old@example.org", "5.1.1", "user unknown"),
            # never mailed a confirmation: nothing to bounce
            dsn(ADDRESS, "never@example.org", "5.1.1", "user unknown"),
            # a tampered token naming a recent confirmation's subscriber, and a soft bounce
            dsn(tampered + "@news.example.org", "nobody@example.org", "5.1.1", "user unknown"),
            dsn(senders["recent@example.org"], "recent@example.org", "4.2.2", "mailbox full"),
        ],
    )
    code, output = cli(site, "bounces", "import", str(box))
    assert code == 0, output
    for sid in (old, recent, never):
        assert status(site, sid) == {"weekly": Status.PENDING}, output
    # No token: a confirmation was accepted for it in the window, but the address alone
    # names no mail (anyone can fill in the form, then forge this): it changes nothing.
    box = maildir(tmp_path / "in2", [dsn(ADDRESS, "recent@example.org", "5.1.1", "no such user")])
    cli(site, "bounces", "import", str(box))
    assert status(site, recent) == {"weekly": Status.PENDING}


def test_a_test_copy_goes_out_with_the_bounce_address_as_envelope_sender(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    with serve_smtp() as server:
        smtp_section = f'\n[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
        site.configure(CONFIG + BOUNCES + smtp_section)
        article(site, "first", datetime.now(UTC) - timedelta(days=1))
        code, output = cli(site, "send", "weekly", "--to", "editor@example.net")
        assert code == 0, output
        assert [(m.sender, m.recipients) for m in server.messages] == [
            (ADDRESS, ["editor@example.net"])  # a test copy names no delivery: no token
        ]
