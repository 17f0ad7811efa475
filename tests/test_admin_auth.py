"""The admin desk's gate against a real uvicorn (port 0) with httpx: signing in (right,
wrong, unknown), the backoff on a moved clock, session expiry, signing out, removed users
and changed passwords, every /admin route without a session, CSRF and cross-origin posts,
the cookies' flags, and the desk without SYNDICATE_SECRET. SQLite always; PostgreSQL too
where the store matters (sessions, removal)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from syndicate.accounts import passwords, users
from syndicate.accounts.keys import admin_keys
from syndicate.accounts.signin import session_hash
from syndicate.store.tables import admin_sessions, admin_users
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from syndicate.web.admin import admin_form, signed_in
from syndicate.web.admin import cookies as admin_cookies
from syndicate.web.admin.gate import PUBLIC, AdminArea, safe_next
from tests.admintools import (
    ADMIN_SECRET,
    PASSWORD,
    LiveServer,
    add_admin,
    csrf_of,
    live_server,
    sign_in,
    totp_code,
)
from tests.conftest import Site
from tests.test_web import Clock

HTTP_WEB = '\n[web]\nbase_url = "http://127.0.0.1"\n'
REFUSED = "The name, password or code is not right."


async def _echo(request: Request) -> Response:
    """A desk page that posts: what desk17's pages do."""
    if request.method == "POST":
        form = await admin_form(request)
        return PlainTextResponse(f"posted {form.get('thing')} as {signed_in(request).user}")
    return PlainTextResponse(f"hello {signed_in(request).user}")


EXTRA_PAGES = [
    Route("/admin/things/{thing_id:int}", _echo, methods=["GET", "POST"]),
]


class Desk:
    """A live app on one site: its clock, its server, a client without redirects."""

    def __init__(self, site: Site, clock: Clock, server: LiveServer, app: Starlette) -> None:
        self.site, self.clock, self.server, self.app = site, clock, server, app

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, follow_redirects=False, **kwargs)


@pytest.fixture
def make_desk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    stack: list[Any] = []

    def make(site: Site, config: str = HTTP_WEB) -> Desk:
        site.configure(config)
        clock = Clock()
        app = create_app(
            site.settings,
            site.engine,
            signer=Signer(ADMIN_SECRET),
            clock=clock,
            admin_pages=list(EXTRA_PAGES),
        )
        cm = live_server(app)
        server = cm.__enter__()
        stack.append(cm)
        return Desk(site, clock, server, app)

    yield make
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def desk(site: Site, make_desk: Any) -> Desk:
    add_admin(site, "ed")
    return make_desk(site)


@pytest.fixture
def any_desk(any_site: Site, make_desk: Any) -> Desk:
    add_admin(any_site, "ed")
    return make_desk(any_site)


def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def _signed_in(desk: Desk, client: httpx.Client, name: str = "ed", **kw: Any) -> None:
    answer = sign_in(client, name, **kw)
    assert answer.status_code == 303, answer.text
    assert client.get("/admin/").status_code == 200


# --- signing in ---------------------------------------------------------------------------


def test_sign_in_opens_a_session_stored_hashed(any_desk: Desk) -> None:
    with any_desk.client() as client:
        answer = sign_in(client, "ed")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/"
        raw = admin_cookies.unsign(
            admin_keys(ADMIN_SECRET).cookies, "session", client.cookies["syndicate_admin"]
        )
        assert raw is not None
        page = client.get("/admin/")
        assert page.status_code == 200
        assert "Signed in as <strong>ed</strong>" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "script-src" not in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    with any_desk.site.engine.connect() as conn:
        stored = conn.execute(select(admin_sessions.c.id_hash)).scalars().all()
        last = conn.execute(select(admin_users.c.last_sign_in_at)).scalar_one()
    assert stored == [session_hash(raw)]
    assert raw not in stored
    assert last == any_desk.clock.now


