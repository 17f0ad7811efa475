"""Amazon SNS message signatures, and the HTTPS fetches they need.

An SNS message names the certificate that signed it (``SigningCertURL``). Anyone can name
a certificate, so the URL must be ``https://sns.<region>.amazonaws.com[.cn]/….pem`` — checked
*before* anything is fetched — and the fetch itself checks the host's TLS certificate, so
the key really is Amazon's. The string to sign is the SNS documentation's: the listed
fields in byte order, each as ``name\\nvalue\\n``; SignatureVersion 1 is SHA1withRSA, 2 is
SHA256withRSA.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from syndicate.feedback.providers.base import Fetcher, FetchError, Refused

SNS_HOST = re.compile(r"sns\.[a-z0-9-]{3,40}\.amazonaws\.com(?:\.cn)?", re.ASCII)
MAX_CERT = 16 * 1024
MAX_CONFIRM = 64 * 1024
FETCH_TIMEOUT = 10.0
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = (
    "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
)  # fmt: skip
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


def sns_url(url: Any, *, pem: bool) -> str | None:
    """``url`` when it is an https URL on an SNS host (ending in ``.pem`` for certificates)."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme != "https" or parts.username is not None or parts.password is not None:
        return None
    if port not in (None, 443) or not SNS_HOST.fullmatch(host) or "@" in parts.netloc:
        return None
    if pem and (not parts.path.endswith(".pem") or parts.query or parts.fragment):
        return None
    return url


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical form SNS signed, for a Notification or a (Un)SubscriptionConfirmation."""
    kind = message.get("Type")
    fields = _NOTIFICATION_FIELDS if kind == "Notification" else _CONFIRMATION_FIELDS
    lines: list[str] = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue  # optional, and left out of the string when absent
        if not isinstance(value, str):
            raise Refused(400, f"the SNS message has no {name}")
        lines += (name, value)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


class Certificates:
    """Signing certificates by URL: fetched once (bounded in size and time), kept a while."""

    def __init__(self, fetch: Fetcher, capacity: int = 32) -> None:
        self.fetch, self.capacity = fetch, capacity
        self._keys: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        with self._lock:
            found = self._keys.get(url)
        if found is not None:
            return found
        try:
            data = self.fetch(url, MAX_CERT)
        except FetchError as exc:
            raise Refused(503, f"the SNS signing certificate could not be fetched: {exc}") from None
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise Refused(401, "the SNS signing certificate is not a PEM certificate") from None
        with self._lock:
            self._keys[url] = cert
            while len(self._keys) > self.capacity:
                self._keys.popitem(last=False)
        return cert


def verify(message: dict[str, Any], certificates: Certificates, now: datetime) -> None:
    """401 unless ``message`` carries a valid SNS signature from an SNS-hosted certificate."""
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Refused(401, "the SNS message has no SignatureVersion 1 or 2")
    url = sns_url(message.get("SigningCertURL"), pem=True)
    if url is None:
        raise Refused(401, "the SNS SigningCertURL is not an https .pem URL on an SNS host")
    signature = message.get("Signature")
    if not isinstance(signature, str) or len(signature) > 4096:
        raise Refused(401, "the SNS message has no Signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(401, "the SNS Signature is not base64") from None
    signed = string_to_sign(message)
    cert = certificates.get(url)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Refused(401, "the SNS signing certificate is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused(401, "the SNS signing certificate has no RSA key")
    try:
        key.verify(raw, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Refused(401, "the SNS signature does not verify") from None


def https_get(url: str, max_bytes: int, *, verify: ssl.SSLContext | bool = True) -> bytes:
    """GET an https URL: TLS verified, no redirects, at most ``max_bytes`` read, 10 s.

    ``verify`` is the TLS trust (default: the system's CA bundle, as httpx has it).
    """
    if urlsplit(url).scheme != "https":
        raise FetchError("only https URLs are fetched")
    try:
        with (
            httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False, verify=verify) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"larger than {max_bytes} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise FetchError(type(exc).__name__) from None
