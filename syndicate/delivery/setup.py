"""Which transport and retry policy a site uses, from its settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from syndicate.config import Settings
from syndicate.delivery.engine import Policy
from syndicate.delivery.maildir import MaildirTransport
from syndicate.delivery.smtp import SmtpSettings, SmtpTransport
from syndicate.delivery.transport import Transport

MAILDIR = "maildir"


def maildir_path(settings: Settings) -> Path:
    """Where a site without ``[smtp]`` delivers: a Maildir any mail client can open."""
    return settings.root / MAILDIR


def make_transport(settings: Settings) -> Transport:
    """SMTP when ``[smtp]`` is configured, else the site's Maildir."""
    smtp = settings.config.smtp
    if smtp is None:
        return MaildirTransport(maildir_path(settings))
    return SmtpTransport(
        SmtpSettings(
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=settings.secrets.smtp_password,
            timeout=smtp.timeout,
            connections=smtp.connections,
            rate_limit=smtp.rate_limit,
            max_messages_per_connection=smtp.max_messages_per_connection,
        )
    )


def make_policy(settings: Settings) -> Policy:
    """Concurrency and retry limits from ``[smtp]`` (defaults for the Maildir)."""
    smtp = settings.config.smtp
    if smtp is None:
        return Policy()
    return Policy(connections=smtp.connections, retry_for=timedelta(seconds=smtp.retry_for))