def test_wrong_password_and_unknown_name_get_the_same_answer(desk: Desk) -> None:
    with desk.client() as client:
        wrong = sign_in(client, "ed", "not the password at all")
        unknown = sign_in(client, "nobody", "not the password at all")
        for answer in (wrong, unknown):
            assert answer.status_code == 400
            assert REFUSED in answer.text
            assert "syndicate_admin=" not in answer.headers.get("set-cookie", "")

        # The pages differ only in the name typed back and the form's token.
        def scrub(text: str) -> str:
            return re.sub(r'(name="csrf" value=")[^"]*', r"\1", text).replace("nobody", "ed")

        assert scrub(wrong.text) == scrub(unknown.text)
        assert client.get("/admin/").status_code == 303


def test_the_name_is_case_insensitive_and_next_is_kept(desk: Desk) -> None:
    with desk.client() as client:
        answer = sign_in(client, " ED ", next_path="/admin/things/7?x=1")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/things/7?x=1"
        assert client.get("/admin/things/7").text == "hello ed"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/admin/",
        "https://evil.example/admin/",
        "/feeds/x",
        "/admin\\..",
        "/\\evil",
        "/admin/../feeds/x",
        "/admin/sign-in",
        "javascript:alert(1)",
        "/admin/%2e%2e/feeds/rss.xml",  # browsers read %2e as a dot: /feeds/rss.xml
        "/admin/%2E%2e/feeds/x",
        "/admin/.%2e/feeds/x",
        "/admin/%2e/sign-in",
    ],
)
def test_next_never_leaves_the_desk(desk: Desk, target: str) -> None:
    with desk.client() as client:
        answer = sign_in(client, "ed", next_path=target)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/"


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/admin/%2e%2e/feeds/rss.xml", False),
        ("/admin/things/%2E%2E/%2E%2E/feeds", False),
        ("/admin/..%2f..%2fetc", False),
        ("/admin/%2Fevil", False),
        ("/admin/x%5c..%5cfeeds", False),
        ("/admin/x%5C", False),
        ("/admin/./things", False),
        ("/admin/things/..", False),
        ("/admin/%73ign-in", False),  # the sign-in page, spelt encoded
        ("/admin/subscribers?q=ada%40example.org&list=weekly", True),
        ("/admin/sends/weekly-2", True),
        ("/admin/things/a..b", True),  # dots inside a segment are no dot segment
        ("/admin/", True),
    ],
)
def test_next_refuses_encoded_dot_segments_and_slashes(target: str, kept: bool) -> None:
    assert safe_next(target) == (target if kept else "/admin/")


def test_passwords_are_hashed_with_argon2id_at_rfc_9106_low_memory(
    production_argon2: None,
) -> None:
    # the other in-process tests hash with cheap parameters (tests/conftest.py)
    hashed = passwords.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(hashed, PASSWORD) == passwords.Verdict(True, needs_rehash=False)
    assert not passwords.verify(hashed, PASSWORD + "!").ok


def test_a_weaker_hash_is_made_again_on_sign_in(desk: Desk, production_argon2: None) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with desk.site.engine.begin() as conn:
        conn.execute(update(admin_users).values(password_hash=weak))
    with desk.client() as client:
        _signed_in(desk, client)
    with desk.site.engine.connect() as conn:
        now_stored = conn.execute(select(admin_users.c.password_hash)).scalar_one()
    assert now_stored != weak
    assert not PasswordHasher().check_needs_rehash(now_stored)
    PasswordHasher().verify(now_stored, PASSWORD)


# --- TOTP ----------------------------------------------------------------------------------


