"""Which requests for a ``/c/`` link are a link scanner's, not a reader's click.

Mail security gateways (Microsoft Defender for Office 365 Safe Links, Proofpoint URL
Defense, Mimecast, Barracuda, ...) and link previewers follow every link of a mail as it
arrives. Their requests are answered like any other (the redirect), but not counted:

- ``HEAD`` requests (a check, not a visit);
- no User-Agent, or one naming a known scanner or an HTTP library (:data:`AGENTS`,
  matched case-insensitively anywhere in the header);
- clicks within ``[analytics] scanner_window`` seconds (60 by default) of when the send
  began or, with ``per_subscriber``, of when that reader's copy was delivered (the time
  we can know without naming anyone: clicks without identity are all alike).
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Substrings of User-Agent headers that no reader's browser sends.
AGENTS = (
    "bot",  # Googlebot, bingbot, Slackbot, ... and "BarracudaCentral"-style agents with it
    "crawl",
    "spider",
    "scan",
    "preview",  # link previewers
    "safelinks",  # Microsoft Defender for Office 365 Safe Links
    "ms-office",  # Microsoft Office's link prefetch
    "microsoft office existence",
    "proofpoint",
    "urldefense",
    "mimecast",
    "barracuda",
    "symantec",
    "forcepoint",
    "trend micro",
    "trendmicro",
    "checkpoint",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
    "wget",
    "curl/",
    "headlesschrome",
    "phantomjs",
)
MAX_AGENT = 1024  # longer headers are not read past this: bounded work per request


def scanner_agent(agent: str | None) -> bool:
    """Whether a User-Agent header is missing or names a scanner or a library."""
    if not agent:
        return True
    low = agent[:MAX_AGENT].lower()
    return any(word in low for word in AGENTS)


def too_soon(now: datetime, since: datetime | None, window: int) -> bool:
    """Whether a click comes within ``window`` seconds of ``since`` (delivery or send)."""
    return since is not None and now - since < timedelta(seconds=window)
