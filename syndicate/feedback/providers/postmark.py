"""Postmark bounce and spam-complaint webhooks.

Postmark does not sign its webhooks; it sends what the webhook's URL or custom headers
carry. So the route needs a credential: HTTP basic auth (put
``https://USER:PASSWORD@news.example.org/webhooks/postmark`` in Postmark, set
``SYNDICATE_POSTMARK_WEBHOOK_USER`` and ``…_PASSWORD``) or a custom header
``X-Syndicate-Webhook-Token`` holding ``SYNDICATE_POSTMARK_WEBHOOK_TOKEN``. Either one,
compared in constant time, admits the request. There is no timestamp to refuse a replay
with; the event ids make a replayed event change nothing.

Payloads: ``RecordType`` Bounce, SpamComplaint, or Delivery (→ DELIVERED: the receiving
server accepted the copy, which resets the reader's soft-bounce score); Open, Click and
SubscriptionChange are not feedback. Bounce ``Type`` values, from Postmark's bounce type
table, count as: HardBounce, BadEmailAddress → HARD; SoftBounce, DnsError → SOFT (Postmark's
type is better evidence of hard or soft than our words, which may only make either OURS: a
refusal for spam or policy); Unknown → by the status and words of ``Details`` (SOFT when
they say nothing); Transient (Postmark is still retrying) → DELAYED; AutoResponder,
AddressChange, ChallengeVerification, OpenRelayTest → AUTOREPLY; SpamNotification, Blocked,
VirusNotification, DMARCPolicy, SMTPApiError, TemplateRenderingFailed → OURS; SpamComplaint
→ COMPLAINT. Subscribe, Unsubscribe, ManuallyDeactivated, Unconfirmed, InboundError are
about Postmark's own lists, not the reader's mailbox: ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from datetime import datetime

from syndicate.feedback.classify import classify, enhanced_status
from syndicate.feedback.providers.base import (
    Refused,
    WebhookRequest,
    address,
    event_key,
    iso_time,
    parse_json,
    text,
)
from syndicate.feedback.report import Feedback, Outcome

ENV_USER = "SYNDICATE_POSTMARK_WEBHOOK_USER"
ENV_PASSWORD = "SYNDICATE_POSTMARK_WEBHOOK_PASSWORD"
ENV_TOKEN = "SYNDICATE_POSTMARK_WEBHOOK_TOKEN"
TOKEN_HEADER = "X-Syndicate-Webhook-Token"
TYPES: dict[str, Outcome] = {
    "HardBounce": Outcome.HARD,
    "BadEmailAddress": Outcome.HARD,
    "SoftBounce": Outcome.SOFT,
    "DnsError": Outcome.SOFT,
    "Unknown": Outcome.SOFT,
    "Transient": Outcome.DELAYED,
    "AutoResponder": Outcome.AUTOREPLY,
    "AddressChange": Outcome.AUTOREPLY,
    "ChallengeVerification": Outcome.AUTOREPLY,
    "OpenRelayTest": Outcome.AUTOREPLY,
    "SpamNotification": Outcome.OURS,
    "Blocked": Outcome.OURS,
    "VirusNotification": Outcome.OURS,
    "DMARCPolicy": Outcome.OURS,
    "SMTPApiError": Outcome.OURS,
    "TemplateRenderingFailed": Outcome.OURS,
    "SpamComplaint": Outcome.COMPLAINT,
}


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def authorized(request: WebhookRequest, env: Mapping[str, str]) -> bool:
    """Whether the request carries the configured basic-auth pair or token."""
    token = env.get(ENV_TOKEN, "")
    given_token = request.header(TOKEN_HEADER)
    if token and given_token is not None and _same(given_token, token):
        return True
    user, password = env.get(ENV_USER, ""), env.get(ENV_PASSWORD, "")
    credentials = request.header("authorization") or ""
    scheme, _, encoded = credentials.partition(" ")
    if not (user and password) or scheme.lower() != "basic":
        return False
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    given_user, _, given_password = pair.partition(":")
    # Both compared, always: which half was wrong must not show in the time taken.
    return _same(given_user, user) & _same(given_password, password)


class PostmarkReader:
    """Postmark: a credential check, then one bounce or spam-complaint record."""

    name = "postmark"

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(env.get(ENV_TOKEN) or (env.get(ENV_USER) and env.get(ENV_PASSWORD)))

    def read(
        self, request: WebhookRequest, env: Mapping[str, str], now: datetime
    ) -> list[Feedback]:
        if not authorized(request, env):
            raise Refused(401, "missing or wrong Postmark webhook credentials")
        record = parse_json(request.body)
        if not isinstance(record, dict):
            raise Refused(400, "a Postmark webhook body is one JSON object")
        kind = record.get("RecordType")
        if kind == "Delivery":
            return [_delivery(record)]
        if kind not in ("Bounce", "SpamComplaint"):
            return []
        bounce_type = "SpamComplaint" if kind == "SpamComplaint" else text(record, "Type")
        details = text(record, "Details") or ""
        outcome = TYPES.get(bounce_type or "")
        if outcome is None:
            return []
        status = enhanced_status(details)
        if bounce_type == "Unknown":  # Postmark could not tell: the reply decides
            outcome = classify(status, details, default=Outcome.SOFT)
        elif outcome in (Outcome.HARD, Outcome.SOFT):
            # Postmark's type says whether the address failed for good (it deactivates
            # it on a HardBounce), but not whose fault it was: a hard bounce that says
            # "blocked for spam" is ours (Postmark files some there).
            refined = classify(status, details, default=outcome)
            outcome = Outcome.OURS if refined is Outcome.OURS else outcome
        email = address(text(record, "Email"))
        return [
            Feedback(
                outcome=outcome,
                source="postmark",
                event_id=event_key("postmark", text(record, "ID"), email, kind),
                recipient=email,
                status=status,
                diagnostic=details or text(record, "Description") or bounce_type or "",
                occurred_at=iso_time(text(record, "BouncedAt")),
            )
        ]


def _delivery(record: dict[str, object]) -> Feedback:
    """A Delivery record: ``MessageID`` (Postmark's) and ``Recipient`` name the copy."""
    email = address(text(record, "Recipient"))
    return Feedback(
        outcome=Outcome.DELIVERED,
        source="postmark",
        event_id=event_key("postmark", text(record, "MessageID"), email, "Delivery"),
        recipient=email,
        diagnostic=text(record, "Details") or "delivered",
        occurred_at=iso_time(text(record, "DeliveredAt")),
    )
