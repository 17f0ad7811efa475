"""Taking feedback in batches does exactly what taking it one item at a time does: the same
effects in the same order, the same subscriber states, the same consent trail and events.
The batched intake records many events per statement and looks copies up in bulk, so this
compares it with one ``take`` per item, over a mix built to hit every rule: soft bounces of
one reader across sends (scored, reset by a clean copy), hard bounces and complaints after
them, forged tokens, copies we never made, addresses, duplicates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from syndicate.feedback.intake import take
from syndicate.feedback.report import Feedback, Outcome
from syndicate.store.tables import (
    deliveries,
    digests,
    feedback_events,
    sends,
    subscription_events,
    subscriptions,
)
from syndicate.subscribers.tokens import site_signer
from syndicate.subscribers.verp import site_verp
from tests.conftest import Site
from tests.test_feedback_intake import BOUNCES, SECRET, load
from tests.test_send import CONFIG

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
READERS = [f"r{i}@example.org" for i in range(8)]
# send id → when its copies were sent: old ones are settled (a clean copy resets scores)
SENT = {1: NOW - timedelta(days=20), 2: NOW - timedelta(days=9), 3: NOW - timedelta(days=1)}


def build(site: Site) -> None:
    site.configure(CONFIG + BOUNCES)
    ids = load(site, READERS)
    assert sorted(ids.values()) == list(range(1, len(READERS) + 1))
    with site.engine.begin() as conn:
        for send, at in SENT.items():
            conn.execute(
                insert(digests).values(
                    id=f"weekly-{send}",
                    list_name="weekly",
                    issue=send,
                    created_at=at,
                    sent_at=at,
                    article_ids="[]",
                )
            )
            conn.execute(
                insert(sends).values(
                    id=send,
                    list_name="weekly",
                    digest_id=f"weekly-{send}",
                    status="done",
                    created_at=at,
                    finished_at=at,
                )
            )
            conn.execute(
                insert(deliveries),
                [
                    {
                        "send_id": send,
                        "subscriber_id": sub,
                        "variant": "[]",
                        "status": "sent" if (send + sub) % 5 else "failed",
                        "attempts": 1,
                        "next_attempt_at": at,
                        "updated_at": at,
                    }
                    for sub in ids.values()
                    if (send, sub) != (3, 8)  # a copy never made: its token names nothing
                ],
            )


def items(site: Site, count: int, seed: int) -> list[Feedback]:
    verp = site_verp(site.settings, site_signer(site.settings))
    assert verp is not None
    rng = random.Random(seed)
    outcomes = [Outcome.SOFT] * 5 + [Outcome.HARD, Outcome.OURS, Outcome.DELAYED]
    outcomes += [Outcome.COMPLAINT, Outcome.AUTOREPLY, Outcome.DELIVERED]
    out: list[Feedback] = []
    for i in range(count):
        sub = rng.randint(1, len(READERS))
        send = rng.choice(list(SENT))
        how = rng.random()
        token = verp.token(send, sub) if how < 0.7 else None
        if 0.7 <= how < 0.75:
            token = verp.token(send, sub)[:-4] + "0000"  # tampered
        item = Feedback(
            outcome=rng.choice(outcomes),
            source=rng.choice(["dsn", "arf", "flufl"]),
            event_id=f"mail:{i if rng.random() < 0.9 else 0}:0",  # some duplicates
            recipient=READERS[sub - 1] if how < 0.9 else "stranger@example.net",
            status="5.2.2",
            diagnostic=f"item {i}",
            token=token,
            message_id=f"<weekly-{send}.{sub}@news.example.org>" if 0.8 < how < 0.9 else None,
        )
        out.append(item)
    return out


def state(site: Site) -> dict[str, Any]:
    with site.engine.connect() as conn:
        f, e, s = feedback_events.c, subscription_events.c, subscriptions.c
        return {
            "events": conn.execute(
                select(*[c for c in feedback_events.c if c.name != "id"]).order_by(f.event_id)
            ).all(),
            "trail": conn.execute(
                select(
                    e.subscriber_id, e.list_name, e.status, e.previous, e.source, e.detail
                ).order_by(e.id)
            ).all(),
            "subscriptions": conn.execute(
                select(s.subscriber_id, s.list_name, s.status).order_by(s.subscriber_id)
            ).all(),
        }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_batch_does_what_one_item_at_a_time_does(
    any_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    alone = Site(tmp_path / "alone", f"sqlite:///{tmp_path / 'alone.db'}")
    try:
        for site in (any_site, alone):
            build(site)
        feedback = items(any_site, 300, seed)
        batched = take(any_site.engine, any_site.settings, feedback, trusted=False, now=NOW)
        singles = [
            t
            for item in feedback
            for t in take(alone.engine, alone.settings, [item], trusted=False, now=NOW).taken
        ]
        assert [(t.item, t.match, t.effect) for t in batched.taken] == [
            (t.item, t.match, t.effect) for t in singles
        ]
        effects = {t.effect or "" for t in singles}
        assert any(e.startswith("soft bounce 2 of 3") for e in effects)  # scored, in order
        assert any(e.startswith("bounced on") for e in effects)
        assert any(e.startswith("complained on") for e in effects)
        assert any(e.startswith("not trusted") for e in effects)
        assert "unmatched" in effects and "" in effects  # duplicates: nothing done
        assert state(any_site) == state(alone)
    finally:
        alone.close()
