"""Signed tokens for the links in emails and pages: confirm, unsubscribe, preferences.

A token is ``<payload>.<tag>``, both base64url without padding. The payload is::

    version (1 byte) | purpose (1) | issued_at (4, unsigned big-endian Unix seconds, UTC)
    | subscriber_id (8, unsigned big-endian) | list names (ASCII, the rest, joined by ",")

A confirm token may name several lists (up to :data:`MAX_LISTS`): one subscribe request
for two lists sends one mail whose one link confirms both. List names never contain a
comma, so a single-list token (every token made before) reads exactly as it always did.

and the tag is HMAC-SHA256 of the payload bytes under a key derived from ``SYNDICATE_SECRET``.
Tokens are not encrypted: they only need to be impossible to forge or alter. Build a signer
for a site with :func:`site_signer`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from syndicate import config
from syndicate.config import DEFAULT_DB_PATH, ENV_SECRET, Settings
from syndicate.errors import SyndicateError

VERSION = 1
MIN_SECRET_LENGTH = 16
# Issue times ahead of our clock by up to this much come from another server's clock.
CLOCK_SKEW = timedelta(minutes=5)
LIST_NAME = re.compile(config.LIST_NAME, re.ASCII)
MAX_SUBSCRIBER_ID = 2**63 - 1  # what a signed 64-bit database column can hold
MAX_LISTS = 20  # lists one confirm token can name; the token stays well under 2 KB

# A distinct context string: the raw secret is never the MAC key, and any later use of the
# same secret (with its own context) can never produce a valid token.
_KEY_CONTEXT = b"syndicate/tokens/v1"
_HEADER = struct.Struct(">BBIQ")
_TAG_SIZE = hashlib.sha256().digest_size
_B64 = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
# The longest valid token (20 lists of 63 characters) is ~1,800 characters; refuse anything
# longer before decoding.
_MAX_TOKEN_LENGTH = 2048
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Purpose(Enum):
    """What a token allows; the value is the byte stored in the token, so never renumber."""

    CONFIRM = 1
    UNSUBSCRIBE = 2
    PREFERENCES = 3


# How long a token stays valid by default; None never expires. Unsubscribe links must keep
# working in old mails (RFC 8058), so they never expire whatever the caller asks.
DEFAULT_MAX_AGE: dict[Purpose, timedelta | None] = {
    Purpose.CONFIRM: timedelta(days=7),
    Purpose.UNSUBSCRIBE: None,
    Purpose.PREFERENCES: timedelta(days=90),
}


class TokenError(SyndicateError):
    """A token is malformed, forged, for another purpose, or expired; the message says which."""


class TokenExpired(TokenError):
    """A token was genuine but is older than its maximum age."""


class MissingSecret(SyndicateError):
    """``SYNDICATE_SECRET`` is not set or too short to sign tokens with."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenClaims:
    """What a verified token says."""

    purpose: Purpose
    subscriber_id: int
    list_name: str  # the first (for every purpose but confirm, the only) list
    issued_at: datetime
    list_names: tuple[str, ...] = ()  # every list the token names, ``list_name`` first

    def __post_init__(self) -> None:
        if not self.list_names:
            object.__setattr__(self, "list_names", (self.list_name,))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64.fullmatch(text):
        raise TokenError("malformed token: not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed token: not base64url") from None
    # Unused low bits of the last character decode to nothing; insisting on the canonical
    # spelling means each token has exactly one string form, so no bit of it can be flipped.
    if _b64encode(data) != text:
        raise TokenError("malformed token: not canonical base64url")
    return data


def _aware(now: datetime) -> datetime:
    # A naive datetime cannot be placed on the UTC time line without guessing its zone.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now!r}")
    return now


def _check_subject(subscriber_id: int, list_name: str) -> None:
    if type(subscriber_id) is not int or not 1 <= subscriber_id <= MAX_SUBSCRIBER_ID:
        raise ValueError(
            f"subscriber_id must be an integer from 1 to 2**63-1, got {subscriber_id!r}"
        )
    if not LIST_NAME.fullmatch(list_name):
        raise ValueError(f"list_name must match {LIST_NAME.pattern}, got {list_name!r}")


