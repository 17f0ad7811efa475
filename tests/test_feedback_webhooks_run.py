"""Provider webhooks through a real ``syndicate run``: a verified event reaches the intake
and acts on the subscriber it names; a refused one changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syndicate.models import Status
from syndicate.store import subscribers as repo
from syndicate.subscribers.address import normalize_address
from tests.conftest import Site
from tests.test_run import CONFIG, Running
from tests.test_web import add
from tests.webhooks import sample

TOKEN = "pm-run-token-7"


@pytest.fixture
def server(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    site.configure(CONFIG)
    monkeypatch.setenv("SYNDICATE_POSTMARK_WEBHOOK_TOKEN", TOKEN)
    add(site, "john@example.com", {"weekly": Status.ACTIVE})
    add(site, "jane@example.com", {"weekly": Status.ACTIVE})
    running = Running(site, tmp_path / "run.log")
    try:
        yield running
    finally:
        assert running.stop() == 0


def statuses(site: Site, address: str) -> dict[str, Status]:
    with site.engine.connect() as conn:
        found = repo.subscriber_by_key(conn, normalize_address(address).key)
        assert found is not None
        return repo.subscriptions_of(conn, found.id)


def post(port: int, token: str) -> int:
    body = json.dumps(sample("postmark-bounce.json")).encode()  # a hard bounce of john@
    headers = {"Content-Type": "application/json", "X-Syndicate-Webhook-Token": token}
    url = f"http://127.0.0.1:{port}/webhooks/postmark"
    return httpx.post(url, content=body, headers=headers, timeout=20).status_code


def test_a_verified_provider_event_bounces_the_reader_it_names(site: Site, server: Running) -> None:
    assert post(server.port, "not-the-token") == 401
    assert statuses(site, "john@example.com") == {"weekly": Status.ACTIVE}
    assert post(server.port, TOKEN) == 200
    assert statuses(site, "john@example.com") == {"weekly": Status.BOUNCED}
    assert statuses(site, "jane@example.com") == {"weekly": Status.ACTIVE}
    assert post(server.port, TOKEN) == 200  # the provider retries: nothing more happens
    assert statuses(site, "john@example.com") == {"weekly": Status.BOUNCED}
    # One line per accepted request, in our words (a refusal has its own line).
    log = server.log.read_text()
    assert "INFO webhooks: postmark: 1 event taken (1 hard)\n" in log, log
    assert "INFO webhooks: postmark: 0 events taken, 1 seen before\n" in log, log
