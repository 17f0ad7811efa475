"""Each provider reader on the payloads its documentation shows, and on forgeries: bad or
missing signatures (401), stale, replayed or foreign-topic ones (403), an SNS signing
certificate from a host that is not SNS (refused before anything is fetched)."""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from syndicate.feedback.classify import classify
from syndicate.feedback.providers.base import FetchError, Refused, WebhookRequest
from syndicate.feedback.providers.mailgun import MailgunReader
from syndicate.feedback.providers.postmark import PostmarkReader
from syndicate.feedback.providers.sendgrid import SendgridReader
from syndicate.feedback.providers.ses import SesReader
from syndicate.feedback.providers.sns import MAX_CERT, https_get, sns_url
from syndicate.feedback.report import Feedback, Outcome
from tests.conftest import NOW
from tests.httpserver import FeedServer, _Server
from tests.webhooks import (
    CERT_URL,
    ENV,
    POSTMARK_PASSWORD,
    POSTMARK_TOKEN,
    POSTMARK_USER,
    TOPIC,
    Fetcher,
    basic_auth,
    mailgun_sign,
    sample,
    sendgrid_headers,
    sendgrid_key,
    sns_cert_pem,
    sns_notification,
    sns_sign,
)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"


def request(body: bytes | dict[str, Any] | list[Any], **headers: str) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest(body=raw, headers={k.lower(): v for k, v in headers.items()})


def refused(call: Any, *args: Any) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args)
    return caught.value


# --- SES via SNS --------------------------------------------------------------------------


def ses_read(message: dict[str, Any], fetch: Fetcher | None = None) -> list[Feedback]:
    return SesReader(fetch or Fetcher()).read(request(message), ENV, NOW)


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_permanent_bounce_is_hard_with_our_message_id_and_token(version: str) -> None:
    message = sns_sign(
        sns_notification(sample("ses-bounce-permanent.json"), SignatureVersion=version)
    )
    [found] = ses_read(message)
    assert found.outcome is Outcome.HARD
    assert (found.recipient, found.status, found.source) == ("jane@example.com", "5.1.1", "ses")
    assert found.message_id == "<2026-w48.17@news.example.org>"
    assert found.token == "AbCdEf0123"
    assert found.occurred_at is not None and found.occurred_at.year == 2016
    assert "User" in found.diagnostic


def test_ses_bounce_recipients_each_judged_delayed_and_policy_are_not_hard() -> None:
    found = ses_read(sns_sign(sns_notification(sample("ses-bounce-mixed.json"))))
    assert [(f.recipient, f.outcome) for f in found] == [
        ("recipient1@example.com", Outcome.HARD),
        ("recipient2@example.com", Outcome.DELAYED),
        ("recipient3@example.com", Outcome.OURS),
    ]
    assert len({f.event_id for f in found}) == 3


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("ses-bounce-suppressed.json", Outcome.HARD),
        ("ses-bounce-transient.json", Outcome.SOFT),
        ("ses-complaint.json", Outcome.COMPLAINT),
    ],
)
def test_ses_bounce_and_complaint_types(name: str, outcome: Outcome) -> None:
    [found] = ses_read(sns_sign(sns_notification(sample(name))))
    assert found.outcome is outcome


@pytest.mark.parametrize(
    ("kind", "subtype", "outcome"),
    [
        ("Permanent", "OnAccountSuppressionList", Outcome.HARD),
        ("Permanent", "NoEmail", Outcome.HARD),
        ("Transient", "MessageTooLarge", Outcome.OURS),
        ("Transient", "ContentRejected", Outcome.OURS),
        ("Transient", "AttachmentRejected", Outcome.OURS),
        ("Transient", "General", Outcome.SOFT),
        ("Undetermined", "Undetermined", Outcome.SOFT),
    ],
)
def test_ses_bounce_subtypes(kind: str, subtype: str, outcome: Outcome) -> None:
    payload = sample("ses-bounce-suppressed.json")
    payload["bounce"].update(bounceType=kind, bounceSubType=subtype)
    payload["bounce"]["bouncedRecipients"] = [{"emailAddress": "a@example.com"}]
    [found] = ses_read(sns_sign(sns_notification(payload)))
    assert found.outcome is outcome