def test_totp_code_is_needed_and_good_once(site: Site, make_desk: Any) -> None:
    key = add_admin(site, "ann", totp=True)
    assert key is not None
    desk = make_desk(site)
    code = totp_code(key, desk.clock.now)
    with desk.client() as client:
        assert sign_in(client, "ann").status_code == 400  # no code
        wrong = "000000" if code != "000000" else "111111"
        assert sign_in(client, "ann", code=wrong).status_code == 400
        assert sign_in(client, "ann", code=code).status_code == 303
        session = client.cookies["syndicate_admin"]
    with desk.client() as other:
        again = sign_in(other, "ann", code=code)  # the same code, within its window
        assert again.status_code == 400 and REFUSED in again.text
        desk.clock.advance(timedelta(seconds=30))
        assert sign_in(other, "ann", code=totp_code(key, desk.clock.now)).status_code == 303
    with desk.client(cookies={"syndicate_admin": session}) as first:
        assert first.get("/admin/").status_code == 200
    users.disable_totp(site.engine, "ann")
    with desk.client() as client:
        assert sign_in(client, "ann").status_code == 303


def test_totp_key_is_stored_sealed(site: Site) -> None:
    key = add_admin(site, "ann", totp=True)
    assert key is not None
    with site.engine.connect() as conn:
        stored = conn.execute(select(admin_users.c.totp_secret)).scalar_one()
    assert stored is not None and key not in stored and stored.startswith("v1:")


# --- backoff -------------------------------------------------------------------------------


def test_backoff_per_account_grows_and_is_the_same_for_unknown_names(desk: Desk) -> None:
    with desk.client() as client:
        for name in ("ed", "nobody"):
            for _ in range(5):
                assert sign_in(client, name, "wrong wrong wrong").status_code == 400
            held = sign_in(client, name, PASSWORD if name == "ed" else "x")
            assert held.status_code == 429
            assert held.headers["retry-after"] == "2"
            assert "Please wait 2 seconds" in held.text
        # Waiting it out: the right password works again.
        desk.clock.advance(timedelta(seconds=2))
        _signed_in(desk, client)
    with desk.client() as client:
        # The unknown name's wait doubles with each further failure.
        waits = []
        for _ in range(4):
            desk.clock.advance(timedelta(seconds=3600))
            assert sign_in(client, "nobody", "x").status_code == 400
            waits.append(int(sign_in(client, "nobody", "x").headers["retry-after"]))
        assert waits == [4, 8, 16, 32]


def test_backoff_is_bounded(desk: Desk) -> None:
    with desk.client() as client:
        for _ in range(30):
            desk.clock.advance(timedelta(seconds=1000))
            assert sign_in(client, "ed", "wrong wrong wrong").status_code == 400
        held = sign_in(client, "ed")
        assert held.status_code == 429
        assert held.headers["retry-after"] == "900"
        assert "15 minutes" in held.text


def test_backoff_per_client_address(desk: Desk) -> None:
    here = {"x-forwarded-for": "203.0.113.7"}  # the proxy (127.0.0.1) is trusted
    with desk.client() as client:
        for n in range(20):
            answer = sign_in(client, f"user{n}", "wrong wrong wrong", headers=here)
            assert answer.status_code == 400
        assert sign_in(client, "ed", headers=here).status_code == 429
        # Another address is not held back, nor is the account.
        _signed_in(desk, client, headers={"x-forwarded-for": "198.51.100.1"})


# --- sessions ------------------------------------------------------------------------------


def test_sessions_expire_when_idle_and_absolutely(any_desk: Desk) -> None:
    with any_desk.client() as client:
        _signed_in(any_desk, client)
        any_desk.clock.advance(timedelta(minutes=59))
        assert client.get("/admin/").status_code == 200
        any_desk.clock.advance(timedelta(minutes=61))
        gone = client.get("/admin/")
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/admin/sign-in")
        _signed_in(any_desk, client)
        for _ in range(23):  # used every 30 minutes: 11.5 hours
            any_desk.clock.advance(timedelta(minutes=30))
            assert client.get("/admin/").status_code == 200
        any_desk.clock.advance(timedelta(minutes=30))
        assert client.get("/admin/").status_code == 303
    with any_desk.site.engine.connect() as conn:
        assert conn.execute(select(admin_sessions)).all() == []


