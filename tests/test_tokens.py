"""Signed link tokens: round trips, tampering of every kind, expiry, secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.subscribers.tokens import (
    MissingSecret,
    Purpose,
    Signer,
    TokenClaims,
    TokenError,
    TokenExpired,
)

SECRET = "correct-horse-battery-staple-42"
SIGNER = Signer(SECRET)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

list_names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,62}", fullmatch=True)
subscriber_ids = st.integers(min_value=1, max_value=2**63 - 1)
# Hypothesis takes naive bounds and attaches the time zone itself.
EARLIEST, LATEST = datetime(1970, 1, 1), datetime(2100, 1, 1)  # noqa: DTZ001
times = st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.just(UTC))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(payload: bytes, key: bytes) -> str:
    """A token spelled by hand: documents the format and the key derivation."""
    return f"{b64(payload)}.{b64(hmac.new(key, payload, hashlib.sha256).digest())}"


DERIVED_KEY = hmac.new(SECRET.encode(), b"syndicate/tokens/v1", hashlib.sha256).digest()


def refused(token: str, purpose: Purpose = Purpose.CONFIRM, now: datetime = NOW) -> TokenError:
    with pytest.raises(TokenError) as info:
        SIGNER.verify(token, purpose, now=now)
    assert SECRET not in str(info.value)
    return info.value


@pytest.mark.parametrize("purpose", list(Purpose))
def test_round_trip_for_every_purpose(purpose: Purpose) -> None:
    token = SIGNER.make(purpose, 42, "weekly", now=NOW)
    assert URL_SAFE.fullmatch(token) and token.count(".") == 1
    assert len(token) < 120
    claims = SIGNER.verify(token, purpose, now=NOW + timedelta(hours=1))
    assert claims == TokenClaims(
        purpose=purpose, subscriber_id=42, list_name="weekly", issued_at=NOW
    )


@given(purpose=st.sampled_from(Purpose), sid=subscriber_ids, name=list_names, at=times)
def test_round_trip_any_values(purpose: Purpose, sid: int, name: str, at: datetime) -> None:
    token = SIGNER.make(purpose, sid, name, now=at)
    assert URL_SAFE.fullmatch(token)
    assert len(token) < (120 if len(name) <= 32 else 160)
    claims = SIGNER.verify(token, purpose, now=at)
    assert (claims.purpose, claims.subscriber_id, claims.list_name) == (purpose, sid, name)
    assert claims.issued_at == at.replace(microsecond=0)
    assert claims.issued_at.utcoffset() == timedelta(0)


def test_format_is_versioned_and_keyed_by_a_derived_key() -> None:
    payload = struct.pack(">BBIQ", 1, 1, int(NOW.timestamp()), 42) + b"weekly"
    token = forge(payload, DERIVED_KEY)
    assert token == SIGNER.make(Purpose.CONFIRM, 42, "weekly", now=NOW)
    assert SIGNER.verify(token, Purpose.CONFIRM, now=NOW).subscriber_id == 42
    # The raw secret is never the MAC key.
    assert "signature" in str(refused(forge(payload, SECRET.encode())))
    # A genuinely signed payload of an unknown version is still refused.
    assert "version" in str(refused(forge(b"\x02" + payload[1:], DERIVED_KEY)))
    assert "short" in str(refused(forge(payload[:14], DERIVED_KEY)))


def test_signed_but_ill_shaped_subjects_are_refused() -> None:
    # Only reachable with the key, but checked anyway before the claims are trusted.
    at = int(NOW.timestamp())
    for sid, name in [(0, b"weekly"), (2**63, b"weekly"), (1, b"Weekly"), (1, b"\xffx")]:
        payload = struct.pack(">BBIQ", 1, 1, at, sid) + name
        assert "list name" in str(refused(forge(payload, DERIVED_KEY)))


@pytest.mark.parametrize("purpose", list(Purpose))
def test_every_single_bit_flip_of_the_string_is_refused(purpose: Purpose) -> None:
    token = SIGNER.make(purpose, 7, "weekly", now=NOW)
    for i, char in enumerate(token):
        for bit in range(8):
            flipped = token[:i] + chr(ord(char) ^ (1 << bit)) + token[i + 1 :]
            refused(flipped, purpose)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_every_single_bit_flip_of_the_bytes_is_refused(purpose: Purpose) -> None:
    token = SIGNER.make(purpose, 7, "weekly", now=NOW)
    payload, tag = (unb64(part) for part in token.split("."))
    for i in range(len(payload) * 8):
        changed = bytearray(payload)
        changed[i // 8] ^= 1 << (i % 8)
        refused(f"{b64(bytes(changed))}.{b64(tag)}", purpose)
    for i in range(len(tag) * 8):
        changed = bytearray(tag)
        changed[i // 8] ^= 1 << (i % 8)
        refused(f"{b64(payload)}.{b64(bytes(changed))}", purpose)


def test_truncation_and_extension_are_refused() -> None:
    token = SIGNER.make(Purpose.CONFIRM, 7, "weekly", now=NOW)
    payload, tag = token.split(".")
    for end in range(len(token)):
        refused(token[:end])
    for char in ALPHABET + ".=":
        refused(token + char)
        refused(f"{payload}{char}.{tag}")
        refused(char + token)
    refused(token + "==")
    refused(f"{payload}==.{tag}")
    refused(f" {token}")
    refused(f"{token}\n")
    refused(f"{payload}.{tag}.{tag}")


def test_payload_of_one_token_with_signature_of_another_is_refused() -> None:
    tokens = [
        SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=NOW),
        SIGNER.make(Purpose.CONFIRM, 2, "weekly", now=NOW),
        SIGNER.make(Purpose.CONFIRM, 1, "daily", now=NOW),
        SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=NOW - timedelta(seconds=1)),
        SIGNER.make(Purpose.UNSUBSCRIBE, 1, "weekly", now=NOW),
    ]
    for a in tokens:
        for b in tokens:
            if a != b:
                refused(f"{a.split('.')[0]}.{b.split('.')[1]}")


def test_claims_do_not_transfer_to_another_subscriber_list_or_purpose() -> None:
    base = SIGNER.make(Purpose.UNSUBSCRIBE, 1, "weekly", now=NOW)
    others = {
        SIGNER.make(Purpose.UNSUBSCRIBE, 2, "weekly", now=NOW),
        SIGNER.make(Purpose.UNSUBSCRIBE, 1, "daily", now=NOW),
        SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=NOW),
        SIGNER.make(Purpose.PREFERENCES, 1, "weekly", now=NOW),
    }
    assert base not in others and len(others) == 4
    claims = SIGNER.verify(base, Purpose.UNSUBSCRIBE, now=NOW)
    assert (claims.subscriber_id, claims.list_name) == (1, "weekly")
    assert (
        SIGNER.verify(
            SIGNER.make(Purpose.UNSUBSCRIBE, 2, "weekly", now=NOW), Purpose.UNSUBSCRIBE, now=NOW
        ).subscriber_id
        == 2
    )


@pytest.mark.parametrize(
    ("made", "used"), [(made, used) for made in Purpose for used in Purpose if made is not used]
)
def test_a_token_for_another_purpose_is_refused(made: Purpose, used: Purpose) -> None:
    error = refused(SIGNER.make(made, 1, "weekly", now=NOW), used)
    assert type(error) is TokenError
    assert f"not a {used.name.lower()} token" in str(error)


def test_a_token_made_with_another_secret_is_refused() -> None:
    other = Signer("another-secret-of-enough-length")
    error = refused(other.make(Purpose.CONFIRM, 1, "weekly", now=NOW))
    assert "signature" in str(error)
    assert other.verify(other.make(Purpose.CONFIRM, 1, "weekly", now=NOW), Purpose.CONFIRM, now=NOW)


def test_confirm_tokens_expire_after_seven_days() -> None:
    token = SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=NOW)
    SIGNER.verify(token, Purpose.CONFIRM, now=NOW + timedelta(days=6, hours=23))
    SIGNER.verify(token, Purpose.CONFIRM, now=NOW + timedelta(days=7))
    with pytest.raises(TokenExpired, match="expired"):
        SIGNER.verify(token, Purpose.CONFIRM, now=NOW + timedelta(days=7, seconds=1))
    with pytest.raises(TokenExpired):
        SIGNER.verify(
            token, Purpose.CONFIRM, now=NOW + timedelta(hours=2), max_age=timedelta(hours=1)
        )
    with pytest.raises(TokenExpired):
        SIGNER.verify(token, Purpose.CONFIRM, now=NOW + timedelta(seconds=1), max_age=timedelta(0))
    assert SIGNER.verify(
        token, Purpose.CONFIRM, now=NOW + timedelta(days=30), max_age=timedelta(days=31)
    )


def test_preferences_tokens_expire_after_ninety_days() -> None:
    token = SIGNER.make(Purpose.PREFERENCES, 1, "weekly", now=NOW)
    SIGNER.verify(token, Purpose.PREFERENCES, now=NOW + timedelta(days=89, hours=23))
    with pytest.raises(TokenExpired):
        SIGNER.verify(token, Purpose.PREFERENCES, now=NOW + timedelta(days=90, seconds=1))


def test_unsubscribe_tokens_never_expire() -> None:
    token = SIGNER.make(Purpose.UNSUBSCRIBE, 1, "weekly", now=NOW)
    later = NOW + timedelta(days=3653)
    assert SIGNER.verify(token, Purpose.UNSUBSCRIBE, now=later).issued_at == NOW
    assert SIGNER.verify(token, Purpose.UNSUBSCRIBE, now=later, max_age=timedelta(0))


@pytest.mark.parametrize("purpose", list(Purpose))
def test_tokens_from_the_future_are_refused(purpose: Purpose) -> None:
    token = SIGNER.make(purpose, 1, "weekly", now=NOW)
    SIGNER.verify(token, purpose, now=NOW - timedelta(minutes=5))  # tolerated clock skew
    error = refused(token, purpose, now=NOW - timedelta(minutes=5, seconds=1))
    assert type(error) is TokenError and "future" in str(error)


def test_time_zones_and_sub_seconds() -> None:
    berlin = NOW.astimezone(ZoneInfo("Europe/Berlin"))
    token = SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=berlin + timedelta(microseconds=999_999))
    assert token == SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=NOW)
    assert SIGNER.verify(token, Purpose.CONFIRM, now=berlin).issued_at == NOW
    naive = datetime(2026, 11, 27, 9, 0)  # noqa: DTZ001 - the mistake under test
    with pytest.raises(ValueError, match="timezone-aware"):
        SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        SIGNER.verify(token, Purpose.CONFIRM, now=naive)
    with pytest.raises(ValueError, match="between 1970 and 2106"):
        SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=datetime(2107, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("sid", [0, -1, 2**63, True])
def test_make_refuses_bad_subscriber_ids(sid: int) -> None:
    with pytest.raises(ValueError, match="subscriber_id"):
        SIGNER.make(Purpose.CONFIRM, sid, "weekly", now=NOW)


@pytest.mark.parametrize(
    "name", ["", "Weekly", "-weekly", "a" * 64, "weekly\n", "wöchentlich", "a b"]
)
def test_make_refuses_bad_list_names(name: str) -> None:
    with pytest.raises(ValueError, match="list_name"):
        SIGNER.make(Purpose.CONFIRM, 1, name, now=NOW)


@given(st.text())
def test_garbage_only_ever_raises_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        SIGNER.verify(text, Purpose.CONFIRM, now=NOW)


@given(st.text(alphabet=ALPHABET + ".", max_size=200))
def test_url_safe_garbage_only_ever_raises_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        SIGNER.verify(text, Purpose.UNSUBSCRIBE, now=NOW)


@given(st.binary(min_size=1, max_size=100), st.binary(min_size=32, max_size=32))
def test_well_formed_but_unsigned_tokens_are_refused(payload: bytes, tag: bytes) -> None:
    with pytest.raises(TokenError, match="signature"):
        SIGNER.verify(f"{b64(payload)}.{b64(tag)}", Purpose.PREFERENCES, now=NOW)


def test_oversized_and_non_string_tokens_are_refused() -> None:
    token = SIGNER.make(Purpose.CONFIRM, 1, "weekly", now=NOW)
    refused(token + "A" * 1000)
    refused("A" * 10_000)
    with pytest.raises(TokenError):
        SIGNER.verify(None, Purpose.CONFIRM, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", [None, ""])
def test_missing_secret_says_how_to_make_one(secret: str | None) -> None:
    with pytest.raises(MissingSecret) as info:
        Signer(secret)
    message = str(info.value)
    assert "SYNDICATE_SECRET" in message and "not set" in message
    assert "secrets.token_urlsafe(32)" in message


def test_short_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(MissingSecret) as info:
        Signer("hunter2-hunter2")  # 15 characters
    message = str(info.value)
    assert "SYNDICATE_SECRET" in message and "16 characters" in message
    assert "secrets.token_urlsafe(32)" in message and "hunter2" not in message
    assert Signer("x" * 16)


def test_signer_never_shows_its_key() -> None:
    assert SECRET not in repr(SIGNER) and DERIVED_KEY.hex() not in repr(SIGNER)
    assert not hasattr(SIGNER, "__dict__")


def test_secrets_with_undecodable_bytes_still_work() -> None:
    # os.environ turns bytes that are not UTF-8 into lone surrogates.
    signer = Signer("secret-from-env-\udcff\udcfe")
    token = signer.make(Purpose.CONFIRM, 1, "weekly", now=NOW)
    assert signer.verify(token, Purpose.CONFIRM, now=NOW).list_name == "weekly"
    refused(token)


def test_a_confirm_token_can_name_several_lists() -> None:
    token = SIGNER.make(Purpose.CONFIRM, 7, ["weekly", "daily"], now=NOW)
    claims = SIGNER.verify(token, Purpose.CONFIRM, now=NOW)
    assert claims.list_names == ("weekly", "daily") and claims.list_name == "weekly"
    single = SIGNER.verify(
        SIGNER.make(Purpose.CONFIRM, 7, "weekly", now=NOW), Purpose.CONFIRM, now=NOW
    )
    assert single.list_names == ("weekly",)
    longest = SIGNER.make(Purpose.CONFIRM, 7, [f"{i:02d}" + "x" * 61 for i in range(20)], now=NOW)
    assert len(SIGNER.verify(longest, Purpose.CONFIRM, now=NOW).list_names) == 20


def test_a_single_list_token_of_the_old_format_still_verifies() -> None:
    # Built byte by byte as release 1 did: header, then the one list name.
    payload = struct.pack(">BBIQ", 1, Purpose.CONFIRM.value, int(NOW.timestamp()), 42) + b"weekly"
    key = hmac.new(SECRET.encode(), b"syndicate/tokens/v1", hashlib.sha256).digest()
    tag = hmac.new(key, payload, hashlib.sha256).digest()
    claims = SIGNER.verify(f"{b64(payload)}.{b64(tag)}", Purpose.CONFIRM, now=NOW)
    assert (claims.subscriber_id, claims.list_names) == (42, ("weekly",))


@pytest.mark.parametrize("purpose", [Purpose.UNSUBSCRIBE, Purpose.PREFERENCES])
def test_only_confirm_tokens_name_several_lists(purpose: Purpose) -> None:
    with pytest.raises(ValueError, match="only a confirm token"):
        SIGNER.make(purpose, 7, ["weekly", "daily"], now=NOW)
    # Even a genuine signature over such a payload is refused.
    payload = struct.pack(">BBIQ", 1, purpose.value, int(NOW.timestamp()), 7) + b"weekly,daily"
    key = hmac.new(SECRET.encode(), b"syndicate/tokens/v1", hashlib.sha256).digest()
    tag = hmac.new(key, payload, hashlib.sha256).digest()
    with pytest.raises(TokenError, match="malformed"):
        SIGNER.verify(f"{b64(payload)}.{b64(tag)}", purpose, now=NOW)


def test_repeated_or_too_many_lists_are_refused() -> None:
    for names in (["weekly", "weekly"], [f"l{i}" for i in range(21)], []):
        with pytest.raises(ValueError, match="distinct lists"):
            SIGNER.make(Purpose.CONFIRM, 7, names, now=NOW)
