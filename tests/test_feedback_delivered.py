"""A later successful delivery resets the soft-bounce score: provider delivery events and
DSNs with ``Action: delivered``, taken once, trusted only for a copy they name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from syndicate.feedback.intake import take
from syndicate.feedback.report import Feedback, Outcome
from syndicate.models import Status
from syndicate.store import feedback as feedback_repo
from syndicate.store.tables import deliveries, feedback_events, sends
from syndicate.subscribers.tokens import site_signer
from syndicate.subscribers.verp import Verp
from tests.conftest import Site
from tests.test_feedback_intake import ADDRESS, BOUNCES, cli, dsn, load, maildir, sent, status
from tests.test_send import CONFIG, SECRET

__all__ = ["sent"]  # the fixture, used by name below


def test_a_provider_confirmed_delivery_resets_the_soft_score(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    sid = load(site, ["soft@example.org"])["soft@example.org"]
    start = datetime.now(UTC) - timedelta(days=20)

    def event(day: int, outcome: Outcome) -> int:
        item = Feedback(
            outcome=outcome, source="ses", event_id=f"e{day}", recipient="soft@example.org"
        )
        result = take(
            site.engine, site.settings, [item], trusted=True, now=start + timedelta(days=day)
        )
        return result.new

    event(0, Outcome.SOFT)
    event(1, Outcome.SOFT)
    assert event(2, Outcome.DELIVERED) == 1
    event(3, Outcome.SOFT)
    event(4, Outcome.SOFT)
    assert status(site, sid) == {"weekly": Status.ACTIVE}  # two since the delivery, not four
    assert event(2, Outcome.DELIVERED) == 0  # the same event again: taken once, nothing done
    event(5, Outcome.SOFT)
    assert status(site, sid) == {"weekly": Status.BOUNCED}


def delivered(to: str, recipient: str) -> bytes:
    return dsn(to, recipient, "2.0.0", "250 2.0.0 OK").replace(
        b"Action: failed", b"Action: delivered"
    )


def test_a_delivered_dsn_counts_for_the_copy_its_token_names_only(
    sent: tuple[Site, dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    site, senders, ids = sent
    box = maildir(
        tmp_path / "in",
        [
            delivered(senders["r0@example.org"], "r0@example.org"),  # our VERP return path
            delivered("bounces@news.example.org", "r1@example.org"),  # anyone could send it
        ],
    )
    code, output = cli(site, "bounces", "import", str(box))
    assert code == 0 and "2 deliveries confirmed" in output, output
    with site.engine.connect() as conn:
        rows = conn.execute(
            select(feedback_events.c.subscriber_id, feedback_events.c.counts).where(
                feedback_events.c.outcome == "delivered"
            )
        ).all()
    assert sorted(rows) == sorted([(ids["r0@example.org"], True), (ids["r1@example.org"], False)])
    code, again = cli(site, "bounces", "import", str(box))
    assert "2 already imported" in again
    _, listing = cli(site, "bounces", "list")
    assert "delivered" not in listing  # one per copy: not listed among the bounces


def test_a_late_soft_bounce_of_an_older_send_does_not_count_after_a_delivery(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    sid = load(site, ["late@example.org"])["late@example.org"]
    start = datetime.now(UTC) - timedelta(days=10)
    with site.engine.begin() as conn:
        copies = []
        for n in (1, 2):
            send = conn.execute(
                insert(sends).values(
                    list_name="weekly", digest_id=f"weekly-{n}", status="done", created_at=start
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(deliveries).values(
                    send_id=send,
                    subscriber_id=sid,
                    variant="[]",
                    status="sent",
                    attempts=1,
                    next_attempt_at=start,
                    updated_at=start + timedelta(days=n),
                )
            )
            copies.append(send)
    verp = Verp(site_signer(site.settings), ADDRESS)

    def take_one(name: str, outcome: Outcome, send: int, day: int) -> None:
        item = Feedback(outcome=outcome, source="dsn", event_id=name, token=verp.token(send, sid))
        take(site.engine, site.settings, [item], trusted=False, now=start + timedelta(days=day))

    take_one("d2", Outcome.DELIVERED, copies[1], 3)
    take_one("s1", Outcome.SOFT, copies[0], 4)  # of the older send, however late: no
    take_one("s2", Outcome.SOFT, copies[1], 4)  # the same send, bounced after acceptance
    with site.engine.connect() as conn:
        score = feedback_repo.soft_score(
            conn, sid, since=start, settled_before=start - timedelta(days=1)
        )
    assert score == 1
