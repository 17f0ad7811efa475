"""Signing in and the sessions it opens: the password (Argon2id), the TOTP code when the
account has one, the backoff, and server-side session rows whose ids are stored hashed.

Every refusal looks the same, whether the name is unknown, the password wrong or the code
wrong or reused; an unknown name is verified against a dummy hash so it costs the same time.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from syndicate.accounts import passwords, totp
from syndicate.accounts.keys import AdminKeys
from syndicate.accounts.lockout import ACCOUNT, ADDRESS, Backoff, Lockout
from syndicate.accounts.names import name_problem, normalize_name
from syndicate.accounts.sealing import SealBroken, unseal
from syndicate.store import admins
from syndicate.store.admins import AdminUser, SessionRow
from syndicate.text import printable
from syndicate.throttle import Throttle

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    """How long a session lasts: ``absolute`` from sign-in at most, ``idle`` without use."""

    absolute: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=1)
    touch_every: timedelta = timedelta(minutes=1)  # last use is written at most this often


@dataclass(frozen=True, slots=True, kw_only=True)
class SignIn:
    """The outcome of one sign-in attempt: a new session id (``session``), a refusal, or a
    wait (``retry_after`` seconds) during which no attempt is heard."""

    session: str | None = None
    user: str | None = None
    retry_after: float = 0.0


def session_hash(session_id: str) -> str:
    """What the store keeps of a session id."""
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class Accounts:
    """Sign-in and sessions of one site's admin desk."""

    def __init__(
        self,
        engine: Engine,
        keys: AdminKeys,
        *,
        policy: SessionPolicy | None = None,
        account_backoff: Backoff = ACCOUNT,
        address_backoff: Backoff = ADDRESS,
    ) -> None:
        self.engine, self.keys = engine, keys
        self.policy = policy or SessionPolicy()
        self._by_name = Lockout(account_backoff)
        self._by_address = Lockout(address_backoff)
        self._lock = threading.Lock()
        self._refusals = Throttle(60.0)  # one log line per name and address per minute
        passwords.dummy_hash()  # made now, not during the first sign-in

    def sign_in(
        self,
        name: str,
        password: str,
        code: str,
        *,
        client: str,
        client_key: str | None = None,
        now: datetime,
    ) -> SignIn:
        """Check one attempt (blocking: Argon2 takes a while; call it in a thread).
        ``client_key`` is what the address backoff counts by (default: ``client``)."""
        name = normalize_name(name)
        by_name, by_address = "name:" + name[:64], "addr:" + (client_key or client)
        stamp = now.timestamp()
        with self._lock:
            wait = max(self._by_name.wait(by_name, stamp), self._by_address.wait(by_address, stamp))
            if wait <= 0:
                # Counted before checking: parallel attempts cannot slip past the backoff.
                self._by_name.failed(by_name, stamp)
                self._by_address.failed(by_address, stamp)
        if wait > 0:
            self._refused(name, client, by_name, stamp, wait)
            return SignIn(retry_after=wait)
        user = self._user(name)
        verdict = passwords.verify(user.password_hash if user else passwords.dummy_hash(), password)
        if user is None or not verdict.ok or not self._second_factor(user, code, now):
            with self._lock:
                wait = max(
                    self._by_name.wait(by_name, stamp), self._by_address.wait(by_address, stamp)
                )
            self._refused(name, client, by_name, stamp, wait)
            return SignIn()
        with self._lock:
            self._by_name.succeeded(by_name)
            self._by_address.forgive(by_address)
        session_id = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            if verdict.needs_rehash:
                admins.rehash(conn, user.id, user.password_hash, passwords.hash_password(password))
            admins.record_sign_in(conn, user.id, now=now)
            admins.purge_sessions(  # the expired sessions nobody came back with
                conn,
                created_before=now - self.policy.absolute,
                seen_before=now - self.policy.idle,
            )
            admins.create_session(
                conn, id_hash=session_hash(session_id), user_id=user.id, now=now, client=client
            )
        log.info("admin %s signed in from %s", user.name, client)
        return SignIn(session=session_id, user=user.name)

    def _refused(self, name: str, client: str, by_name: str, stamp: float, wait: float) -> None:
        """A WARNING for the operator (and fail2ban): who was refused from where, never the
        password or the code; at most one line per name and address a minute."""
        if not self._refusals.allow(f"{by_name} {client}", stamp):
            return
        with self._lock:
            failures = self._by_name.failures(by_name)
        log.warning(
            "admin sign-in refused for %s from %s (failure %d; next attempt heard in %d s)",
            printable(name[:64]) or "(no name)",
            printable(client[:64]),
            failures,
            math.ceil(wait),
        )

    def _user(self, name: str) -> AdminUser | None:
        if name_problem(name) is not None:
            return None
        with self.engine.connect() as conn:
            return admins.get_user(conn, name)

    def _second_factor(self, user: AdminUser, code: str, now: datetime) -> bool:
        if user.totp_secret is None:
            return True
        try:
            key = unseal(self.keys.seal, user.totp_secret, name=user.name)
        except SealBroken as exc:
            log.error("%s", exc)
            return False
        step = totp.matching_step(key, code, now=now)
        if step is None:
            return False
        with self.engine.begin() as conn:
            return admins.use_totp_step(conn, user.id, step)

    def session(self, session_id: str, *, now: datetime) -> SessionRow | None:
        """The open session of that id, or None (unknown, signed out, or expired: then it
        is deleted). Its last use is brought up to ``now``."""
        id_hash = session_hash(session_id)
        with self.engine.begin() as conn:
            found = admins.find_session(conn, id_hash)
            if found is None:
                return None
            if (
                now - found.created_at >= self.policy.absolute
                or now - found.last_seen_at >= self.policy.idle
            ):
                admins.end_session(conn, id_hash)
                return None
            if now - found.last_seen_at >= self.policy.touch_every:
                admins.touch_session(conn, id_hash, now=now)
        return found

    def sign_out(self, session_id: str) -> None:
        """End the session."""
        self.end(session_hash(session_id))

    def end(self, id_hash: str) -> None:
        """End the session whose id hashes to ``id_hash``."""
        with self.engine.begin() as conn:
            admins.end_session(conn, id_hash)

    def purge(self, *, now: datetime) -> int:
        """Delete every expired session; how many."""
        with self.engine.begin() as conn:
            return admins.purge_sessions(
                conn,
                created_before=now - self.policy.absolute,
                seen_before=now - self.policy.idle,
            )
