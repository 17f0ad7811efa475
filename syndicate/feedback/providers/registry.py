"""The provider readers by name, as ``/webhooks/<name>`` serves them."""

from __future__ import annotations

from sqlalchemy import Engine

from syndicate.feedback.providers.base import Fetcher, Reader
from syndicate.feedback.providers.mailgun import MailgunReader
from syndicate.feedback.providers.postmark import PostmarkReader
from syndicate.feedback.providers.replay import StoredReplayGuard
from syndicate.feedback.providers.sendgrid import SendgridReader
from syndicate.feedback.providers.ses import SesReader
from syndicate.feedback.providers.sns import https_get

NAMES = ("ses", "postmark", "mailgun", "sendgrid")


def readers(*, fetch: Fetcher | None = None, engine: Engine | None = None) -> dict[str, Reader]:
    """Fresh readers, one per provider (each keeps its own certificate or replay cache).

    ``fetch`` gets SNS signing certificates and confirms SNS subscriptions (default: an
    HTTPS GET that checks TLS, follows no redirect and reads a bounded body). With
    ``engine`` the signed values Mailgun and SendGrid send are remembered in the database
    (every process, across restarts); without it, in this process's memory.
    """
    mailgun = StoredReplayGuard(engine, "mailgun") if engine is not None else None
    sendgrid = StoredReplayGuard(engine, "sendgrid") if engine is not None else None
    found: dict[str, Reader] = {
        "ses": SesReader(fetch or https_get),
        "postmark": PostmarkReader(),
        "mailgun": MailgunReader(mailgun),
        "sendgrid": SendgridReader(sendgrid),
    }
    assert tuple(found) == NAMES
    return found