def test_ses_not_spam_and_plain_text_messages_are_not_feedback() -> None:
    complaint = sample("ses-complaint.json")
    complaint["complaint"]["complaintFeedbackType"] = "not-spam"
    for message in (complaint, "Successfully validated SNS topic"):
        assert ses_read(sns_sign(sns_notification(message))) == []


def test_ses_delivery_is_one_delivered_item_per_recipient() -> None:
    payload = sample("ses-delivery.json")
    payload["delivery"]["recipients"] = ["jane@example.com", "joe@example.com"]
    found = ses_read(sns_sign(sns_notification(payload)))
    assert [(f.outcome, f.recipient) for f in found] == [
        (Outcome.DELIVERED, "jane@example.com"),
        (Outcome.DELIVERED, "joe@example.com"),
    ]
    assert len({f.event_id for f in found}) == 2 and "250" in found[0].diagnostic
    assert found[0].occurred_at is not None and found[0].occurred_at.year == 2016


def test_ses_same_notification_twice_gives_the_same_event_ids() -> None:
    reader = SesReader(Fetcher())
    message = sns_sign(sns_notification(sample("ses-bounce-mixed.json")))
    first = reader.read(request(message), ENV, NOW)
    assert reader.read(request(message), ENV, NOW + timedelta(minutes=1)) == first


def test_ses_certificate_fetched_once_for_many_messages() -> None:
    fetch = Fetcher()
    reader = SesReader(fetch)
    for _ in range(3):
        reader.read(request(sns_sign(sns_notification(sample("ses-complaint.json")))), ENV, NOW)
    assert fetch.urls == [CERT_URL]


@pytest.mark.parametrize(
    "field", ["Message", "MessageId", "Timestamp", "TopicArn", "Type", "Subject"]
)
def test_ses_tampered_message_refused(field: str) -> None:
    message = sns_sign(sns_notification(sample("ses-bounce-permanent.json"), Subject="Bounce"))
    if field == "Timestamp":
        message[field] = (NOW - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    elif field == "TopicArn":
        message[field] = TOPIC  # same value: flip one character of the signature instead
        message["Signature"] = ("A" if message["Signature"][0] != "A" else "B") + message[
            "Signature"
        ][1:]
    elif field == "Type":
        message[field] = "SubscriptionConfirmation"  # another string to sign entirely
    else:
        message[field] = message[field] + " "
    error = refused(ses_read, message)
    assert error.status in (400, 401)


def test_ses_unsigned_or_foreign_key_refused() -> None:
    message = sns_notification(sample("ses-bounce-permanent.json"))
    assert refused(ses_read, message).status == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refused(ses_read, sns_sign(message, other)).status == 401
    assert refused(ses_read, {**sns_sign(message), "SignatureVersion": "3"}).status == 401


def test_ses_foreign_topic_refused_before_fetching() -> None:
    fetch = Fetcher()
    message = sns_sign(sns_notification(sample("ses-bounce-permanent.json"), TopicArn=TOPIC + "x"))
    assert refused(ses_read, message, fetch).status == 403
    assert fetch.urls == []


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-west-2.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://evil.example/SimpleNotificationService-1.pem",
        "https://sns.us-west-2.amazonaws.com@evil.example/SimpleNotificationService-1.pem",
        "https://sns.us-west-2.amazonaws.com:8443/SimpleNotificationService-1.pem",
        "http://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.txt",
        "https://sns.us-west-2.amazonaws.com/x.pem?redirect=https://evil.example/",
        "https://evil.example/sns.us-west-2.amazonaws.com/x.pem",
    ],
)
def test_ses_signing_certificate_from_a_non_sns_host_refused_before_fetching(url: str) -> None:
    # The forger signs with their own key and would serve a matching certificate there.
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fetch = Fetcher({url: sns_cert_pem()})
    message = sns_sign(
        sns_notification(sample("ses-bounce-permanent.json"), SigningCertURL=url), forger
    )
    error = refused(ses_read, message, fetch)
    assert error.status == 401 and "SNS host" in error.reason
    assert fetch.urls == []


