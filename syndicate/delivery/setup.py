"""Which transport and retry policy a site uses, from its settings."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from syndicate.config import CONFIG_NAME, Settings
from syndicate.config.paths import MAILDIR as MAILDIR
from syndicate.delivery.dkim import DkimKey, load_key
from syndicate.delivery.maildir import MaildirTransport
from syndicate.delivery.policy import Policy
from syndicate.delivery.quota import Quota
from syndicate.delivery.smtp import SmtpSettings, SmtpTransport
from syndicate.delivery.transport import Transport
from syndicate.errors import ConfigError
from syndicate.store.relays import relay_key


def maildir_path(settings: Settings) -> Path:
    """Where a site without ``[smtp]`` delivers: a Maildir any mail client can open."""
    return settings.root / MAILDIR


def make_transport(settings: Settings, *, connections: int | None = None) -> Transport:
    """SMTP when ``[smtp]`` is configured, else the site's Maildir. ``connections``: this
    process's share of the pool when a send is spread over several processes."""
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
            connections=connections or smtp.connections,
            rate_limit=smtp.rate_limit,
            max_messages_per_connection=smtp.max_messages_per_connection,
            pipelining=smtp.pipelining,
            chunking=smtp.chunking,
        )
    )


def dkim_key(settings: Settings) -> DkimKey | None:
    """The DKIM key configured in ``[email]``, loaded and tried once; None when unset."""
    email = settings.email
    fields = (email.dkim_domain, email.dkim_selector, email.dkim_key_file)
    if not any(fields):
        return None
    if not all(fields):
        raise ConfigError(
            [
                f"{CONFIG_NAME}: email: dkim_domain, dkim_selector and dkim_key_file go together; "
                "set all three or none"
            ]
        )
    assert email.dkim_domain and email.dkim_selector and email.dkim_key_file
    return load_key(email.dkim_domain, email.dkim_selector, settings.root / email.dkim_key_file)


def make_policy(settings: Settings) -> Policy:
    """Concurrency and retry limits from ``[smtp]`` (defaults for the Maildir)."""
    smtp = settings.config.smtp
    if smtp is None:
        return Policy()
    processes = smtp.processes or min(os.cpu_count() or 1, smtp.connections)
    if smtp.rate_limit is not None:
        processes = 1  # one shared token bucket; a rate limit never needs a second core
    return Policy(
        connections=smtp.connections,
        max_connections=smtp.connection_ceiling,
        relay=relay_key(smtp.host, smtp.port, smtp.username),
        processes=processes,
        lease=timedelta(seconds=smtp.lease),
        retry_for=timedelta(seconds=smtp.retry_for),
        wait_for_retries=timedelta(seconds=smtp.wait_for_retries),
        quota=make_quota(settings),
    )


def make_quota(settings: Settings) -> Quota | None:
    """``[smtp] daily_limit`` and ``warmup`` for the From domain; None when neither is set."""
    smtp = settings.config.smtp
    if smtp is None or (smtp.daily_limit is None and smtp.warmup is None):
        return None
    domain = settings.email.from_address.rpartition("@")[2].lower()
    return Quota(domain=domain, daily_limit=smtp.daily_limit, warmup=smtp.warmup)
