"""DKIM signing of outgoing messages (RFC 6376) with dkimpy.

Signs From, To, Subject, Date, Message-ID, List-Unsubscribe and List-Unsubscribe-Post
(plus MIME-Version and Content-Type when present) with relaxed/relaxed canonicalization,
using rsa-sha256 for RSA keys and ed25519-sha256 (RFC 8463, needs ``pynacl``) for Ed25519
keys.  Listed headers that are absent are signed as absent, so they cannot be added later
without breaking the signature.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import dkim  # type: ignore[import-untyped]
import dkim.crypto  # type: ignore[import-untyped]

from syndicate.errors import SyndicateError

__all__ = ["SIGNED_HEADERS", "DkimError", "DkimKey", "load_key", "sign"]

SIGNED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
)  # fmt: skip
_IF_PRESENT = ("MIME-Version", "Content-Type")
# PKCS#8 wrapper of an Ed25519 key: SEQUENCE { 0, AlgorithmIdentifier 1.3.101.112, OCTET[34] }.
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----\n(.*?)\n-----END \1-----", re.DOTALL)
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?")
_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)
_MIN_RSA_BITS = 1024  # receivers (dkimpy, Gmail) reject shorter keys; RFC 8301
_GENERATE_HINT = "create one with `openssl genrsa -out dkim.pem 2048`"

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]


class DkimError(SyndicateError):
    """A DKIM key cannot be used, or a message cannot be signed; the message says why."""


@dataclass(frozen=True)
class DkimKey:
    """A signing key for ``<selector>._domainkey.<domain>``.

    ``private_key`` is in the form dkimpy takes: PEM for RSA, the base64 seed for Ed25519.
    It is kept out of ``repr`` so the key never lands in logs.
    """

    domain: str
    selector: str
    private_key: bytes = field(repr=False)
    algorithm: Algorithm = "rsa-sha256"


def load_key(domain: str, selector: str, key_file: Path) -> DkimKey:
    """Read a PEM RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8) private key and check it works.

    The key is tried once on a tiny message, so a bad key fails here, at start-up, rather
    than on the first delivery.  Raises :class:`DkimError` naming the file and the problem.
    """
    for what, value in (("domain", domain), ("selector", selector)):
        if not _LABEL.fullmatch(value):
            raise DkimError(f"DKIM {what} {value!r} is not a valid ASCII DNS name")
    try:
        raw = Path(key_file).read_bytes()
    except OSError as exc:
        raise DkimError(
            f"DKIM key file {key_file}: cannot read it ({exc.strerror or exc})"
        ) from exc
    key = DkimKey(domain, selector, *_parse_pem(raw, key_file))
    if key.algorithm == "rsa-sha256":
        _check_rsa_size(key.private_key, key_file)
    test = f"From: test@{domain}\r\nSubject: DKIM key check\r\n\r\ncheck\r\n".encode("ascii")
    try:
        sign(test, key)
    except DkimError as exc:
        raise DkimError(f"DKIM key file {key_file}: {exc}") from exc
    return key


def _parse_pem(raw: bytes, key_file: Path) -> tuple[bytes, Algorithm]:
    """Return ``(private_key, algorithm)`` in dkimpy's form, or raise a helpful error."""
    text = raw.replace(b"\r\n", b"\n").strip()
    match = _PEM.search(text)
    if match is None:
        raise DkimError(f"DKIM key file {key_file} is not a PEM private key; {_GENERATE_HINT}")
    label = match.group(1).decode("ascii")
    if label not in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        raise DkimError(
            f"DKIM key file {key_file} holds a {label!r}, not an unencrypted RSA or Ed25519 "
            f"private key; {_GENERATE_HINT}"
        )
    try:
        der = base64.b64decode(match.group(2), validate=False)
    except binascii.Error as exc:
        raise DkimError(f"DKIM key file {key_file}: damaged PEM data ({exc})") from exc
    if label == "PRIVATE KEY" and der.startswith(_ED25519_PKCS8_PREFIX) and len(der) == 48:
        return base64.b64encode(der[len(_ED25519_PKCS8_PREFIX) :]), "ed25519-sha256"
    return match.group(0) + b"\n", "rsa-sha256"


def _check_rsa_size(pem: bytes, key_file: Path) -> None:
    """Refuse RSA keys that receivers would reject as too short."""
    try:
        bits = int(dkim.crypto.parse_pem_private_key(pem)["modulus"]).bit_length()
    except Exception as exc:  # dkimpy's ASN.1 parser raises several exception types
        raise DkimError(f"DKIM key file {key_file}: unusable RSA key ({_one_line(exc)})") from exc
    if bits < _MIN_RSA_BITS:
        raise DkimError(
            f"DKIM key file {key_file}: RSA key has {bits} bits; receivers reject keys under "
            f"{_MIN_RSA_BITS} bits; {_GENERATE_HINT}"
        )


def _one_line(exc: BaseException) -> str:
    """An exception's text as one line (dkimpy's messages span several)."""
    return " ".join(str(exc).split())


def _header_names(message: bytes) -> set[str]:
    """Lower-cased names of the header fields of ``message`` (CRLF or LF line endings)."""
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    return {m.group(1).decode("ascii").lower() for m in _HEADER_NAME.finditer(head)}


def sign(message: bytes, key: DkimKey) -> bytes:
    """Return ``message`` with a ``DKIM-Signature:`` header field prepended.

    The signature's folded lines use the message's own line ending (CRLF as produced by
    ``email.policy.SMTP``, or LF).  Raises :class:`DkimError` if the message has no From
    header or cannot be signed with ``key``.  CPU-bound: from async code, call it through
    ``asyncio.to_thread`` when signing many messages.
    """
    present = _header_names(message)
    if "from" not in present:
        raise DkimError("message has no From header; DKIM requires signing it")
    headers = [*SIGNED_HEADERS, *(h for h in _IF_PRESENT if h.lower() in present)]
    eol = b"\r\n" if message.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    try:
        signature: bytes = dkim.sign(
            message,
            key.selector.encode("ascii"),
            key.domain.encode("ascii"),
            key.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=key.algorithm.encode("ascii"),
            include_headers=[h.encode("ascii") for h in headers],
            linesep=eol,
        )
    except dkim.NaClNotFoundError as exc:
        raise DkimError("Ed25519 DKIM keys need the 'pynacl' package installed") from exc
    except dkim.DKIMException as exc:
        raise DkimError(f"cannot DKIM-sign: {_one_line(exc)}") from exc
    except (ValueError, IndexError, TypeError) as exc:  # dkimpy's ASN.1 parser on junk keys
        raise DkimError(f"cannot DKIM-sign: unusable private key ({_one_line(exc)})") from exc
    return signature + message
