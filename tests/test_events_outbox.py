"""The ``webhooks`` commands telling what is true of the outbox, against a real receiver and
real events from the CLI: an event waiting behind an earlier one of its subscriber says so
(not a past time as if it were due), events stranded under a renamed endpoint are named by
``check`` and ``status`` and can be moved or dropped, and ``retry --id`` / ``list --endpoint``
name what is the case."""

# ruff: noqa: F811  (the fixtures hooked and receiver come from test_events_cli)
from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime

from syndicate.events.sender import WebhookSender
from syndicate.store import webhook_outbox as outbox
from tests.conftest import Site
from tests.test_events_cli import HOOK, HOOK_SECRET, cli, hooked, receiver  # noqa: F401
from tests.test_run import CONFIG
from tests.webhookreceiver import Receiver

TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def one_round(site: Site) -> None:
    """One round of the real sender (wall clock), as `syndicate run` would do it."""

    async def go() -> None:
        sender = WebhookSender(
            site.settings.config.webhooks, site.engine, environ={"TEST_HOOK_SECRET": HOOK_SECRET}
        )
        try:
            await sender.run_round()
        finally:
            await sender.aclose()

    asyncio.run(go())


def shown(text: str) -> datetime:
    found = TIME.search(text)
    assert found, text
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def test_an_event_waiting_behind_another_says_so(hooked: Site, receiver: Receiver) -> None:
    code, _, err = cli(hooked, "subscribers", "add", "weekly", "ann@example.org")
    assert code == 0, err  # subscriber.created, then subscriber.confirmed: one order key
    receiver.mode = "fail"
    one_round(hooked)  # created fails (again in 30 s); confirmed waits behind it
    assert len(receiver.requests) == 1
    code, out, _ = cli(hooked, "webhooks", "list", "--pending")
    assert code == 0
    confirmed, created = out.splitlines()  # newest first
    first_id = created.split()[0]
    assert "subscriber.confirmed" in confirmed
    assert confirmed.endswith(f"pending, 0 attempts, waits behind event {first_id}")
    assert "subscriber.created" in created and ", next " in created
    retry_at = shown(created.split(", next ")[1])
    assert retry_at > datetime.now(UTC).replace(microsecond=0)  # a time still to come
    code, out, _ = cli(hooked, "webhooks", "list", "--pending", "--json")
    docs = [json.loads(line) for line in out.splitlines()]
    assert docs[0]["waits_behind"] == int(first_id) and docs[0]["next_attempt"] is None
    assert docs[1]["waits_behind"] is None and docs[1]["next_attempt"] is not None
    code, out, _ = cli(hooked, "webhooks", "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("  0 delivered, 2 pending, 0 failed; oldest pending since ")
    assert lines[2].startswith("  next attempt: ")
    assert shown(lines[2]) == retry_at  # not the waiting one's time, long past
    assert lines[3] == "  1 event waits behind an earlier one of the same subscriber or send"


def test_an_event_due_but_not_sent_is_shown_as_due(hooked: Site) -> None:
    code, _, err = cli(hooked, "subscribers", "add", "weekly", "ann@example.org")
    assert code == 0, err  # nothing sends (no `run`): the first is due since it was recorded
    code, out, _ = cli(hooked, "webhooks", "status")
    assert "  next attempt: due since " in out and "(`syndicate run` sends it)" in out
    code, out, _ = cli(hooked, "webhooks", "list")
    assert ", due since " in out.splitlines()[1] and ", next " not in out


def renamed(site: Site, receiver: Receiver, name: str) -> None:
    site.configure(CONFIG + HOOK.format(url=receiver.url).replace('"crm"', f'"{name}"'))


def test_events_of_a_renamed_endpoint_are_named_and_can_be_moved(
    hooked: Site, receiver: Receiver
) -> None:
    for who in ("ann", "bob"):
        code, _, err = cli(hooked, "subscribers", "add", "weekly", f"{who}@example.org")
        assert code == 0, err
    renamed(hooked, receiver, "crm-eu")
    code, _, err = cli(hooked, "check", "--offline")
    assert code == 1
    assert (
        "syndicate.toml: [[webhooks]]: no endpoint named 'crm' any more, but 4 events for it "
        "wait in the outbox and are not sent; `syndicate webhooks move crm crm-eu` hands them "
        "to a configured endpoint, `syndicate webhooks drop crm` forgets them"
    ) in err
    code, out, _ = cli(hooked, "webhooks", "status")
    assert code == 1
    assert (
        "crm: no longer in syndicate.toml: its 4 events are not sent; `syndicate webhooks move "
        "crm crm-eu` hands them to a configured endpoint, `syndicate webhooks drop crm` "
        "forgets them"
    ) in out.splitlines()
    one_round(hooked)
    assert receiver.requests == []  # nothing sends them
    code, _, err = cli(hooked, "webhooks", "move", "crm", "crm-eu")  # no terminal, no --yes
    assert code == 1 and "add --yes" in err and "nothing changed" in err
    code, _, err = cli(hooked, "webhooks", "move", "crm", "nosuch", "--yes")
    assert code == 2 and "no webhook named 'nosuch' in syndicate.toml; configured: crm-eu" in err
    code, _, err = cli(hooked, "webhooks", "drop", "crm-eu", "--yes")
    assert code == 2 and "'crm-eu' is configured" in err
    code, out, err = cli(hooked, "webhooks", "move", "crm", "crm-eu", "--yes")
    assert code == 0, err
    assert out.splitlines()[0].startswith("moved 4 events from crm to crm-eu: `syndicate run`")
    code, _, err = cli(hooked, "check", "--offline")
    assert code == 0, err
    for _ in range(4):  # one event per subscriber a round (each waits for the one before)
        one_round(hooked)
    got = receiver.wait_for(4)
    by_who: dict[str, list[str]] = {}
    for d in got:
        by_who.setdefault(d.event["data"]["subscriber"]["email"], []).append(d.event["type"])
    assert by_who == {
        "ann@example.org": ["subscriber.created", "subscriber.confirmed"],
        "bob@example.org": ["subscriber.created", "subscriber.confirmed"],
    }
    code, out, _ = cli(hooked, "webhooks", "status")
    assert code == 0 and "crm-eu: " in out and "  4 delivered, 0 pending, 0 failed" in out


def test_events_of_a_renamed_endpoint_can_be_dropped(hooked: Site, receiver: Receiver) -> None:
    code, _, err = cli(hooked, "subscribers", "add", "weekly", "ann@example.org")
    assert code == 0, err
    renamed(hooked, receiver, "crm-eu")
    code, out, err = cli(hooked, "webhooks", "drop", "crm", "--yes")
    assert (code, out.strip()) == (0, "dropped 2 events of crm (2 pending)"), err
    code, out, _ = cli(hooked, "webhooks", "status")
    assert code == 0 and "crm:" not in out
    code, _, err = cli(hooked, "webhooks", "drop", "crm", "--yes")
    assert code == 2 and "the outbox holds no events for 'crm'" in err
    with hooked.engine.connect() as conn:
        assert list(outbox.iter_events(conn)) == []


def test_retry_and_list_name_what_is_the_case(hooked: Site, receiver: Receiver) -> None:
    code, _, err = cli(hooked, "webhooks", "retry", "--id", "42")
    assert code == 1
    assert err.strip().startswith("no event 42 (`syndicate webhooks list` shows the events")
    code, _, err = cli(hooked, "subscribers", "add", "weekly", "ann@example.org")
    assert code == 0, err
    one_round(hooked)  # created is delivered; confirmed waited behind it
    code, out, _ = cli(hooked, "webhooks", "list", "--json")
    confirmed, created = (json.loads(line) for line in out.splitlines())
    assert created["status"] == "delivered" and confirmed["status"] == "pending"
    code, out, _ = cli(hooked, "webhooks", "retry", "--id", str(created["id"]))
    assert code == 0
    at = datetime.fromisoformat(created["last_attempt"]).astimezone(UTC)
    assert out.strip() == (
        f"event {created['id']} was delivered at {at:%Y-%m-%d %H:%M:%S} UTC; nothing to retry"
    )
    code, out, _ = cli(hooked, "webhooks", "retry", "--id", str(confirmed["id"]))
    assert code == 0 and out.startswith(f"event {confirmed['id']} is still pending, due since ")
    code, _, err = cli(hooked, "webhooks", "list", "--endpoint", "nosuch")
    assert code == 2 and "no webhook named 'nosuch'; configured: crm" in err
    code, out, _ = cli(hooked, "webhooks", "list", "--endpoint", "crm")
    assert code == 0 and len(out.splitlines()) == 2
