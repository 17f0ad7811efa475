"""VERP return paths: signed tokens naming a delivery, and every copy's envelope sender."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from syndicate.config import parse_config
from syndicate.errors import ConfigError
from syndicate.store.tables import subscribers
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from syndicate.subscribers.verp import Delivery, Verp, find_token
from tests.conftest import Site
from tests.smtpserver import serve_smtp
from tests.test_send import CONFIG, FROM, SECRET, article, fast, run_send, smtp

ADDRESS = "bounces@news.example.org"
VERP = Verp(Signer(SECRET), ADDRESS)


def test_token_round_trip_short_and_lowercase() -> None:
    sender = VERP.sender(12, 3456)
    local, _, domain = sender.partition("@")
    assert domain == "news.example.org" and local.startswith("bounces+")
    token = local.removeprefix("bounces+")
    assert token == token.lower() and len(local) <= 64
    assert VERP.verify(token) == Delivery(send_id=12, subscriber_id=3456)
    assert VERP.verify(token.upper()) == Delivery(send_id=12, subscriber_id=3456)
    biggest = VERP.sender(2**63 - 1, 2**63 - 1)
    assert len(biggest.partition("@")[0]) <= 64


def test_tampered_or_foreign_tokens_do_not_verify() -> None:
    token = VERP.token(12, 3456)
    send, sub, mac = token.split("-")
    assert VERP.verify(f"{send}-{int(sub, 36) + 1:x}-{mac}") is None
    assert VERP.verify(f"{send}-{sub}-{mac[:-1]}{'a' if mac[-1] != 'a' else 'b'}") is None
    assert VERP.verify(f"0{send}-{sub}-{mac}") is None  # one spelling per token
    other = Verp(Signer("another-secret-0123456789"), ADDRESS)
    assert other.verify(token) is None
    # A link token's key never signs a VERP token.
    assert Signer(SECRET).derive(b"syndicate/verp/v1") != Signer(SECRET).derive(b"other")


@given(st.text(max_size=80))
def test_verify_and_find_never_raise(text: str) -> None:
    assert VERP.verify(text) is None or "-" in text
    find_token(text, ADDRESS)


def test_find_token_in_header_values() -> None:
    token = VERP.token(7, 8)
    assert find_token(f"Bounces <BOUNCES+{token.upper()}@News.Example.org>", ADDRESS) == (
        token.upper()
    )
    assert find_token(f"<other+{token}@news.example.org>", ADDRESS) is None
    assert find_token(f"bounces+{token}@elsewhere.example", ADDRESS) is None


def test_config_refuses_a_plus_in_the_bounce_address() -> None:
    base = '[publication]\ntitle = "T"\nbase_url = "https://news.example.org"\n'
    parsed = parse_config(base + f'[bounces]\naddress = "{ADDRESS}"\n')
    assert parsed.bounces is not None and parsed.bounces.trust_window_days == 14
    with pytest.raises(ConfigError, match=r"bounces\.address: .*'\+'"):
        parse_config(base + '[bounces]\naddress = "bounces+x@news.example.org"\n')
    with pytest.raises(ConfigError, match=r"bounces\.address"):
        parse_config(base + '[bounces]\naddress = "not an address"\n')


def _load(site: Site, n: int) -> None:
    csv = "email\n" + "".join(f"r{i}@example.org\n" for i in range(n))
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    import_rows(site.engine, "weekly", rows, now=datetime.now(UTC) - timedelta(days=30))


@pytest.mark.parametrize("verp", [True, False])
def test_every_copy_has_its_own_signed_return_path(
    site: Site, monkeypatch: pytest.MonkeyPatch, verp: bool
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + (f'\n[bounces]\naddress = "{ADDRESS}"\n' if verp else ""))
    article(site, "first", datetime.now(UTC) - timedelta(days=1))
    _load(site, 5)
    with site.engine.connect() as conn:
        ids = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
    with serve_smtp() as server:
        report = run_send(site, lambda: smtp(server), fast())
        messages = list(server.messages)
    assert len(messages) == 5
    for message in messages:
        [recipient] = message.recipients
        if not verp:
            assert message.sender == FROM
            continue
        token = find_token(message.sender, ADDRESS)
        assert token is not None
        assert VERP.verify(token) == Delivery(
            send_id=report.send_id or 0, subscriber_id=ids[recipient]
        )


def test_confirmation_tokens_name_subscriber_and_day_and_are_no_copy_tokens() -> None:
    when = datetime(2026, 11, 27, 23, 59, tzinfo=UTC)
    sender = VERP.confirmation_sender(3456, when)
    token = find_token(sender, ADDRESS)
    assert token is not None and token.startswith("c-") and sender.islower()
    mail = VERP.verify_confirmation(token)
    assert mail is not None and (mail.subscriber_id, mail.issued) == (3456, when.date())
    assert VERP.verify_confirmation(token.upper()) == mail
    assert VERP.verify(token) is None  # a confirmation token names no copy
    assert VERP.verify_confirmation(VERP.token(12, 3456)) is None  # nor a copy's one
    other = Verp(Signer("another-secret-0123456789abcdef"), ADDRESS)
    assert other.verify_confirmation(token) is None
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert VERP.verify_confirmation(flipped) is None
    head, sub, day, mac = token.split("-")
    assert VERP.verify_confirmation(f"{head}-0{sub}-{day}-{mac}") is None  # one spelling
    assert VERP.verify_confirmation(f"{head}-{sub}-{int(day, 36) + 1:x}-{mac}") is None
