"""Mailgun event webhooks (the JSON ones, since 2018; the legacy form posts are refused).

Each body is ``{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}``;
the signature is the hex HMAC-SHA256 of timestamp + token under the webhook signing key
(``SYNDICATE_MAILGUN_SIGNING_KEY``, "HTTP webhook signing key" in Mailgun's dashboard).
A timestamp more than 5 minutes from our clock is stale and a token seen before is a
replay: both 403. The signature covers the timestamp and token only, *not the body*: a
captured signature could carry any event body, under new event ids that the intake's
idempotency would not catch, so the seen tokens must be remembered across restarts and
processes (``syndicate run`` passes a guard kept in the database,
:class:`~syndicate.feedback.providers.replay.StoredReplayGuard`).

Events: ``failed`` with ``severity`` temporary (Mailgun retries) → DELAYED; permanent →
by ``reason``: suppress-bounce (Mailgun's bounce list) → HARD, suppress-complaint →
COMPLAINT, suppress-unsubscribe → OURS (Mailgun's list disagrees with ours), old
(expired after retries) → SOFT, espblock → OURS, otherwise (bounce, generic) by the
status code and message in ``delivery-status`` through the shared classifier (5.1.1 →
HARD, 5.7.1 with "spam"/"policy" → OURS, 5.2.2 → SOFT, …) and HARD when they say
nothing: Mailgun itself suppresses an address after a permanent failure.
``complained`` → COMPLAINT; ``rejected`` (Mailgun would not send it) → OURS;
``delivered`` → DELIVERED (resets the soft-bounce score). Opened, clicked,
unsubscribed, accepted are not feedback.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from syndicate.feedback.classify import classify, enhanced_status
from syndicate.feedback.providers.base import (
    MAX_ID,
    Refused,
    ReplayGuard,
    SeenGuard,
    WebhookRequest,
    address,
    check_fresh,
    epoch,
    event_key,
    int_or_none,
    joined,
    message_id,
    obj,
    parse_json,
    text,
    verp_token,
)
from syndicate.feedback.report import Feedback, Outcome

ENV_SIGNING_KEY = "SYNDICATE_MAILGUN_SIGNING_KEY"
_SUPPRESSED = {
    "suppress-bounce": Outcome.HARD,
    "suppress-complaint": Outcome.COMPLAINT,
    "suppress-unsubscribe": Outcome.OURS,
}


class MailgunReader:
    """Mailgun: HMAC signature, freshness, replay, then one event."""

    name = "mailgun"

    def __init__(self, seen: SeenGuard | None = None) -> None:
        self.seen: SeenGuard = seen or ReplayGuard()

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(env.get(ENV_SIGNING_KEY))

    def read(
        self, request: WebhookRequest, env: Mapping[str, str], now: datetime
    ) -> list[Feedback]:
        body = parse_json(request.body)
        if not isinstance(body, dict):
            raise Refused(400, "a Mailgun webhook body is one JSON object")
        signature = obj(body, "signature")
        token, given = signature.get("token"), signature.get("signature")
        timestamp = int_or_none(signature.get("timestamp"))
        if not isinstance(token, str) or not isinstance(given, str) or timestamp is None:
            raise Refused(401, "the Mailgun signature (timestamp, token, signature) is missing")
        if len(token) > MAX_ID or len(given) > MAX_ID:
            raise Refused(401, "the Mailgun signature does not verify")
        key = env.get(ENV_SIGNING_KEY, "").encode("utf-8")
        signed = f"{signature['timestamp']}{token}".encode("utf-8", "surrogatepass")
        expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode()):
            raise Refused(401, "the Mailgun signature does not verify")
        check_fresh(timestamp, now)
        if not self.seen.first_time(token, now):
            raise Refused(403, "this Mailgun token was seen before: a replay")
        return event(obj(body, "event-data"))


def event(data: dict[str, Any]) -> list[Feedback]:
    """The feedback in one Mailgun ``event-data`` object."""
    kind = text(data, "event")
    status_block = obj(data, "delivery-status")
    diagnostic = joined(text(status_block, "message"), text(status_block, "description"))
    status = enhanced_status(diagnostic)
    reason = text(data, "reason") or ""
    if kind == "failed":
        if text(data, "severity") == "temporary":
            outcome = Outcome.DELAYED
        elif reason in _SUPPRESSED:
            outcome = _SUPPRESSED[reason]
        elif reason == "old":
            outcome = Outcome.SOFT
        elif reason == "espblock":  # the receiving provider blocked Mailgun's sending
            outcome = Outcome.OURS
        else:
            code = int_or_none(status_block.get("code"))
            status = status or _basic_status(code)
            # "permanent": Mailgun gave up and puts the address on its bounce list; the
            # reply may still say it is ours or a full mailbox, else it is hard.
            outcome = classify(status, diagnostic, default=Outcome.HARD)
    elif kind == "delivered":
        outcome = Outcome.DELIVERED
        diagnostic = diagnostic or "delivered"
    elif kind == "complained":
        outcome = Outcome.COMPLAINT
    elif kind == "rejected":
        outcome = Outcome.OURS
        diagnostic = diagnostic or text(obj(data, "reject"), "reason") or "rejected by Mailgun"
    else:
        return []
    recipient = address(text(data, "recipient"))
    headers = obj(obj(data, "message"), "headers")
    return [
        Feedback(
            outcome=outcome,
            source="mailgun",
            # Mailgun's event id is unique "within a day"; with the event's own time and the
            # recipient it is unique, and the same on each retry of the webhook.
            event_id=event_key("mailgun", text(data, "id"), text(data, "timestamp"), recipient),
            recipient=recipient,
            status=status,
            diagnostic=diagnostic or joined(kind, reason),
            token=verp_token(text(obj(data, "envelope"), "sender")),
            message_id=message_id(text(headers, "message-id")),
            occurred_at=epoch(data.get("timestamp")),
        )
    ]


def _basic_status(code: int | None) -> str | None:
    """A class-only status from a basic SMTP code (550 → 5.0.0) when nothing better."""
    if code is not None and 400 <= code < 600:
        return f"{code // 100}.0.0"
    return None
