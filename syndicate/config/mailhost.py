"""The publication's mail host: the right-hand side of every Message-ID and List-Id.

One definition, because the feedback loop matches returned Message-IDs against the ones the
digests were sent with: two copies of this rule would drift apart.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from syndicate.config.settings import Settings

DOMAIN = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def mail_host(settings: Settings) -> str:
    """The publication's host name in ASCII, for Message-IDs and List-Ids (RFC 2919:
    ``localhost`` when the site has no domain name, e.g. an IP address)."""
    host = urlsplit(settings.publication.base_url).hostname or ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return "localhost"
    return host if DOMAIN.fullmatch(host) and not host.replace(".", "").isdigit() else "localhost"
