"""Attacks on what issue 12 added, each against real parts on 127.0.0.1 (the ASGI app through
httpx, a local HTTP server, aiosmtpd). A test here documents a defence; the ones marked
*fixed* failed before their fix.

Attacks defended:

- Test copies: ``--to`` with CR, LF, ``>`` or NUL (header injection) sends nothing.
- Confirm tokens: a tampered or extended list set does not verify; a token for one list
  confirms no other; a token issued before an unsubscribe no longer confirms.
- CSRF on POST /subscribe with ``[web] allowed_origins``: ``null``, look-alike hosts
  (``https://magazine.example.evil.com``), userinfo tricks, other ports and schemes, and a
  hostile Referer are refused; the allowed origin with a default port or a trailing slash
  passes.
- Published media: traversal (``../``, ``%2e%2e/``, absolute, backslash, NUL) is refused;
  a GIF/HTML polyglot is served as ``image/gif`` with nosniff and a sandboxing CSP.
- Archive index: a ``<title>`` holding markup is shown as text, never as HTML.
- Feeds: a title with markup, ``]]>``, ``<![CDATA[``, ESC and BEL stays well-formed XML and
  is shown literally by feedparser.
- CSV import: NUL, an 8 MB line and ESC in a name are problems of their row, echoed back
  bounded; the other rows are read.
- Editor's note: ``<script>``, ``javascript:`` links and event handlers are dropped.
- SMTP replies (*fixed*): ANSI escapes, C1 controls and bidi overrides in a server's reply
  never reach what ``report``/``status`` print; replies are one bounded line.
- WebSub (*fixed*): a hub's reply cannot put escape sequences into build output or logs;
  a hub that drips its headers or its body is cut off after the ping's overall time bound;
  redirects are not followed (the configured hub is the only target).
- CSV export (*fixed*): cells that a spreadsheet would run as a formula (``=``, ``+``,
  ``-``, ``@``, tab, CR first) are written with a leading ``'`` and read back unchanged.
- ``syndicate run`` on the wire: raw request targets with ``../``, ``%2e%2e``, ``%2f``,
  ``%5c``, ``%00``, ``//`` and symlinks out of the folder serve nothing outside ``feeds/``
  and ``archive/`` (*fixed* on the way: ``run`` announced "listening" before its socket
  listened, so a client connecting at once was refused).
- The terminal (*fixed*): rich turned ``:x:`` in a stranger's name or a server's reply into
  an emoji; text is now printed as stored.
- Imported attributes (*fixed*): ESC/BEL in a value of another platform's export reached the
  terminal through ``subscribers show`` (now escaped); a header column named with a control
  character was stored, and then ``export`` crashed with a traceback (now refused at import).
- Logs (*fixed*): a page that fails on ``/unsubscribe/TOKEN`` logs no token; a hub URL's
  user, password and query (an API key) are never printed.
- Editor's note (*fixed*): a note file that never ends (a FIFO, ``/dev/zero``) is refused
  after reading a little more than the longest note, not read into memory.
"""

from __future__ import annotations

import asyncio
import html
import io
import logging
import os
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from syndicate.content.reader import read_site
from syndicate.delivery.smtp import SmtpTransport
from syndicate.delivery.transport import REPLY_LIMIT, Kind, clean_reply
from syndicate.digest.note import MAX_NOTE, NoteError, load_note, parse_note
from syndicate.feeds import websub
from syndicate.feeds.build import build_feeds
from syndicate.feeds.websub import queue_pings, send_pings
from syndicate.models import Status
from syndicate.subscribers.csvfile import ExportRow, Row, read_rows, write_rows
from syndicate.subscribers.tokens import Purpose, Signer, TokenError
from syndicate.web import create_app
from tests import smtpserver
from tests.conftest import NOW, Site
from tests.httpserver import serve
from tests.test_smtp_transport import settings as smtp_settings
from tests.test_web import (
    SECRET,
    WEB_CONFIG,
    Clock,
    Web,
    add,
    make_app,
    make_token,
    status_of,
    subscribe,
)

ESC = "\x1b"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04"


# --- confirm tokens ---------------------------------------------------------------------------


def _tamper(token: str) -> list[str]:
    payload, _, tag = token.partition(".")
    import base64

    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    extended = base64.urlsafe_b64encode(raw + b",daily").rstrip(b"=").decode()
    swapped = base64.urlsafe_b64encode(raw.replace(b"weekly", b"daily!")).rstrip(b"=").decode()
    return [f"{extended}.{tag}", f"{swapped}.{tag}", token + "A", token[:-1], f"{payload}."]


