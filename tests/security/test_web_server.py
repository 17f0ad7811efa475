"""Attacks on the web server of ``syndicate run`` (issue 13, items 9, 10, 13 and 14), each
against a real ``syndicate run`` on 127.0.0.1 through raw sockets, or the same server setup
(``syndicate.service.http``) in-process. Every test here failed before its fix.

Attacks defended:

- Slowloris (item 9): a client trickling its headers (one byte at a time, or nothing at
  all) is answered 408 and disconnected after ``[web] header_timeout``; one that sends its
  headers and then trickles the body gets 408 after ``[web] body_timeout``, and the page
  it was posting to logs no traceback (the app sees the client gone). Headers past 64 KB
  get 431. Past ``[web] max_connections`` open connections, a new one is answered 503 at
  once without being read; once the slow ones are gone, requests are served again.
- Forged ``X-Forwarded-For`` (item 10): from a trusted proxy, only an IP address is
  believed (the right-most hop that is not a trusted proxy; ``ip:port`` keeps only the
  address). Text such as ``8.8.8.8 (verified by admin) consent=paper-form`` falls back to
  the connection's address, so it never reaches the consent trail, and rotating junk
  values share one rate-limit bucket instead of getting a fresh one each. A trusted proxy
  that is not an address or network (a host name, ``/33``) is a config error naming it.
- Tokens in logs (item 13): a token page that fails with an error quoting its link logs
  ``<token>`` in its place, in syndicate's log and in uvicorn's error and access logs.
- Host header redirects (item 14): the trailing-slash redirect goes to ``[web] base_url``
  (else ``publication.base_url``), whatever ``Host`` the request names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from starlette.requests import Request

from syndicate.errors import ConfigError
from syndicate.models import Status
from syndicate.service.http import server_config
from syndicate.store import subscribers as repo
from syndicate.subscribers.address import normalize_address
from syndicate.subscribers.tokens import Purpose, Signer
from syndicate.web import create_app
from syndicate.web.logs import redact
from syndicate.web.pages import Pages
from syndicate.web.proxy import Trusted, forwarded_client
from tests.conftest import Site
from tests.test_run import CONFIG, SECRET, Running
from tests.test_web import add

FORM = "application/x-www-form-urlencoded"
GIVE_UP = 20.0  # seconds a test waits for the server before calling it stuck


@contextlib.contextmanager
def running(site: Site, tmp_path: Path, web: str = "") -> Iterator[Running]:
    """A ``syndicate run`` of ``site`` with ``[web]`` settings ``web``."""
    site.configure(CONFIG + f"\n[web]\n{web}\n")
    server = Running(site, tmp_path / "run.log")
    try:
        yield server
    finally:
        assert server.stop() == 0


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP)


def _read_all(conn: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := conn.recv(65536):
            data += chunk
    return data


def request(port: int, raw: bytes) -> bytes:
    """The whole answer to ``raw`` on a new connection (b"" if it was reset)."""
    with _connect(port) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(raw)
        return _read_all(conn)


def get(port: int, target: str, **headers: str) -> bytes:
    fields = {"Host": "127.0.0.1", "Connection": "close"} | headers
    lines = [f"GET {target} HTTP/1.1"] + [f"{k.replace('_', '-')}: {v}" for k, v in fields.items()]
    return request(port, ("\r\n".join(lines) + "\r\n\r\n").encode())


def status(answer: bytes) -> int | None:
    first = answer.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else None


def trickle(port: int, head: bytes, drip: bytes = b"a", every: float = 0.2) -> bytes | None:
    """Send ``head``, then one byte of ``drip`` every ``every`` seconds until the server
    answers or closes: what it sent (b"" for a plain close), or None if it never did
    within :data:`GIVE_UP` seconds."""
    with _connect(port) as conn:
        conn.sendall(head)
        until = time.monotonic() + GIVE_UP
        while time.monotonic() < until:
            if select.select([conn], [], [], every)[0]:
                return _read_all(conn)
            try:
                conn.sendall(drip)
            except (BrokenPipeError, ConnectionResetError):
                return _read_all(conn)
    return None


# --- item 9: slow clients ---------------------------------------------------------------------


def test_slow_headers_and_slow_bodies_are_cut_off(site: Site, tmp_path: Path) -> None:
    with running(site, tmp_path, "header_timeout = 1\nbody_timeout = 1") as server:
        head = b"GET /feeds/rss.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        answer = trickle(server.port, head)
        assert answer is not None, "a client trickling its headers was never cut off"
        assert status(answer) == 408

        silent = trickle(server.port, b"", drip=b"")  # connects and sends nothing at all
        assert silent == b""

        body = (
            b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: " + FORM.encode() + b"\r\nContent-Length: 4000\r\n\r\nemail="
        )
        answer = trickle(server.port, body)
        assert answer is not None, "a client trickling its body was never cut off"
        assert status(answer) in (408, None)

        huge = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n"
        assert status(request(server.port, huge)) == 431

        assert status(get(server.port, "/subscribe")) == 200  # the others are served
    log = (tmp_path / "run.log").read_text()
    assert "Traceback" not in log and "error handling" not in log, log


def test_past_max_connections_new_ones_get_503_until_slow_ones_leave(
    site: Site, tmp_path: Path
) -> None:
    with running(site, tmp_path, "header_timeout = 120\nmax_connections = 4") as server:
        slow = [_connect(server.port) for _ in range(4)]
        try:
            for conn in slow:
                conn.sendall(b"GET /feeds/rss.xml HTTP/1.1\r\nHost: 1")  # and no more
            answers = []
            for _ in range(10):  # the server may not have taken all four in yet
                answers.append(get(server.port, "/subscribe"))
                if status(answers[-1]) != 200:
                    break
                time.sleep(0.2)
            assert status(answers[-1]) in (503, None), answers  # None: refused, reset
        finally:
            for conn in slow:
                conn.close()
        for _ in range(50):  # the server notices the slow ones leave
            if status(get(server.port, "/subscribe")) == 200:
                break
            time.sleep(0.2)
        else:
            pytest.fail("requests are still refused after the slow clients left")
    # in syndicate's words and run's format (a timestamp), not uvicorn's "WARNING:  …"
    said = (
        r"(?m)^\d{4}-\d\d-\d\d [\d:,]+ WARNING web: more than 4 connections at once: answering 503$"
    )
    assert re.search(said, (tmp_path / "run.log").read_text()), (tmp_path / "run.log").read_text()


# --- item 10: X-Forwarded-For -----------------------------------------------------------------


def _subscribe(port: int, address: str, forwarded: str) -> int | None:
    body = f"email={address}&list=weekly".encode()
    head = (
        "POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: {FORM}\r\nContent-Length: {len(body)}\r\n"
        f"X-Forwarded-For: {forwarded}\r\n\r\n"
    )
    return status(request(port, head.encode() + body))


def _consent(site: Site, address: str) -> list[str | None]:
    with site.engine.connect() as conn:
        found = repo.subscriber_by_key(conn, normalize_address(address).key)
        assert found is not None, address
        return [event.detail for event in repo.events_of(conn, found.id)]


def _wait_for_subscribers(site: Site, addresses: list[str]) -> None:
    deadline = time.monotonic() + GIVE_UP
    while time.monotonic() < deadline:
        with site.engine.connect() as conn:
            keys = [normalize_address(address).key for address in addresses]
            if all(repo.subscriber_by_key(conn, key) is not None for key in keys):
                return
        time.sleep(0.1)


def test_forwarded_for_is_read_as_an_address_only(site: Site, tmp_path: Path) -> None:
    forged = "8.8.8.8 (verified by admin) consent=paper-form"
    with running(site, tmp_path) as server:
        assert _subscribe(server.port, "forged@example.org", forged) == 200
        assert _subscribe(server.port, "real@example.org", "203.0.113.7") == 200
        chain = "198.51.100.1, 203.0.113.9:4711, 127.0.0.1"  # a client, its proxy, ours
        assert _subscribe(server.port, "chain@example.org", chain) == 200
        assert _subscribe(server.port, "v6@example.org", "[2001:db8::5]:443") == 200
        # Rotating junk is one visitor, the proxy itself: 5 posts per 10 minutes.
        answers = [_subscribe(server.port, f"r{i}@example.org", f"x{i}") for i in range(8)]
        # The form only records the request; run's outbox sender carries it out (within ~1 s).
        _wait_for_subscribers(
            site, ["forged@example.org", "real@example.org", "chain@example.org", "v6@example.org"]
        )
    assert _consent(site, "forged@example.org") == ["subscribe form from 127.0.0.1"]
    assert _consent(site, "real@example.org") == ["subscribe form from 203.0.113.7"]
    assert _consent(site, "chain@example.org") == ["subscribe form from 203.0.113.9"]
    assert _consent(site, "v6@example.org") == ["subscribe form from 2001:db8::5"]
    assert 429 in answers, answers


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.1", ["203.0.113.7"], "192.0.2.1"),  # not from a trusted proxy: ignored
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7, junk"], "127.0.0.1"),  # the right-most hop is junk
        ("127.0.0.1", ["junk, 203.0.113.7"], "203.0.113.7"),  # left of it is not read
        ("127.0.0.1", ["203.0.113.7", "10.0.0.2"], "203.0.113.7"),  # two headers, a proxy
        ("127.0.0.1", ["10.0.0.2, 127.0.0.1"], "10.0.0.2"),  # all trusted: the first
        ("127.0.0.1", ["::ffff:203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["fe80::1%eth0"], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7:x"], "127.0.0.1"),
        ("127.0.0.1", ["[2001:db8::1]x"], "127.0.0.1"),
        ("127.0.0.1", [""], "127.0.0.1"),
        ("127.0.0.1", [",".join(["203.0.113.7"] * 40)], "127.0.0.1"),  # too many hops
        ("::ffff:127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
    ],
)
def test_forwarded_client(peer: str, forwarded: list[str], expected: str) -> None:
    trusted = Trusted(["127.0.0.1", "::1", "10.0.0.0/8"])
    assert forwarded_client(peer, forwarded, trusted) == expected


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('trusted_proxies = ["proxy.internal"]', "web.trusted_proxies[0]: "),
        ('trusted_proxies = ["10.0.0.0/33"]', "web.trusted_proxies[0]: "),
        ("header_timeout = 0", "web.header_timeout: "),
        ("max_connections = 0", "web.max_connections: "),
    ],
)
def test_web_limits_and_proxies_are_checked(site: Site, setting: str, expected: str) -> None:
    site.configure(f"[web]\n{setting}\n")
    with pytest.raises(ConfigError) as info:
        site.settings  # noqa: B018 - loading is what is tested
    [problem] = info.value.problems
    assert problem.startswith("syndicate.toml: " + expected), problem


def test_trusted_proxies_default_to_loopback_and_take_networks(site: Site) -> None:
    assert site.settings.config.web.trusted_proxies == ["127.0.0.1", "::1"]
    site.configure('[web]\ntrusted_proxies = ["10.0.0.5", "192.168.1.7/24", "0:0::1"]\n')
    assert site.settings.config.web.trusted_proxies == ["10.0.0.5", "192.168.1.0/24", "::1"]


# --- item 13: tokens in logs ------------------------------------------------------------------


BROKEN_CONFIRMED = '{{ ("%(" ~ preferences ~ ")s") | format(x=1) }}\n'  # KeyError: the link


def test_a_page_failing_over_its_link_logs_no_token(site: Site, tmp_path: Path) -> None:
    (site.root / "templates" / "web").mkdir(parents=True)
    (site.root / "templates" / "web" / "confirmed.html.j2").write_text(BROKEN_CONFIRMED)
    sid = add(site, "ann@example.org", {"weekly": Status.PENDING})
    token = Signer(SECRET).make(Purpose.CONFIRM, sid, "weekly", now=datetime.now(UTC))
    with running(site, tmp_path) as server:
        answers = []
        for method in ("GET", "POST"):  # a GET may show a button that POSTs
            raw = f"{method} /confirm/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            raw += f"Connection: close\r\nContent-Type: {FORM}\r\nContent-Length: 0\r\n\r\n"
            answers.append(status(request(server.port, raw.encode())))
    assert 500 in answers, answers
    log = (tmp_path / "run.log").read_text()
    assert "confirmed cannot be shown" in log, log
    assert "/preferences/<token>" in log, log
    assert "/preferences/" + token not in log
    for part in token.split("."):
        assert part not in log


def test_uvicorn_logs_no_token(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, with uvicorn's error and access logs on: the server setup of ``run``."""
    site.configure(CONFIG)
    sid = add(site, "ann@example.org", {"weekly": Status.ACTIVE})
    token = Signer(SECRET).make(Purpose.PREFERENCES, sid, "weekly", now=datetime.now(UTC))

    async def fails(self: Pages, request: Request) -> None:
        raise RuntimeError(f"cannot show {request.url}")  # an error that quotes the link

    monkeypatch.setattr(Pages, "preferences_form", fails)
    app = create_app(site.settings, site.engine, signer=Signer(SECRET))
    sock = socket.create_server(("127.0.0.1", 0))
    config = server_config(app, site.settings.config.web, host="127.0.0.1", port=0)
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(logging.Formatter("%(name)s %(message)s").format(record))

    keep = Keep()
    loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.access", "syndicate")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(keep)
        lg.setLevel(logging.INFO)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        answer = get(sock.getsockname()[1], f"/preferences/{token}?from=mail")
    finally:
        server.should_exit = True
        thread.join(GIVE_UP)
        sock.close()
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(keep)
            lg.setLevel(level)
    assert status(answer) == 500
    logged = "\n".join(seen)
    assert "uvicorn.access" in logged and "GET /preferences/<token>?from=mail" in logged, logged
    assert "uvicorn.error Exception in ASGI application" in logged, logged
    assert "RuntimeError: cannot show http://127.0.0.1/preferences/<token>" in logged, logged
    for part in token.split("."):
        assert part not in logged


