"""A subscriber's page on the desk (``/admin/subscribers/{id}``) and its actions.

The actions (service/subscriber_actions.py) on SQLite and PostgreSQL: unsubscribe from one
list and from all, resubscribe only from ``unsubscribed`` and only with a reason, every
change in the consent trail with source ``admin`` and the admin's name and reason, and the
webhook events every other change raises. The page over HTTP (a real uvicorn, httpx): the
gate (sign-in, CSRF, same origin), 404s for ids that name nobody, what it shows (escaped),
redirect-after-POST with a message, refusals that change nothing, GETs that change nothing.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.models import Source, Status
from syndicate.service import subscriber_actions as actions
from syndicate.service.subscriber_actions import ActionRefused, Actor, BadReason
from syndicate.store import deliveries as ledger
from syndicate.store import feedback as feedback_repo
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.subscribers import Change
from syndicate.store.tables import subscription_events, subscriptions, webhook_events
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from syndicate.web.admin import pages_subscriber
from tests.admintools import ADMIN_SECRET, LiveServer, add_admin, csrf_of, live_server, sign_in
from tests.conftest import NOW, Site
from tests.test_desk_store import feedback_row

HOSTILE = '<script>alert("x")</script>'
CONFIG = """
[web]
base_url = "http://127.0.0.1"

[lists.weekly]
title = "Weekly"

[lists.daily]
title = "Daily"

[[webhooks]]
name = "crm"
url = "https://hooks.example.com/in"
events = ["*"]
secret_env = "TEST_CRM_SECRET"
"""
ED = Actor(source=Source.ADMIN, name="admin ed")


@dataclass
class People:
    ada: int  # active on weekly and daily
    bob: int  # bounced on weekly
    cat: int  # pending on weekly
    dan: int  # unsubscribed from weekly


def _import(site: Site, list_name: str, rows: str) -> None:
    data = io.BytesIO(("email,name\n" + rows).encode())
    import_rows(site.engine, list_name, read_rows(data, "t.csv"), now=NOW)


def _move(site: Site, sid: int, status: Status, previous: Status, source: Source) -> None:
    with site.engine.begin() as conn:
        repo.apply_changes(
            conn,
            [Change(subscriber_id=sid, list_name="weekly", status=status, previous=previous,
                    source=source)],
            now=NOW,
        )  # fmt: skip


def people(site: Site) -> People:
    site.configure(CONFIG)
    _import(
        site,
        "weekly",
        f"ada@example.org,{HOSTILE}\nbob@example.org,Bob\ncat@example.org,Cat\n"
        "dan@example.org,Dan\n",
    )
    _import(site, "daily", "ada@example.org,\n")
    with site.engine.connect() as conn:
        found = repo.find_subscribers(
            conn, [f"{n}@example.org" for n in ("ada", "bob", "cat", "dan")]
        )
    ids = People(*(found[f"{n}@example.org"].id for n in ("ada", "bob", "cat", "dan")))
    _move(site, ids.bob, Status.BOUNCED, Status.ACTIVE, Source.BOUNCE)
    _move(site, ids.cat, Status.PENDING, Status.ACTIVE, Source.CLI)
    _move(site, ids.dan, Status.UNSUBSCRIBED, Status.ACTIVE, Source.WEB)
    return ids


def failed_send(site: Site, sid: int) -> int:
    """A send of weekly-7 to ``sid`` that failed, with the server's (hostile) words."""
    with site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-7", now=NOW)
        ledger.enqueue(conn, send_id, [(sid, "[]")], now=NOW)
        ledger.record(
            conn, send_id, sid, DeliveryStatus.FAILED, now=NOW, code=552,
            reply=f"5.2.2 mailbox full {HOSTILE}",
        )  # fmt: skip
    return send_id


def state(site: Site) -> tuple[Any, ...]:
    """Everything an action may change: subscriptions, trail, webhook outbox."""
    with site.engine.connect() as conn:
        subs = conn.execute(
            select(subscriptions.c.subscriber_id, subscriptions.c.list_name,
                   subscriptions.c.status).order_by(subscriptions.c.subscriber_id,
                                                    subscriptions.c.list_name)
        ).all()  # fmt: skip
        trail = conn.scalar(select(func.count()).select_from(subscription_events))
        hooks = conn.scalar(select(func.count()).select_from(webhook_events))
    return tuple(subs), trail, hooks


