"""The admin desk's keys, derived from ``SYNDICATE_SECRET``: there is no default key.

Each use has its own key (HMAC-SHA256 of a context string under the secret), so a cookie
signature can never pass as a link token or the other way round, and the key that seals
TOTP secrets signs nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from syndicate.config import ENV_SECRET
from syndicate.errors import SyndicateError

MIN_SECRET_LENGTH = 16
HOW = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class NoAdminSecret(SyndicateError):
    """``SYNDICATE_SECRET`` is not set (or too short): the admin desk cannot run."""


@dataclass(frozen=True, slots=True)
class AdminKeys:
    """The keys of the admin desk (never shown in a repr)."""

    cookies: bytes = field(repr=False)  # signs session and pre-session cookies, CSRF tokens
    seal: bytes = field(repr=False)  # AES-256-GCM key of the stored TOTP secrets


def _derive(raw: bytes, context: bytes) -> bytes:
    return hmac.new(raw, b"syndicate/admin/" + context, hashlib.sha256).digest()


def admin_keys(secret: str | None) -> AdminKeys:
    """The keys derived from ``secret`` (``SYNDICATE_SECRET``); :class:`NoAdminSecret` says
    what to do when it is missing or too short."""
    if not secret:
        raise NoAdminSecret(
            f"{ENV_SECRET} is not set; the admin desk signs its session cookies and seals TOTP "
            f"keys with it. Create one with `{HOW}` and set it in the environment of "
            "`syndicate run` and `syndicate admin`."
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise NoAdminSecret(
            f"{ENV_SECRET} is shorter than {MIN_SECRET_LENGTH} characters, too easy to guess; "
            f"create a new one with `{HOW}`."
        )
    raw = secret.encode("utf-8", "surrogatepass")
    return AdminKeys(cookies=_derive(raw, b"cookies/v1"), seal=_derive(raw, b"seal/v1"))
