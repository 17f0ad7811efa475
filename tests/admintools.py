"""Helpers for tests of the admin desk (issue 17): accounts, a live server, signing in.

- ``add_admin(site_or_engine, name, password, totp=False)`` stores an account (through the
  same code as ``syndicate admin add-user``) and returns its TOTP key when ``totp`` is set;
  ``totp_code(key)`` is the code of now (pyotp).
- ``live_server(app)`` serves an ASGI app with a real uvicorn on 127.0.0.1, port 0, in a
  thread; ``.url`` is its address.
- ``sign_in(client, name, password, code="")`` signs in with an httpx client (GET the form,
  POST it with its CSRF token) and returns the POST's response;
  ``sign_in_page(page, base_url, name, password, code="")`` does it with a Playwright page.
- ``csrf_of(html)`` is the value of the first hidden ``csrf`` field of a page.
"""

from __future__ import annotations

import html as html_module
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pyotp
import uvicorn
from sqlalchemy import Engine

from syndicate.accounts import users
from syndicate.accounts.keys import admin_keys

if TYPE_CHECKING:
    from playwright.sync_api import Page

ADMIN_SECRET = "admin-test-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def add_admin(
    site_or_engine: Any,
    name: str,
    password: str = PASSWORD,
    totp: bool = False,
    *,
    secret: str | None = None,
    issuer: str = "Test Letter",
) -> str | None:
    """Store an admin; with ``totp``, turn TOTP on and return the key (base32)."""
    engine: Engine = getattr(site_or_engine, "engine", site_or_engine)
    users.add_user(engine, name, password, now=datetime.now(UTC))
    if not totp:
        return None
    keys = admin_keys(secret or os.environ.get("SYNDICATE_SECRET") or ADMIN_SECRET)
    return users.enable_totp(engine, keys, name, issuer=issuer).secret


def totp_code(key: str, at: datetime | None = None) -> str:
    """The TOTP code of ``key`` at ``at`` (default: now)."""
    return pyotp.TOTP(key).at(at or datetime.now(UTC))


def csrf_of(page_html: str) -> str:
    """The first hidden ``csrf`` field's value on a page."""
    found = _CSRF.search(page_html)
    assert found is not None, "no csrf field on the page"
    return html_module.unescape(found.group(1))


@dataclass
class LiveServer:
    """A uvicorn serving an app on 127.0.0.1 in a thread."""

    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def live_server(app: Any) -> Iterator[LiveServer]:
    """Serve ``app`` with uvicorn on a free port until the block ends."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(server, thread, port)
    finally:
        server.should_exit = True
        thread.join(20)


def sign_in(
    client: httpx.Client,
    name: str,
    password: str = PASSWORD,
    code: str = "",
    *,
    next_path: str = "/admin/",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET /admin/sign-in, then POST it filled in (redirects not followed)."""
    form = client.get("/admin/sign-in")
    assert form.status_code == 200, form.text
    data = {
        "csrf": csrf_of(form.text),
        "name": name,
        "password": password,
        "code": code,
        "next": next_path,
    }
    return client.post("/admin/sign-in", data=data, headers=headers, follow_redirects=False)


def sign_in_page(
    page: Page, base_url: str, name: str, password: str = PASSWORD, code: str = ""
) -> None:
    """Sign in with a browser page and wait for the page that follows."""
    page.goto(base_url + "/admin/sign-in")
    page.fill("#name", name)
    page.fill("#password", password)
    if code:
        page.fill("#code", code)
    with page.expect_navigation():
        page.click("button[type=submit]")
