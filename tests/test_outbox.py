"""The outbox end to end: confirmation mails queued by the web app, delivered by
``OutboxSender`` to a real aiosmtpd server with injected faults, on each configured store."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy

import pytest

from syndicate.delivery.outbox import OutboxSender
from syndicate.delivery.smtp import SmtpSettings, SmtpTransport
from syndicate.delivery.transport import Outcome
from syndicate.models import Status
from syndicate.store import outbox as repo
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.outbox import OutboxStatus
from syndicate.subscribers.confirmation import ConfirmationError, build_confirmation
from syndicate.subscribers.signup import Signups
from syndicate.subscribers.tokens import Signer
from syndicate.web.render import web_env
from tests.conftest import NOW, Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_web import (
    FROM,
    SECRET,
    WEB_CONFIG,
    Clock,
    Web,
    add,
    confirm,
    confirm_paths,
    make_app,
    outbox_rows,
    status_of,
)


@pytest.fixture
def mail_site(any_site: Site) -> Site:
    any_site.configure(WEB_CONFIG)
    return any_site


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def transport(port: int) -> SmtpTransport:
    return SmtpTransport(
        SmtpSettings(
            host="127.0.0.1", port=port, security="none", username=None, password=None, timeout=5
        )
    )


def deliver(site: Site, port: int, clock: Clock, **options: timedelta) -> int:
    """One ``run_due`` through a fresh SMTP transport; how many mails were attempted."""

    async def go() -> int:
        smtp = transport(port)
        try:
            signups = Signups(
                site.settings, site.engine, signer=Signer(SECRET), env=web_env(site.root)
            )
            sender = OutboxSender(site.engine, smtp, clock=clock, prepare=signups, **options)
            return await sender.run_due()
        finally:
            await smtp.close()

    return asyncio.run(go())


def queue(site: Site, recipient: str, now: datetime = NOW) -> int:
    data = f"From: {FROM}\r\nTo: {recipient}\r\nSubject: Hi\r\n\r\nFor {recipient}\r\n".encode()
    with site.engine.begin() as conn:
        return repo.enqueue(conn, sender=FROM, recipient=recipient, data=data, now=now)


def row(site: Site, row_id: int) -> object:
    return next(r for r in outbox_rows(site) if r.id == row_id)


def test_confirmation_from_the_form_is_delivered_and_confirms(
    mail_site: Site, server: SmtpServer
) -> None:
    clock = Clock()
    calls: list[int] = []
    client = Web(make_app(mail_site, clock, on_outbox=lambda: calls.append(1)))
    try:
        form = {"email": "Ann@Example.org", "name": "Ann Lee", "list": ["weekly", "daily"]}
        assert client.post("/subscribe", data=form).status_code == 200
        assert calls == [1]  # the service is told at once
        assert deliver(mail_site, server.port, clock) == 1
        [message] = server.messages
        assert message.sender == FROM and message.recipients == ["Ann@example.org"]
        parsed = email.message_from_bytes(message.data, policy=policy.default)
        assert parsed["To"] == "Ann@example.org"  # no name typed into a public form
        assert parsed["From"] == f"Test Letter <{FROM}>"
        assert parsed["Subject"] == "Confirm your subscription to Test Letter"
        assert parsed["Auto-Submitted"] == "auto-generated"
        assert parsed["Message-ID"].endswith("@news.example.org>") and parsed["Date"]
        [sent] = outbox_rows(mail_site)
        assert (sent.status, sent.attempts, sent.last_code) == ("sent", 1, 250)
        [path] = confirm_paths(message.data)  # one link confirms both lists
        assert confirm(client, path).status_code == 200
    finally:
        client.close()
    with mail_site.engine.connect() as conn:
        found = subscriber_repo.subscriber_by_key(conn, "ann@example.org")
    assert found is not None and found.email == "Ann@example.org"
    sid = found.id
    assert status_of(mail_site, sid, "weekly") is Status.ACTIVE
    assert status_of(mail_site, sid, "daily") is Status.ACTIVE
    assert deliver(mail_site, server.port, clock) == 0  # nothing is sent twice


def test_a_4xx_is_retried_later_with_backoff(mail_site: Site, server: SmtpServer) -> None:
    clock = Clock()
    server.set_fault("*@busy.example", "rcpt-4xx")
    busy = queue(mail_site, "ann@busy.example")
    fine = queue(mail_site, "bob@example.org")
    assert deliver(mail_site, server.port, clock) == 2
    deferred = row(mail_site, busy)
    assert deferred.status == "queued" and deferred.attempts == 1  # type: ignore[attr-defined]
    assert deferred.last_code == 451  # type: ignore[attr-defined]
    wait = deferred.next_attempt_at - NOW  # type: ignore[attr-defined]
    assert timedelta(seconds=15) <= wait <= timedelta(seconds=45)  # 30 s, with jitter
    assert row(mail_site, fine).status == "sent"  # type: ignore[attr-defined]
    # Not due yet: nothing is attempted.
    assert deliver(mail_site, server.port, clock) == 0
    # Later, with the server willing again, it leaves.
    clock.advance(timedelta(minutes=1))
    with serve_smtp() as healthy:
        assert deliver(mail_site, healthy.port, clock) == 1
        assert [m.recipients for m in healthy.messages] == [["ann@busy.example"]]
    done = row(mail_site, busy)
    assert done.status == "sent" and done.attempts == 2  # type: ignore[attr-defined]


def test_a_5xx_fails_and_keeps_the_reply(mail_site: Site, server: SmtpServer) -> None:
    clock = Clock()
    server.set_fault("*@gone.example", "rcpt-5xx")
    gone = queue(mail_site, "ann@gone.example")
    assert deliver(mail_site, server.port, clock) == 1
    failed = row(mail_site, gone)
    assert failed.status == "failed" and failed.last_code == 550  # type: ignore[attr-defined]
    assert "No such user" in failed.last_reply  # type: ignore[attr-defined]
    clock.advance(timedelta(days=2))
    assert deliver(mail_site, server.port, clock) == 0
    assert server.messages == []


def test_deferred_for_longer_than_retry_for_fails(mail_site: Site, server: SmtpServer) -> None:
    clock = Clock()
    server.set_fault("*@busy.example", "data-4xx")
    busy = queue(mail_site, "ann@busy.example")
    for _ in range(30):
        deliver(mail_site, server.port, clock, retry_for=timedelta(hours=1))
        if row(mail_site, busy).status != "queued":  # type: ignore[attr-defined]
            break
        clock.now = row(mail_site, busy).next_attempt_at  # type: ignore[attr-defined]
    final = row(mail_site, busy)
    assert final.status == "failed" and final.last_code == 451  # type: ignore[attr-defined]
    assert clock.now - NOW <= timedelta(hours=1)
    assert final.attempts > 3  # type: ignore[attr-defined]


def test_a_claimed_row_is_not_sent_twice_and_comes_back_after_a_crash(
    mail_site: Site, server: SmtpServer
) -> None:
    clock = Clock()
    rid = queue(mail_site, "ann@example.org")
    with mail_site.engine.begin() as conn:  # a sender that died right after claiming it
        [claimed] = repo.claim_due(conn, now=NOW, lease_until=NOW + timedelta(minutes=10), limit=5)
    assert claimed.id == rid
    assert deliver(mail_site, server.port, clock) == 0
    clock.advance(timedelta(minutes=11))
    assert deliver(mail_site, server.port, clock) == 1
    assert len(server.messages) == 1


def test_concurrent_senders_send_each_mail_once(mail_site: Site, server: SmtpServer) -> None:
    clock = Clock()
    for n in range(30):
        queue(mail_site, f"reader{n}@example.org")

    async def go() -> list[int]:
        smtps = [transport(server.port) for _ in range(3)]
        try:
            senders = [OutboxSender(mail_site.engine, s, clock=clock, batch=7) for s in smtps]
            return await asyncio.gather(*(s.run_due() for s in senders))
        finally:
            for smtp in smtps:
                await smtp.close()

    assert sum(asyncio.run(go())) == 30
    recipients = sorted(r for m in server.messages for r in m.recipients)
    assert recipients == sorted(f"reader{n}@example.org" for n in range(30))
    with mail_site.engine.connect() as conn:
        assert repo.counts(conn) == {OutboxStatus.SENT: 30}


class Exploding:
    """A transport breaking its contract: the row must stay queued, not vanish."""

    async def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        raise RuntimeError("boom")

    async def close(self) -> None:
        return None


def test_a_transport_that_raises_leaves_the_row_queued(mail_site: Site) -> None:
    rid = queue(mail_site, "ann@example.org")
    sender = OutboxSender(mail_site.engine, Exploding(), clock=Clock())
    assert asyncio.run(sender.run_due()) == 1
    kept = row(mail_site, rid)
    assert kept.status == "queued" and "boom" in kept.last_reply  # type: ignore[attr-defined]
    assert asyncio.run(sender.next_due()) == kept.next_attempt_at  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.org\r\nBcc: eve@evil.example",
        "ann@example.org>, eve@evil.example",
        "Ann@EXAMPLE.org",  # not canonical: it never came through normalize_address
    ],
)
def test_confirmation_refuses_header_injection(mail_site: Site, address: str) -> None:
    sid = add(mail_site, "ann@example.org", {"weekly": Status.PENDING})
    with pytest.raises(ConfirmationError):
        build_confirmation(
            mail_site.settings,
            subscriber_id=sid,
            email=address,
            lists=["weekly"],
            signer=Signer(SECRET),
            now=NOW,
            env=web_env(mail_site.root),
        )


def test_site_templates_override_the_confirmation(mail_site: Site) -> None:
    folder = mail_site.root / "templates" / "web"
    folder.mkdir(parents=True)
    (folder / "confirm.txt.j2").write_text(
        "Custom: {% for link in links %}{{ link.url }}{% endfor %}\n", encoding="utf-8"
    )
    mail = build_confirmation(
        mail_site.settings,
        subscriber_id=7,
        email="ann@example.org",
        lists=["weekly"],
        signer=Signer(SECRET),
        now=NOW,
        env=web_env(mail_site.root),
    )
    parsed = email.message_from_bytes(mail.data, policy=policy.default)
    text = parsed.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content().startswith("Custom: https://news.example.org/confirm/")  # type: ignore[attr-defined]
    assert (mail.sender, mail.recipient) == (FROM, "ann@example.org")
