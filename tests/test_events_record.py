"""Outgoing webhooks, the recording half: ``[[webhooks]]`` config and secrets, and events
written into the outbox in the transaction of the change that causes them — by the subscriber
pages, the CLI, an import, the send engine and the content poll. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.config import parse_config
from syndicate.config.webhooks import new_secret, secret_problem, webhook_secret
from syndicate.content.reader import read_site
from syndicate.errors import ConfigError
from syndicate.events import announce_articles, record_changes
from syndicate.feedback.intake import take
from syndicate.feedback.report import Feedback, Outcome
from syndicate.models import Source, Status
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.subscribers import Change
from syndicate.store.tables import subscription_events, webhook_events
from syndicate.subscribers.tokens import Purpose
from tests.conftest import NOW, Site
from tests.test_web import (
    WEB_CONFIG,
    Clock,
    Web,
    add,
    confirm,
    confirm_paths,
    make_app,
    make_token,
    outbox_rows,
)

HOOK = """
[[webhooks]]
name = "crm"
url = "https://hooks.example.com/in"
events = {events}
secret_env = "TEST_CRM_SECRET"
"""
ALL = HOOK.format(events='["*"]')


def rows(site: Site) -> list[dict[str, Any]]:
    """The outbox's rows, oldest first, each with its parsed body under ``event``."""
    with site.engine.connect() as conn:
        found = conn.execute(select(webhook_events).order_by(webhook_events.c.id)).mappings()
        return [{**r, "event": json.loads(r["body"])} for r in found]


def types(site: Site) -> list[str]:
    return [r["type"] for r in rows(site)]


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


# --- configuration ----------------------------------------------------------------------------

BASE = '[publication]\ntitle = "T"\nbase_url = "https://news.example.org"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + text)
    return caught.value.problems


def test_webhook_config_errors_name_the_field_and_what_to_do() -> None:
    def one(url: str = "https://h.test/x", events: str = '["*"]', extra: str = "") -> str:
        found = problems(
            f'[[webhooks]]\nurl = "{url}"\nevents = {events}\nsecret_env = "S"\n{extra}'
        )
        assert len(found) == 1, found
        return found[0]

    plain = one(url="http://hooks.example.com/x")
    assert plain.startswith(
        'syndicate.toml: [[webhooks]] #1 (host "hooks.example.com"): url: plain http:// is '
        "allowed only"
    )
    assert "allow_http = true" in plain
    assert "unknown event 'subscriber.deleted'" in one(events='["subscriber.deleted"]')
    assert "at least one event" in one(events="[]")
    assert "ftp" in one(url="ftp://h.test/x")
    secret = one(extra='secret = "whsec_abc"')
    assert "must not be in syndicate.toml" in secret and "secret_env" in secret
    assert "unknown key" in one(extra="retries = 3")
    twice = problems(
        '[[webhooks]]\nurl = "https://h.test/a"\nevents = ["*"]\nsecret_env = "S"\n'
        '[[webhooks]]\nurl = "https://h.test/b"\nevents = ["*"]\nsecret_env = "S"\n'
    )
    assert twice == [
        "syndicate.toml: [[webhooks]]: #1 and #2 are both named 'h.test': give each a "
        'different name = "…" (the name defaults to the URL\'s host)'
    ]


def test_plain_http_is_allowed_to_loopback_or_when_asked() -> None:
    config = parse_config(
        BASE + '[[webhooks]]\nurl = "http://127.0.0.1:9/x"\nevents = ["*"]\nsecret_env = "S"\n'
        '[[webhooks]]\nurl = "http://crm.lan/x"\nevents = ["send.finished"]\nsecret_env = "S"\n'
        "allow_http = true\n"
    )
    first, second = config.webhooks
    assert (first.key, second.key) == ("127.0.0.1", "crm.lan")
    assert first.wants("article.published") and not second.wants("send.started")


