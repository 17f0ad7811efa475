"""Password hashing with Argon2id (argon2-cffi's ``PasswordHasher``, RFC 9106 defaults) and
the minimum strength rule for new passwords.

argon2-cffi is the maintained binding of the reference Argon2 implementation; its hashes
are PHC strings that carry their own parameters, so :func:`verify` can tell when a stored
hash was made with weaker parameters than today's (``needs_rehash``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # longer is an attempt to make hashing slow, not a password
_HASHER = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4 (RFC 9106 "low memory")


def password_problem(name: str, password: str) -> str | None:
    """Why ``password`` is too weak for ``name`` (a sentence), or None if it will do."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters (it has {len(password)})"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    if password != password.strip():
        return "the password starts or ends with a space (a copy-and-paste slip?)"
    if len(set(password)) < 5:
        return "the password repeats too few different characters (use at least 5)"
    if name.casefold() in password.casefold():
        return "the password must not contain the user name"
    if any(c in password for c in "\r\n\x00"):
        return "the password must not contain line breaks or NUL characters"
    return None


def hash_password(password: str) -> str:
    """The Argon2id hash (a PHC string) of ``password``."""
    return _HASHER.hash(password)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a password matched, and whether its stored hash should be made again."""

    ok: bool
    needs_rehash: bool = False


def verify(stored: str, password: str) -> Verdict:
    """Check ``password`` against ``stored``; a damaged hash never matches."""
    if len(password) > MAX_LENGTH:
        return Verdict(False)
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return Verdict(False)
    return Verdict(True, _HASHER.check_needs_rehash(stored))


@cache
def dummy_hash() -> str:
    """A hash no password matches, verified for unknown names so that they take as long
    as a wrong password (no enumeration of accounts by timing)."""
    return _HASHER.hash(secrets.token_urlsafe(32))
