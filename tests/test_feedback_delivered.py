"""A later successful delivery resets the soft-bounce score: provider delivery events and
DSNs with ``Action: delivered``, taken once, trusted only for a copy they name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.feedback.intake import take
from syndicate.feedback.report import Feedback, Outcome
from syndicate.models import Status
from syndicate.store.tables import feedback_events
from tests.conftest import Site
from tests.test_feedback_intake import BOUNCES, cli, dsn, load, maildir, sent, status
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