def test_redact_keeps_everything_but_tokens() -> None:
    token = Signer(SECRET).make(Purpose.UNSUBSCRIBE, 7, "weekly", now=datetime.now(UTC))
    assert redact(f"POST /unsubscribe/{token}?x=1 500") == "POST /unsubscribe/<token>?x=1 500"
    assert redact(f"params: ({token!r},)") == "params: ('<token>',)"
    assert redact("GET /feeds/media/3f2a.png 200") == "GET /feeds/media/3f2a.png 200"


# --- item 14: redirects -----------------------------------------------------------------------


def _location(answer: bytes) -> str | None:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"location":
            return value.strip().decode()
    return None


def test_slash_redirects_go_to_the_configured_url(site: Site, tmp_path: Path) -> None:
    with running(site, tmp_path, 'base_url = "https://letters.example.org/news"') as server:
        answer = get(server.port, "/subscribe/?list=weekly", Host="evil.example")
        forwarded = get(server.port, "/subscribe/", X_Forwarded_Host="evil.example")
        missing = get(server.port, "//evil.example/", Host="evil.example")
    assert status(answer) == 307
    assert _location(answer) == "https://letters.example.org/news/subscribe?list=weekly"
    assert _location(forwarded) == "https://letters.example.org/news/subscribe"
    assert status(missing) == 404 and _location(missing) is None
