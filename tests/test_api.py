"""The HTTP API against a real uvicorn on port 0 (httpx), on SQLite and PostgreSQL: tokens
(CLI, hashing, scopes, revocation), every endpoint, pagination, double opt-in through the
outbox, confirmed subscriptions with their consent source, unsubscribe keeping the record,
the webhook events, JSON errors and the per-token rate limit."""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from syndicate.cli import main
from syndicate.models import Status
from syndicate.store.articles import StoredArticle, save_articles
from syndicate.store.tables import api_tokens, subscription_events, webhook_events
from syndicate.subscribers.names import PLAIN_LINE, NameRefused, clean_name, refused_character
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from syndicate.web.ratelimit import RateLimiter
from tests.apiserver import live
from tests.conftest import Site
from tests.test_web import (
    SECRET,
    WEB_CONFIG,
    Clock,
    add,
    carry_out,
    confirm_paths,
    outbox_rows,
    status_of,
)

HOOK = """
[[webhooks]]
name = "crm"
url = "https://hooks.example.com/in"
events = ["*"]
secret_env = "TEST_CRM_SECRET"
"""
ALL_SCOPES = "subscribers:read,subscribers:write,lists:read,sends:read,articles:read"


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def make_token(site: Site, name: str, scopes: str = ALL_SCOPES) -> str:
    code, out, err = cli(site, "admin", "token", "create", "--name", name, "--scopes", scopes)
    assert code == 0, err
    return out.strip()


@dataclass
class Api:
    site: Site
    base: str
    token: str
    clock: Clock

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token != "":
            headers.setdefault("Authorization", f"Bearer {token or self.token}")
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kw)