def test_sns_hosts_of_every_partition_accepted() -> None:
    for url in (
        "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-a.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-a.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-a.pem",
    ):
        assert sns_url(url, pem=True) == url


def test_ses_stale_or_future_message_refused() -> None:
    payload = sample("ses-bounce-permanent.json")
    for when in (NOW - timedelta(hours=2), NOW + timedelta(hours=1)):
        error = refused(ses_read, sns_sign(sns_notification(payload, when=when)))
        assert error.status == 403


def test_ses_expired_certificate_refused() -> None:
    message = sns_sign(
        sns_notification(sample("ses-complaint.json"), when=NOW + timedelta(days=400))
    )
    error = refused(SesReader(Fetcher()).read, request(message), ENV, NOW + timedelta(days=400))
    assert error.status == 401 and "not valid now" in error.reason


def confirmation(**fields: Any) -> dict[str, Any]:
    message = sample("sns-subscription-confirmation.json")
    message.update(Timestamp=NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"), SigningCertURL=CERT_URL)
    message.update(fields)
    return message


def test_ses_subscription_confirmed_by_get_of_the_subscribe_url() -> None:
    fetch = Fetcher()
    message = sns_sign(confirmation())
    assert ses_read(message, fetch) == []
    assert fetch.urls == [CERT_URL, message["SubscribeURL"]]


def test_ses_subscription_unsigned_or_elsewhere_never_confirmed() -> None:
    fetch = Fetcher()
    assert refused(ses_read, confirmation(Signature="AAAA"), fetch).status == 401
    assert fetch.urls == [CERT_URL]
    elsewhere = sns_sign(
        confirmation(SubscribeURL="https://evil.example/?Action=ConfirmSubscription")
    )
    assert refused(ses_read, elsewhere, fetch).status == 400
    assert "evil.example" not in " ".join(fetch.urls)


def test_ses_confirmation_that_cannot_be_fetched_asks_sns_to_retry() -> None:
    message = sns_sign(confirmation(SubscribeURL="https://sns.us-west-2.amazonaws.com/gone"))
    assert refused(ses_read, message).status == 503


# --- Postmark ------------------------------------------------------------------------------


def postmark(body: Any, headers: dict[str, str]) -> list[Feedback]:
    return PostmarkReader().read(request(body, **headers), ENV, NOW)


def test_postmark_bounce_and_complaint_with_basic_auth() -> None:
    auth = basic_auth(POSTMARK_USER, POSTMARK_PASSWORD)
    [bounce] = postmark(sample("postmark-bounce.json"), auth)
    assert (bounce.outcome, bounce.recipient, bounce.status) == (
        Outcome.HARD,
        "john@example.com",
        "5.1.1",
    )
    assert bounce.occurred_at is not None and bounce.occurred_at.year == 2019
    [complaint] = postmark(sample("postmark-spam-complaint.json"), auth)
    assert complaint.outcome is Outcome.COMPLAINT and complaint.event_id != bounce.event_id
    [delivered] = postmark(sample("postmark-delivery.json"), auth)
    assert (delivered.outcome, delivered.recipient) == (Outcome.DELIVERED, "john@example.com")
    assert delivered.occurred_at is not None and delivered.occurred_at.year == 2019


def test_postmark_token_header_admits_too() -> None:
    [found] = postmark(
        sample("postmark-bounce.json"), {"X-Syndicate-Webhook-Token": POSTMARK_TOKEN}
    )
    assert found.outcome is Outcome.HARD


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic_auth(POSTMARK_USER, "wrong"),
        basic_auth("someone", POSTMARK_PASSWORD),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer " + POSTMARK_TOKEN},
        {"X-Syndicate-Webhook-Token": POSTMARK_TOKEN + "x"},
    ],
)
def test_postmark_without_the_credentials_refused(headers: dict[str, str]) -> None:
    assert refused(postmark, sample("postmark-bounce.json"), headers).status == 401


