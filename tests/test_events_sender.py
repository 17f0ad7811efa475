"""Outgoing webhooks, the sending half, against a real local HTTP receiver that checks every
signature with its own implementation of the Standard Webhooks scheme: retries with backoff
while the receiver is down or failing, order per subscriber, leases that keep two senders
from sending one event twice, and receivers that answer badly. SQLite and PostgreSQL; time
is injected (no sleeping through backoff)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook as ReferenceWebhook

from syndicate.config.webhooks import new_secret
from syndicate.events import record
from syndicate.events.retry import backoff, retry_at
from syndicate.events.sender import READ_LIMIT, WebhookSender
from syndicate.events.signing import Signer
from syndicate.store import open_store
from syndicate.store import webhook_outbox as outbox
from syndicate.store import webhooks as repo
from syndicate.store.webhooks import EventStatus
from tests.conftest import NOW, Site
from tests.test_web import Clock
from tests.webhookreceiver import Receiver, verify

SECRET = new_secret()
ENV = {"TEST_HOOK_SECRET": SECRET, "TEST_OTHER_SECRET": SECRET}


def hook_config(name: str, url: str, *, timeout: float = 5, retry_for: int = 86_400) -> str:
    return (
        f'\n[[webhooks]]\nname = "{name}"\nurl = "{url}"\nevents = ["*"]\n'
        f'secret_env = "TEST_HOOK_SECRET"\ntimeout = {timeout}\nretry_for = {retry_for}\n'
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SECRET) as running:
        yield running


def confirmed(site: Site, who: str, n: int, *, at: datetime = NOW) -> None:
    """Record one ``subscriber.confirmed`` event for subscriber ``who`` (its ``n``-th)."""
    data = {"subscriber": {"id": who, "email": f"{who}@example.org"}, "n": n}
    with site.engine.begin() as conn:
        record(
            conn,
            site.settings.config.webhooks,
            "subscriber.confirmed",
            data,
            key=f"subscriber:{who}",
            now=at,
        )


def sender(site: Site, clock: Clock, **options: object) -> WebhookSender:
    return WebhookSender(
        site.settings.config.webhooks,
        site.engine,
        clock=clock,
        environ=ENV,
        draw=lambda: 0.5,  # no jitter: the schedule as documented
        **options,  # type: ignore[arg-type]
    )


def drain(site: Site, clock: Clock, *, rounds: int = 200, until: datetime | None = None) -> int:
    """Rounds of one sender, moving the clock to each next due event, until nothing is
    pending (or the clock would pass ``until``); how many rounds ran."""

    async def go() -> int:
        send = sender(site, clock)
        try:
            for done in range(rounds):
                report = await send.run_round()
                if report.claimed:
                    continue
                due = await asyncio.to_thread(send.next_due)
                if due is None or (until is not None and due > until):
                    return done
                clock.now = max(clock.now, due)
            raise AssertionError(f"still pending after {rounds} rounds")
        finally:
            await send.aclose()

    return asyncio.run(go())


def statuses(site: Site) -> list[tuple[str, EventStatus, int]]:
    with site.engine.connect() as conn:
        found = outbox.iter_events(conn)
        return sorted((json.loads(r.body)["data"]["n"], r.status, r.attempts) for r in found)  # type: ignore[misc]


def rows(site: Site) -> list[repo.EventRow]:
    with site.engine.connect() as conn:
        return sorted(outbox.iter_events(conn), key=lambda r: r.id)


# --- signing ------------------------------------------------------------------------------------


def test_signatures_match_the_specifications_example() -> None:
    # The example of the Standard Webhooks specification (and Svix's documentation).
    signer = Signer("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    at = datetime.fromtimestamp(1614265330, UTC)
    headers = signer.headers("msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', at=at)
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_each_event_arrives_signed_with_its_id_and_the_attempts_time(
    any_site: Site, receiver: Receiver
) -> None:
    any_site.configure(hook_config("crm", receiver.url))
    confirmed(any_site, "ann", 1)
    confirmed(any_site, "bob", 1)
    clock = Clock(NOW + timedelta(seconds=7))
    drain(any_site, clock)
    stored = {r.message_id: r for r in rows(any_site)}
    assert len(receiver.accepted) == 2 and not receiver.bad
    for got in receiver.accepted:
        row = stored[got.message_id]
        assert got.body == row.body.encode()  # the stored payload, byte for byte
        assert got.timestamp == int((NOW + timedelta(seconds=7)).timestamp())
        assert got.headers["content-type"] == "application/json"
        assert got.headers["user-agent"].startswith("syndicate/")
        assert got.event["type"] == "subscriber.confirmed"
        assert got.event["timestamp"] == "2026-11-27T09:00:00Z"
        assert row.status is EventStatus.DELIVERED and row.last_code == 204
    assert {r.message_id for r in receiver.accepted} == set(stored)


def test_the_reference_library_accepts_what_is_sent(site: Site, receiver: Receiver) -> None:
    site.configure(hook_config("crm", receiver.url))
    now = datetime.now(UTC)
    confirmed(site, "cy", 1, at=now)
    drain(site, Clock(now))
    (got,) = receiver.accepted
    # Its verify() also checks the timestamp against the real clock (5 minutes' tolerance).
    doc = ReferenceWebhook(SECRET).verify(got.body, got.headers)
    assert doc["data"]["subscriber"]["id"] == "cy"
    forged = {**got.headers, "webhook-id": "msg_other"}
    with pytest.raises(AssertionError):
        verify(SECRET, forged, got.body)
    wrong_key = base64.b64encode(b"k" * 32).decode()
    with pytest.raises(AssertionError):
        verify(f"whsec_{wrong_key}", got.headers, got.body)


# --- a receiver that is down for a while ---------------------------------------------------------


def test_a_receiver_down_then_failing_gets_every_event_once_back_in_order(
    any_site: Site, receiver: Receiver
) -> None:
    any_site.configure(hook_config("crm", receiver.url))
    receiver.down()  # connections refused
    people = ["ann", "bob", "cy"]
    for n in range(1, 4):
        for who in people:
            confirmed(any_site, who, n)
    clock = Clock()
    drain(any_site, clock, until=NOW + timedelta(minutes=10))
    assert receiver.requests == []
    tried = [r for r in rows(any_site) if r.attempts]
    assert tried and all(r.last_code is None for r in tried)
    assert "ConnectError" in (tried[0].last_error or "")
    receiver.up()  # listening again, but every request fails
    receiver.mode = "fail"
    drain(any_site, clock, until=clock.now + timedelta(hours=2))
    assert receiver.requests and receiver.accepted == []
    assert {r.last_code for r in rows(any_site) if r.attempts} >= {500}
    assert all(r.status is EventStatus.PENDING for r in rows(any_site))
    receiver.mode = "ok"
    drain(any_site, clock)
    got = receiver.accepted
    assert len(got) == 9 and len({d.message_id for d in got}) == 9  # each once
    for who in people:  # in order per subscriber
        mine = [d.event["data"]["n"] for d in got if d.event["data"]["subscriber"]["id"] == who]
        assert mine == [1, 2, 3]
    assert all(r.status is EventStatus.DELIVERED for r in rows(any_site))
    assert clock.now - NOW < timedelta(days=1)  # back within the backoff, not a day later


def test_one_subscribers_failing_event_holds_back_only_their_later_ones(
    any_site: Site, receiver: Receiver
) -> None:
    any_site.configure(hook_config("crm", receiver.url))
    receiver.mode, receiver.fail_for = "fail-for", '"id":"ann"'
    for n in range(1, 4):
        confirmed(any_site, "ann", n)
        confirmed(any_site, "bob", n)
    clock = Clock()
    drain(any_site, clock, until=NOW + timedelta(hours=1))
    assert [d.event["data"]["n"] for d in receiver.accepted] == [1, 2, 3]  # bob's, all
    ann = [r for r in rows(any_site) if '"id":"ann"' in r.body]
    assert ann[0].attempts > 1 and ann[0].status is EventStatus.PENDING
    assert [r.attempts for r in ann[1:]] == [0, 0]  # waiting behind the first, never tried
    receiver.mode = "ok"
    drain(any_site, clock)
    later = [d.event["data"]["n"] for d in receiver.accepted[3:]]
    assert later == [1, 2, 3]


def test_backoff_schedule_and_giving_up_after_retry_for(any_site: Site, receiver: Receiver) -> None:
    any_site.configure(hook_config("crm", receiver.url, retry_for=3600))
    receiver.mode, receiver.fail_for = "fail-for", '"n":1'
    confirmed(any_site, "ann", 1)
    confirmed(any_site, "ann", 2)
    clock = Clock()
    drain(any_site, clock)
    first, second = rows(any_site)
    assert first.status is EventStatus.FAILED and first.last_code == 500
    assert "receiver is not well" in (first.last_error or "")
    # 30 s, 1, 2, 4, 8, 16 and 32 min reach 63.5 min: the last attempt is at 60 min exactly
    assert first.attempts == 8
    assert first.last_attempt_at == NOW + timedelta(hours=1)
    assert second.status is EventStatus.DELIVERED  # given up on the first, the next goes on
    assert [d.event["data"]["n"] for d in receiver.accepted] == [2]


def test_retry_schedule() -> None:
    plain = [backoff(n, draw=lambda: 0.5) for n in range(1, 12)]
    assert plain[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert plain[-1] == timedelta(hours=4)  # capped
    assert backoff(1, draw=lambda: 0.0) == timedelta(seconds=22.5)  # -25 %
    assert backoff(1, draw=lambda: 1.0) == timedelta(seconds=37.5)  # +25 %
    day = timedelta(days=1)
    assert retry_at(3, first_attempt=NOW, now=NOW + day, retry_for=day) is None
    last = retry_at(30, first_attempt=NOW, now=NOW + day - timedelta(minutes=1), retry_for=day)
    assert last == NOW + day  # the last attempt lands on retry_for
    at, n, elapsed = NOW, 0, timedelta()
    while (nxt := retry_at(n + 1, first_attempt=NOW, now=at, retry_for=3 * day)) is not None:
        at, n = nxt, n + 1
        elapsed = at - NOW
    assert elapsed == 3 * day and 20 <= n <= 30  # about 26 attempts over 3 days


# --- two senders --------------------------------------------------------------------------------


def test_two_senders_racing_never_deliver_one_event_twice(
    any_site: Site, receiver: Receiver
) -> None:
    any_site.configure(hook_config("crm", receiver.url))
    receiver.mode, receiver.delay = "slow", 0.05  # claims overlap while requests are open
    people = [f"p{i}" for i in range(8)]
    for n in range(1, 5):
        for who in people:
            confirmed(any_site, who, n)
    other = open_store(any_site.settings.database_url)

    async def race() -> None:
        clock = Clock(datetime.now(UTC))
        one = sender(any_site, clock)
        two = WebhookSender(
            any_site.settings.config.webhooks, other, clock=clock, environ=ENV, draw=lambda: 0.5
        )

        async def loop(s: WebhookSender) -> None:
            for _ in range(200):
                report = await s.run_round()
                if not report.claimed:
                    if await asyncio.to_thread(s.next_due) is None:
                        return
                    await asyncio.sleep(0.02)

        try:
            await asyncio.gather(loop(one), loop(two))
        finally:
            await one.aclose()
            await two.aclose()

    try:
        asyncio.run(race())
    finally:
        other.dispose()
    ids = [h["webhook-id"] for h, _ in receiver.requests]
    assert len(ids) == 32 and len(set(ids)) == 32  # every event sent, none twice
    for who in people:
        mine = [d.event["data"]["n"] for d in receiver.accepted if who in d.body.decode()]
        assert mine == [1, 2, 3, 4]


def test_a_lease_keeps_others_off_until_it_runs_out(any_site: Site) -> None:
    any_site.configure(hook_config("crm", "https://hooks.example.com/x"))
    confirmed(any_site, "ann", 1)
    until = NOW + timedelta(minutes=2)
    with any_site.engine.begin() as conn:
        (held,) = repo.claim(conn, ["crm"], now=NOW, lease_until=until, token="dead", limit=5)
    with any_site.engine.begin() as conn:
        assert repo.claim(conn, ["crm"], now=NOW, lease_until=until, token="b", limit=5) == []
        later = until + timedelta(seconds=1)
        (again,) = repo.claim(conn, ["crm"], now=later, lease_until=later, token="b", limit=5)
    assert again.id == held.id
    with any_site.engine.begin() as conn:  # the first holder's late answer is not written
        assert not repo.delivered(conn, held.id, "dead", now=later, code=200)
        assert repo.delivered(conn, held.id, "b", now=later, code=200)
    assert rows(any_site)[0].status is EventStatus.DELIVERED


# --- receivers that answer badly -----------------------------------------------------------------


def test_hostile_receivers_cost_one_bounded_attempt_each(site: Site) -> None:
    with (
        Receiver(SECRET) as huge,
        Receiver(SECRET) as slow,
        Receiver(SECRET) as moved,
        Receiver(SECRET) as good,
    ):
        huge.mode, slow.mode, moved.mode = "huge", "slow", "redirect"
        slow.delay = 30
        site.configure(
            hook_config("huge", huge.url)
            + hook_config("slow", slow.url, timeout=0.5)
            + hook_config("moved", moved.url)
            + hook_config("good", good.url)
        )
        confirmed(site, "ann", 1)

        async def one_round() -> None:
            send = sender(site, Clock())
            try:
                report = await send.run_round()
            finally:
                await send.aclose()
            assert report.claimed == 4 and report.delivered == {"good": 1}

        asyncio.run(one_round())
        slow.release.set()
        by = {r.endpoint: r for r in rows(site)}
        assert len(good.accepted) == 1
        assert by["huge"].last_code == 500 and by["huge"].status is EventStatus.PENDING
        error = by["huge"].last_error or ""
        assert error.startswith("HTTP 500: xxxx") and len(error) <= 220
        assert READ_LIMIT <= 4096  # what was read of its 64 MiB
        assert by["slow"].last_code is None
        assert by["slow"].last_error == "no answer within 0.5 s"
        assert by["moved"].last_code == 302
        assert by["moved"].last_error == (
            "HTTP 302: redirect to 127.0.0.1 not followed (set url to where it points)"
        )
        assert [path for path in (h for h, _ in moved.requests)] and all(
            "/elsewhere" not in json.dumps(h) for h, _ in moved.requests
        )
        assert len(moved.requests) == 1  # the redirect was not followed
        assert by["good"].status is EventStatus.DELIVERED


def test_the_service_loop_delivers_what_is_recorded_and_stops(
    any_site: Site, receiver: Receiver
) -> None:
    any_site.configure(hook_config("crm", receiver.url))

    async def go() -> None:
        stopping = asyncio.Event()
        send = sender(any_site, lambda: datetime.now(UTC))
        task = asyncio.create_task(send.serve(stopping, poll=timedelta(seconds=0.05)))
        await asyncio.to_thread(confirmed, any_site, "ann", 1, at=datetime.now(UTC))
        await asyncio.to_thread(receiver.wait_for, 1)
        await asyncio.to_thread(confirmed, any_site, "ann", 2, at=datetime.now(UTC))
        await asyncio.to_thread(receiver.wait_for, 2)
        stopping.set()
        await asyncio.wait_for(task, 10)
        await send.aclose()

    asyncio.run(go())
    assert [d.event["data"]["n"] for d in receiver.accepted] == [1, 2]


def test_on_postgresql_one_keys_events_are_sent_in_commit_order(
    pg_url: str, tmp_path: Path
) -> None:
    """Two transactions recording for one subscriber at once: the later one waits for the
    earlier one's commit, so a sender never sees (and sends) its event first."""
    site = Site(tmp_path / "site", pg_url)
    site.configure(hook_config("crm", "https://hooks.example.com/x"))
    hooks = site.settings.config.webhooks
    data = {"subscriber": {"id": "ann"}}
    first = site.engine.connect()
    try:
        outer = first.begin()
        record(first, hooks, "subscriber.created", data, key="subscriber:ann", now=NOW)
        second = threading.Thread(target=confirmed, args=(site, "ann", 2))
        second.start()
        with site.engine.connect() as watcher:  # wait until it waits for the key's lock
            for _ in range(200):
                waiting = watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                )
                watcher.rollback()
                if waiting:
                    break
                time.sleep(0.05)
        assert waiting == 1
        with site.engine.begin() as conn:  # the second has not written its event yet
            claimed = repo.claim(conn, ["crm"], now=NOW, lease_until=NOW, token="t", limit=5)
        assert claimed == []
        outer.commit()
        second.join(timeout=30)
        found = rows(site)
        assert [r.type for r in found] == ["subscriber.created", "subscriber.confirmed"]
    finally:
        first.close()  # a failed test must not leave its transaction holding the schema
        site.close()


def test_an_endpoint_slower_than_httpx_default_but_within_its_timeout_is_delivered(
    site: Site,
) -> None:
    """Retrial: the client's own 5-s default cut every attempt of an endpoint given 8 s."""
    with Receiver(SECRET) as slowish:
        slowish.mode, slowish.delay = "slow", 5.5
        site.configure(hook_config("slowish", slowish.url, timeout=8))
        confirmed(site, "ann", 1)

        async def one_round() -> None:
            send = sender(site, Clock())
            try:
                await send.run_round()
            finally:
                await send.aclose()

        asyncio.run(one_round())
        (row,) = rows(site)
        assert row.status is EventStatus.DELIVERED, row.last_error
        assert len(slowish.accepted) == 1
