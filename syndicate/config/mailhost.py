"""The publication's mail host: the right-hand side of every Message-ID and List-Id.

One definition, because the feedback loop matches returned Message-IDs against the ones the
digests were sent with: two copies of this rule would drift apart.

RFC 2919 wants a List-Id under a domain name the list owner controls: the host of
``publication.base_url`` when it is one; when it is an IP address or a single label
(``http://127.0.0.1:8000``, ``http://localhost``), the domain of ``[email] from_address``
(the domain the mail comes from); ``localhost`` (RFC 2919's unmanaged namespace) only when
the site has neither.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from syndicate.config.settings import Settings

DOMAIN = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def _domain(host: str) -> str | None:
    """``host`` in ASCII when it is a domain name with a dot (not an IP address)."""
    try:
        host = host.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if "." not in host or host.replace(".", "").isdigit() or not DOMAIN.fullmatch(host):
        return None
    return host.lower()


def mail_host(settings: Settings) -> str:
    """The publication's host name in ASCII, for Message-IDs and List-Ids (module doc)."""
    host = _domain(urlsplit(settings.publication.base_url).hostname or "")
    if host is not None:
        return host
    email = settings.config.email
    if email is not None:
        found = _domain(email.from_address.rpartition("@")[2])
        if found is not None:
            return found
    return "localhost"