class Signer:
    """Makes and verifies tokens with a key derived from the site secret."""

    __slots__ = ("_key",)

    def __init__(self, secret: str | None) -> None:
        how = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
        if not secret:
            raise MissingSecret(
                f"{ENV_SECRET} is not set; it signs the confirm and unsubscribe links in emails. "
                f"Create one with `{how}` and set it in the environment."
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise MissingSecret(
                f"{ENV_SECRET} is shorter than {MIN_SECRET_LENGTH} characters, too easy to guess; "
                f"create a new one with `{how}`."
            )
        # surrogatepass: environment values that were not valid UTF-8 still make a usable key.
        raw = secret.encode("utf-8", "surrogatepass")
        self._key = hmac.new(raw, _KEY_CONTEXT, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "Signer(<secret>)"  # never show the key in logs or tracebacks

    def derive(self, context: bytes) -> bytes:
        """A key of its own for another use of the site secret (e.g. VERP return paths):
        what is signed under it can never pass as a link token, nor the other way round."""
        if context == _KEY_CONTEXT:
            raise ValueError("the link tokens' own context")
        return hmac.new(self._key, b"derive:" + context, hashlib.sha256).digest()

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def make(
        self,
        purpose: Purpose,
        subscriber_id: int,
        list_name: str | Sequence[str],
        *,
        now: datetime,
    ) -> str:
        """A token for one subscriber and list, issued at ``now`` (timezone-aware).

        A confirm token may name several lists (a sequence of up to :data:`MAX_LISTS`).
        """
        purpose = Purpose(purpose)
        if isinstance(list_name, str):  # every link of every copy: kept short
            _check_subject(subscriber_id, list_name)
            joined = list_name
        else:
            names = tuple(list_name)
            if not names or len(names) > MAX_LISTS or len(set(names)) != len(names):
                raise ValueError(f"a token names 1 to {MAX_LISTS} distinct lists, got {names!r}")
            if len(names) > 1 and purpose is not Purpose.CONFIRM:
                raise ValueError("only a confirm token may name several lists")
            for name in names:
                _check_subject(subscriber_id, name)
            joined = ",".join(names)
        issued = (_aware(now) - _EPOCH) // timedelta(seconds=1)  # whole seconds, floored
        if not 0 <= issued < 2**32:
            raise ValueError(f"now must be between 1970 and 2106, got {now!r}")
        header = _HEADER.pack(VERSION, purpose.value, issued, subscriber_id)
        payload = header + joined.encode("ascii")
        return f"{_b64encode(payload)}.{_b64encode(self._tag(payload))}"

    def verify(
        self,
        token: str,
        purpose: Purpose,
        *,
        now: datetime,
        max_age: timedelta | None = None,
    ) -> TokenClaims:
        """The claims of a genuine, unexpired ``purpose`` token, else :class:`TokenError`.

        ``max_age`` None means the purpose's default (:data:`DEFAULT_MAX_AGE`); unsubscribe
        tokens never expire. Tokens dated more than :data:`CLOCK_SKEW` after ``now`` are refused.
        """
        _aware(now)
        wanted = Purpose(purpose)
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
            raise TokenError("malformed token: wrong length")
        encoded_payload, dot, encoded_tag = token.partition(".")
        if not dot:
            raise TokenError("malformed token: no signature")
        payload, tag = _b64decode(encoded_payload), _b64decode(encoded_tag)
        if len(tag) != _TAG_SIZE or not hmac.compare_digest(tag, self._tag(payload)):
            raise TokenError("invalid token: the signature does not match")
        # Only signed bytes from here on: nothing is read from a payload we did not make.
        if not payload or payload[0] != VERSION:
            raise TokenError("unsupported token: unknown format version")
        if len(payload) <= _HEADER.size:
            raise TokenError("malformed token: payload too short")
        _, code, issued, subscriber_id = _HEADER.unpack_from(payload)
        if code != wanted.value:
            raise TokenError(f"wrong token: not a {wanted.name.lower()} token")
        names = tuple(payload[_HEADER.size :].decode("ascii", "replace").split(","))
        try:
            if len(names) > 1 and wanted is not Purpose.CONFIRM:
                raise ValueError("several lists")
            if len(names) > MAX_LISTS or len(set(names)) != len(names):
                raise ValueError("too many lists")
            for name in names:
                _check_subject(subscriber_id, name)
        except ValueError:
            raise TokenError("malformed token: bad subscriber id or list name") from None
        issued_at = _EPOCH + timedelta(seconds=issued)
        if issued_at - now > CLOCK_SKEW:
            raise TokenError("invalid token: issued in the future; check the server clock")
        limit = DEFAULT_MAX_AGE[wanted] if max_age is None else max_age
        if wanted is not Purpose.UNSUBSCRIBE and limit is not None and now - issued_at > limit:
            raise TokenExpired(f"expired token: older than {limit}; ask for a new link")
        return TokenClaims(
            purpose=wanted,
            subscriber_id=subscriber_id,
            list_name=names[0],
            list_names=names,
            issued_at=issued_at,
        )


SECRET_FILE = DEFAULT_DB_PATH.parent / "secret"


def site_signer(settings: Settings) -> Signer:
    """The site's signer: ``SYNDICATE_SECRET``, else the secret kept beside the default store.

    A site on the default SQLite store (one machine) gets a random secret in
    ``.syndicate/secret`` (mode 0600) the first time one is needed, so the example
    publication works out of the box. A site on a shared database must set
    ``SYNDICATE_SECRET`` on every machine, or their links would not verify on each other.
    """
    if settings.secrets.secret:
        return Signer(settings.secrets.secret)
    if settings.database_url != config.default_sqlite_url(settings.root):
        return Signer(None)  # explains what to set
    path = settings.root / SECRET_FILE
    try:
        return Signer(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(32)
    try:  # O_EXCL: two first runs racing end up with the same secret
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Signer(path.read_text(encoding="utf-8").strip())
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(fresh + "\n")
        out.flush()
        os.fsync(out.fileno())
    return Signer(fresh)