@pytest.mark.parametrize(
    ("kind", "details", "outcome"),
    [
        ("SoftBounce", "552 mailbox full", Outcome.SOFT),
        ("Transient", "message delayed", Outcome.DELAYED),
        ("AutoResponder", "I am out of the office", Outcome.AUTOREPLY),
        ("Blocked", "blocked", Outcome.OURS),
        ("DMARCPolicy", "", Outcome.OURS),
        ("HardBounce", "550 5.7.1 rejected as spam", Outcome.OURS),
        ("Unsubscribe", "", None),
        ("ManuallyDeactivated", "", None),
    ],
)
def test_postmark_bounce_types(kind: str, details: str, outcome: Outcome | None) -> None:
    record = {**sample("postmark-bounce.json"), "Type": kind, "Details": details}
    found = postmark(record, basic_auth(POSTMARK_USER, POSTMARK_PASSWORD))
    assert [f.outcome for f in found] == ([] if outcome is None else [outcome])


# --- Mailgun -------------------------------------------------------------------------------


def test_mailgun_failed_and_complained_events() -> None:
    reader = MailgunReader()
    body = mailgun_sign(sample("mailgun-failed-permanent.json"), NOW, "t" * 50)
    [found] = reader.read(request(body), ENV, NOW)
    assert (found.outcome, found.recipient, found.status) == (
        Outcome.HARD,
        "invalid@example.com",
        "5.1.1",
    )
    assert found.message_id == "<2026-w48.17@news.example.org>" and found.token == "AbCdEf0123"
    temporary = mailgun_sign(sample("mailgun-failed-temporary.json"), NOW, "u" * 50)
    assert [f.outcome for f in reader.read(request(temporary), ENV, NOW)] == [Outcome.DELAYED]
    complained = mailgun_sign(sample("mailgun-complained.json"), NOW, "v" * 50)
    assert [f.outcome for f in reader.read(request(complained), ENV, NOW)] == [Outcome.COMPLAINT]


def test_mailgun_delivered_event() -> None:
    body = mailgun_sign(sample("mailgun-delivered.json"), NOW, "d" * 50)
    [found] = MailgunReader().read(request(body), ENV, NOW)
    assert (found.outcome, found.recipient) == (Outcome.DELIVERED, "recipient@example.com")
    assert found.message_id == "<2026-w48.17@news.example.org>" and found.token == "AbCdEf0123"


@pytest.mark.parametrize(
    ("reason", "message", "outcome"),
    [
        ("suppress-bounce", "Not delivering to previously bounced address", Outcome.HARD),
        (
            "suppress-complaint",
            "Not delivering to a user who marked your messages as spam",
            Outcome.COMPLAINT,
        ),
        ("old", "Too old", Outcome.SOFT),
        ("bounce", "5.7.1 [192.0.2.1] blocked using zen.spamhaus.org", Outcome.OURS),
        ("bounce", "5.2.2 mailbox full", Outcome.SOFT),
        ("generic", "550 Requested action not taken: mailbox unavailable", Outcome.HARD),
    ],
)
def test_mailgun_permanent_failure_reasons(reason: str, message: str, outcome: Outcome) -> None:
    payload = sample("mailgun-failed-permanent.json")
    payload["event-data"]["reason"] = reason
    payload["event-data"]["delivery-status"]["message"] = message
    found = MailgunReader().read(request(mailgun_sign(payload, NOW, "w" * 50)), ENV, NOW)
    assert [f.outcome for f in found] == [outcome]


def test_mailgun_wrong_signature_or_key_refused() -> None:
    payload = sample("mailgun-failed-permanent.json")
    wrong_key = mailgun_sign(payload, NOW, "x" * 50, key="someone-elses-key")
    assert refused(MailgunReader().read, request(wrong_key), ENV, NOW).status == 401
    tampered = json.loads(mailgun_sign(payload, NOW, "y" * 50))
    tampered["signature"]["token"] = "z" * 50  # a fresh token under the old signature
    assert refused(MailgunReader().read, request(tampered), ENV, NOW).status == 401
    unsigned = {k: v for k, v in payload.items() if k != "signature"}
    assert refused(MailgunReader().read, request(unsigned), ENV, NOW).status == 401


