"""Managing admin accounts (what ``syndicate admin add-user`` and friends do): names and
passwords checked, passwords hashed, TOTP keys made and sealed, sessions ended on removal
and password change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from syndicate.accounts import passwords, totp
from syndicate.accounts.keys import AdminKeys
from syndicate.accounts.names import name_problem, normalize_name
from syndicate.accounts.sealing import seal
from syndicate.errors import SyndicateError
from syndicate.store import admins
from syndicate.store.admins import AdminUser, DuplicateAdmin


class AccountError(SyndicateError):
    """An account command cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TotpSetup:
    """A freshly turned-on second factor: show ``uri`` once (it holds the key)."""

    secret: str
    uri: str


def check_name(name: str) -> str:
    """The normalized name, after checking it (:class:`AccountError`)."""
    name = normalize_name(name)
    if problem := name_problem(name):
        raise AccountError(problem)
    return name


def check_new(name: str, password: str) -> str:
    """The normalized name, after checking it and the password (:class:`AccountError`)."""
    name = check_name(name)
    if problem := passwords.password_problem(name, password):
        raise AccountError(problem)
    return name


def _existing(engine: Engine, name: str) -> AdminUser:
    name = normalize_name(name)
    with engine.connect() as conn:
        found = admins.get_user(conn, name)
    if found is None:
        raise AccountError(
            f"there is no admin called {name!r}; `syndicate admin list-users` shows them"
        )
    return found


def add_user(engine: Engine, name: str, password: str, *, now: datetime) -> AdminUser:
    """A new admin account."""
    name = check_new(name, password)
    hashed = passwords.hash_password(password)
    try:
        with engine.begin() as conn:
            return admins.add_user(conn, name=name, password_hash=hashed, now=now)
    except DuplicateAdmin:
        raise AccountError(
            f"an admin called {name!r} exists already; change their password with "
            f"`syndicate admin passwd {name}`"
        ) from None


def remove_user(engine: Engine, name: str) -> None:
    """Delete an account; its sessions end at once."""
    found = _existing(engine, name)
    with engine.begin() as conn:
        admins.remove_user(conn, found.name)


def list_users(engine: Engine) -> list[AdminUser]:
    """Every account, by name."""
    with engine.connect() as conn:
        return admins.list_users(conn)


def change_password(engine: Engine, name: str, password: str, *, now: datetime) -> int:
    """A new password; every session of the account ends (how many did)."""
    found = _existing(engine, name)
    check_new(found.name, password)
    hashed = passwords.hash_password(password)
    with engine.begin() as conn:
        sessions = next((u.sessions for u in admins.list_users(conn) if u.id == found.id), 0)
        admins.set_password(conn, found.id, hashed, now=now)
    return sessions


def enable_totp(engine: Engine, keys: AdminKeys, name: str, *, issuer: str) -> TotpSetup:
    """Turn TOTP on (or make a new key): the key is stored sealed, the URI returned once."""
    found = _existing(engine, name)
    secret = totp.new_secret()
    with engine.begin() as conn:
        admins.set_totp(conn, found.id, seal(keys.seal, secret, name=found.name))
    return TotpSetup(
        secret=secret, uri=totp.provisioning_uri(secret, name=found.name, issuer=issuer)
    )


def disable_totp(engine: Engine, name: str) -> bool:
    """Turn TOTP off; False if it was off."""
    found = _existing(engine, name)
    with engine.begin() as conn:
        admins.set_totp(conn, found.id, None)
    return found.totp_secret is not None
