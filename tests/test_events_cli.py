"""Outgoing webhooks as an editor meets them: ``syndicate run`` processes delivering what the
CLI records to a real receiver (two of them at once: each event still arrives once), a
missing secret stopping ``run`` before it listens, and the ``webhooks`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook as ReferenceWebhook

from syndicate.cli import main
from syndicate.config import parse_config
from syndicate.config.webhooks import SECRET_PREFIX, new_secret, secret_problem
from syndicate.store.tables import webhook_events
from tests.conftest import Site
from tests.test_run import CONFIG, REPO, SECRET, Running
from tests.webhookreceiver import Receiver

HOOK_SECRET = new_secret()
HOOK = """
[[webhooks]]
name = "crm"
url = "{url}"
events = ["subscriber.created", "subscriber.confirmed", "subscriber.unsubscribed"]
secret_env = "TEST_HOOK_SECRET"
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(HOOK_SECRET) as running:
        yield running


@pytest.fixture
def hooked(any_site: Site, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("TEST_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    any_site.configure(CONFIG + HOOK.format(url=receiver.url))
    return any_site


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def pending(site: Site) -> int:
    code, out, _ = cli(site, "webhooks", "status", "--json")
    assert code in (0, 1), out
    return sum(d["counts"]["pending"] for d in json.loads(out)["webhooks"])


def wait_until_sent(site: Site, timeout: float = 60.0) -> None:
    """A bounded wait for the outbox to empty (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while pending(site) and time.monotonic() < deadline:
        time.sleep(0.2)


def start(site: Site, log: Path, monkeypatch: pytest.MonkeyPatch) -> Running:
    monkeypatch.setenv("TEST_HOOK_SECRET", HOOK_SECRET)
    return Running(site, log)


def test_two_runs_deliver_what_the_cli_records_once_each(
    hooked: Site, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [start(hooked, tmp_path / "one.log", monkeypatch)]
    try:
        runs.append(start(hooked, tmp_path / "two.log", monkeypatch))
        people = tmp_path / "people.csv"
        people.write_text(
            "email,name\n" + "".join(f"p{i}@example.org,P{i}\n" for i in range(12)),
            encoding="utf-8",
        )
        code, _, err = cli(hooked, "subscribers", "import", "weekly", str(people))
        assert code == 0, err
        code, _, err = cli(hooked, "subscribers", "remove", "weekly", "p3@example.org")
        assert code == 0, err
        wait_until_sent(hooked)
        got = receiver.wait_for(25)
    finally:
        for r in runs:
            assert r.stop() == 0, r.log.read_text()
    ids = [h["webhook-id"] for h, _ in receiver.requests]
    assert len(got) == 25 and len(ids) == 25 and len(set(ids)) == 25  # each once, no retry
    assert not receiver.bad
    for d in got[-1:]:  # the reference library agrees (and the timestamp is now)
        ReferenceWebhook(HOOK_SECRET).verify(d.body, d.headers)
    p3 = [
        d.event["type"] for d in got if d.event["data"]["subscriber"]["email"] == "p3@example.org"
    ]
    assert p3 == ["subscriber.created", "subscriber.confirmed", "subscriber.unsubscribed"]
    logs = "".join(r.log.read_text() for r in runs)
    assert "outgoing webhooks: sending events to crm (127.0.0.1)" in logs
    assert "delivered" in logs
    assert HOOK_SECRET not in logs and HOOK_SECRET.removeprefix(SECRET_PREFIX) not in logs
    assert "p3@example.org" not in logs  # payloads are never logged


def test_run_refuses_to_start_without_the_secret(hooked: Site, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TEST_HOOK_SECRET"}
    env.update(SYNDICATE_SECRET=SECRET, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", "--site", str(hooked.root), "run", "--port", "0"],
        capture_output=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    err = done.stderr.decode()
    assert (
        'error: syndicate.toml: [[webhooks]] #1 (name "crm"): secret_env: TEST_HOOK_SECRET is '
        "not set"
    ) in err
    assert "listening" not in done.stdout.decode()


def test_the_webhooks_commands(hooked: Site, receiver: Receiver) -> None:
    code, out, err = cli(hooked, "webhooks", "status")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"crm: http://127.0.0.1:{receiver.port} "
        "(subscriber.created, subscriber.confirmed, subscriber.unsubscribed)",
        "  0 delivered, 0 pending, 0 failed",
    ]
    code, _, err = cli(hooked, "subscribers", "add", "weekly", "ann@example.org")
    assert code == 0, err
    code, out, _ = cli(hooked, "webhooks", "list", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["type"] for d in lines] == ["subscriber.confirmed", "subscriber.created"]  # newest
    assert all(d["status"] == "pending" and d["endpoint"] == "crm" for d in lines)
    assert set(lines[0]) == {
        "id", "message_id", "endpoint", "type", "key", "status", "attempts", "created",
        "next_attempt", "waits_behind", "last_attempt", "last_code", "last_error",
    }  # fmt: skip
    # One given up (as after retry_for of failures): status says so and exits 1.
    with hooked.engine.begin() as conn:
        conn.execute(
            update(webhook_events)
            .where(webhook_events.c.id == lines[1]["id"])
            .values(status="failed", attempts=26, last_code=500, last_error="HTTP 500: down",
                    last_attempt_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
        )  # fmt: skip
    code, out, err = cli(hooked, "webhooks", "status")
    assert code == 1
    assert "  0 delivered, 1 pending, 1 failed; oldest pending since " in out
    assert "  last error (2026-11-30 09:00:00 UTC): HTTP 500: down" in out
    assert err.strip() == (
        "1 event given up: `syndicate webhooks list --failed` lists it, "
        "`syndicate webhooks retry` sends it again"
    )
    code, out, _ = cli(hooked, "webhooks", "list", "--failed")
    assert code == 0 and len(out.splitlines()) == 1
    assert "subscriber.created" in out and "failed, 26 attempts; last: HTTP 500: down" in out
    code, out, _ = cli(hooked, "webhooks", "retry")
    assert (code, out.strip()) == (0, "1 event queued again: `syndicate run` sends it")
    code, _, err = cli(hooked, "webhooks", "retry")
    assert (code, err.strip()) == (1, "no failed events to retry")
    assert pending(hooked) == 2
    code, _, err = cli(hooked, "webhooks", "retry", "nosuch")
    assert code == 2 and "no webhook named 'nosuch' in syndicate.toml; configured: crm" in err


def test_webhooks_test_pings_the_endpoint(hooked: Site, receiver: Receiver) -> None:
    code, out, err = cli(hooked, "webhooks", "test", "crm")
    assert code == 0, err
    assert out.startswith(f"crm (http://127.0.0.1:{receiver.port}): HTTP 204, delivered msg_")
    (got,) = receiver.accepted
    assert got.event["type"] == "webhook.test"
    assert got.event["data"] == {"publication": "Test Letter"}
    receiver.mode = "fail"
    code, out, err = cli(hooked, "webhooks", "test", "crm", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["delivered"] is False and doc["code"] == 500
    assert doc["error"] == "HTTP 500: receiver is not well"
    assert pending(hooked) == 0  # nothing of it stored


def test_webhooks_secret_prints_a_usable_secret(hooked: Site) -> None:
    code, out, _ = cli(hooked, "webhooks", "secret")
    assert code == 0
    made = out.strip()
    (hook,) = parse_config((hooked.root / "syndicate.toml").read_text()).webhooks
    assert secret_problem(hook, {"TEST_HOOK_SECRET": made}) is None


def test_status_without_webhooks_says_how_to_add_one(site: Site) -> None:
    site.configure(CONFIG)
    code, out, _ = cli(site, "webhooks", "status")
    assert code == 0
    assert out.strip() == (
        "no webhooks: add a [[webhooks]] table to syndicate.toml (url, events, secret_env)"
    )
    code, out, _ = cli(site, "webhooks", "status", "--json")
    assert json.loads(out) == {"webhooks": []}
