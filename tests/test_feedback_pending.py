"""Pending subscriptions change only by a bounce of the confirmation mail itself.

Anyone can mail the bounce address a DSN naming an address, and anyone can fill in the
form for someone else's address (which mails a confirmation): a bounce that names only
the address must leave a pending subscription pending, from every intake (a Maildir
import, and a provider's verified event, ``trusted``). Only the confirmation mail's signed
return path or its unguessable Message-ID may end it; a digest copy's bounce ends the lists
being mailed, never the pending ones (they got no copy).
"""

from __future__ import annotations

import email
from datetime import UTC, datetime
from pathlib import Path

from syndicate.feedback.intake import take
from syndicate.feedback.report import Feedback, Outcome
from syndicate.models import Source, Status
from syndicate.store import subscribers as subscriber_repo
from tests.conftest import Site
from tests.smtpserver import serve_smtp
from tests.test_feedback_confirmation import ask, mail_site, subscriber
from tests.test_feedback_intake import ADDRESS, cli, dsn, maildir, status

__all__ = ["mail_site"]  # the fixture


def hard(event_id: str, who: str, message_id: str | None = None) -> Feedback:
    return Feedback(
        outcome=Outcome.HARD,
        source="ses",
        event_id=event_id,
        recipient=who,
        status="5.1.1",
        diagnostic="user unknown",
        message_id=message_id,
    )


def pending(site: Site, who: str, list_name: str, *, status: Status = Status.PENDING) -> int:
    """A subscriber on ``list_name`` with ``status``, never mailed anything."""
    now = datetime.now(UTC)
    with site.engine.begin() as conn:
        known = subscriber_repo.subscriber_by_key(conn, who)
        if known is not None:
            sid = known.id
        else:
            sid = subscriber_repo.insert_subscribers(
                conn,
                [subscriber_repo.NewSubscriber(email=who, key=who, name=None, attributes=())],
                now=now,
            )[who]
        subscriber_repo.apply_changes(
            conn,
            [
                subscriber_repo.Change(
                    subscriber_id=sid,
                    list_name=list_name,
                    status=status,
                    previous=None,
                    source=Source.WEB,
                    detail="test",
                )
            ],
            now=now,
        )
    return sid


def test_a_bounce_naming_only_the_address_leaves_a_pending_subscription_pending(
    mail_site: Site, tmp_path: Path
) -> None:
    site, now = mail_site, datetime.now(UTC)
    with serve_smtp() as server:
        ask(site, "victim@example.org", server, now)  # someone filled in the form for them
        [mail] = server.messages
    victim = subscriber(site, "victim@example.org")
    never = pending(site, "never@example.org", "weekly")
    # Forged DSNs to the bare bounce address (no token, no Message-ID of ours).
    box = maildir(
        tmp_path / "in",
        [
            dsn(ADDRESS, "victim@example.org", "5.1.1", "user unknown"),
            dsn(ADDRESS, "never@example.org", "5.1.1", "user unknown"),
        ],
    )
    code, output = cli(site, "bounces", "import", str(box))
    assert code == 0, output
    assert status(site, victim) == {"weekly": Status.PENDING}, output
    assert status(site, never) == {"weekly": Status.PENDING}, output
    # A provider's verified event that names only the address: no mail it refers to.
    for n, who in enumerate(("victim@example.org", "never@example.org")):
        result = take(site.engine, site.settings, [hard(f"p{n}", who)], trusted=True)
        assert result.taken[0].effect is not None
        assert "pending" in result.taken[0].effect, result.taken[0].effect
    assert status(site, victim) == {"weekly": Status.PENDING}
    assert status(site, never) == {"weekly": Status.PENDING}
    # The same provider event carrying the confirmation mail's own Message-ID acts.
    message_id = email.message_from_bytes(mail.data)["Message-ID"]
    assert message_id and message_id.strip().startswith("<confirm.")
    take(
        site.engine,
        site.settings,
        [hard("p9", "victim@example.org", message_id.strip())],
        trusted=True,
    )
    assert status(site, victim) == {"weekly": Status.BOUNCED}


def test_a_copy_bounce_ends_the_lists_being_mailed_not_the_pending_ones(
    mail_site: Site,
) -> None:
    site = mail_site
    sid = pending(site, "both@example.org", "weekly", status=Status.ACTIVE)
    pending(site, "both@example.org", "daily")
    result = take(site.engine, site.settings, [hard("b1", "both@example.org")], trusted=True)
    assert result.taken[0].effect == "bounced on weekly", result.taken[0].effect
    assert status(site, sid) == {"weekly": Status.BOUNCED, "daily": Status.PENDING}