def test_secret_problems_name_the_webhook_and_the_variable() -> None:
    (hook,) = parse_config(BASE + ALL).webhooks
    where = 'syndicate.toml: [[webhooks]] #1 (name "crm"): secret_env: TEST_CRM_SECRET'
    assert secret_problem(hook, {}) == (
        f"{where} is not set; set it to the endpoint's signing secret: whsec_ followed by the "
        "base64 of 24 to 64 random bytes (`syndicate webhooks secret` prints a new one)"
    )
    for bad, why in [
        ("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "does not start with 'whsec_'"),
        ("whsec_not base64!", "is not valid base64"),
        ("whsec_c2hvcnQ=", "holds 5 bytes"),
    ]:
        found = secret_problem(hook, {"TEST_CRM_SECRET": bad})
        assert found is not None and found.startswith(f"{where} {why}"), found
        assert bad not in found  # the value itself is never repeated
    good = new_secret()
    assert secret_problem(hook, {"TEST_CRM_SECRET": good}) is None
    assert webhook_secret(hook, {"TEST_CRM_SECRET": good}) == good
    with pytest.raises(ConfigError, match="TEST_CRM_SECRET is not set"):
        webhook_secret(hook, {})


def test_check_reports_a_missing_secret(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.configure(ALL)
    monkeypatch.delenv("TEST_CRM_SECRET", raising=False)
    code, _, err = cli(site, "check", "--offline")
    assert code == 1
    assert '[[webhooks]] #1 (name "crm"): secret_env: TEST_CRM_SECRET is not set' in err
    monkeypatch.setenv("TEST_CRM_SECRET", new_secret())
    code, out, _ = cli(site, "check", "--offline")
    assert code == 0, out


# --- subscriber events --------------------------------------------------------------------------


@pytest.fixture
def hooked(any_site: Site) -> Site:
    any_site.configure(WEB_CONFIG + ALL)
    return any_site


def test_the_subscriber_pages_record_each_change_with_its_event(hooked: Site) -> None:
    clock = Clock()
    web = Web(make_app(hooked, clock))
    try:
        web.post("/subscribe", data={"email": "Ann@Example.org", "name": "Ann", "list": "weekly"})
        (mail,) = outbox_rows(hooked)
        (path,) = confirm_paths(mail.data)
        clock.advance(timedelta(minutes=5))
        assert confirm(web, path).status_code == 200
        with hooked.engine.connect() as conn:
            ann = subscriber_repo.subscriber_by_key(conn, "ann@example.org")
        assert ann is not None
        clock.advance(timedelta(minutes=5))
        token = make_token(Purpose.UNSUBSCRIBE, ann.id, "weekly", now=clock())
        assert web.post(f"/unsubscribe/{token}").status_code == 200
    finally:
        web.close()
    found = rows(hooked)
    assert [r["type"] for r in found] == [
        "subscriber.created",
        "subscriber.confirmed",
        "subscriber.unsubscribed",
    ]
    assert {r["order_key"] for r in found} == {f"subscriber:{ann.id}"}
    assert {r["endpoint"] for r in found} == {"crm"}
    assert len({r["message_id"] for r in found}) == 3
    created, confirmed, left = (r["event"] for r in found)
    assert created == {
        "type": "subscriber.created",
        "timestamp": "2026-11-27T09:00:00Z",
        "data": {
            "subscriber": {"id": ann.id, "email": "Ann@example.org", "name": "Ann"},
            "list": "weekly",
            "status": "pending",
            "previous": None,
            "source": "web",
        },
    }
    assert confirmed["timestamp"] == "2026-11-27T09:05:00Z"
    assert confirmed["data"]["status"] == "active"
    assert confirmed["data"]["previous"] == "pending"
    assert left["data"]["status"] == "unsubscribed" and left["data"]["previous"] == "active"
    assert all(r["status"] == "pending" and r["attempts"] == 0 for r in found)


def test_without_webhooks_nothing_is_recorded(any_site: Site) -> None:
    any_site.configure(WEB_CONFIG)
    clock = Clock()
    web = Web(make_app(any_site, clock))
    try:
        web.post("/subscribe", data={"email": "bo@example.org", "list": "weekly"})
        (path,) = confirm_paths(outbox_rows(any_site)[0].data)
        assert confirm(web, path).status_code == 200
    finally:
        web.close()
    with any_site.engine.connect() as conn:
        trail = conn.scalar(select(func.count()).select_from(subscription_events))
    assert trail == 2  # the changes happened...
    assert rows(any_site) == []  # ...and told nobody


def test_only_the_events_an_endpoint_asked_for_are_recorded(any_site: Site) -> None:
    any_site.configure(WEB_CONFIG + HOOK.format(events='["subscriber.unsubscribed"]'))
    code, _, err = cli(any_site, "subscribers", "add", "weekly", "cy@example.org")
    assert code == 0, err
    assert rows(any_site) == []
    code, _, err = cli(any_site, "subscribers", "remove", "weekly", "cy@example.org")
    assert code == 0, err
    assert types(any_site) == ["subscriber.unsubscribed"]
    assert rows(any_site)[0]["event"]["data"]["source"] == "cli"


def test_an_event_rolls_back_with_its_change(hooked: Site) -> None:
    sid = add(hooked, "dee@example.org", {"weekly": Status.PENDING})
    change = Change(
        subscriber_id=sid,
        list_name="weekly",
        status=Status.ACTIVE,
        previous=Status.PENDING,
        source=Source.WEB,
    )
    hooks = hooked.settings.config.webhooks

    class Crash(Exception):
        pass

    with pytest.raises(Crash), hooked.engine.begin() as conn:
        subscriber_repo.apply_changes(conn, [change], now=NOW)
        record_changes(conn, hooks, [change], now=NOW)
        raise Crash  # e.g. the process dies before the commit
    with hooked.engine.connect() as conn:
        assert subscriber_repo.statuses(conn, [sid], "weekly") == {sid: Status.PENDING}
    assert rows(hooked) == []  # no event without its change
    with hooked.engine.begin() as conn:
        subscriber_repo.apply_changes(conn, [change], now=NOW)
        record_changes(conn, hooks, [change], now=NOW)
    assert types(hooked) == ["subscriber.confirmed"]  # and none lost with it


def test_an_import_records_created_and_confirmed_per_subscriber(
    hooked: Site, tmp_path: Any
) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text("email,name\neve@example.org,Eve\nfay@example.org,\n", encoding="utf-8")
    code, _, err = cli(hooked, "subscribers", "import", "weekly", str(csv))
    assert code == 0, err
    code, _, err = cli(hooked, "subscribers", "import", "weekly", str(csv))  # changes nothing
    assert code == 0, err
    found = rows(hooked)
    by_who = [(r["event"]["data"]["subscriber"]["email"], r["type"]) for r in found]
    assert sorted(by_who) == [
        ("eve@example.org", "subscriber.confirmed"),
        ("eve@example.org", "subscriber.created"),
        ("fay@example.org", "subscriber.confirmed"),
        ("fay@example.org", "subscriber.created"),
    ]
    for who in ("eve@example.org", "fay@example.org"):  # created first, for each
        mine = [r["type"] for r in found if r["event"]["data"]["subscriber"]["email"] == who]
        assert mine == ["subscriber.created", "subscriber.confirmed"]
    assert {r["event"]["data"]["source"] for r in found} == {"import"}


def test_bounces_and_complaints_record_their_events_with_the_reason(hooked: Site) -> None:
    gus = add(hooked, "gus@example.org", {"weekly": Status.ACTIVE, "daily": Status.ACTIVE})
    kim = add(hooked, "kim@example.org", {"weekly": Status.ACTIVE})
    items = [  # as a provider's verified webhook reports them
        Feedback(
            outcome=Outcome.HARD,
            source="postmark",
            event_id="pm-1",
            recipient="gus@example.org",
            status="5.1.1",
            diagnostic="550 5.1.1 user unknown",
        ),
        Feedback(
            outcome=Outcome.COMPLAINT,
            source="postmark",
            event_id="pm-2",
            recipient="kim@example.org",
        ),
    ]
    take(hooked.engine, hooked.settings, items, trusted=True, now=NOW)
    found = rows(hooked)
    assert sorted((r["order_key"], r["type"], r["event"]["data"]["list"]) for r in found) == [
        (f"subscriber:{gus}", "subscriber.bounced", "daily"),
        (f"subscriber:{gus}", "subscriber.bounced", "weekly"),
        (f"subscriber:{kim}", "subscriber.complained", "weekly"),
    ]
    data = next(r["event"]["data"] for r in found if r["type"] == "subscriber.bounced")
    assert data["subscriber"]["email"] == "gus@example.org"
    assert data["previous"] == "active" and data["source"] == "postmark"
    assert "5.1.1" in data["reason"]


# --- send events --------------------------------------------------------------------------------


def test_a_send_records_started_and_finished(hooked: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", "test-secret-0123456789abcdef")
    stamp = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hooked.write("one.md", f"---\ntitle: One\ndate: {stamp}\ntags: [trade]\n---\n\nText.\n")
    add(hooked, "hal@example.org", {"weekly": Status.ACTIVE})
    add(hooked, "ida@example.org", {"weekly": Status.ACTIVE})
    code, out, err = cli(hooked, "send", "weekly", "--yes")
    assert code == 0, out + err
    sends = [r for r in rows(hooked) if r["type"].startswith("send.")]
    assert [r["type"] for r in sends] == ["send.started", "send.finished"]
    assert {r["order_key"] for r in sends} == {sends[0]["order_key"]}
    started, finished = (r["event"]["data"] for r in sends)
    assert started["send"]["list"] == "weekly" and started["recipients"] == 2
    assert started["send"]["digest"] == finished["send"]["digest"] == "weekly-1"
    assert finished["status"] == "done" and finished["counts"] == {"sent": 2}
    code, _, _ = cli(hooked, "send", "weekly", "--yes")  # nothing new: no send, no event
    assert [r["type"] for r in rows(hooked) if r["type"].startswith("send.")] == [
        "send.started",
        "send.finished",
    ]


# --- article events -----------------------------------------------------------------------------


def test_articles_are_announced_once_when_they_become_visible(hooked: Site) -> None:
    hooks = hooked.settings.config.webhooks

    def look(at: datetime) -> int:
        report = read_site(hooked.settings, hooked.engine, now=at, offline=True)
        return announce_articles(hooked.engine, hooks, report.articles, now=at)

    hooked.write("old.md", "---\ntitle: Old\ndate: 2026-11-20T08:00:00Z\n---\n\nText.\n")
    assert look(NOW) == 0  # the first look only sets the mark: what is there is not news
    hooked.write("new.md", "---\ntitle: New\ndate: 2026-11-27T08:30:00Z\n---\n\nText.\n")
    hooked.write("later.md", "---\ntitle: Later\ndate: 2026-11-28T06:00:00Z\n---\n\nText.\n")
    hooked.write("archive.md", "---\ntitle: Archive\ndate: 2025-01-01T08:00:00Z\n---\n\nOld.\n")
    assert look(NOW + timedelta(minutes=5)) == 1  # new; later is scheduled; archive is old
    assert look(NOW + timedelta(minutes=10)) == 0  # announced once
    assert look(datetime(2026, 11, 28, 6, 0, 1, tzinfo=UTC)) == 1  # its date arrived
    found = rows(hooked)
    assert [r["event"]["data"]["article"]["title"] for r in found] == ["New", "Later"]
    article = found[0]["event"]["data"]["article"]
    assert article["url"] == "https://news.example.org/new/"
    assert article["published"] == "2026-11-27T08:30:00Z"
    assert set(article) == {"id", "title", "url", "published", "author", "tags", "teaser", "image"}
    assert found[0]["order_key"] == f"article:{article['id']}"


def test_build_announces_new_articles_too(hooked: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli(hooked, "build", "--offline")  # sets the mark
    assert code == 0, err
    stamp = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    hooked.write("fresh.md", f"---\ntitle: Fresh\ndate: {stamp}\n---\n\nText.\n")
    code, _, err = cli(hooked, "build", "--offline")
    assert code == 0, err
    assert types(hooked) == ["article.published"]
