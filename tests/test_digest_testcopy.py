"""Test copies (``send --to``) and previews never carry a reader's links, tokens or Message-ID.

Every URL of a copy — headers and both bodies — is requested (GET and POST) against the real
web app; no subscriber row or subscription may change, and no part of any URL may verify as
a token of any purpose.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from syndicate.cli import main
from syndicate.store.tables import subscribers, subscription_events, subscriptions
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Purpose, Signer, TokenError
from syndicate.web import create_app
from syndicate.web.ratelimit import RateLimiter
from tests.conftest import Site

SECRET = "testcopy-secret-0123456789abcdef"
CONFIG = """
[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"
unsubscribe_mailto = "leave@news.example.org"

[lists.weekly]
title = "Weekly"
"""
CSV = (
    "email,name,topics\n"
    "ada@example.org,Ada Lovelace,\n"
    "grace@example.org,Grace Hopper,trade\n"
    "alan@example.org,Alan Turing,\n"
)
URL = re.compile(r"https?://[^\s<>\"')\]]+")


def wall() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def letter(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """Weekly with three active readers (Grace reads only trade) and two fresh articles."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    any_site.configure(CONFIG)
    yesterday = (wall() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, tag in (("Trade wars", "trade"), ("Energy crunch", "energy")):
        any_site.write(
            f"{tag}.md", f"---\ntitle: {name}\ndate: {yesterday}\ntags: [{tag}]\n---\n\nText.\n"
        )
    rows = read_rows(io.BytesIO(CSV.encode()), "in.csv")
    report = import_rows(any_site.engine, "weekly", rows, now=wall() - timedelta(days=30))
    assert not report.problems
    yield any_site


def cli(site: Site, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout_bytes, result.stderr


def maildir(site: Site) -> list[EmailMessage]:
    new = site.root / "maildir" / "new"
    paths = sorted(new.iterdir()) if new.is_dir() else []
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in paths
    ]


def snapshot(site: Site) -> tuple[list[Any], ...]:
    """Every subscriber, subscription and consent-trail row."""
    with site.engine.connect() as conn:
        return tuple(
            [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in (subscribers, subscriptions, subscription_events)
        )


def urls_of(message: EmailMessage) -> set[str]:
    """Every http(s) URL in the headers and both bodies of a message."""
    found: set[str] = set()
    for _, value in message.items():
        found.update(URL.findall(str(value)))
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found.update(u.replace("&amp;", "&") for u in URL.findall(part.get_content()))
    return found


def assert_inert(site: Site, messages: list[EmailMessage]) -> None:
    """No URL in ``messages`` changes a subscriber or holds a token that verifies."""
    before = snapshot(site)
    signer = Signer(SECRET)
    web_host = urlsplit(site.settings.web_url).netloc
    app = create_app(
        site.settings,
        site.engine,
        signer=signer,
        limiter=RateLimiter(capacity=1000, period=1),
    )
    urls = set().union(*(urls_of(m) for m in messages))
    assert any("unsubscribe" in u.lower() for u in urls)  # the links are there, inert

    async def hit_all() -> list[tuple[str, str, int]]:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = []
            for url in sorted(urls):
                parts = urlsplit(url)
                if parts.netloc != web_host:
                    continue
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                for method in ("GET", "POST"):
                    response = await client.request(
                        method,
                        path,
                        content=b"List-Unsubscribe=One-Click",
                        headers={
                            "content-type": "application/x-www-form-urlencoded",
                            "origin": f"{parts.scheme}://{web_host}",
                        },
                    )
                    answers.append((method, path, response.status_code))
            return answers

    answers = asyncio.run(hit_all())
    assert answers  # the copy's own links point at the app
    assert snapshot(site) == before, answers
    now = wall()
    for url in urls:
        parts = urlsplit(url)
        pieces = [*parts.path.split("/"), *(v for _, v in parse_qsl(parts.query)), parts.fragment]
        for piece in filter(None, pieces):
            for purpose in Purpose:
                with pytest.raises(TokenError):
                    signer.verify(piece, purpose, now=now)


def real_message_ids(site: Site) -> set[str]:
    """The Message-IDs the readers' real copies of this issue get (issue 1)."""
    from syndicate.digest.message import mail_host

    host = mail_host(site.settings)
    with site.engine.connect() as conn:
        ids = [sid for (sid,) in conn.execute(select(subscribers.c.id))]
    return {f"<weekly-1.{sid}@{host}>" for sid in ids}


def test_test_copies_carry_inert_links_and_their_own_message_ids(letter: Site) -> None:
    code, out, err = cli(
        letter,
        "send",
        "weekly",
        "--offline",
        "--to",
        "me@example.net, editor@example.net",
        "--to",
        "desk@example.net",
    )
    assert code == 0, err + out.decode()
    copies = maildir(letter)
    assert sorted(getaddresses([m["To"]])[0][1] for m in copies) == [
        "desk@example.net",
        "editor@example.net",
        "me@example.net",
    ]
    ids = [m["Message-ID"] for m in copies]
    assert len(set(ids)) == 3 and not set(ids) & real_message_ids(letter)
    for m in copies:
        text = m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Trade wars" in text and "Energy crunch" in text  # the whole digest
    assert_inert(letter, copies)


def test_a_test_copy_for_topics_is_the_version_those_readers_get(letter: Site) -> None:
    code, out, err = cli(
        letter, "send", "weekly", "--offline", "--to", "me@example.net", "--topics", "Trade"
    )
    assert code == 0, err + out.decode()
    [copy] = maildir(letter)
    text = copy.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Trade wars" in text and "Energy crunch" not in text
    assert_inert(letter, [copy])


def test_an_empty_test_copy_version_does_not_claim_the_list_has_nothing_new(
    letter: Site,
) -> None:
    # Two articles are new for weekly; only readers of "sport" would get nothing.
    code, _, err = cli(
        letter, "send", "weekly", "--offline", "--to", "me@example.net", "--topics", "sport"
    )
    assert code == 0, err
    assert "nothing is new for weekly" not in err
    assert (
        "note: this version has no article; topics sport get nothing (unless send_empty = "
        "true). Sending the test copy anyway." in err
    )
    assert cli(letter, "send", "weekly", "--offline", "--yes")[0] == 0  # now nothing is new
    err = cli(letter, "send", "weekly", "--offline", "--to", "me@example.net")[2]
    assert "note: nothing is new for weekly; readers would get no digest" in err


def test_a_topic_the_list_does_not_offer_is_warned_about(letter: Site) -> None:
    letter.configure(CONFIG + 'tags = ["trade", "energy"]\n')
    code, _, err = cli(letter, "preview", "weekly", "--offline", "--topics", "Trade,tarde")
    assert code == 0, err
    assert "warning: weekly offers no topic 'tarde' (its topics: energy, trade)" in err
    assert "'trade'" not in err
    code, _, err = cli(
        letter, "send", "weekly", "--offline", "--to", "me@example.net", "--topics", "tarde"
    )
    assert code == 0, err
    assert "warning: weekly offers no topic 'tarde' (its topics: energy, trade)" in err


def test_topics_without_to_is_refused(letter: Site) -> None:
    code, _, err = cli(letter, "send", "weekly", "--offline", "--yes", "--topics", "trade")
    assert code == 1 and "--topics goes with --to" in err
    assert maildir(letter) == []


def test_a_bad_address_among_several_sends_nothing(letter: Site) -> None:
    code, _, err = cli(letter, "send", "weekly", "--offline", "--to", "me@example.net,nope")
    assert code == 1 and "nope" in err
    assert maildir(letter) == []


def test_preview_eml_carries_inert_links(letter: Site) -> None:
    code, out, err = cli(letter, "preview", "weekly", "--offline", "--format", "eml")
    assert code == 0, err
    message = email.message_from_bytes(out, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Message-ID"] not in real_message_ids(letter)
    assert_inert(letter, [message])


def test_preview_as_a_subscriber_shows_their_version_with_inert_links(letter: Site) -> None:
    code, out, err = cli(
        letter, "preview", "weekly", "--offline", "--format", "eml", "--as", "GRACE@example.org"
    )
    assert code == 0, err
    message = email.message_from_bytes(out, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert getaddresses([message["To"]]) == [("Grace Hopper", "grace@example.org")]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello Grace Hopper" in text
    assert "Trade wars" in text and "Energy crunch" not in text  # her topics
    assert message["Message-ID"] not in real_message_ids(letter)
    assert_inert(letter, [message])


def test_test_copies_and_previews_name_international_addresses_in_unicode(letter: Site) -> None:
    code, out, err = cli(letter, "send", "weekly", "--offline", "--to", "ed@Bücher.example")
    assert code == 0, err
    assert "to ed@bücher.example: sent" in out.decode()
    assert "xn--" not in out.decode() + err
    [copy] = maildir(letter)
    assert copy["To"] == "ed@xn--bcher-kva.example"  # on the wire: ASCII
    assert cli(letter, "subscribers", "add", "weekly", "jo@bücher.example")[0] == 0
    code, _, err = cli(letter, "preview", "weekly", "--offline", "--as", "jo@bücher.example")
    assert code == 0, err
    assert "as jo@bücher.example" in err and "xn--" not in err


def test_preview_as_someone_not_on_the_list_says_so(letter: Site) -> None:
    code, _, err = cli(letter, "preview", "weekly", "--offline", "--as", "nobody@example.org")
    assert code == 1 and "nobody@example.org" in err and "weekly" in err


def test_the_test_copy_page_says_what_it_is(letter: Site) -> None:
    app = create_app(letter.settings, letter.engine, signer=Signer(SECRET))

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                await client.get("/test-copy/unsubscribe"),
                await client.post("/test-copy/unsubscribe", content=b"List-Unsubscribe=One-Click"),
                await client.get("/test-copy/preferences"),
                await client.get("/test-copy/nothing-here"),
            ]

    unsubscribe, one_click, preferences, other = asyncio.run(go())
    assert unsubscribe.status_code == one_click.status_code == preferences.status_code == 200
    assert "test copy" in unsubscribe.text.lower() and "test copy" in preferences.text.lower()
    assert unsubscribe.headers["content-security-policy"].startswith("default-src 'none'")
    assert other.status_code == 404


def test_test_copies_and_previews_have_no_browser_link_to_an_unsent_issue(letter: Site) -> None:
    # trial16 B1: "View this email in your browser" pointed at /archive/weekly/1.html, a page
    # that does not exist (404) until weekly-1 is sent, and may later be another issue.
    code, out, err = cli(letter, "send", "weekly", "--offline", "--to", "me@example.net")
    assert code == 0, err + out.decode()
    [copy] = maildir(letter)
    text = copy.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = copy.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Trade wars" in text and "Trade wars" in page  # the digest itself is there
    for body in (text, page):
        assert "/archive/" not in body and "in your browser" not in body
    for fmt in ("text", "html", "eml"):
        code, out, err = cli(letter, "preview", "weekly", "--offline", "--format", fmt)
        assert code == 0, err
        shown = out.decode()
        assert "Trade wars" in shown
        assert "/archive/" not in shown and "in your browser" not in shown, fmt