def test_expired_sessions_are_deleted_at_the_next_sign_in(desk: Desk) -> None:
    with desk.client() as gone, desk.client() as back:
        _signed_in(desk, gone)
        desk.clock.advance(timedelta(hours=2))
        _signed_in(desk, back)  # the other browser never comes back
    with desk.site.engine.connect() as conn:
        assert len(conn.execute(select(admin_sessions)).all()) == 1


def test_sign_out_ends_the_session(desk: Desk) -> None:
    with desk.client() as client:
        _signed_in(desk, client)
        cookie = client.cookies["syndicate_admin"]
        assert client.get("/admin/sign-out").status_code == 405  # POST only
        page = client.get("/admin/")
        answer = client.post("/admin/sign-out", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/sign-in"
        assert "Max-Age=0" in _set_cookie(answer, "syndicate_admin")
    with desk.client(cookies={"syndicate_admin": cookie}) as replay:
        assert replay.get("/admin/").status_code == 303


@pytest.mark.parametrize("how", ["remove-user", "passwd"])
def test_removing_a_user_or_changing_the_password_ends_sessions(any_desk: Desk, how: str) -> None:
    with any_desk.client() as client, any_desk.client() as second:
        _signed_in(any_desk, client)
        _signed_in(any_desk, second)
        if how == "remove-user":
            users.remove_user(any_desk.site.engine, "ed")
        else:
            ended = users.change_password(
                any_desk.site.engine, "ed", "another long password", now=any_desk.clock.now
            )
            assert ended == 2
        assert client.get("/admin/").status_code == 303
        assert second.get("/admin/").status_code == 303
        if how == "passwd":
            assert sign_in(client, "ed").status_code == 400
            assert sign_in(client, "ed", "another long password").status_code == 303


# --- the gate ------------------------------------------------------------------------------


def _admin_requests(app: Starlette) -> list[tuple[str, str]]:
    """Every (method, path) the app answers under /admin, path parameters filled in."""
    found = []
    areas = [r for r in app.routes if isinstance(r, AdminArea)]
    assert len(areas) == 1
    for route in areas[0].routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted(route.methods or {"GET"}):
            found.append((method, path))
    others = [r.path for r in app.routes if isinstance(r, Route) and r.path.startswith("/admin")]
    assert others == [], "an /admin route outside the gate"
    return found


def _cookie_jars() -> list[dict[str, str]]:
    keys = admin_keys(ADMIN_SECRET)
    return [
        {},
        {"syndicate_admin": "forged.value"},
        {"syndicate_admin": admin_cookies.sign(keys.cookies, "session", "no-such-session")},
        {"syndicate_admin": admin_cookies.sign(keys.cookies, "pre", "abc~1")},  # wrong purpose
    ]


def test_every_admin_url_without_a_session_lands_on_sign_in(desk: Desk) -> None:
    wanted = _admin_requests(desk.app)
    assert ("POST", "/admin/things/1") in wanted and ("GET", "/admin/") in wanted
    wanted += [("GET", "/admin/no-such-page"), ("DELETE", "/admin/"), ("PUT", "/admin/x/y")]
    for jar in _cookie_jars():
        with desk.client(cookies=jar) as client:
            for method, path in wanted:
                answer = client.request(method, path)
                if path in PUBLIC:
                    assert answer.status_code in (200, 403), (method, path)
                    if answer.status_code == 200:
                        assert "Signed in as" not in answer.text
                    continue
                if method in ("GET", "HEAD"):
                    assert answer.status_code == 303, (method, path, jar)
                    assert answer.headers["location"].startswith("/admin/sign-in?next=%2Fadmin")
                else:
                    assert answer.status_code == 403, (method, path, jar)
                assert "hello" not in answer.text and "posted" not in answer.text
    with desk.client() as client:
        assert client.get("/admin").headers["location"] == "/admin/"


def test_a_signed_in_admin_reaches_the_pages(desk: Desk) -> None:
    with desk.client() as client:
        _signed_in(desk, client)
        assert client.get("/admin/no-such-page").status_code == 404
        again = client.get("/admin/sign-in?next=/admin/things/2")
        assert again.status_code == 303 and again.headers["location"] == "/admin/things/2"
        assert client.request("DELETE", "/admin/").status_code == 405
        page = client.get("/admin/")
        posted = client.post("/admin/things/3", data={"csrf": csrf_of(page.text), "thing": "a"})
        assert posted.status_code == 200 and posted.text == "posted a as ed"


# --- CSRF and origins ------------------------------------------------------------------------


def test_posts_without_the_csrf_token_are_refused(desk: Desk) -> None:
    with desk.client() as client:
        _signed_in(desk, client)
        for data in ({}, {"csrf": ""}, {"csrf": "x" * 43}, {"csrf": ["a", "b"]}):
            assert client.post("/admin/things/1", data=data).status_code == 403
            assert client.post("/admin/sign-out", data=data).status_code == 403
        assert client.get("/admin/").status_code == 200  # still signed in


def _warnings(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.WARNING
    ]


def test_refused_sign_ins_are_logged_once_a_minute_never_the_secret(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logger = "syndicate.accounts.signin"
    here = {"x-forwarded-for": "203.0.113.9"}  # the proxy (127.0.0.1) is trusted
    with desk.client() as client:
        for _ in range(3):
            assert sign_in(client, "Ghost", "guess-one-two-three", headers=here).status_code == 400
        assert _warnings(caplog, logger) == [
            "admin sign-in refused for ghost from 203.0.113.9 "
            "(failure 1; next attempt heard in 0 s)"
        ]
        assert sign_in(client, "ed", "wrong wrong wrong", headers=here).status_code == 400
        assert sign_in(client, "ed", "wrong wrong wrong").status_code == 400  # another address
        assert _warnings(caplog, logger)[1:] == [
            "admin sign-in refused for ed from 203.0.113.9 (failure 1; next attempt heard in 0 s)",
            "admin sign-in refused for ed from 127.0.0.1 (failure 2; next attempt heard in 0 s)",
        ]
        desk.clock.advance(timedelta(seconds=61))  # a minute on: one more line for ghost
        for _ in range(3):  # failures 4, 5 (the backoff starts), then a wait
            sign_in(client, "ghost", "guess-one-two-three", headers=here)
        assert _warnings(caplog, logger)[3:] == [
            "admin sign-in refused for ghost from 203.0.113.9 "
            "(failure 4; next attempt heard in 0 s)"
        ]
        desk.clock.advance(timedelta(seconds=61))
        held = sign_in(client, "ghost", "guess-one-two-three", headers=here)
        assert held.status_code in (400, 429)
        (last,) = _warnings(caplog, logger)[4:]
        assert last.startswith("admin sign-in refused for ghost from 203.0.113.9 (failure ")
        assert int(last.rsplit("heard in ", 1)[1].removesuffix(" s)")) > 0  # held back now
    every = " ".join(r.getMessage() for r in caplog.records)
    assert "guess-one-two-three" not in every and "wrong wrong" not in every


def test_refused_posts_are_logged_once_a_minute_never_the_token(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logger = "syndicate.web.admin.gate"
    with desk.client() as client:
        _signed_in(desk, client)
        for _ in range(3):
            assert client.post("/admin/things/1", data={"csrf": "x" * 43}).status_code == 403
        assert _warnings(caplog, logger) == [
            "admin post to /admin/things/1 refused from 127.0.0.1 (signed in as ed): "
            "no valid CSRF token"
        ]
        desk.clock.advance(timedelta(seconds=61))
        foreign = {"Origin": "https://evil.example"}
        assert client.post("/admin/things/2", data={}, headers=foreign).status_code == 403
        assert _warnings(caplog, logger)[1:] == [
            "admin post to /admin/things/2 refused from 127.0.0.1 (signed in as ed): "
            "sent from another site"
        ]
    with desk.client() as stranger:  # no session, another address
        posted = stranger.post("/admin/things/1", headers={"x-forwarded-for": "198.51.100.7"})
        assert posted.status_code == 403
        assert _warnings(caplog, logger)[2:] == [
            "admin post to /admin/things/1 refused from 198.51.100.7: not signed in"
        ]
    every = " ".join(r.getMessage() for r in caplog.records)
    assert "x" * 43 not in every  # what was posted as the token


def test_sign_in_needs_its_pre_session_cookie_and_token(desk: Desk) -> None:
    with desk.client() as client:
        form = client.get("/admin/sign-in")
        pre = _set_cookie(form, "syndicate_admin_pre")
        assert "HttpOnly" in pre and "SameSite=strict" in pre and "Path=/admin" in pre
        token = csrf_of(form.text)
        data = {"name": "ed", "password": PASSWORD, "csrf": token}
        assert client.post("/admin/sign-in", data={**data, "csrf": "nope"}).status_code == 403
        assert client.post("/admin/sign-in", data={**data, "csrf": ""}).status_code == 403
    with desk.client() as stranger:  # the token without its cookie
        assert stranger.post("/admin/sign-in", data=data).status_code == 403
    with desk.client(cookies={"syndicate_admin_pre": "x.y"}) as forged:
        assert forged.post("/admin/sign-in", data=data).status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/page"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
def test_cross_origin_posts_are_refused(desk: Desk, headers: dict[str, str]) -> None:
    with desk.client() as client:
        form = client.get("/admin/sign-in")
        data = {"name": "ed", "password": PASSWORD, "csrf": csrf_of(form.text)}
        assert client.post("/admin/sign-in", data=data, headers=headers).status_code == 403
        _signed_in(desk, client)
        token = csrf_of(client.get("/admin/").text)
        for path in ("/admin/things/1", "/admin/sign-out"):
            answer = client.post(path, data={"csrf": token}, headers=headers)
            assert answer.status_code == 403, path
        same = {"origin": desk.server.url, "sec-fetch-site": "same-origin"}
        assert client.post("/admin/things/1", data={"csrf": token}, headers=same).status_code == 200


# --- cookies -----------------------------------------------------------------------------------


def test_session_cookie_flags_over_http(desk: Desk) -> None:
    with desk.client() as client:
        cookie = _set_cookie(sign_in(client, "ed"), "syndicate_admin")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert "Max-Age=43200" in cookie
    assert "Secure" not in cookie


def test_cookies_are_secure_behind_https(site: Site, make_desk: Any) -> None:
    add_admin(site, "ed")
    desk = make_desk(site, HTTP_WEB)
    proto = {"x-forwarded-proto": "https"}  # from 127.0.0.1, a trusted proxy
    with desk.client() as client:
        form = client.get("/admin/sign-in", headers=proto)
        assert "Secure" in _set_cookie(form, "syndicate_admin_pre")
        data = {"name": "ed", "password": PASSWORD, "csrf": csrf_of(form.text), "next": "/admin/"}
        # httpx keeps a Secure cookie for https only: the browser behind the proxy sends it.
        pre = form.cookies["syndicate_admin_pre"]
        answer = client.post(
            "/admin/sign-in",
            data=data,
            headers={**proto, "cookie": f"syndicate_admin_pre={pre}"},
        )
        assert answer.status_code == 303
        assert "Secure" in _set_cookie(answer, "syndicate_admin")
    https = make_desk(site, '\n[web]\nbase_url = "https://desk.example.org"\n')
    with https.client() as client:
        assert "Secure" in _set_cookie(client.get("/admin/sign-in"), "syndicate_admin_pre")


def test_without_the_secret_the_desk_is_off(
    site: Site, make_desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_admin(site, "ed")
    monkeypatch.delenv("SYNDICATE_SECRET")
    desk = make_desk(site)
    with desk.client() as client:
        for path in ("/admin/", "/admin/sign-in", "/admin/things/1"):
            answer = client.get(path)
            assert answer.status_code == 503
            assert "SYNDICATE_SECRET is not set" in answer.text
            assert "Create one with" in answer.text
        assert client.post("/admin/sign-in", data={"name": "ed"}).status_code == 503
        assert "syndicate_admin" not in client.cookies