@pytest.fixture
def api(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("TEST_CRM_SECRET", "crm-secret-0123456789abcdef0123")
    any_site.configure(WEB_CONFIG + HOOK)
    clock = Clock()
    token = make_token(any_site, "site")
    app = create_app(
        any_site.settings,
        any_site.engine,
        signer=Signer(SECRET),
        clock=clock,
        on_outbox=carry_out(any_site, clock),
        limiter=RateLimiter(capacity=1000, period=1),
    )
    with live(app) as base:
        yield Api(any_site, base, token, clock)


def error_of(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return dict(body["error"])


def event_types(site: Site) -> list[tuple[str, str]]:
    with site.engine.connect() as conn:
        rows = conn.execute(select(webhook_events.c.type, webhook_events.c.body))
        return [(t, json.loads(b)["data"]["subscriber"]["email"]) for t, b in rows]


# -- tokens --------------------------------------------------------------------------------


def test_token_commands_show_the_token_once_and_store_only_its_hash(site: Site) -> None:
    token = make_token(site, "crm", "subscribers:read, lists:read")
    assert token.startswith("synd_") and len(token) >= 40
    with site.engine.connect() as conn:
        stored = conn.execute(select(api_tokens)).mappings().one()
    assert token not in json.dumps({k: str(v) for k, v in stored.items()})
    assert stored["scopes"] == "lists:read subscribers:read"
    code, out, err = cli(site, "admin", "token", "list")
    assert code == 0 and "crm" in out and token not in out + err
    assert "lists:read, subscribers:read" in out and "active" in out
    code, out, err = cli(site, "admin", "token", "create", "--name", "x", "--scopes", "nope")
    assert code == 1 and "unknown scope 'nope'" in err
    for scope in ("subscribers:write", "sends:read", "articles:read"):
        assert scope in err
    code, _, err = cli(site, "admin", "token", "create", "--name", "crm", "--scopes", "lists:read")
    assert code == 1 and "exists already" in err
    code, out, _ = cli(site, "admin", "token", "revoke", "crm")
    assert code == 0 and "revoked" in out
    code, out, _ = cli(site, "admin", "token", "list", "--json")
    (doc,) = json.loads(out)["tokens"]
    assert doc["name"] == "crm" and doc["revoked_at"] is not None and "digest" not in doc
    code, _, err = cli(site, "admin", "token", "revoke", "nobody")
    assert code == 1 and "no token 'nobody'" in err


def test_missing_unknown_revoked_and_cookie_tokens_get_401(api: Api) -> None:
    assert api.call("GET", "/api/v1/lists").status_code == 200
    for token, headers in [
        ("", {}),
        ("", {"Cookie": f"token={api.token}"}),
        ("", {"Authorization": f"Basic {api.token}"}),
        ("synd_" + "A" * 43, {}),
        (api.token + "x", {}),
    ]:
        answer = api.call("GET", "/api/v1/lists", token=token, headers=headers)
        assert answer.status_code == 401, (token, headers)
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert error_of(answer)["code"] == "unauthorized"
    assert cli(api.site, "admin", "token", "revoke", "site")[0] == 0
    answer = api.call("GET", "/api/v1/lists")
    assert answer.status_code == 401 and "revoked" in error_of(answer)["message"]


def test_a_token_without_the_scope_gets_403_naming_it(api: Api) -> None:
    reader = make_token(api.site, "reader", "subscribers:read")
    assert api.call("GET", "/api/v1/subscribers", token=reader).status_code == 200
    for method, path, scope in [
        ("GET", "/api/v1/lists", "lists:read"),
        ("GET", "/api/v1/sends", "sends:read"),
        ("GET", "/api/v1/sends/1", "sends:read"),
        ("GET", "/api/v1/articles", "articles:read"),
        ("DELETE", "/api/v1/subscribers/a@example.org", "subscribers:write"),
        ("POST", "/api/v1/subscribers", "subscribers:write"),
    ]:
        answer = api.call(method, path, token=reader, json={})
        assert answer.status_code == 403, path
        assert scope in error_of(answer)["message"]


# -- subscribers ---------------------------------------------------------------------------


def test_pages_walk_every_subscriber_once(api: Api) -> None:
    ids = [add(api.site, f"p{i:02d}@example.org", {"weekly": Status.ACTIVE}) for i in range(23)]
    add(api.site, "other@example.org", {"daily": Status.ACTIVE})
    seen: list[int] = []
    url: str | None = "/api/v1/subscribers?list=weekly&status=active&limit=5"
    pages = 0
    while url is not None:
        answer = api.call("GET", url)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += [s["id"] for s in body["items"]]
        assert len(body["items"]) <= 5
        url = body["next"]
        pages += 1
    assert seen == ids and pages == 5
    found = api.call("GET", "/api/v1/subscribers?q=P0").json()["items"]
    assert [s["email"] for s in found] == [f"p0{i}@example.org" for i in range(10)]
    assert found[0]["lists"] == [{"list": "weekly", "status": "active", "topics": []}]
    bad = api.call("GET", "/api/v1/subscribers?cursor=forged")
    assert bad.status_code == 422 and "cursor" in error_of(bad)["message"]
    bad = api.call("GET", "/api/v1/subscribers?limit=101")
    assert bad.status_code == 422 and "limit" in error_of(bad)["message"]


def test_double_opt_in_mails_a_confirmation_through_the_outbox(api: Api) -> None:
    answer = api.call(
        "POST", "/api/v1/subscribers", json={"email": "Ann@Example.org", "lists": ["weekly"]}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending"
    (mail,) = outbox_rows(api.site)
    assert mail.recipient.lower() == "ann@example.org"
    assert b"/confirm/" in mail.data
    got = api.call("GET", "/api/v1/subscribers/ann@example.org").json()
    assert got["lists"] == [{"list": "weekly", "status": "pending", "topics": []}]
    # The same events the subscribe form records.
    form = httpx.post(
        api.base + "/subscribe",
        data={"email": "bob@example.org", "list": "weekly"},
        headers={"Origin": "https://news.example.org"},
    )
    assert form.status_code == 200
    events = event_types(api.site)
    assert [t for t, e in events if e.lower() == "ann@example.org"] == ["subscriber.created"]
    assert [t for t, e in events if e == "bob@example.org"] == ["subscriber.created"]


def test_confirmed_needs_a_consent_source_and_records_it(api: Api) -> None:
    body = {"email": "cy@example.org", "lists": ["weekly"], "status": "confirmed"}
    answer = api.call("POST", "/api/v1/subscribers", json=body)
    assert answer.status_code == 422 and "source" in error_of(answer)["message"]
    assert outbox_rows(api.site) == [] and event_types(api.site) == []
    body["source"] = "paper form at the fair, 2026-11-20"
    answer = api.call("POST", "/api/v1/subscribers", json=body)
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["results"] == {"weekly": "active"}
    (trail,) = doc["subscriber"]["consent"]
    assert trail["source"] == "api" and trail["status"] == "active"
    assert "paper form at the fair" in trail["detail"] and "site" in trail["detail"]
    assert [t for t, _ in event_types(api.site)] == ["subscriber.created", "subscriber.confirmed"]


def test_delete_unsubscribes_and_keeps_the_record(api: Api) -> None:
    add(api.site, "dee@example.org", {"weekly": Status.ACTIVE, "daily": Status.ACTIVE})
    answer = api.call("DELETE", "/api/v1/subscribers/dee@example.org?list=daily")
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == {"daily": "unsubscribed"}
    answer = api.call("DELETE", "/api/v1/subscribers/DEE@example.org")
    assert answer.json()["results"] == {"daily": "unsubscribed", "weekly": "unsubscribed"}
    got = api.call("GET", "/api/v1/subscribers/dee@example.org")
    assert got.status_code == 200
    assert {m["status"] for m in got.json()["lists"]} == {"unsubscribed"}
    again = api.call(
        "POST",
        "/api/v1/subscribers",
        json={
            "email": "dee@example.org",
            "lists": ["weekly"],
            "status": "confirmed",
            "source": "crm sync",
        },
    )
    assert again.json()["results"] == {"weekly": "suppressed"}
    assert api.call("DELETE", "/api/v1/subscribers/nobody@example.org").status_code == 404


def test_patch_changes_name_topics_and_lists(api: Api) -> None:
    add(api.site, "eve@example.org", {"weekly": Status.ACTIVE})
    answer = api.call(
        "PATCH",
        "/api/v1/subscribers/eve@example.org",
        json={"name": "Eve", "topics": {"weekly": ["trade"]}, "lists": ["daily"]},
    )
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["subscriber"]["name"] == "Eve"
    assert doc["results"] == {"weekly": "unsubscribed", "daily": "pending"}
    assert doc["to_confirm"] == ["daily"]
    assert next(m for m in doc["subscriber"]["lists"] if m["list"] == "weekly")["topics"] == [
        "trade"
    ]
    assert any(b"/confirm/" in row.data for row in outbox_rows(api.site))  # daily: opt-in
    bad = api.call(
        "PATCH", "/api/v1/subscribers/eve@example.org", json={"topics": {"weekly": ["cats"]}}
    )
    assert bad.status_code == 422 and "cats" in error_of(bad)["message"]
    bad = api.call("PATCH", "/api/v1/subscribers/eve@example.org", json={"lists": ["nope"]})
    assert bad.status_code == 422 and "declared lists" in error_of(bad)["message"]
    bad = api.call("PATCH", "/api/v1/subscribers/eve@example.org", json={"name": "a\r\nBcc: x"})
    assert bad.status_code == 422


# -- lists, sends, articles, errors ---------------------------------------------------------


def test_lists_sends_and_articles(api: Api) -> None:
    add(api.site, "f@example.org", {"weekly": Status.ACTIVE})
    add(api.site, "g@example.org", {"weekly": Status.BOUNCED, "daily": Status.PENDING})
    lists = {x["name"]: x for x in api.call("GET", "/api/v1/lists").json()["lists"]}
    assert lists["weekly"]["counts"]["active"] == 1 and lists["weekly"]["counts"]["bounced"] == 1
    assert lists["daily"]["counts"] == {
        "pending": 1,
        "active": 0,
        "unsubscribed": 0,
        "bounced": 0,
        "complained": 0,
    }
    assert lists["weekly"]["title"] == "Weekly"
    with api.site.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sends (list_name, digest_id, status, created_at)"
                " VALUES ('weekly', 'weekly-1', 'done', '2026-11-27 09:00:00')"
            )
        )
    sends = api.call("GET", "/api/v1/sends").json()
    assert [s["digest"] for s in sends["items"]] == ["weekly-1"] and sends["next"] is None
    report = api.call("GET", "/api/v1/sends/weekly-1")
    assert report.status_code == 200, report.text
    assert report.json()["send"]["state"] == "done" and report.json()["failures"] == []
    assert api.call("GET", "/api/v1/sends/weekly-9").status_code == 404
    assert api.call("GET", "/api/v1/articles").json() == {"items": [], "cursor": None, "next": None}


def test_every_failure_is_a_json_error(api: Api) -> None:
    cases = [
        (api.call("GET", "/api/v1/nothing"), 404, "not_found"),
        (api.call("PUT", "/api/v1/lists"), 405, "method_not_allowed"),
        (
            api.call(
                "POST",
                "/api/v1/subscribers",
                content=b"email=a",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            415,
            "unsupported_media_type",
        ),
        (
            api.call(
                "POST",
                "/api/v1/subscribers",
                content=b"{",
                headers={"Content-Type": "application/json"},
            ),
            400,
            "invalid_json",
        ),
        (
            api.call(
                "POST",
                "/api/v1/subscribers",
                content=b"[" * 20000,
                headers={"Content-Type": "application/json"},
            ),
            413,
            "too_large",
        ),
        (
            api.call(
                "POST", "/api/v1/subscribers", json={"email": "not an address", "lists": ["weekly"]}
            ),
            422,
            "invalid_body",
        ),
        (api.call("GET", "/api/v1/subscribers/not-an-address"), 404, "not_found"),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, (status, answer.text)
        assert error_of(answer)["code"] == code
        assert answer.headers["cache-control"] == "no-store"


def test_the_rate_limit_is_per_token(any_site: Site) -> None:
    any_site.configure(WEB_CONFIG)
    one, two = make_token(any_site, "one"), make_token(any_site, "two")
    app = create_app(
        any_site.settings,
        any_site.engine,
        signer=Signer(SECRET),
        api_limiter=RateLimiter(capacity=3, period=3600),
    )
    with live(app) as base:

        def get(token: str) -> httpx.Response:
            return httpx.get(base + "/api/v1/lists", headers={"Authorization": f"Bearer {token}"})

        assert [get(one).status_code for _ in range(3)] == [200, 200, 200]
        limited = get(one)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert error_of(limited)["code"] == "rate_limited"
        assert get(two).status_code == 200


def test_the_openapi_document_names_every_route_and_nothing_else(api: Api) -> None:
    answer = httpx.get(api.base + "/api/v1/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "ErrorOut" in doc["components"]["schemas"]
    documented = {(p, m.upper()) for p, item in doc["paths"].items() for m in item}
    assert documented == {
        ("/api/v1/subscribers", "GET"),
        ("/api/v1/subscribers", "POST"),
        ("/api/v1/subscribers/{email}", "GET"),
        ("/api/v1/subscribers/{email}", "PATCH"),
        ("/api/v1/subscribers/{email}", "DELETE"),
        ("/api/v1/lists", "GET"),
        ("/api/v1/sends", "GET"),
        ("/api/v1/sends/{id}", "GET"),
        ("/api/v1/articles", "GET"),
    }
    for path, item in doc["paths"].items():
        for op in item.values():
            assert "401" in op["responses"] and "403" in op["responses"], path


# -- input the trial of issue 17 found answered wrongly ----------------------------------------


def test_deeply_nested_json_is_a_400_without_a_traceback(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    json_type = {"Content-Type": "application/json"}
    deep = "[" * 5000 + "]" * 5000  # 10 KB: under the size limit, over the parser's depth
    with caplog.at_level(logging.INFO):
        answer = api.call("POST", "/api/v1/subscribers", content=deep, headers=json_type)
    assert answer.status_code == 400, answer.text
    assert error_of(answer) == {"code": "invalid_json", "message": "the body is nested too deeply"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    nested = "[" * 500 + "]" * 500  # parses: then it is simply not a subscriber
    answer = api.call(
        "PATCH", "/api/v1/subscribers/a@example.org", content=nested, headers=json_type
    )
    assert answer.status_code == 422 and error_of(answer)["code"] == "invalid_body"


def test_an_unknown_list_in_the_query_is_refused_naming_the_declared_ones(api: Api) -> None:
    sid = add(api.site, "h@example.org", {"weekly": Status.ACTIVE})
    declared = ", ".join(sorted(api.site.settings.config.lists))
    for method, path in [
        ("DELETE", "/api/v1/subscribers/h@example.org?list=nope"),
        ("DELETE", "/api/v1/subscribers/h@example.org?list=false"),
        ("GET", "/api/v1/subscribers?list=nope"),
        ("GET", "/api/v1/sends?list=nope"),
    ]:
        answer = api.call(method, path)
        assert answer.status_code == 422, (path, answer.text)
        error = error_of(answer)
        assert error["code"] == "unknown_list", path
        assert error["message"].endswith(f"declared lists: {declared}"), error
        assert error["message"].startswith("list: no list named "), error
    assert status_of(api.site, sid, "weekly") is Status.ACTIVE
    done = api.call("DELETE", "/api/v1/subscribers/h@example.org?list=weekly")
    assert done.status_code == 200 and done.json()["results"] == {"weekly": "unsubscribed"}


def _articles(site: Site, count: int) -> list[str]:
    """``count`` stored articles, three at a time sharing a first-seen time; their ids,
    newest first (by time, then id: the API's order)."""
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    made = []
    for i in range(count):
        seen = start + timedelta(hours=i // 3)
        made.append(
            StoredArticle(
                id=f"art-{(i * 7) % count:03d}",
                source="content",
                key=f"a{i}.md",
                content_hash="0" * 64,
                first_seen=seen,
                changed_at=seen,
                payload=json.dumps({"title": f"Article {i}", "tags": []}),
                html="<p>x</p>",
            )
        )
    with site.engine.begin() as conn:
        save_articles(conn, made)
    return [a.id for a in sorted(made, key=lambda a: (a.first_seen, a.id), reverse=True)]


def _walk(api: Api, url: str) -> list[str]:
    seen: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        page = api.call("GET", next_url)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [a["id"] for a in body["items"]]
        assert (body["next"] is None) == (body["cursor"] is None)
        next_url = body["next"]
        assert len(seen) < 100, "the walk does not end"
    return seen


def test_articles_page_through_every_article_once(api: Api) -> None:
    newest_first = _articles(api.site, 11)
    assert _walk(api, "/api/v1/articles?limit=3") == newest_first
    assert _walk(api, "/api/v1/articles?limit=100") == newest_first
    since = "2026-11-01T10:30:00%2B01:00"  # 09:30 UTC: the first three (09:00) are older
    assert _walk(api, f"/api/v1/articles?limit=2&since={since}") == newest_first[:-3]
    first = api.call("GET", "/api/v1/articles?limit=4").json()
    assert "since" not in first["next"] and "limit=4" in first["next"]
    for bad in ["s1.1f", "a1.zz.YQ", "a1.1f.%2B%2B"]:  # not of the cursor's shape
        answer = api.call("GET", f"/api/v1/articles?cursor={bad}")
        assert answer.status_code == 422, bad
        assert error_of(answer)["message"] == "cursor: not a cursor from a `next` link"
    answer = api.call("GET", "/api/v1/articles?cursor=a1.fffffffffffffff.__8")  # the shape, not one
    assert answer.status_code == 422 and error_of(answer)["code"] == "invalid_cursor"


def test_since_is_an_rfc3339_date_time_and_nothing_else(api: Api) -> None:
    _articles(api.site, 3)  # first seen 2026-11-01 09:00 UTC
    for bad in [
        "0.5",
        "0",
        "-1",
        "2026",
        "2026-11-01",
        "2026-11-01T08:00:00",
        "1e9",
        "",
        "2026-11-01T08:00Z",
        "0001-01-01T00:00:00%2B01:00",
        "2026-11-01T24:00:00Z",
    ]:
        answer = api.call("GET", f"/api/v1/articles?since={bad}")
        assert answer.status_code == 422, (bad, answer.text)
        assert error_of(answer)["code"] == "invalid_query"
    for since, found in [
        ("2026-11-01T08:59:59.999999Z", 3),
        ("2026-11-01t09:00:00z", 0),
        ("2026-11-01T09:30:00%2B01:00", 3),
        ("2026-11-01T08:30:00-01:00", 0),
        ("2026-11-01T08:59:59.9999999999Z", 3),
    ]:
        answer = api.call("GET", f"/api/v1/articles?since={since}")
        assert answer.status_code == 200, (since, answer.text)
        assert len(answer.json()["items"]) == found, since


def test_a_405_allows_every_method_the_path_takes(api: Api) -> None:
    doc = httpx.get(api.base + "/api/v1/openapi.json").json()
    for path, item in doc["paths"].items():
        methods = {m.upper() for m in item}
        concrete = path.replace("{email}", "a@example.org").replace("{id}", "1")
        answer = api.call("PUT", concrete)
        assert answer.status_code == 405, path
        assert error_of(answer)["code"] == "method_not_allowed"
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert allowed == methods | {"HEAD"}, path
    assert api.call("HEAD", "/api/v1/lists").status_code == 200


def test_a_query_parameter_given_twice_is_refused(api: Api) -> None:
    for path, name in [
        ("/api/v1/subscribers?limit=1&limit=100", "limit"),
        ("/api/v1/subscribers?q=a&limit=2&q=b", "q"),
        ("/api/v1/articles?since=2026-11-01T09:00:00Z&since=2026-11-02T09:00:00Z", "since"),
        ("/api/v1/subscribers/a@example.org?list=weekly&list=daily", "list"),
    ]:
        method = "DELETE" if "subscribers/" in path else "GET"
        answer = api.call(method, path)
        assert answer.status_code == 422, path
        assert error_of(answer) == {"code": "invalid_query", "message": f"{name} given twice"}


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Evil\r\nBcc: all@example.org", "must not contain control characters (CR, LF, tab …)"),
        ("Ann\u202eelpmaxe", "invisible format characters"),
        ("Ann\u200bLee", "invisible format characters"),
        ("Ann\U000e0041", "invisible format characters"),
    ],
)
def test_names_and_sources_with_hidden_characters_are_refused_in_words(
    api: Api, name: str, words: str
) -> None:
    bodies = [
        {"email": "n@example.org", "lists": ["weekly"], "name": name},
        {"email": "n@example.org", "lists": ["weekly"], "status": "confirmed", "source": name},
    ]
    for body in bodies:
        answer = api.call("POST", "/api/v1/subscribers", json=body)
        assert answer.status_code == 422, answer.text
        message = error_of(answer)["message"]
        assert words in message and "pattern" not in message and "\\x" not in message
    add(api.site, "n@example.org", {"weekly": Status.ACTIVE})
    patched = api.call("PATCH", "/api/v1/subscribers/n@example.org", json={"name": name})
    assert patched.status_code == 422 and words in error_of(patched)["message"]
    code, _, err = cli(api.site, "subscribers", "add", "weekly", "m@example.org", "--name", name)
    assert code == 2 and "control character" in err, err  # the CLI: the same rule
    with pytest.raises(NameRefused, match="control character"):
        clean_name(name)  # the subscribe form: the same rule


def test_joiners_that_scripts_need_are_names(api: Api) -> None:
    name = "Mohammad\u200cReza \U0001f469\u200d\U0001f52c"  # ZWNJ (Persian), ZWJ (emoji)
    body = {"email": "p@example.org", "lists": ["weekly"], "name": name}
    answer = api.call(
        "POST", "/api/v1/subscribers", json=body | {"status": "confirmed", "source": "x"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["subscriber"]["name"] == name
    assert clean_name(name) == name


def test_every_unicode_format_character_is_refused_but_the_joiners() -> None:
    for cp in range(0x110000):
        char = chr(cp)
        if unicodedata.category(char) == "Cf" and cp not in (0x200C, 0x200D):
            assert refused_character(f"a{char}b") is not None, f"U+{cp:04X}"
            assert re.fullmatch(PLAIN_LINE, f"a{char}b") is None, f"U+{cp:04X}"
    assert refused_character("Zoë Ünal-Şahin 李") is None


def test_the_document_names_the_declared_lists(api: Api) -> None:
    doc = httpx.get(api.base + "/api/v1/openapi.json").json()
    declared = sorted(api.site.settings.config.lists)
    params = {p["name"]: p for p in doc["paths"]["/api/v1/subscribers"]["get"]["parameters"]}
    assert params["list"]["schema"]["anyOf"][0]["enum"] == declared
    body = doc["components"]["schemas"]["SubscribeIn"]["properties"]["lists"]
    assert body["items"]["enum"] == declared
    name = doc["components"]["schemas"]["SubscribeIn"]["properties"]["name"]["anyOf"][0]
    assert name["pattern"] == PLAIN_LINE


def test_an_idn_address_is_found_by_either_form_of_its_domain(api: Api) -> None:
    add(api.site, "zoë@exämple.de", {"weekly": Status.ACTIVE})
    add(api.site, "zoë@example.de", {"weekly": Status.ACTIVE})
    found = {}
    for q in [
        "zoë@exämple.de",
        "ZOË@EXÄMPLE.DE",
        "zoe\u0308@exämple",
        "zoë@exä",
        "zoë@xn--ex",
        "zoë@ex",
        "zoë@exam",
        "zoë@exb",
    ]:
        page = api.call("GET", "/api/v1/subscribers", params={"q": q})
        assert page.status_code == 200, page.text
        found[q] = sorted(i["email"] for i in page.json()["items"])
    idn, plain = "zoë@xn--exmple-cua.de", "zoë@example.de"
    assert found == {
        "zoë@exämple.de": [idn],
        "ZOË@EXÄMPLE.DE": [idn],
        "zoe\u0308@exämple": [idn],
        "zoë@exä": [idn],
        "zoë@xn--ex": [idn],
        "zoë@ex": [plain, idn],
        "zoë@exam": [plain],
        "zoë@exb": [],
    }


def test_a_path_with_a_newline_is_still_answered_by_the_api(api: Api) -> None:
    for method in ("GET", "DELETE"):
        answer = api.call(method, "/api/v1/subscribers/a%0Ab@example.org")
        assert answer.status_code == 404, answer.text
        assert error_of(answer)["code"] == "not_found"
    assert error_of(api.call("GET", "/api/v1/no%0Athing"))["code"] == "not_found"


def test_confirmed_keeps_out_an_address_that_bounced_or_complained_on_another_list(
    api: Api,
) -> None:
    bounced = add(api.site, "bo@example.org", {"weekly": Status.BOUNCED})
    spam = add(api.site, "sp@example.org", {"weekly": Status.COMPLAINED, "daily": Status.PENDING})
    left = add(api.site, "le@example.org", {"weekly": Status.UNSUBSCRIBED})
    for email in ("bo@example.org", "sp@example.org", "le@example.org"):
        answer = api.call(
            "POST",
            "/api/v1/subscribers",
            json={"email": email, "lists": ["daily"], "status": "confirmed", "source": "crm"},
        )
        assert answer.status_code == 200, answer.text
        expected = "active" if email.startswith("le") else "suppressed"
        assert answer.json()["results"] == {"daily": expected}, email
    assert status_of(api.site, bounced, "daily") is None
    assert status_of(api.site, spam, "daily") is Status.PENDING
    assert status_of(api.site, left, "daily") is Status.ACTIVE  # unsubscribing is per list
    assert [e for t, e in event_types(api.site) if t == "subscriber.confirmed"] == [
        "le@example.org"
    ]


def test_double_opt_in_still_works_for_an_address_that_bounced_elsewhere(api: Api) -> None:
    sid = add(api.site, "bo@example.org", {"weekly": Status.BOUNCED})
    answer = api.call(
        "POST", "/api/v1/subscribers", json={"email": "bo@example.org", "lists": ["daily"]}
    )
    assert answer.status_code == 202, answer.text
    (mail,) = outbox_rows(api.site)
    (path,) = confirm_paths(mail.data)
    assert status_of(api.site, sid, "daily") is Status.PENDING
    assert httpx.get(api.base + path).status_code == 200
    done = httpx.post(api.base + path, headers={"Origin": "https://news.example.org"})
    assert done.status_code == 200, done.text
    assert status_of(api.site, sid, "daily") is Status.ACTIVE  # their own confirmation
    assert status_of(api.site, sid, "weekly") is Status.BOUNCED


def _trail_of(site: Site, sid: int, entries: int) -> None:
    """``entries`` more consent-trail rows for ``sid``, each naming its number."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"subscriber_id": sid, "list_name": "weekly", "status": "active", "previous": "active",
         "at": start + timedelta(minutes=i), "source": "cli", "detail": f"entry {i}"}
        for i in range(entries)
    ]  # fmt: skip
    with site.engine.begin() as conn:
        conn.execute(subscription_events.insert(), rows)


def test_the_consent_trail_is_bounded_to_its_newest_entries(api: Api) -> None:
    sid = add(api.site, "long@example.org", {"weekly": Status.ACTIVE})  # one entry
    _trail_of(api.site, sid, 249)
    doc = api.call("GET", "/api/v1/subscribers/long@example.org").json()
    details = [e["detail"] for e in doc["consent"]]
    assert details == [f"entry {i}" for i in range(49, 249)]  # the newest 200, oldest first
    assert doc["consent_truncated"] is True and doc["consent_older"] == 50
    short = add(api.site, "short@example.org", {"weekly": Status.ACTIVE})
    _trail_of(api.site, short, 199)
    doc = api.call("GET", "/api/v1/subscribers/short@example.org").json()
    assert len(doc["consent"]) == 200 and doc["consent"][0]["detail"] is None  # the import
    assert doc["consent_truncated"] is False and doc["consent_older"] == 0


def test_a_write_only_token_never_reads_a_subscriber_through_a_write(api: Api) -> None:
    """GET needs subscribers:read; POST/PATCH/DELETE answers must not hand out the record."""
    add(api.site, "rd@example.org", {"weekly": Status.BOUNCED})
    api.call("PATCH", "/api/v1/subscribers/rd@example.org", json={"name": "Secret Name"})
    write = make_token(api.site, "widget", "subscribers:write")
    assert api.call("GET", "/api/v1/subscribers/rd@example.org", token=write).status_code == 403
    confirmed = {"lists": ["daily"], "status": "confirmed", "source": "probe"}
    answers = [
        api.call(
            "POST", "/api/v1/subscribers", token=write, json={"email": "rd@example.org"} | confirmed
        ),
        api.call(
            "POST",
            "/api/v1/subscribers",
            token=write,
            json={"email": "new@example.org"} | confirmed,
        ),
        api.call("PATCH", "/api/v1/subscribers/rd@example.org", token=write, json={"name": "X"}),
        api.call("DELETE", "/api/v1/subscribers/new@example.org?list=daily", token=write),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert set(doc) == {"results", "to_confirm"}, doc
        assert "Secret" not in answer.text and "bounce" not in answer.text
    assert answers[0].json()["results"] == {"daily": "suppressed"}
    assert answers[1].json()["results"] == {"daily": "active"}
    # With subscribers:read too, the answer carries the subscriber as before.
    both = make_token(api.site, "crm", "subscribers:read,subscribers:write")
    answer = api.call("PATCH", "/api/v1/subscribers/rd@example.org", token=both, json={"name": "Y"})
    assert answer.json()["subscriber"]["name"] == "Y"