def events(site: Site) -> list[dict[str, Any]]:
    """The webhook events recorded, oldest first (their bodies)."""
    with site.engine.connect() as conn:
        rows = conn.execute(select(webhook_events.c.body).order_by(webhook_events.c.id))
        return [json.loads(r[0]) for r in rows]


def statuses(site: Site, sid: int) -> dict[str, Status]:
    with site.engine.connect() as conn:
        return repo.subscriptions_of(conn, sid)


def newest(site: Site, sid: int) -> repo.Event:
    with site.engine.connect() as conn:
        return repo.recent_events(conn, sid, limit=1)[0]


@pytest.fixture
def hooked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CRM_SECRET", "crm-secret-0123456789abcdef0123")


# --- the actions, on each database -----------------------------------------------------------


def test_unsubscribe_one_list_then_all_in_the_trail_and_the_webhooks(
    any_site: Site, hooked: None
) -> None:
    ids = people(any_site)
    hooks = any_site.settings.config.webhooks
    before = len(events(any_site))
    with any_site.engine.begin() as conn:
        done = actions.unsubscribe(
            conn, ids.ada, "weekly", actor=ED, now=NOW, hooks=hooks, reason="asked\r\nby phone"
        )
    assert done.results == {"weekly": "unsubscribed"} and done.ended == ("weekly",)
    assert statuses(any_site, ids.ada) == {"weekly": Status.UNSUBSCRIBED, "daily": Status.ACTIVE}
    entry = newest(any_site, ids.ada)
    assert (entry.list_name, entry.previous, entry.status, entry.source) == (
        "weekly", Status.ACTIVE, Status.UNSUBSCRIBED, Source.ADMIN,
    )  # fmt: skip
    assert entry.detail == "admin ed: unsubscribed; reason: asked by phone"  # one line
    (sent,) = events(any_site)[before:]
    assert sent["type"] == "subscriber.unsubscribed"
    assert sent["data"]["source"] == "admin" and sent["data"]["list"] == "weekly"
    assert sent["data"]["subscriber"]["email"] == "ada@example.org"

    with any_site.engine.begin() as conn:
        done = actions.unsubscribe(conn, ids.ada, None, actor=ED, now=NOW, hooks=hooks)
    assert done.results == {"daily": "unsubscribed", "weekly": "unsubscribed"}
    assert done.ended == ("daily",)  # weekly was already
    assert set(statuses(any_site, ids.ada).values()) == {Status.UNSUBSCRIBED}
    assert [e["data"]["list"] for e in events(any_site)[before + 1 :]] == ["daily"]
    assert newest(any_site, ids.ada).detail == "admin ed: unsubscribed"

    # A bounced subscription is not overwritten: "bounced" says more than "unsubscribed".
    with any_site.engine.begin() as conn:
        done = actions.unsubscribe(conn, ids.bob, None, actor=ED, now=NOW, hooks=hooks)
    assert done.results == {"weekly": "bounced"} and done.ended == ()
    assert statuses(any_site, ids.bob) == {"weekly": Status.BOUNCED}


def test_resubscribe_needs_a_reason_and_an_unsubscribed_subscription(
    any_site: Site, hooked: None
) -> None:
    ids = people(any_site)
    hooks = any_site.settings.config.webhooks

    def resubscribe(sid: int, reason: str | None) -> Change:
        with any_site.engine.begin() as conn:
            return actions.resubscribe(
                conn, sid, "weekly", actor=ED, reason=reason, now=NOW, hooks=hooks
            )

    before = state(any_site)
    for reason in (None, "", "  \n\t "):
        with pytest.raises(BadReason, match="needs a reason"):
            resubscribe(ids.dan, reason)
    with pytest.raises(BadReason, match="longer than 300"):
        resubscribe(ids.dan, "x" * 301)
    with pytest.raises(ActionRefused, match="confirm by mail"):
        resubscribe(ids.bob, "they called")
    with pytest.raises(ActionRefused, match="not confirmed yet"):
        resubscribe(ids.cat, "they called")
    with pytest.raises(ActionRefused, match="already subscribed"):
        resubscribe(ids.ada, "they called")
    assert state(any_site) == before  # nothing refused changed anything

    change = resubscribe(ids.dan, " Asked at the book fair, signed form #12 ")
    assert change.status is Status.ACTIVE and change.previous is Status.UNSUBSCRIBED
    assert statuses(any_site, ids.dan) == {"weekly": Status.ACTIVE}
    entry = newest(any_site, ids.dan)
    assert entry.source is Source.ADMIN
    assert entry.detail == "admin ed: resubscribed; reason: Asked at the book fair, signed form #12"
    (sent,) = events(any_site)[len(events(any_site)) - 1 :]
    assert sent["type"] == "subscriber.confirmed" and sent["data"]["source"] == "admin"
    assert sent["data"]["previous"] == "unsubscribed"


