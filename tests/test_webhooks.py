"""``POST /webhooks/<provider>`` through the real ASGI app, with a recording sink: valid
requests reach the sink, refused ones (401/403/400/413) never do, a provider without its
secret is not there (404), and no body, however odd, gives a 500."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from syndicate.feedback.report import Feedback, Outcome
from syndicate.store.tables import webhook_replays
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.conftest import NOW, Site
from tests.test_web import Clock, Web
from tests.webhooks import (
    ENV,
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    Fetcher,
    basic_auth,
    mailgun_sign,
    sample,
    sendgrid_headers,
    sns_notification,
    sns_sign,
)

JSON = {"content-type": "application/json"}


class Sink:
    """Records what the route hands to the intake."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[Feedback], str]] = []
        self.fail = fail

    def __call__(self, feedback: Sequence[Feedback], provider: str) -> None:
        self.calls.append((list(feedback), provider))
        if self.fail:
            raise RuntimeError("the store is down")


class Hooks:
    def __init__(self, site: Site, *, env: dict[str, str] = ENV, sink: Sink | None = None) -> None:
        self.sink = sink if sink is not None else Sink()
        self.fetch = Fetcher()
        self.clock = Clock(NOW)
        app = create_app(
            site.settings,
            site.engine,
            signer=Signer("webhook-test-secret-0123456789abcdef"),
            clock=self.clock,
            feedback_sink=self.sink,
            webhook_env=env,
            webhook_fetch=self.fetch,
        )
        self.web = Web(app)
        # A 500 is an answer to look at here, not an exception to re-raise in the test.
        self.web.loop.run_until_complete(self.web.client.aclose())
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.web.client = httpx.AsyncClient(transport=transport, base_url="http://test")

    def post(self, provider: str, body: bytes | Any, headers: dict[str, str] | None = None) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.web.post(
            f"/webhooks/{provider}", content=raw, headers={**JSON, **(headers or {})}
        )

    def outcomes(self) -> list[tuple[str, str | None, Outcome]]:
        return [(p, f.recipient, f.outcome) for found, p in self.sink.calls for f in found]


@pytest.fixture
def hooks(site: Site) -> Iterator[Hooks]:
    h = Hooks(site)
    yield h
    h.web.close()


def test_each_provider_valid_request_reaches_the_sink(hooks: Hooks) -> None:
    ses = sns_sign(sns_notification(sample("ses-bounce-permanent.json")))
    assert hooks.post("ses", ses).status_code == 200
    auth = basic_auth(POSTMARK_USER, POSTMARK_PASSWORD)
    assert hooks.post("postmark", sample("postmark-spam-complaint.json"), auth).status_code == 200
    mailgun = mailgun_sign(sample("mailgun-failed-permanent.json"), NOW, uuid.uuid4().hex)
    assert hooks.post("mailgun", mailgun).json() == {"accepted": 1}
    body = json.dumps(sample("sendgrid-events.json")).encode()
    response = hooks.post("sendgrid", body, sendgrid_headers(body, NOW))
    assert response.status_code == 200 and response.json() == {"accepted": 6}
    assert hooks.outcomes()[:3] == [
        ("ses", "jane@example.com", Outcome.HARD),
        ("postmark", "john@example.com", Outcome.COMPLAINT),
        ("mailgun", "invalid@example.com", Outcome.HARD),
    ]
    assert [o for p, _, o in hooks.outcomes() if p == "sendgrid"] == [
        Outcome.HARD, Outcome.OURS, Outcome.HARD, Outcome.DELAYED, Outcome.DELIVERED,
        Outcome.COMPLAINT,
    ]  # fmt: skip
    [(ses_found, _)] = hooks.sink.calls[:1]
    assert ses_found[0].message_id == "<2026-w48.17@news.example.org>"


def test_refused_requests_never_reach_the_sink(hooks: Hooks) -> None:
    bounce = sample("ses-bounce-permanent.json")
    tampered = sns_sign(sns_notification(bounce))
    tampered["Message"] = tampered["Message"].replace("jane@", "john@")
    assert hooks.post("ses", tampered).status_code == 401
    stale = sns_sign(sns_notification(bounce, when=NOW.replace(hour=NOW.hour - 2)))
    assert hooks.post("ses", stale).status_code == 403
    elsewhere = sns_sign(
        sns_notification(
            bounce, SigningCertURL="https://evil.example/SimpleNotificationService-1.pem"
        )
    )
    assert hooks.post("ses", elsewhere).status_code == 401
    assert not any("evil" in url for url in hooks.fetch.urls)

    assert hooks.post("postmark", sample("postmark-bounce.json")).status_code == 401
    wrong = basic_auth(POSTMARK_USER, "guess")
    assert hooks.post("postmark", sample("postmark-bounce.json"), wrong).status_code == 401

    mailgun = mailgun_sign(sample("mailgun-complained.json"), NOW, "replayed-token-" + "0" * 35)
    assert hooks.post("mailgun", mailgun).status_code == 200
    hooks.sink.calls.clear()
    assert hooks.post("mailgun", mailgun).status_code == 403  # replayed
    hooks.clock.now = NOW.replace(minute=10)
    assert hooks.post("mailgun", mailgun).status_code == 403  # stale
    forged = mailgun_sign(sample("mailgun-complained.json"), NOW, "f" * 50, key="guessed")
    assert hooks.post("mailgun", forged).status_code == 401

    hooks.clock.now = NOW
    body = json.dumps(sample("sendgrid-events.json")).encode()
    headers = sendgrid_headers(body, NOW)
    assert hooks.post("sendgrid", body.replace(b"bounce@", b"other@"), headers).status_code == 401
    assert hooks.post("sendgrid", body).status_code == 401
    assert (
        hooks.post("sendgrid", body, sendgrid_headers(body, NOW.replace(hour=8))).status_code == 403
    )
    assert hooks.sink.calls == []


