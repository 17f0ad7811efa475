"""Email addresses: validated once, stored in one canonical form, compared case-insensitively.

``normalize_address`` is the only way an address gets into the system, so everything that
reaches a mail header has been through it: control characters (CR/LF header injection, NUL,
tabs) are refused before the syntax is even looked at, and nothing but ``AddressError`` ever
escapes for any input string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from dns.exception import DNSException
from email_validator import (
    EmailNotValidError,
    EmailUndeliverableError,
    caching_resolver,
    validate_email,
)
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT

from syndicate.errors import SyndicateError

if TYPE_CHECKING:
    from dns.resolver import Resolver

MAX_LENGTH = 254  # RFC 5321 path limit, less the angle brackets
SHOWN_CHARS = 60  # how much of an offending value a message quotes

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Lone surrogates cannot be encoded; they are never shown as they are.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class AddressError(SyndicateError):
    """Not a usable email address; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """A valid address in canonical form.

    ``email`` is the local part as given (Unicode NFC, as email-validator returns it) and the
    domain lower-cased in its ASCII (IDNA) form; ``key`` is ``email.casefold()``, the identity
    used for uniqueness, so ``Ada@Example.org`` and ``ada@example.org`` are one subscriber.
    """

    email: str
    key: str


def normalize_address(raw: str, *, check_dns: bool = False) -> Address:
    """Validate ``raw`` and return its canonical form, or raise ``AddressError``.

    Surrounding spaces are ignored; control characters anywhere are not. Internationalized
    local parts (SMTPUTF8) and domains are accepted; quoted local parts, display names
    (``Ada <ada@example.org>``), IP-literal domains and special-use domains are not. With
    ``check_dns`` the domain must also accept mail (MX, or A/AAAA fallback); lookups are
    cached per process, so a large import asks once per domain.
    """
    control = control_character(raw)
    if control is not None:
        raise AddressError(f"email address contains a control character ({control})")
    text = raw.strip()
    if not text:
        raise AddressError("missing email address")
    if len(text) > MAX_LENGTH:
        raise AddressError(f"email address is longer than {MAX_LENGTH} characters ({len(text)})")
    known = None if check_dns else _shortcut(text)
    if known is not None:
        local, domain = known
    else:
        try:
            if check_dns:
                valid = validate_email(text, check_deliverability=True, dns_resolver=_resolver())
            else:
                valid = validate_email(text, check_deliverability=False)
        except EmailUndeliverableError as exc:
            raise AddressError(f"undeliverable address: {show(text)} ({_sentence(exc)})") from None
        except EmailNotValidError as exc:
            raise AddressError(f"not an email address: {show(text)} ({_sentence(exc)})") from None
        except DNSException as exc:  # no resolver configured; lookup failures are caught above
            raise AddressError(f"could not check the domain of {show(text)}: {exc}") from None
        local, domain = valid.local_part, valid.ascii_domain
    email = f"{local}@{domain.lower()}"
    if len(email) > MAX_LENGTH:  # the IDNA form of the domain can be longer than the input
        raise AddressError(f"email address is longer than {MAX_LENGTH} characters in ASCII form")
    return Address(email=email, key=email.casefold())


def display_address(email: str) -> str:
    """``email`` as people read it: an IDNA (``xn--``) domain in Unicode.

    Stored addresses keep the ASCII domain, which is what SMTP envelopes and headers carry;
    pages and command output show this form instead. A domain that does not decode (not
    one we stored) is shown as it is.
    """
    local, at, domain = email.rpartition("@")
    if not at or "xn--" not in domain.lower():
        return email
    forms = _domain(domain)
    return f"{local}@{forms[1]}" if forms is not None else email


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as ``U+000A``, or None when there is none."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def escaped(value: str) -> str:
    """``value`` fit for a terminal: control characters written as ``\\u001b`` escapes."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)


def show(value: str, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for a message: shortened, and control characters escaped."""
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return f'"{escaped(value)}"'


def _sentence(exc: EmailNotValidError) -> str:
    """email-validator's message as one clause: lower-case sentences joined by "; "."""
    parts = [p for p in str(exc).strip().rstrip(".").split(". ") if p]
    return "; ".join(p[:1].lower() + p[1:] for p in parts) or "invalid syntax"


def _shortcut(text: str) -> tuple[str, str] | None:
    """``validate_email``'s local part and ASCII domain, for the common case, without asking it.

    Most of ``validate_email``'s ~40 µs goes into the domain (IDNA), and a list has few of
    them. When the local part is a plain ASCII dot-atom, the library returns it unchanged
    (lower-cased if it is a role name like ``postmaster``), checks the domain on its own, and
    then the lengths; so with the domain's verdict cached, the result is the same. Anything
    else (Unicode, quotes, a new or invalid domain, too long) returns None: ask the library.
    """
    local, at, domain = text.partition("@")
    if not at or DOT_ATOM_TEXT.match(local) is None:
        return None
    forms = _domain(domain)
    if forms is None:
        return None
    ascii_domain, domain_i18n = forms
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        local = local.lower()
    for form in (text, f"{local}@{domain_i18n}", f"{local}@{ascii_domain}"):
        if len(form.encode("utf-8")) > MAX_LENGTH:
            return None
    return local, ascii_domain


@lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str] | None:
    """The ASCII and Unicode forms of a valid domain, as ``validate_email`` gives them."""
    try:
        valid = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return valid.ascii_domain, valid.domain


@cache
def _resolver() -> Resolver:
    """One DNS resolver with an answer cache for the whole process (thread-safe)."""
    return caching_resolver()
