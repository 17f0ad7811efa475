"""Bearer tokens of the HTTP API: made once, stored as a SHA-256 digest, revocable.

A token is ``synd_`` and 43 characters of base64url (256 random bits from ``secrets``): the
prefix lets secret scanners (GitHub's, gitleaks) recognise a leaked one. Only the digest is
stored, so a copy of the database grants nothing; a fast hash is right for a secret this
random (a password hash such as Argon2 would only cost every request a few milliseconds).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from syndicate.errors import SyndicateError
from syndicate.store.tables import api_tokens

PREFIX = "synd_"
SCOPES = (
    "articles:read",
    "lists:read",
    "sends:read",
    "subscribers:read",
    "subscribers:write",
)
NAME_MAX = 63
# last_used_at is written at most this often per token: not one write per request.
TOUCH_EVERY = timedelta(minutes=1)


class TokenStoreError(SyndicateError):
    """A token command that cannot be done (unknown scope, name taken, no such token)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """One stored token (never the token itself)."""

    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(text: str | Iterable[str]) -> tuple[str, ...]:
    """Scopes from ``a,b`` (or a list), checked and sorted; an unknown one names the valid."""
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = {s.strip() for s in items if s.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise TokenStoreError(
            f"unknown scope {', '.join(map(repr, unknown))}; valid scopes: {', '.join(SCOPES)}"
        )
    if not wanted:
        raise TokenStoreError(f"give at least one scope; valid scopes: {', '.join(SCOPES)}")
    return tuple(sorted(wanted))


def _row(row: Sequence[Any]) -> ApiToken:
    return ApiToken(
        id=row[0],
        name=row[1],
        scopes=tuple(row[2].split()),
        created_at=row[3],
        last_used_at=row[4],
        revoked_at=row[5],
    )


_c = api_tokens.c
_COLUMNS = (_c.id, _c.name, _c.scopes, _c.created_at, _c.last_used_at, _c.revoked_at)


def create_token(
    conn: Connection, name: str, scopes: tuple[str, ...], *, now: datetime
) -> tuple[ApiToken, str]:
    """A new token named ``name``: the stored row, and the token (shown once, never kept)."""
    if not name or len(name) > NAME_MAX or not name.isprintable() or name != name.strip():
        raise TokenStoreError(
            f"token name must be 1 to {NAME_MAX} printable characters, "
            "without leading or trailing spaces"
        )
    if name.isdigit():
        raise TokenStoreError("token name must not be a number (numbers name tokens by id)")
    token = PREFIX + secrets.token_urlsafe(32)
    values: dict[str, Any] = {
        "name": name,
        "digest": digest(token),
        "scopes": " ".join(parse_scopes(scopes)),
        "created_at": now,
    }
    try:
        with conn.begin_nested():
            new_id = conn.execute(api_tokens.insert().returning(_c.id), values).scalar_one()
    except IntegrityError:
        raise TokenStoreError(
            f"a token named {name!r} exists already; choose another name "
            "(`syndicate admin token list` shows them)"
        ) from None
    return ApiToken(
        id=new_id,
        name=name,
        scopes=tuple(values["scopes"].split()),
        created_at=now,
        last_used_at=None,
        revoked_at=None,
    ), token


def list_tokens(conn: Connection) -> list[ApiToken]:
    """Every token, revoked ones too, oldest first."""
    return [_row(r) for r in conn.execute(select(*_COLUMNS).order_by(_c.id))]


def revoke_token(conn: Connection, name_or_id: str, *, now: datetime) -> ApiToken:
    """Revoke a token by name (or id); revoking twice keeps the first time."""
    cond = _c.id == int(name_or_id) if name_or_id.isdigit() else _c.name == name_or_id
    found = conn.execute(select(*_COLUMNS).where(cond)).first()
    if found is None:
        raise TokenStoreError(
            f"no token {name_or_id!r}; `syndicate admin token list` shows names and ids"
        )
    token = _row(found)
    if token.revoked_at is None:
        conn.execute(update(api_tokens).where(_c.id == token.id).values(revoked_at=now))
        token = _row(conn.execute(select(*_COLUMNS).where(_c.id == token.id)).one())
    return token


def find_token(conn: Connection, token: str) -> ApiToken | None:
    """The stored token ``token`` is, revoked or not; None for an unknown one."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    wanted = digest(token)
    found = conn.execute(select(*_COLUMNS, _c.digest).where(_c.digest == wanted)).first()
    # The lookup is by an index on the digest; compare again in constant time anyway.
    if found is None or not hmac.compare_digest(found[6], wanted):
        return None
    return _row(found[:6])


def touch(conn: Connection, token: ApiToken, *, now: datetime) -> None:
    """Record a use (at most once per :data:`TOUCH_EVERY`)."""
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return
    conn.execute(update(api_tokens).where(_c.id == token.id).values(last_used_at=now))
