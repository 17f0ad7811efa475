"""Twilio SendGrid's signed Event Webhook.

SendGrid signs ``timestamp + raw body`` with ECDSA P-256 / SHA-256: the base64 DER signature
is in ``X-Twilio-Email-Event-Webhook-Signature``, the Unix time in
``X-Twilio-Email-Event-Webhook-Timestamp``. The verification key is the public key shown
when "Signed Event Webhook Requests" is enabled (base64 DER, as SendGrid shows it, or PEM)
in ``SYNDICATE_SENDGRID_WEBHOOK_PUBLIC_KEY``. A timestamp more than 5 minutes from our clock
is stale and the same timestamp and body twice is a replay: both 403. The signature covers
the body, so a replay carries the same events under the same event ids and the intake
records them once anyway; the guard (in the database under ``syndicate run``, else in
memory) only answers it plainly.

The body is a JSON array of events. ``bounce`` (``type`` bounce or blocked) counts by
``bounce_classification``: Invalid Address → HARD; Mailbox Unavailable, Technical (Failure)
→ SOFT unless the status says disabled (5.2.1, HARD); Content, Reputation, Frequency or
Volume (Too High) → OURS; Unclassified or none → by status and reason through the shared
classifier, and when they say nothing by SendGrid's type: ``bounce`` ("permanently",
SendGrid suppresses the address) → HARD, ``blocked`` (SendGrid: "an issue with the message
itself rather than … the recipient's address") → OURS. ``dropped`` by ``reason``: Bounced
Address and Invalid → HARD, Spam Reporting Address → COMPLAINT, anything else (Unsubscribed
Address, Spam Content, Invalid SMTPAPI header, quota) → OURS. ``deferred`` → DELAYED,
``spamreport`` → COMPLAINT, ``delivered`` → DELIVERED (resets the soft-bounce score).
Processed, open, click and the unsubscribe events are not feedback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from syndicate.feedback.classify import classify, enhanced_status
from syndicate.feedback.providers.base import (
    Refused,
    ReplayGuard,
    SeenGuard,
    WebhookRequest,
    address,
    check_fresh,
    epoch,
    event_key,
    int_or_none,
    message_id,
    parse_json,
    text,
)
from syndicate.feedback.report import Feedback, Outcome

ENV_PUBLIC_KEY = "SYNDICATE_SENDGRID_WEBHOOK_PUBLIC_KEY"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_EVENTS = 5000
CLASSIFICATIONS: dict[str, Outcome] = {
    "invalid address": Outcome.HARD,
    "mailbox unavailable": Outcome.SOFT,
    "technical": Outcome.SOFT,
    "technical failure": Outcome.SOFT,
    "content": Outcome.OURS,
    "reputation": Outcome.OURS,
    "frequency or volume": Outcome.OURS,
    "frequency or volume too high": Outcome.OURS,
}
DROPPED: dict[str, Outcome] = {
    "bounced address": Outcome.HARD,
    "invalid": Outcome.HARD,
    "spam reporting address": Outcome.COMPLAINT,
}
log = logging.getLogger(__name__)


def public_key(value: str) -> ec.EllipticCurvePublicKey:
    """The verification key from the environment; 503 (and a log line) when unusable."""
    try:
        if "-----BEGIN" in value:
            key = serialization.load_pem_public_key(value.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(value.strip(), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm, UnicodeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        log.error("%s is not an EC public key (base64 DER or PEM)", ENV_PUBLIC_KEY)
        raise Refused(503, f"{ENV_PUBLIC_KEY} is not usable; see the server log")
    return key


class SendgridReader:
    """SendGrid: ECDSA signature over timestamp + body, freshness, replay, then the events."""

    name = "sendgrid"

    def __init__(self, seen: SeenGuard | None = None) -> None:
        self.seen: SeenGuard = seen or ReplayGuard()

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(env.get(ENV_PUBLIC_KEY))

    def read(
        self, request: WebhookRequest, env: Mapping[str, str], now: datetime
    ) -> list[Feedback]:
        key = public_key(env.get(ENV_PUBLIC_KEY, ""))
        signature, timestamp = request.header(SIGNATURE_HEADER), request.header(TIMESTAMP_HEADER)
        if not signature or not timestamp or len(signature) > 512 or len(timestamp) > 32:
            raise Refused(401, "the SendGrid signature or timestamp header is missing")
        try:
            raw = base64.b64decode(signature, validate=True)
            key.verify(raw, timestamp.encode("ascii") + request.body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature, UnicodeError):
            raise Refused(401, "the SendGrid signature does not verify") from None
        check_fresh(int_or_none(timestamp), now)
        # The timestamp and body, not the signature: an ECDSA signature has more than one
        # valid encoding, and a replay must not get past by re-encoding it.
        digest = hashlib.sha256(request.body).hexdigest()
        if not self.seen.first_time(f"{timestamp}:{digest}", now):
            raise Refused(403, "this signed SendGrid request was seen before: a replay")
        events = parse_json(request.body)
        if not isinstance(events, list):
            raise Refused(400, "a SendGrid webhook body is a JSON array of events")
        if len(events) > MAX_EVENTS:
            raise Refused(413, f"more than {MAX_EVENTS} events in one request")
        return [found for one in events for found in event(one)]


def event(data: Any) -> list[Feedback]:
    """The feedback in one SendGrid event object ([] for other events)."""
    kind = text(data, "event")
    reason = text(data, "reason") or text(data, "response") or ""
    status = enhanced_status(text(data, "status"), reason)
    if kind == "bounce":
        classification = (text(data, "bounce_classification") or "").lower()
        outcome = CLASSIFICATIONS.get(classification)
        if outcome is None:
            # SendGrid's own words: a "bounce" is refused "permanently" (it goes on the
            # bounce list); a "blocked" one is "an issue with the message itself rather
            # than an issue with the recipient's address". That decides when the reply
            # says nothing our classifier reads.
            blocked = text(data, "type") == "blocked"
            outcome = classify(status, reason, default=Outcome.OURS if blocked else Outcome.HARD)
        elif outcome is Outcome.SOFT and status == "5.2.1":
            outcome = Outcome.HARD
    elif kind == "dropped":
        outcome = DROPPED.get(reason.lower(), Outcome.OURS)
    elif kind == "deferred":
        outcome = Outcome.DELAYED
    elif kind == "spamreport":
        outcome = Outcome.COMPLAINT
    elif kind == "delivered":
        outcome = Outcome.DELIVERED
    else:
        return []
    recipient = address(text(data, "email"))
    return [
        Feedback(
            outcome=outcome,
            source="sendgrid",
            event_id=event_key(
                "sendgrid", text(data, "sg_event_id"), kind, text(data, "timestamp"), recipient
            ),
            recipient=recipient,
            status=status,
            diagnostic=reason or kind or "",
            message_id=message_id(text(data, "smtp-id")),
            occurred_at=epoch(data.get("timestamp") if isinstance(data, dict) else None),
        )
    ]
