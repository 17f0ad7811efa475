"""TOTP secrets at rest: sealed with AES-256-GCM (the ``cryptography`` package) under a key
derived from ``SYNDICATE_SECRET``, bound to the admin's name. A copy of the store alone
gives no second factor; changing ``SYNDICATE_SECRET`` means turning TOTP on again."""

from __future__ import annotations

import base64
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from syndicate.errors import SyndicateError

_PREFIX = "v1:"


class SealBroken(SyndicateError):
    """A sealed value does not open under this key (``SYNDICATE_SECRET`` changed?)."""


def seal(key: bytes, plain: str, *, name: str) -> str:
    """``plain`` encrypted and authenticated, for the account ``name``."""
    nonce = secrets.token_bytes(12)
    data = AESGCM(key).encrypt(nonce, plain.encode("utf-8"), name.encode("utf-8"))
    return _PREFIX + base64.urlsafe_b64encode(nonce + data).decode("ascii")


def unseal(key: bytes, sealed: str, *, name: str) -> str:
    """The value :func:`seal` sealed; :class:`SealBroken` if it was altered or the key differs."""
    try:
        if not sealed.startswith(_PREFIX):
            raise ValueError(sealed[:3])
        raw = base64.urlsafe_b64decode(sealed.removeprefix(_PREFIX))
        plain = AESGCM(key).decrypt(raw[:12], raw[12:], name.encode("utf-8"))
        return plain.decode("utf-8")
    except (InvalidTag, ValueError, UnicodeDecodeError):
        raise SealBroken(
            f"the TOTP key of {name!r} cannot be opened: SYNDICATE_SECRET is not the one it was "
            f"sealed with; turn TOTP on again with `syndicate admin totp {name}`"
        ) from None