def test_a_confirm_token_cannot_be_extended_or_altered() -> None:
    signer = Signer(SECRET)
    token = signer.make(Purpose.CONFIRM, 7, "weekly", now=NOW)
    for forged in _tamper(token):
        with pytest.raises(TokenError):
            signer.verify(forged, Purpose.CONFIRM, now=NOW)
    # Another purpose's token is no confirm token, even for the same subscriber and list.
    with pytest.raises(TokenError):
        signer.verify(
            signer.make(Purpose.UNSUBSCRIBE, 7, "weekly", now=NOW), Purpose.CONFIRM, now=NOW
        )


def test_a_confirm_link_confirms_only_its_lists_and_not_after_unsubscribe(
    web_site: Site, web: Web, clock: Clock
) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.PENDING, "daily": Status.PENDING})
    token = make_token(Purpose.CONFIRM, sid, "weekly")
    assert web.post(f"/confirm/{token}").status_code == 200
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE
    assert status_of(web_site, sid, "daily") is Status.PENDING  # not asked for by this link
    # Unsubscribe, ask again (pending), then reuse the old link: it no longer confirms.
    clock.advance(timedelta(minutes=1))
    unsub = make_token(Purpose.UNSUBSCRIBE, sid, "weekly")
    assert web.post(f"/unsubscribe/{unsub}").status_code == 200
    clock.advance(timedelta(minutes=1))
    assert subscribe(web, "ann@example.org", "weekly").status_code == 200
    assert status_of(web_site, sid, "weekly") is Status.PENDING
    assert web.post(f"/confirm/{token}").status_code == 409
    assert status_of(web_site, sid, "weekly") is Status.PENDING


# --- CSRF: allowed origins ---------------------------------------------------------------------


@pytest.fixture
def embedded(site: Site, clock: Clock) -> Iterator[Web]:
    site.configure(
        WEB_CONFIG.replace(
            "[email]", '[web]\nallowed_origins = ["https://magazine.example/"]\n\n[email]'
        )
    )
    client = Web(make_app(site, clock))
    yield client
    client.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "null"},
        {"origin": "https://magazine.example.evil.com"},
        {"origin": "https://evil.com.magazine.example"},
        {"origin": "https://magazine.example@evil.com"},
        {"origin": "https://evil.com\\@magazine.example"},
        {"origin": "https://magazine.example:8443"},
        {"origin": "http://magazine.example"},
        {
            "origin": "https://magazine.example.",
        },
        {"origin": "file://"},
        {"referer": "https://evil.com/?https://magazine.example/"},
        {"referer": "https://evil.com/https://magazine.example"},
        {"referer": "null"},
        {"origin": "https://evil.com", "referer": "https://magazine.example/"},
    ],
)
def test_hostile_origins_are_refused(embedded: Web, headers: dict[str, str]) -> None:
    assert subscribe(embedded, "eve@example.org", "weekly", **headers).status_code == 403


@pytest.mark.parametrize(
    "origin",
    ["https://magazine.example", "https://MAGAZINE.example:443", "https://magazine.example/"],
)
def test_the_allowed_origin_passes(embedded: Web, origin: str) -> None:
    assert subscribe(embedded, "ann@example.org", "weekly", origin=origin).status_code == 200


# --- media --------------------------------------------------------------------------------------


def _build(site: Site) -> tuple[list[str], set[str]]:
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    build_feeds(site.settings, site.engine, report.articles)
    media = site.settings.feeds_dir / "media"
    return [str(p) for p in report.problems], {
        p.name for p in media.iterdir()
    } if media.is_dir() else set()


@pytest.mark.parametrize(
    "ref",
    [
        "../../outside.gif",
        "%2e%2e/%2e%2e/outside.gif",
        "..%2f..%2foutside.gif",
        "img/..%5c..%5c..%5coutside.gif",
        "..\\..\\outside.gif",
        "x.gif%00.png",
        "file:///etc/passwd",
    ],
)
def test_media_traversal_is_refused(site: Site, ref: str) -> None:
    (site.root.parent / "outside.gif").write_bytes(GIF)
    (site.root / "outside.gif").write_bytes(GIF)
    site.write("img/x.gif", GIF)
    site.write("a.md", f"---\ntitle: A\ndate: 2026-11-01\n---\n![x]({ref})\n")
    problems, files = _build(site)
    assert files == set()
    if not ref.startswith("file:"):
        assert len(problems) == 1, problems