def test_mailgun_stale_and_replayed_refused() -> None:
    reader = MailgunReader()
    payload = sample("mailgun-complained.json")
    for when in (NOW - timedelta(minutes=6), NOW + timedelta(minutes=6)):
        stale = mailgun_sign(payload, when, "s" * 50)
        assert refused(reader.read, request(stale), ENV, NOW).status == 403
    body = mailgun_sign(payload, NOW, "r" * 50)
    assert len(reader.read(request(body), ENV, NOW)) == 1
    error = refused(reader.read, request(body), ENV, NOW + timedelta(minutes=2))
    assert error.status == 403 and "replay" in error.reason


# --- SendGrid ------------------------------------------------------------------------------


def sendgrid(
    body: bytes, headers: dict[str, str], reader: SendgridReader | None = None
) -> list[Feedback]:
    return (reader or SendgridReader()).read(request(body, **headers), ENV, NOW)


def test_sendgrid_batch_of_documented_events() -> None:
    body = json.dumps(sample("sendgrid-events.json")).encode()
    found = sendgrid(body, sendgrid_headers(body, NOW))
    assert [(f.recipient, f.outcome) for f in found] == [
        ("bounce@test.com", Outcome.HARD),
        ("blocked@test.com", Outcome.OURS),
        ("dropped@test.com", Outcome.HARD),
        ("deferred@test.com", Outcome.DELAYED),
        ("delivered@test.com", Outcome.DELIVERED),
        ("spam@test.com", Outcome.COMPLAINT),
    ]
    assert found[0].message_id == "<14c5d75ce93.dfd.64b469@ismtpd-555>"
    assert found[0].status == "5.0.0" and found[0].occurred_at is not None


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"event": "bounce", "bounce_classification": "Content"}, Outcome.OURS),
        (
            {"event": "bounce", "bounce_classification": "Frequency or Volume Too High"},
            Outcome.OURS,
        ),
        (
            {"event": "bounce", "bounce_classification": "Mailbox Unavailable", "status": "5.2.2"},
            Outcome.SOFT,
        ),
        (
            {"event": "bounce", "bounce_classification": "Mailbox Unavailable", "status": "5.2.1"},
            Outcome.HARD,
        ),
        ({"event": "bounce", "type": "blocked"}, Outcome.OURS),
        ({"event": "bounce", "reason": "550 5.1.1 no such user"}, Outcome.HARD),
        ({"event": "dropped", "reason": "Spam Reporting Address"}, Outcome.COMPLAINT),
        ({"event": "dropped", "reason": "Unsubscribed Address"}, Outcome.OURS),
        ({"event": "dropped", "reason": "Invalid"}, Outcome.HARD),
    ],
)
def test_sendgrid_classifications(fields: dict[str, str], outcome: Outcome) -> None:
    body = json.dumps([{"email": "a@example.com", "sg_event_id": "e1", **fields}]).encode()
    assert [f.outcome for f in sendgrid(body, sendgrid_headers(body, NOW))] == [outcome]


def test_sendgrid_tampered_missing_stale_and_replayed_refused() -> None:
    body = json.dumps(sample("sendgrid-events.json")).encode()
    headers = sendgrid_headers(body, NOW)
    tampered = body.replace(b"spam@test.com", b"spam@test.org")
    assert refused(sendgrid, tampered, headers).status == 401
    assert refused(sendgrid, body, {}).status == 401
    wrong_time = {
        **headers,
        "X-Twilio-Email-Event-Webhook-Timestamp": str(int(NOW.timestamp()) + 1),
    }
    assert refused(sendgrid, body, wrong_time).status == 401
    stale = sendgrid_headers(body, NOW - timedelta(minutes=6))
    assert refused(sendgrid, body, stale).status == 403
    reader = SendgridReader()
    assert len(sendgrid(body, headers, reader)) == 6
    assert refused(sendgrid, body, headers, reader).status == 403


