"""Site settings: ``syndicate.toml`` validated once, secrets from the environment.

``types`` holds the value validators, ``sections`` one model per table of the file,
``settings`` the loaded :class:`Settings` and the error formatting.
"""

from __future__ import annotations

from syndicate.config.paths import CONFIG_NAME
from syndicate.config.sections import (
    DEFAULT_SUBJECT,
    LIST_NAME,
    Bounces,
    Content,
    Database,
    Email,
    Feeds,
    FeedSource,
    Imap,
    MailingList,
    Publication,
    SiteConfig,
    Smtp,
    Web,
)
from syndicate.config.settings import (
    DEFAULT_DB_PATH,
    ENV_DATABASE_URL,
    ENV_IMAP_PASSWORD,
    ENV_SECRET,
    ENV_SITE,
    ENV_SMTP_PASSWORD,
    Secrets,
    Settings,
    default_sqlite_url,
    format_validation_error,
    load_settings,
    parse_config,
    site_root,
)

__all__ = [
    "CONFIG_NAME",
    "DEFAULT_DB_PATH",
    "DEFAULT_SUBJECT",
    "ENV_DATABASE_URL",
    "ENV_IMAP_PASSWORD",
    "ENV_SECRET",
    "ENV_SITE",
    "ENV_SMTP_PASSWORD",
    "LIST_NAME",
    "Bounces",
    "Content",
    "Database",
    "Email",
    "FeedSource",
    "Feeds",
    "Imap",
    "MailingList",
    "Publication",
    "Secrets",
    "Settings",
    "SiteConfig",
    "Smtp",
    "Web",
    "default_sqlite_url",
    "format_validation_error",
    "load_settings",
    "parse_config",
    "site_root",
]