def _get(site: Site, path: str, **kwargs: object) -> httpx.Response:
    app = create_app(site.settings, site.engine, signer=Signer(SECRET))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_a_gif_html_polyglot_is_served_as_an_inert_image(site: Site) -> None:
    site.write("p.gif", GIF + b"<html><script>alert(document.domain)</script></html>")
    site.write("a.md", "---\ntitle: A\ndate: 2026-11-01\n---\n![x](p.gif)\n")
    problems, files = _build(site)
    assert problems == [] and len(files) == 1
    (name,) = files
    assert name.endswith(".gif")
    response = _get(site, f"/feeds/media/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


# --- archive index, note ------------------------------------------------------------------------


def test_markup_in_an_archived_title_is_shown_as_text(site: Site) -> None:
    from syndicate.digest.archive import archive_path
    from syndicate.store.tables import digests

    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    path = archive_path(site.settings, "weekly", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    hostile = "&lt;/title&gt;<script>alert(1)</script><img src=x onerror=alert(2)>"
    path.write_text(f"<html><head><title>{hostile}</title></head><body></body></html>")
    with site.engine.begin() as conn:
        columns = {c.name for c in digests.columns}
        row = {"id": "weekly-1", "list_name": "weekly", "issue": 1, "created_at": NOW}
        row |= {"sent_at": NOW, "article_ids": "[]"}
        conn.execute(digests.insert().values(**{k: v for k, v in row.items() if k in columns}))
    page = _get(site, "/archive/weekly/")
    assert page.status_code == 200, page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in page.text


def test_a_hostile_note_is_sanitized() -> None:
    note = parse_note(
        "Hi <script>alert(1)</script> [x](javascript:alert(2)) "
        '<a href="https://ok.example" onclick="alert(3)">ok</a> '
        '<img src=x onerror="alert(4)"> <iframe src="https://evil"></iframe>\n',
        base_url="https://news.example.org",
    )
    lowered = note.html.lower()
    # markdown-it leaves a javascript: link as plain text: no link, nothing to click
    for bad in ("<script", 'href="javascript:', "onclick", "onerror", "<iframe"):
        assert bad not in lowered, note.html
    assert "alert(1)" not in note.text


# --- SMTP replies -------------------------------------------------------------------------------

HOSTILE_REPLY = (
    "451 4.3.0 "
    + ESC
    + "[2J"
    + ESC
    + "]0;pwned\x07 busy \x9b31m \u202eevil\u202c \u2028next "
    + "x" * 3000
)


def test_a_hostile_smtp_reply_is_one_bounded_clean_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(smtpserver.REPLIES, "rcpt-4xx", HOSTILE_REPLY)
    with smtpserver.serve_smtp() as server:
        server.set_fault("*@example.org", "rcpt-4xx")

        async def go() -> list[Kind | str]:
            transport = SmtpTransport(smtp_settings(server.port))
            try:
                out = await transport.send(
                    "a@news.example.org", "ann@example.org", b"X: y\r\n\r\nz\r\n"
                )
            finally:
                await transport.close()
            return [out.kind, out.reply]

        kind, reply = asyncio.run(go())
    assert kind is Kind.DEFERRED
    assert isinstance(reply, str) and len(reply) <= REPLY_LIMIT
    for bad in (ESC, "\x07", "\x9b", "\u202e", "\u202c", "\u2028", "\r", "\n"):
        assert bad not in reply, repr(reply)
    assert clean_reply(HOSTILE_REPLY) == clean_reply(clean_reply(HOSTILE_REPLY))


# --- WebSub -------------------------------------------------------------------------------------


def _with_hub(site: Site, hub: str) -> None:
    site.configure(f'\n[feeds]\nhub = "{hub}"\n')
    site.write("a1.md", "---\ntitle: A1\ndate: 2026-11-01\n---\nx\n")
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    built = build_feeds(site.settings, site.engine, report.articles)
    queue_pings(site.settings, site.engine, built.written, now=NOW)


def test_a_hostile_hub_reply_is_printed_as_plain_text(site: Site) -> None:
    with serve() as server:
        body = f"{ESC}[2J{ESC}]0;owned\x07 go away \u202eoops\r\nSet-Cookie: x".encode()
        server.route("/hub", status=503, body=body, content_type="text/plain")
        _with_hub(site, server.url("/hub"))
        report = send_pings(site.settings, site.engine, now=NOW)
    assert report.failed
    for failure in report.failed:
        for bad in (ESC, "\x07", "\u202e", "\r", "\n"):
            assert bad not in failure, repr(failure)
        assert "go away" in failure


def test_redirects_from_the_hub_are_not_followed(site: Site) -> None:
    with serve() as server:
        server.route("/hub", status=307, headers={"Location": server.url("/elsewhere")})
        server.route("/elsewhere", status=204)
        _with_hub(site, server.url("/hub"))
        report = send_pings(site.settings, site.engine, now=NOW)
        assert server.requests_for("/elsewhere") == []
    assert report.sent == [] and report.failed


@pytest.fixture(params=["body", "headers"])
def dripping_hub(request: pytest.FixtureRequest) -> Iterator[str]:
    """A hub that drips its answer, a byte every 0.2 s: the body after the headers, or the
    headers themselves (each byte well within the per-read timeout)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 503 Busy\r\nContent-Length: 100000\r\n"
            if request.param == "body":
                conn.sendall(head + b"\r\n")
            else:
                conn.sendall(head + b"X-Slow: ")
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/hub"
    stop.set()
    sock.close()


def test_a_dripping_hub_is_cut_off(
    site: Site, dripping_hub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websub, "TIMEOUT", 1.0)  # the bound per ping, shortened for the test
    _with_hub(site, dripping_hub)
    done: list[websub.PingReport] = []
    worker = threading.Thread(
        target=lambda: done.append(send_pings(site.settings, site.engine, now=NOW)), daemon=True
    )
    worker.start()
    # Unbounded, 2 KB of reply (or 16 KB of headers) take 400 s or more; bounded, 2 s.
    worker.join(60)
    assert done, "send_pings was still reading the hub's reply after 60 s"
    assert done[0].failed and done[0].sent == []


# --- CSV export ---------------------------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "'=already", "''+x"]


def test_exported_cells_never_start_a_formula_and_read_back() -> None:
    rows = [
        ExportRow(
            email=f"a{n}@example.org",
            name=name.lstrip(),  # a name is stripped on import; attributes are not
            topics=(),
            status="active",
            attributes={"note": name},
        )
        for n, name in enumerate(FORMULAS)
    ]
    rows.append(
        ExportRow(
            email="+tag@example.org",
            name="O'Brien",
            topics=(),
            status="active",
            attributes={"note": "'quoted"},
        )
    )
    out = io.StringIO(newline="")
    write_rows(out, rows, attribute_keys=["note"])
    import csv

    for record in list(csv.reader(io.StringIO(out.getvalue())))[1:]:
        for cell in record:
            assert not cell or cell[0] not in "=+-@\t\r", record
    back = [
        r for r in read_rows(io.BytesIO(out.getvalue().encode()), "x.csv") if isinstance(r, Row)
    ]
    assert [(r.address.email, r.name, r.attributes.get("note")) for r in back] == [
        (row.email, row.name, row.attributes["note"]) for row in rows
    ]


# --- logs ---------------------------------------------------------------------------------------


def test_a_failing_token_page_logs_no_token(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.configure(WEB_CONFIG)
    sid = add(site, "ann@example.org", {"weekly": Status.ACTIVE})
    token = make_token(Purpose.PREFERENCES, sid, "weekly")
    unsub = make_token(Purpose.UNSUBSCRIBE, sid, "weekly")
    with site.engine.begin() as conn:  # the store breaks under the page
        conn.execute(text("ALTER TABLE subscriptions RENAME TO gone"))
    caplog.set_level(logging.DEBUG)
    assert _get(site, f"/preferences/{token}").status_code == 500
    app = create_app(site.settings, site.engine, signer=Signer(SECRET))

    async def post() -> int:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.post(f"/unsubscribe/{unsub}")).status_code

    assert asyncio.run(post()) == 500
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("syndicate"))
    assert "error handling GET /preferences/<token>" in logged
    assert token not in logged and unsub not in logged
    assert token.split(".")[0] not in logged


def test_credentials_in_the_hub_url_are_never_printed(site: Site) -> None:
    with serve() as server:
        server.route("/hub", status=503, body=b"busy", content_type="text/plain")
        hub = server.url("/hub?key=k3y-s3cret").replace("http://", "http://user:pa55word@")
        _with_hub(site, hub)
        report = send_pings(site.settings, site.engine, now=NOW)
        assert server.requests_for("/hub")  # the hub was asked, with its credentials
    assert report.failed
    for failure in report.failed:
        assert "pa55word" not in failure and "k3y-s3cret" not in failure, failure
        assert "/hub" in failure


# --- editor's note: bounded read ----------------------------------------------------------------


def test_a_note_that_never_ends_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    fifo = tmp_path / "note.md"
    os.mkfifo(fifo)
    stop = threading.Event()

    def writer() -> None:  # more than any note, then the pipe stays open: no end of file
        with open(fifo, "wb") as out:
            try:
                out.write(b"a" * (MAX_NOTE * 8))
                out.flush()
            except BrokenPipeError:
                return
            stop.wait(60)

    threading.Thread(target=writer, daemon=True).start()
    result: list[BaseException | None] = []

    def read() -> None:
        try:
            load_note(fifo, base_url="https://news.example.org")
            result.append(None)
        except BaseException as exc:
            result.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(30)
    stop.set()
    assert result, "load_note was still reading after 30 s"
    assert isinstance(result[0], NoteError) and "long; at most" in str(result[0])


# --- `syndicate run`: path tricks on the wire ------------------------------------------------

TRICKS = [
    "/feeds/../syndicate.toml",
    "/feeds/%2e%2e/syndicate.toml",
    "/feeds/media/..%2f..%2fsyndicate.toml",
    "/feeds/%2e%2e%2f.syndicate%2fsecret",
    "/feeds//etc/passwd",
    "/feeds/%2fetc%2fpasswd",
    "/feeds/media%5c..%5c..%5csyndicate.toml",
    "/feeds/media/x.png%00.toml",
    "/feeds/leak.xml",  # a symlink out of the feeds folder
    "/feeds/media/leak.png",
    "/archive/weekly/..%2f..%2fsyndicate.toml",
    "/archive/..%2fsyndicate.toml",
    "/archive/weekly/1.html%2f..%2f..%2f..%2fsyndicate.toml",
]


def _raw_get(port: int, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return data


def test_run_serves_nothing_outside_its_folders(site: Site, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from syndicate.cli import main
    from tests.test_run import CONFIG, Running

    marker = "MARKER-0f9c2d"
    site.configure(CONFIG + f"# {marker}\n")
    site.write("a.md", "---\ntitle: A\ndate: 2026-11-01\n---\n![x](p.gif)\n")
    site.write("p.gif", GIF)
    (site.root / "etc").mkdir()
    result = CliRunner().invoke(main, ["--site", str(site.root), "build", "--offline"])
    assert result.exit_code == 0, result.output
    feeds = site.settings.feeds_dir
    (feeds / "leak.xml").symlink_to(site.root / "syndicate.toml")
    (feeds / "media" / "leak.png").symlink_to(site.root / "syndicate.toml")
    running = Running(site, tmp_path / "run.log")
    try:
        assert b" 200 " in _raw_get(running.port, "/feeds/rss.xml").split(b"\r\n")[0] + b" "
        for target in TRICKS:
            answer = _raw_get(running.port, target)
            status = answer.split(b"\r\n", 1)[0]
            assert marker.encode() not in answer, target
            assert b" 200" not in status, (target, status)
    finally:
        assert running.stop() == 0


# --- CSV import: hostile files ------------------------------------------------------------------


def test_csv_with_nul_huge_lines_and_escapes_is_read_in_bounds() -> None:
    data = (
        b"email,name\n"
        b"ann@example.org,Ann\x00Nul\n"
        + b"bob@example.org,"
        + b"B" * (8 * 1024 * 1024)
        + b"\n"
        + b"cy@example.org,\x1b[31mCy\n"
        + b"dee@example.org,Dee\n"
    )
    results = list(read_rows(io.BytesIO(data), "in.csv"))
    rows = [r for r in results if isinstance(r, Row)]
    problems = [r for r in results if not isinstance(r, Row)]
    assert [r.address.email for r in rows if r.name == "Dee"] == ["dee@example.org"]
    assert all(len(str(p)) < 1000 for p in problems)  # no 8 MB line echoed back
    for row in rows:
        assert "\x00" not in (row.name or "") and ESC not in (row.name or ""), row
        assert len(row.name or "") <= 200


# --- feeds: hostile titles ----------------------------------------------------------------------


def test_hostile_titles_stay_literal_and_well_formed(site: Site) -> None:
    import feedparser
    from lxml import etree

    # YAML escapes put an ESC and a BEL in the title
    title = '<script>alert(1)</script> ]]> &amp; \\"x\\" \\e[31m\\a <![CDATA[y]]>'
    site.write("a.md", f'---\ntitle: "{title}"\ndate: 2026-11-01\n---\nx\n')
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    build_feeds(site.settings, site.engine, report.articles)
    for name in ("rss.xml", "atom.xml"):
        raw = (site.settings.feeds_dir / name).read_bytes()
        etree.fromstring(raw)  # well-formed
        assert b"<script" not in raw and b"\x1b" not in raw and b"\x07" not in raw
        entry = feedparser.parse(raw).entries[0]
        shown = entry.title  # HTML when the reader takes it as HTML: then what it displays is
        if entry.title_detail.type == "text/html":
            shown = html.unescape(shown)
        assert "&amp;" in shown and '"x"' in shown, (name, shown)
        assert "<script>alert(1)</script>" in shown, (name, shown)  # text, shown literally


# --- test copies: header injection through --to ----------------------------------------------


@pytest.mark.parametrize(
    "to",
    [
        "ann@example.org\r\nBcc: eve@evil.example",
        "ann@example.org\nBcc: eve@evil.example",
        "ann@example.org>\r\nBcc: <eve@evil.example",
        "ann@example.org\x00eve@evil.example",
    ],
)
def test_a_test_copy_address_cannot_inject_headers(letter: Site, to: str) -> None:
    from tests.test_digest_testcopy import cli, maildir

    code, _, stderr = cli(letter, "send", "weekly", "--to", to)
    assert code != 0 and "no test copy was sent" in stderr, stderr
    assert maildir(letter) == []


# --- the terminal: strangers' text is printed as it is ----------------------------------------


def test_emoji_codes_in_a_strangers_text_are_printed_literally(site: Site) -> None:
    """A name from the subscribe form (or a server's reply) reading ``:x:`` must not turn
    into an emoji on the editor's terminal: what is shown is what was stored."""
    from click.testing import CliRunner

    from syndicate.cli import main

    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    runner = CliRunner()
    args = ["--site", str(site.root), "subscribers"]
    added = runner.invoke(main, [*args, "add", "weekly", "ann@example.org", "--name", ":x: Ann"])
    assert added.exit_code == 0, added.output
    shown = runner.invoke(main, [*args, "show", "ann@example.org"])
    assert shown.exit_code == 0, shown.output
    assert ":x: Ann" in shown.stdout and "\u274c" not in shown.stdout, shown.stdout


def test_escape_sequences_in_imported_attributes_never_reach_the_terminal(site: Site) -> None:
    """A CSV from another platform carries what subscribers typed there (a "company" field):
    its values are kept, but ``show`` prints their control characters escaped; a header
    column whose name holds one is refused at import (``export`` could never write it)."""
    from click.testing import CliRunner

    from syndicate.cli import main

    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    runner = CliRunner()
    args = ["--site", str(site.root), "subscribers"]
    good = site.root / "good.csv"
    good.write_bytes(b"email,name,company\nbob@example.org,Bob,\x1b]0;owned\x07\x1b[31mACME\n")
    imported = runner.invoke(main, [*args, "import", "weekly", str(good)])
    assert imported.exit_code == 0, imported.output
    shown = runner.invoke(main, [*args, "show", "bob@example.org"])
    assert shown.exit_code == 0, shown.output
    assert ESC not in shown.stdout and "\x07" not in shown.stdout, repr(shown.stdout)
    assert "ACME" in shown.stdout
    bad = site.root / "bad.csv"
    bad.write_bytes(b"email,name,\x1b[2Jkey\ncy@example.org,Cy,v\n")
    refused = runner.invoke(main, [*args, "import", "weekly", str(bad)])
    assert refused.exit_code != 0 and "control character" in refused.output, refused.output
    assert ESC not in refused.output
    exported = runner.invoke(main, [*args, "export", "weekly"])
    assert exported.exit_code == 0, exported.output  # nothing stored that export refuses
