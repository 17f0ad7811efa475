"""Amazon SES bounce and complaint notifications, delivered by SNS over HTTPS.

``SYNDICATE_SES_TOPIC_ARN`` (one ARN, or several separated by commas) turns the route on
and names the topics we accept: a validly signed message from anyone else's topic is
refused (403), since anyone can make an SNS topic and point it here. A
SubscriptionConfirmation for our topic is confirmed by a GET of its SubscribeURL (an SNS
host, https). Notifications carry the SES JSON of the "Amazon SNS notification contents"
page: ``notificationType`` (or ``eventType`` with event publishing) Bounce, Complaint,
Delivery, DeliveryDelay.

Bounce types, as SES documents them, and what they count as:

* NoEmail → HARD; Permanent/General → by the status and diagnostic through the shared
  classifier (OURS when they say reputation, policy, spam: SES files some blocks there;
  SOFT for a full mailbox or a wordless 5.7.x), and HARD when they say nothing, since
  SES's documentation says to remove an address with a Permanent bounce;
* Permanent/Suppressed (SES's global list of addresses with a history of hard bounces)
  and Permanent/OnAccountSuppressionList (our own account's list; SES reports an address
  suppressed for a complaint as a Complaint instead) → HARD: SES did not even try;
* Transient/MailboxFull → SOFT; Transient/General and Undetermined → by the classifier
  (SOFT when nothing says more); Transient/MessageTooLarge, ContentRejected,
  AttachmentRejected → OURS (the message, not the address);
* a bounced recipient with ``action: delayed`` and DeliveryDelay events → DELAYED;
* Delivery (SES handed the copy to the recipient's server) → DELIVERED, one per recipient:
  it resets that reader's soft-bounce score.

Complaints → COMPLAINT, except ``complaintFeedbackType`` not-spam (ignored: the opposite
of a complaint), auth-failure and virus (OURS).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from syndicate.feedback.classify import classify, enhanced_status
from syndicate.feedback.providers.base import (
    Fetcher,
    FetchError,
    Refused,
    WebhookRequest,
    address,
    iso_time,
    items,
    joined,
    message_id,
    obj,
    parse_json,
    text,
    verp_token,
)
from syndicate.feedback.providers.base import event_key as _key
from syndicate.feedback.providers.sns import MAX_CONFIRM, Certificates, sns_url, verify
from syndicate.feedback.report import Feedback, Outcome

ENV_TOPIC_ARN = "SYNDICATE_SES_TOPIC_ARN"
MAX_AGE = timedelta(hours=1)  # SNS's default HTTP retry policy is done within minutes
MAX_AHEAD = timedelta(minutes=5)
_KINDS = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_OURS_SUBTYPES = {"MessageTooLarge", "ContentRejected", "AttachmentRejected"}
_HARD_SUBTYPES = {"NoEmail", "Suppressed", "OnAccountSuppressionList"}
log = logging.getLogger(__name__)


def topics(env: Mapping[str, str]) -> set[str]:
    """The topic ARNs we accept, from ``SYNDICATE_SES_TOPIC_ARN``."""
    return {arn.strip() for arn in env.get(ENV_TOPIC_ARN, "").split(",") if arn.strip()}


class SesReader:
    """SES via SNS: signature, topic, subscription confirmation, then the SES payload."""

    name = "ses"

    def __init__(self, fetch: Fetcher) -> None:
        self.fetch = fetch
        self.certificates = Certificates(fetch)

    def configured(self, env: Mapping[str, str]) -> bool:
        return bool(topics(env))

    def read(
        self, request: WebhookRequest, env: Mapping[str, str], now: datetime
    ) -> list[Feedback]:
        message = parse_json(request.body)
        if not isinstance(message, dict) or message.get("Type") not in _KINDS:
            raise Refused(400, "not an SNS message (no Type Notification/SubscriptionConfirmation)")
        # The topic first: a stranger's message costs no certificate fetch.
        arn = message.get("TopicArn")
        if not isinstance(arn, str) or arn not in topics(env):
            raise Refused(403, f"the SNS topic is not one named in {ENV_TOPIC_ARN}")
        verify(message, self.certificates, now)
        sent = iso_time(message["Timestamp"])  # a string: verify() signed it
        if sent is None or not now - MAX_AGE <= sent <= now + MAX_AHEAD:
            raise Refused(403, "the SNS message is stale (its Timestamp is over an hour old)")
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            self._confirm(message)
            return []
        if kind == "UnsubscribeConfirmation":
            log.info("SNS: the subscription to %s was removed", message["TopicArn"])
            return []
        return notification(message["Message"])

    def _confirm(self, message: dict[str, Any]) -> None:
        url = sns_url(message.get("SubscribeURL"), pem=False)
        if url is None:
            raise Refused(400, "the SubscribeURL is not an https URL on an SNS host")
        try:
            self.fetch(url, MAX_CONFIRM)
        except FetchError as exc:
            # 503: SNS sends the confirmation again; the operator sees why in the log.
            log.warning(
                "SNS: could not confirm the subscription to %s: %s", message["TopicArn"], exc
            )
            raise Refused(503, "the subscription could not be confirmed; try again") from None
        log.info("SNS: confirmed the subscription to %s", message["TopicArn"])


def notification(body: str) -> list[Feedback]:
    """The feedback in one SES notification (the SNS ``Message``); [] for anything else."""
    try:
        payload = parse_json(body, "SNS Message")
    except Refused:
        return []  # e.g. SES's plain-text "Successfully validated SNS topic" test message
    if not isinstance(payload, dict):
        return []
    kind = payload.get("notificationType") or payload.get("eventType")
    mail = obj(payload, "mail")
    common = {
        "message_id": _original_message_id(mail),
        "token": verp_token(text(mail, "source")),
    }
    if kind == "Bounce":
        return _bounces(obj(payload, "bounce"), common)
    if kind == "Complaint":
        return _complaints(obj(payload, "complaint"), common)
    if kind == "Delivery":
        return _deliveries(obj(payload, "delivery"), text(mail, "messageId"), common)
    if kind == "DeliveryDelay":
        delay = obj(payload, "deliveryDelay")
        return [
            _feedback(
                Outcome.DELAYED, text(mail, "messageId"), r, common, when=text(delay, "timestamp")
            )
            for r in items(delay, "delayedRecipients")
        ]
    return []


def _bounces(bounce: dict[str, Any], common: dict[str, str | None]) -> list[Feedback]:
    kind, subtype = text(bounce, "bounceType"), text(bounce, "bounceSubType")
    found = []
    for recipient in items(bounce, "bouncedRecipients"):
        diagnostic = text(recipient, "diagnosticCode") or ""
        status = enhanced_status(text(recipient, "status"), diagnostic)
        if (text(recipient, "action") or "").lower() == "delayed":
            outcome = Outcome.DELAYED
        elif kind == "Permanent" and subtype in _HARD_SUBTYPES:
            outcome = Outcome.HARD
        elif kind == "Transient" and subtype in _OURS_SUBTYPES:
            outcome = Outcome.OURS
        elif kind == "Transient" and subtype == "MailboxFull":
            outcome = Outcome.SOFT
        else:
            # General (and any subtype SES adds later): our classifier reads the reply;
            # SES's Permanent ("remove the address from your list") decides when it cannot.
            default = Outcome.HARD if kind == "Permanent" else Outcome.SOFT
            outcome = classify(status, diagnostic, default=default)
        found.append(
            _feedback(
                outcome,
                text(bounce, "feedbackId"),
                recipient,
                common,
                status=status,
                diagnostic=diagnostic or joined(kind, subtype),
                when=text(bounce, "timestamp"),
            )
        )
    return found


def _deliveries(
    delivery: dict[str, Any], ses_id: str | None, common: dict[str, str | None]
) -> list[Feedback]:
    """A Delivery notification: the remote server accepted the copy for ``recipients``."""
    found = []
    for recipient in items(delivery, "recipients"):
        email = address(recipient if isinstance(recipient, str) else None)
        found.append(
            Feedback(
                outcome=Outcome.DELIVERED,
                source="ses",
                # SES's messageId names the message; with the recipient, one copy.
                event_id=_key("ses", "delivery", ses_id, email),
                recipient=email,
                diagnostic=text(delivery, "smtpResponse") or "delivered",
                token=common["token"],
                message_id=common["message_id"],
                occurred_at=iso_time(text(delivery, "timestamp")),
            )
        )
    return found


def _complaints(complaint: dict[str, Any], common: dict[str, str | None]) -> list[Feedback]:
    kind = (text(complaint, "complaintFeedbackType") or "").lower()
    if kind == "not-spam":
        return []
    outcome = Outcome.OURS if kind in {"auth-failure", "virus"} else Outcome.COMPLAINT
    diagnostic = joined(kind, text(complaint, "complaintSubType"), text(complaint, "userAgent"))
    return [
        _feedback(
            outcome,
            text(complaint, "feedbackId"),
            recipient,
            common,
            diagnostic=diagnostic,
            when=text(complaint, "timestamp"),
        )
        for recipient in items(complaint, "complainedRecipients")
    ]


def _feedback(
    outcome: Outcome,
    feedback_id: str | None,
    recipient: Any,
    common: dict[str, str | None],
    *,
    status: str | None = None,
    diagnostic: str = "",
    when: str | None = None,
) -> Feedback:
    email = address(text(recipient, "emailAddress"))
    return Feedback(
        outcome=outcome,
        source="ses",
        event_id=_key("ses", feedback_id, email),
        recipient=email,
        status=status,
        diagnostic=diagnostic,
        token=common["token"],
        message_id=common["message_id"],
        occurred_at=iso_time(when),
    )


def _original_message_id(mail: dict[str, Any]) -> str | None:
    """Our Message-ID, when the notification includes the original headers."""
    found = message_id(text(obj(mail, "commonHeaders"), "messageId"))
    if found is not None:
        return found
    for header in items(mail, "headers"):
        if (text(header, "name") or "").lower() == "message-id":
            return message_id(text(header, "value"))
    return None