def test_subscription_confirmation_is_confirmed_and_nothing_reaches_the_sink(hooks: Hooks) -> None:
    message = sample("sns-subscription-confirmation.json")
    message["Timestamp"] = NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    response = hooks.post("ses", sns_sign(message))
    assert response.status_code == 200 and response.json() == {"accepted": 0}
    assert message["SubscribeURL"] in hooks.fetch.urls
    assert hooks.sink.calls == []


def test_route_off_without_secret_or_sink_and_post_only(site: Site) -> None:
    only_ses = Hooks(site, env={"SYNDICATE_SES_TOPIC_ARN": ENV["SYNDICATE_SES_TOPIC_ARN"]})
    try:
        mailgun = mailgun_sign(sample("mailgun-complained.json"), NOW, "o" * 50)
        assert only_ses.post("mailgun", mailgun).status_code == 404
        assert only_ses.post("postmark", b"{}").status_code == 404
        assert only_ses.post("sparkpost", b"{}").status_code == 404
        assert only_ses.web.get("/webhooks/ses").status_code == 405
        assert only_ses.sink.calls == []
    finally:
        only_ses.web.close()
    app = create_app(site.settings, site.engine, signer=Signer("x" * 32), webhook_env=ENV)
    web = Web(app)
    try:
        assert web.post("/webhooks/ses", content=b"{}").status_code == 404
    finally:
        web.close()


def test_body_over_the_limit_is_refused_unread(hooks: Hooks) -> None:
    body = b"[" + b" " * (1024 * 1024) + b"]"
    response = hooks.post("sendgrid", body, sendgrid_headers(body, NOW))
    assert response.status_code == 413 and hooks.sink.calls == []


def test_sink_failure_is_a_500_so_the_provider_retries(site: Site) -> None:
    failing = Hooks(site, sink=Sink(fail=True))
    try:
        body = mailgun_sign(sample("mailgun-complained.json"), NOW, "k" * 50)
        assert failing.post("mailgun", body).status_code == 500
        assert len(failing.sink.calls) == 1
    finally:
        failing.web.close()


# --- nothing a stranger sends gives a 500 --------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["event", "email", "reason", "status", "type", "Type", "RecordType", "Email",
             "bounce_classification", "notificationType", "bounce", "complaint", "mail",
             "bouncedRecipients", "emailAddress", "event-data", "signature", "severity",
             "delivery-status", "message", "headers", "timestamp", "x"]
        ) | st.text(max_size=8),
        inner,
        max_size=5,
    ),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    provider=st.sampled_from(["ses", "postmark", "mailgun", "sendgrid"]),
    body=st.binary(max_size=300),
)
def test_arbitrary_bytes_never_a_server_error(hooks: Hooks, provider: str, body: bytes) -> None:
    assert hooks.post(provider, body).status_code in (400, 401, 403)
    assert hooks.sink.calls == []


_SECONDS = itertools.count()


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(provider=st.sampled_from(["ses", "postmark", "mailgun", "sendgrid"]), value=json_values)
def test_arbitrary_json_with_valid_credentials_never_a_server_error(
    hooks: Hooks, provider: str, value: Any
) -> None:
    """Signed or authenticated, so the payload parsers themselves meet the odd shapes."""
    if provider == "ses":
        response = hooks.post("ses", sns_sign(sns_notification(json.dumps(value))))
    elif provider == "postmark":
        response = hooks.post("postmark", value, basic_auth(POSTMARK_USER, POSTMARK_PASSWORD))
    elif provider == "mailgun":
        envelope = value if isinstance(value, dict) else {"event-data": value}
        response = hooks.post("mailgun", mailgun_sign(envelope, NOW, uuid.uuid4().hex))
    else:
        body = json.dumps(value).encode()
        # A new signing time for each example: the same body signed at the same second twice
        # is a replay (403), which is right, and not what this test is about.
        when = NOW - timedelta(seconds=next(_SECONDS) % 290)
        response = hooks.post("sendgrid", body, sendgrid_headers(body, when))
    assert response.status_code in (200, 400), response.text


def test_a_mailgun_token_replayed_to_a_restarted_app_with_another_body_is_refused(
    site: Site,
) -> None:
    # Mailgun signs timestamp + token, not the body: a captured signature carries any
    # event, under event ids never seen. Only remembering the token stops it, and that
    # must survive a restart and hold across processes (two apps on one database).
    first, restarted = Hooks(site), Hooks(site)
    try:
        token = uuid.uuid4().hex
        genuine = mailgun_sign(sample("mailgun-failed-temporary.json"), NOW, token)
        assert first.post("mailgun", genuine).json() == {"accepted": 1}
        forged = json.loads(genuine)
        forged["event-data"] = sample("mailgun-complained.json")["event-data"]
        response = restarted.post("mailgun", json.dumps(forged).encode())
        assert response.status_code == 403 and "replay" in response.text
        assert restarted.sink.calls == []
        body = json.dumps(sample("sendgrid-events.json")).encode()
        headers = sendgrid_headers(body, NOW)
        assert first.post("sendgrid", body, headers).status_code == 200
        assert restarted.post("sendgrid", body, headers).status_code == 403
        later = NOW + timedelta(minutes=11)  # both stale by now: the rows may go
        restarted.clock.now = later
        fresh = mailgun_sign(sample("mailgun-complained.json"), later, uuid.uuid4().hex)
        assert restarted.post("mailgun", fresh).json() == {"accepted": 1}
        with site.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(webhook_replays)) == 1
    finally:
        first.web.close()
        restarted.web.close()