def test_the_trail_is_bounded_newest_first(any_site: Site) -> None:
    ids = people(any_site)
    with any_site.engine.begin() as conn:
        for n in range(5):
            repo.apply_changes(
                conn,
                [Change(subscriber_id=ids.dan, list_name="weekly",
                        status=Status.ACTIVE if n % 2 == 0 else Status.UNSUBSCRIBED,
                        previous=None, source=Source.CLI, detail=f"step {n}")],
                now=NOW,
            )  # fmt: skip
    with any_site.engine.connect() as conn:
        shown = repo.recent_events(conn, ids.dan, limit=3)
        total = repo.count_events(conn, ids.dan)
        everything = repo.events_of(conn, ids.dan)
    assert [e.detail for e in shown] == ["step 4", "step 3", "step 2"]
    assert total == len(everything) == 7  # import, the unsubscribe, five steps
    assert shown == list(reversed(everything))[:3]


# --- the page over HTTP ---------------------------------------------------------------------


@dataclass
class Desk:
    site: Site
    ids: People
    server: LiveServer

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, follow_redirects=False, **kwargs)


@pytest.fixture
def desk(site: Site, hooked: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    ids = people(site)
    add_admin(site, "ed")
    failed_send(site, ids.ada)
    app = create_app(site.settings, site.engine, signer=Signer(ADMIN_SECRET), clock=lambda: NOW)
    with live_server(app) as server:
        yield Desk(site, ids, server)


@contextmanager
def signed_in(desk: Desk) -> Iterator[httpx.Client]:
    with desk.client() as client:
        assert sign_in(client, "ed").status_code == 303
        yield client


def test_without_a_session_the_page_is_sign_in_and_posts_are_refused(desk: Desk) -> None:
    before = state(desk.site)
    with desk.client() as client:
        page = client.get(f"/admin/subscribers/{desk.ids.ada}")
        assert page.status_code == 303
        assert page.headers["location"] == (
            f"/admin/sign-in?next=%2Fadmin%2Fsubscribers%2F{desk.ids.ada}"
        )
        for action in ("unsubscribe", "unsubscribe-all", "resubscribe"):
            posted = client.post(
                f"/admin/subscribers/{desk.ids.ada}/{action}",
                data={"list": "weekly", "reason": "x"},
            )
            assert posted.status_code == 403, action
    assert state(desk.site) == before


def test_ids_that_name_nobody_get_the_desks_404(desk: Desk) -> None:
    with signed_in(desk) as client:
        for path in ("999999", "0", "abc", "-1", "1.5", "99999999999999999999", "%20"):
            answer = client.get(f"/admin/subscribers/{path}")
            assert answer.status_code == 404, path
            assert "Signed in as" in answer.text, path  # the desk's page, not the public one
        token = csrf_of(client.get(f"/admin/subscribers/{desk.ids.ada}").text)
        posted = client.post(
            "/admin/subscribers/999999/unsubscribe", data={"csrf": token, "list": "weekly"}
        )
        assert posted.status_code == 404 and "no subscriber" in posted.text


def test_the_page_shows_lists_trail_deliveries_escaped(desk: Desk) -> None:
    with signed_in(desk) as client:
        found = client.get("/admin/subscribers", params={"q": "ada"})
        assert f'href="/admin/subscribers/{desk.ids.ada}"' in found.text  # search links here
        page = client.get(f"/admin/subscribers/{desk.ids.ada}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert HOSTILE not in html and "&lt;script&gt;alert(" in html  # the name, and the reply
    assert "ada@example.org" in html and "Unsubscribe from weekly" in html
    assert "Unsubscribe from daily" in html and "Unsubscribe from every list" in html
    assert '<a href="/admin/sends/' in html and "weekly-7" in html
    assert "552 5.2.2 mailbox full" in html
    with signed_in(desk) as client:
        bob = client.get(f"/admin/subscribers/{desk.ids.bob}").text
        dan = client.get(f"/admin/subscribers/{desk.ids.dan}").text
    assert "Resubscribe to" not in bob and "confirm by mail" in bob
    assert "Resubscribe to weekly" in dan and "required" in dan


def test_get_never_changes_anything(desk: Desk) -> None:
    before = state(desk.site)
    with signed_in(desk) as client:
        for sid in (desk.ids.ada, desk.ids.dan):
            for path in ("", "/unsubscribe", "/unsubscribe-all", "/resubscribe"):
                query = {"list": "weekly", "reason": "x", "done": "unsubscribed"}
                answer = client.get(f"/admin/subscribers/{sid}{path}", params=query)
                assert answer.status_code == (200 if not path else 405), path
    assert state(desk.site) == before


def test_posts_without_csrf_or_from_elsewhere_are_refused(desk: Desk) -> None:
    before = state(desk.site)
    target = f"/admin/subscribers/{desk.ids.ada}/unsubscribe"
    with signed_in(desk) as client:
        token = csrf_of(client.get(f"/admin/subscribers/{desk.ids.ada}").text)
        assert client.post(target, data={"list": "weekly"}).status_code == 403
        assert client.post(target, data={"list": "weekly", "csrf": "x" * 43}).status_code == 403
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            answer = client.post(target, data={"list": "weekly", "csrf": token}, headers=headers)
            assert answer.status_code == 403, headers
    assert state(desk.site) == before


def test_unsubscribe_redirects_back_with_a_message_and_the_trail(desk: Desk) -> None:
    with signed_in(desk) as client:
        page = client.get(f"/admin/subscribers/{desk.ids.ada}")
        token = csrf_of(page.text)
        posted = client.post(
            f"/admin/subscribers/{desk.ids.ada}/unsubscribe",
            data={"csrf": token, "list": "weekly", "reason": "asked by mail"},
        )
        assert posted.status_code == 303
        assert posted.headers["location"] == (
            f"/admin/subscribers/{desk.ids.ada}?done=unsubscribed&list=weekly"
        )
        after = client.get(posted.headers["location"]).text
        assert "Unsubscribed from weekly." in after
        assert "admin ed: unsubscribed; reason: asked by mail" in after
        again = client.post(
            f"/admin/subscribers/{desk.ids.ada}/unsubscribe",
            data={"csrf": token, "list": "weekly"},
        )
        assert again.headers["location"].endswith("done=unchanged&list=weekly")
        everything = client.post(
            f"/admin/subscribers/{desk.ids.ada}/unsubscribe-all", data={"csrf": token}
        )
        assert everything.status_code == 303
        assert everything.headers["location"].endswith("done=all&list=daily")
    assert set(statuses(desk.site, desk.ids.ada).values()) == {Status.UNSUBSCRIBED}
    assert newest(desk.site, desk.ids.ada).source is Source.ADMIN


def test_resubscribe_without_a_reason_or_when_bounced_changes_nothing(desk: Desk) -> None:
    before = state(desk.site)
    with signed_in(desk) as client:
        token = csrf_of(client.get(f"/admin/subscribers/{desk.ids.dan}").text)
        for reason in ("", "   "):
            answer = client.post(
                f"/admin/subscribers/{desk.ids.dan}/resubscribe",
                data={"csrf": token, "list": "weekly", "reason": reason},
            )
            assert answer.status_code == 400
            assert "needs a reason" in answer.text and "Resubscribe to weekly" in answer.text
        bounced = client.post(
            f"/admin/subscribers/{desk.ids.bob}/resubscribe",
            data={"csrf": token, "list": "weekly", "reason": "they called"},
        )
        assert bounced.status_code == 409 and "confirm by mail" in bounced.text
        unknown = client.post(
            f"/admin/subscribers/{desk.ids.dan}/resubscribe",
            data={"csrf": token, "list": "nope", "reason": "they called"},
        )
        assert unknown.status_code == 409
        assert state(desk.site) == before
        done = client.post(
            f"/admin/subscribers/{desk.ids.dan}/resubscribe",
            data={"csrf": token, "list": "weekly", "reason": "phoned on Monday"},
        )
        assert done.status_code == 303
        shown = client.get(done.headers["location"]).text
    assert "Resubscribed to weekly" in shown and "phoned on Monday" in shown
    assert statuses(desk.site, desk.ids.dan) == {"weekly": Status.ACTIVE}
    assert [e["type"] for e in events(desk.site)][-1] == "subscriber.confirmed"


def test_cli_show_prints_no_dsn_status_for_a_complaint(site: Site) -> None:
    """`subscribers show` shares the page's queries; a complaint has no DSN status, and
    the line said "complaint None" (it tested the trail's loop variable)."""
    ids = people(site)
    send_id = failed_send(site, ids.ada)
    with site.engine.begin() as conn:
        feedback_repo.record(
            conn,
            feedback_row(1, send_id, ids.ada, "complaint", diagnostic="abuse report", at=NOW),
        )
    result = CliRunner().invoke(
        main, ["--site", str(site.root), "subscribers", "show", "ada@example.org"]
    )
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if "abuse report" in x]
    assert "complaint on weekly-7" in line and "None" not in line


def test_a_long_trail_says_how_much_is_not_shown(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_subscriber, "TRAIL", 1)
    with signed_in(desk) as client:
        page = client.get(f"/admin/subscribers/{desk.ids.dan}").text
        short = client.get(f"/admin/subscribers/{desk.ids.bob}").text
    words = " ".join(page.split())
    assert "The newest 1 of 2 are shown (1 older not shown)" in words
    body = words.split('<table class="trail">')[1].split("</table>")[0].split("<tbody>")[1]
    assert body.count("<tr>") == 1 and "<td>web</td>" in body  # the unsubscribe, not the import
    assert "The newest 1 of 2 are shown" in " ".join(short.split())  # import and the bounce


def test_the_desk_search_finds_an_idn_address_by_its_unicode_domain(desk: Desk) -> None:
    _import(desk.site, "weekly", "zoë@exämple.de,Zoë\n")
    with desk.site.engine.connect() as conn:
        zoe = repo.find_subscribers(conn, ["zoë@xn--exmple-cua.de"])["zoë@xn--exmple-cua.de"].id
    link = f'href="/admin/subscribers/{zoe}"'
    with signed_in(desk) as client:
        for q in ("zoë@exämple.de", "zoë@exä", "zoë@xn--exmple"):
            assert link in client.get("/admin/subscribers", params={"q": q}).text, q
        assert link not in client.get("/admin/subscribers", params={"q": "zoë@exb"}).text


# --- trial17b: N1 (a bounce or complaint blocks every list), N2, N5, N6, N7 ---------------


def _on_daily_unsubscribed(site: Site, sid: int) -> None:
    """``sid`` joins daily (as the CLI allows) and leaves it again."""
    with site.engine.connect() as conn:
        email = repo.subscriber_by_id(conn, sid).email  # type: ignore[union-attr]
    _import(site, "daily", f"{email},\n")
    with site.engine.begin() as conn:
        repo.apply_changes(
            conn,
            [Change(subscriber_id=sid, list_name="daily", status=Status.UNSUBSCRIBED,
                    previous=Status.ACTIVE, source=Source.WEB)],
            now=NOW,
        )  # fmt: skip


def test_a_bounce_or_complaint_on_one_list_blocks_resubscribing_to_any(
    any_site: Site, hooked: None
) -> None:
    ids = people(any_site)
    _move(any_site, ids.dan, Status.COMPLAINED, Status.UNSUBSCRIBED, Source.COMPLAINT)
    for sid in (ids.bob, ids.dan):  # bounced / complained on weekly
        _on_daily_unsubscribed(any_site, sid)
    before = state(any_site)
    for sid, said in ((ids.bob, "Their mail bounced"), (ids.dan, "reported a mail as spam")):
        with pytest.raises(ActionRefused) as refused, any_site.engine.begin() as conn:
            actions.resubscribe(conn, sid, "daily", actor=ED, reason="phoned", now=NOW)
        assert refused.value.list_name == "daily"
        assert said in refused.value.reason and "on weekly" in refused.value.reason
    assert state(any_site) == before
    assert statuses(any_site, ids.bob) == {"weekly": Status.BOUNCED, "daily": Status.UNSUBSCRIBED}


def test_the_desk_refuses_and_hides_resubscribe_for_a_bounced_address(desk: Desk) -> None:
    bob = desk.ids.bob
    _on_daily_unsubscribed(desk.site, bob)
    before = state(desk.site)
    with signed_in(desk) as client:
        page = client.get(f"/admin/subscribers/{bob}").text
        assert "Resubscribe to daily" not in page and "Resubscribe to" not in page
        daily = page.split('id="list-daily"')[1].split('class="card list-card"')[0]
        assert "Their mail bounced" in daily and "on weekly" in daily
        answer = client.post(
            f"/admin/subscribers/{bob}/resubscribe",
            data={"csrf": csrf_of(page), "list": "daily", "reason": "phoned"},
        )
    assert answer.status_code == 409
    assert "daily: Their mail bounced" in answer.text and "on weekly" in answer.text
    assert state(desk.site) == before


def test_the_notice_is_shown_only_when_the_status_agrees(desk: Desk) -> None:
    ada, dan = desk.ids.ada, desk.ids.dan
    with signed_in(desk) as client:

        def notice(sid: int, **query: str) -> str | None:
            html = client.get(f"/admin/subscribers/{sid}", params=query).text
            found = html.split('<p class="notice" role="status">')
            return found[1].split("</p>")[0] if len(found) > 1 else None

        assert notice(dan, done="unsubscribed", list="weekly") == "Unsubscribed from weekly."
        assert notice(dan, done="unsubscribed", list="<b>ALL DELETED</b>") is None
        assert notice(dan, done="unsubscribed", list="YOUR ACCOUNT IS LOCKED") is None
        assert notice(ada, done="unsubscribed", list="weekly") is None  # still active
        assert notice(dan, done="resubscribed", list="weekly") is None  # not active
        assert notice(ada, done="resubscribed", list="weekly") == (
            "Resubscribed to weekly: they get its mail again."
        )
        assert notice(ada, done="all", list="daily, weekly") is None
        assert notice(dan, done="all", list="weekly") is not None
        assert notice(dan, done="all", list="weekly, ALL DELETED") is None
        assert notice(ada, done="unchanged-all", list="") is None
        assert notice(dan, done="unchanged-all", list="") is not None
        assert notice(ada, done="unchanged", list="weekly") is None
        assert notice(dan, done="unchanged", list="weekly") is not None


def test_a_too_large_form_gets_the_desks_400_page(desk: Desk) -> None:
    before = state(desk.site)
    with signed_in(desk) as client:
        token = csrf_of(client.get(f"/admin/subscribers/{desk.ids.dan}").text)
        for data in (
            {"csrf": token, "list": "weekly", "reason": "x" * 10_240},
            {"csrf": token, "list": "weekly", **{f"f{i}": "x" for i in range(300)}},
        ):
            answer = client.post(f"/admin/subscribers/{desk.ids.dan}/resubscribe", data=data)
            assert answer.status_code == 400
            assert "The form is too large: a reason has at most 300 characters." in answer.text
            assert "Signed in as" in answer.text and "4KB" not in answer.text
    assert state(desk.site) == before


def test_desk_changes_are_in_the_run_log(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="syndicate.web.admin.pages_subscriber")
    ada = desk.ids.ada
    with signed_in(desk) as client:
        token = csrf_of(client.get(f"/admin/subscribers/{ada}").text)
        post = {"csrf": token, "list": "weekly", "reason": "secret words"}
        client.post(f"/admin/subscribers/{ada}/unsubscribe", data=post)
        client.post(f"/admin/subscribers/{ada}/unsubscribe", data=post)  # unchanged: no line
        client.post(f"/admin/subscribers/{ada}/resubscribe", data=post)
        client.post(f"/admin/subscribers/{ada}/unsubscribe-all", data={"csrf": token})
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("pages_subscriber")]
    assert lines == [
        f"admin ed: subscriber {ada} unsubscribed from weekly",
        f"admin ed: subscriber {ada} resubscribed to weekly",
        f"admin ed: subscriber {ada} unsubscribed from daily, weekly",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name.endswith("subscriber"))
    assert "secret words" not in caplog.text and "ada@example.org" not in caplog.text


def test_only_canonical_ids_are_pages(desk: Desk) -> None:
    ada = desk.ids.ada
    before = state(desk.site)
    with signed_in(desk) as client:
        assert client.get(f"/admin/subscribers/{ada}").status_code == 200
        token = csrf_of(client.get(f"/admin/subscribers/{ada}").text)
        for path in (f"0{ada}", f"00{ada}", f"+{ada}", f"{ada}.0", f"%20{ada}", "2147483648"):
            answer = client.get(f"/admin/subscribers/{path}")
            assert answer.status_code == 404 and "Signed in as" in answer.text, path
            posted = client.post(
                f"/admin/subscribers/{path}/unsubscribe", data={"csrf": token, "list": "weekly"}
            )
            assert posted.status_code == 404, path
    assert state(desk.site) == before