def test_sendgrid_replay_with_a_re_encoded_signature_refused() -> None:
    body = json.dumps(sample("sendgrid-events.json")).encode()
    headers = sendgrid_headers(body, NOW)
    reader = SendgridReader()
    assert len(sendgrid(body, headers, reader)) == 6
    # (r, s) and (r, n - s) both verify: the same request under another valid signature.
    r, s = decode_dss_signature(base64.b64decode(headers[SIGNATURE]))
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's n
    twin = base64.b64encode(encode_dss_signature(r, order - s)).decode()
    assert twin != headers[SIGNATURE]
    assert len(sendgrid(body, {**headers, SIGNATURE: twin})) == 6  # it does verify
    assert refused(sendgrid, body, {**headers, SIGNATURE: twin}, reader).status == 403


def test_sendgrid_pem_key_accepted_and_bad_key_is_a_server_problem() -> None:
    body = b"[]"
    pem = (
        sendgrid_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    env = {**ENV, "SYNDICATE_SENDGRID_WEBHOOK_PUBLIC_KEY": pem}
    assert SendgridReader().read(request(body, **sendgrid_headers(body, NOW)), env, NOW) == []
    env = {**ENV, "SYNDICATE_SENDGRID_WEBHOOK_PUBLIC_KEY": "not a key"}
    error = refused(SendgridReader().read, request(body, **sendgrid_headers(body, NOW)), env, NOW)
    assert error.status == 503


# --- the one classifier, as providers call it ----------------------------------------------


@pytest.mark.parametrize(
    ("default", "status", "diagnostic", "outcome"),
    [
        (Outcome.HARD, "5.1.1", "user unknown", Outcome.HARD),
        (Outcome.HARD, "5.1.1", "user unknown (policy)", Outcome.HARD),
        (Outcome.HARD, "5.2.1", "account disabled", Outcome.HARD),
        # RFC 3463 x.7.1 covers per-recipient filtering too: without a word of why it is
        # scored, as a DSN's is (was OURS when providers had a classifier of their own).
        (Outcome.HARD, "5.7.1", "relay access denied", Outcome.SOFT),
        (Outcome.HARD, "5.7.1", "rejected: your IP is on a block list", Outcome.OURS),
        (Outcome.HARD, "5.1.8", "sender address rejected", Outcome.OURS),
        (Outcome.SOFT, "5.1.7", "", Outcome.OURS),
        (Outcome.HARD, "5.6.0", "", Outcome.OURS),
        (Outcome.HARD, "5.3.4", "", Outcome.OURS),
        (Outcome.HARD, "5.0.0", "rejected by DMARC policy", Outcome.OURS),
        (Outcome.HARD, "5.2.2", "mailbox full", Outcome.SOFT),
        (Outcome.HARD, "4.4.7", "expired in queue", Outcome.SOFT),
        # Permanent with no code and no words: the provider's verdict decides.
        (Outcome.HARD, None, "", Outcome.HARD),
        (Outcome.SOFT, None, "", Outcome.SOFT),
        (Outcome.OURS, None, "", Outcome.OURS),
        (Outcome.HARD, "5.0.0", "", Outcome.HARD),
        (Outcome.SOFT, "5.0.0", "", Outcome.SOFT),
    ],
)
def test_classify_with_the_providers_default(
    default: Outcome, status: str | None, diagnostic: str, outcome: Outcome
) -> None:
    assert classify(status, diagnostic, default=default) is outcome


@pytest.mark.parametrize(
    ("kind", "subtype", "outcome"),
    [("Permanent", "General", Outcome.HARD), ("Transient", "General", Outcome.SOFT)],
)
def test_ses_general_bounce_without_code_or_words_follows_the_bounce_type(
    kind: str, subtype: str, outcome: Outcome
) -> None:
    # SES: "Permanent … you should remove the recipient's email address"; our words add
    # nothing here, so SES's verdict stands (a bounce mail like this would be SOFT).
    payload = sample("ses-bounce-suppressed.json")
    payload["bounce"].update(bounceType=kind, bounceSubType=subtype)
    payload["bounce"]["bouncedRecipients"] = [{"emailAddress": "a@example.com"}]
    [found] = ses_read(sns_sign(sns_notification(payload)))
    assert found.outcome is outcome


def test_mailgun_permanent_without_code_or_words_is_hard_espblock_ours() -> None:
    for reason, outcome in (("bounce", Outcome.HARD), ("espblock", Outcome.OURS)):
        payload = sample("mailgun-failed-permanent.json")
        payload["event-data"]["reason"] = reason
        payload["event-data"]["delivery-status"] = {"message": "", "description": ""}
        body = mailgun_sign(payload, NOW, reason[0] * 50)
        assert [f.outcome for f in MailgunReader().read(request(body), ENV, NOW)] == [outcome]


@pytest.mark.parametrize(
    ("bounce_type", "outcome"), [("bounce", Outcome.HARD), ("blocked", Outcome.OURS)]
)
def test_sendgrid_unclassified_without_code_or_words_follows_the_type(
    bounce_type: str, outcome: Outcome
) -> None:
    body = json.dumps(
        [{"email": "a@example.com", "sg_event_id": "e9", "event": "bounce", "type": bounce_type}]
    ).encode()
    assert [f.outcome for f in sendgrid(body, sendgrid_headers(body, NOW))] == [outcome]


def test_postmark_unknown_is_read_by_the_classifier_hard_bounce_keeps_its_type() -> None:
    auth = basic_auth(POSTMARK_USER, POSTMARK_PASSWORD)
    for kind, details, outcome in (
        ("Unknown", "550 5.1.1 no such user", Outcome.HARD),
        ("Unknown", "", Outcome.SOFT),
        ("HardBounce", "", Outcome.HARD),
        ("HardBounce", "552 5.2.2 mailbox full", Outcome.HARD),  # Postmark deactivated it
    ):
        record = {**sample("postmark-bounce.json"), "Type": kind, "Details": details}
        assert [f.outcome for f in postmark(record, auth)] == [outcome]


# --- the default HTTPS fetcher, against a real TLS server ---------------------------------


class TlsServer(FeedServer):
    """tests/httpserver.py's server behind TLS, with a certificate for 127.0.0.1."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context

    def start(self) -> TlsServer:
        self.stopping.clear()
        self._server = _Server(self)
        self._server.socket = self.context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def url(self, path: str = "/") -> str:
        return super().url(path).replace("http://", "https://", 1)


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[TlsServer, ssl.SSLContext]]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    trusting = ssl.create_default_context(cadata=pem.decode())
    with TlsServer(server_side) as server:
        yield server, trusting


def test_https_get_checks_tls_bounds_the_body_and_follows_no_redirect(
    tls: tuple[TlsServer, ssl.SSLContext],
) -> None:
    server, trusting = tls
    server.route("/cert.pem", body=sns_cert_pem(), content_type="application/x-pem-file")
    server.route("/big.pem", body=b"x" * 20_000, content_type="application/x-pem-file")
    server.route("/moved.pem", status=302, headers={"Location": "https://evil.example/x.pem"})
    with pytest.raises(FetchError):  # a certificate nobody vouches for: no key from it
        https_get(server.url("/cert.pem"), MAX_CERT)
    assert https_get(server.url("/cert.pem"), MAX_CERT, verify=trusting) == sns_cert_pem()
    with pytest.raises(FetchError, match="larger than"):
        https_get(server.url("/big.pem"), MAX_CERT, verify=trusting)
    with pytest.raises(FetchError, match="302"):
        https_get(server.url("/moved.pem"), MAX_CERT, verify=trusting)
    with pytest.raises(FetchError, match="https"):
        https_get(server.url("/cert.pem").replace("https:", "http:"), MAX_CERT)
