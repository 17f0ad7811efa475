"""Test doubles for provider webhooks: a self-signed "SNS" certificate served by an injected
fetcher, and the signing each provider does (SNS RSA, Mailgun HMAC, SendGrid ECDSA)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from syndicate.feedback.providers.base import FetchError
from syndicate.feedback.providers.sns import string_to_sign
from tests.conftest import NOW

DATA = Path(__file__).parent / "data" / "webhooks"
TOPIC = "arn:aws:sns:us-west-2:123456789012:ses-feedback"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
MAILGUN_KEY = "key-mailgun-webhook-signing-0123456789"
POSTMARK_USER, POSTMARK_PASSWORD, POSTMARK_TOKEN = "postmark", "pm-secret-pass", "pm-token-42"


def sample(name: str) -> Any:
    """A sample payload from tests/data/webhooks (adapted from the provider's docs)."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def sns_cert_pem() -> bytes:
    """A self-signed certificate (no CA behind it) standing in for SNS's signing certificate."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(rsa_key(), hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


class Fetcher:
    """The injected HTTPS GET: serves the test certificate, records every URL asked for."""

    def __init__(self, pages: dict[str, bytes] | None = None) -> None:
        self.pages = {CERT_URL: sns_cert_pem(), **(pages or {})}
        self.urls: list[str] = []

    def __call__(self, url: str, max_bytes: int) -> bytes:
        self.urls.append(url)
        if url.startswith("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"):
            return b"<ConfirmSubscriptionResponse/>"
        if url not in self.pages:
            raise FetchError("HTTP 404")
        return self.pages[url][:max_bytes]


def sns_notification(message: Any, *, when: datetime = NOW, **fields: Any) -> dict[str, Any]:
    """An SNS Notification carrying ``message`` (SES JSON), unsigned."""
    body = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&x=1",
    }
    body.update(fields)
    return body


def sns_sign(message: dict[str, Any], key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
    """``message`` with its Signature, as SNS computes it for its SignatureVersion."""
    algorithm = hashes.SHA256() if message["SignatureVersion"] == "2" else hashes.SHA1()
    raw = (key or rsa_key()).sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(raw).decode()}


def mailgun_sign(body: dict[str, Any], when: datetime, token: str, key: str = MAILGUN_KEY) -> bytes:
    timestamp = str(int(when.timestamp()))
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    body = {**body, "signature": {"timestamp": timestamp, "token": token, "signature": digest}}
    return json.dumps(body).encode()


@cache
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key() -> str:
    """The verification key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = (
        sendgrid_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def sendgrid_headers(body: bytes, when: datetime) -> dict[str, str]:
    timestamp = str(int(when.timestamp()))
    raw = sendgrid_key().sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(raw).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


ENV = {
    "SYNDICATE_SES_TOPIC_ARN": TOPIC,
    "SYNDICATE_POSTMARK_WEBHOOK_USER": POSTMARK_USER,
    "SYNDICATE_POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD,
    "SYNDICATE_POSTMARK_WEBHOOK_TOKEN": POSTMARK_TOKEN,
    "SYNDICATE_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
    "SYNDICATE_SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid_public_key(),
}
