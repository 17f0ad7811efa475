"""How a provider's failure counts, from its enhanced status code and the server's words.

Providers say *permanent* or *temporary*; they do not say whose fault it was. A receiving
server that refuses our mail for the sender's reputation, a policy, spam content or a
missing PTR/SPF/DKIM/DMARC record answers ``5.7.x`` (or words to that effect) and that
must never count against the reader: it is :attr:`Outcome.OURS`, a deliverability alert.
"""

from __future__ import annotations

import re

from syndicate.feedback.report import Outcome

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# Words receiving servers use when the refusal is about the sender or the content.
_OURS_WORDS = re.compile(
    r"spam|junk|unsolicited|black ?list|block ?list|blocked|banned|listed (?:at|on|in)|"
    r"reputation|policy|policies|dmarc|\bspf\b|dkim|\bptr\b|reverse dns|rdns|"
    r"rate.?limit|too many|throttl|not (?:yet )?authori[sz]ed|"
    r"authentication (?:required|failed)|content rejected|message rejected|virus",
    re.IGNORECASE,
)


def enhanced_status(*texts: str | None) -> str | None:
    """The first RFC 3463 status code (``5.1.1``) in ``texts``, or None."""
    for found_in in texts:
        if found_in:
            found = _STATUS.search(found_in)
            if found:
                return ".".join(found.groups())
    return None


def ours(status: str | None, diagnostic: str) -> bool:
    """Whether a refusal is about us (reputation, policy, content, authentication)."""
    if status is not None:
        _, subject, detail = status.split(".")
        if subject == "7" or (subject, detail) in {("1", "7"), ("1", "8"), ("3", "4"), ("2", "3")}:
            return True
        if subject == "6":  # media: the content's fault, not the address's
            return True
    return bool(_OURS_WORDS.search(diagnostic))


def judge(permanent: bool | None, status: str | None, diagnostic: str) -> Outcome:
    """HARD, SOFT or OURS for a failure the provider reported.

    ``permanent`` is the provider's verdict (None: it did not say). The address's own
    permanent failures (5.1.0–5.1.6 bad mailbox or domain, 5.2.1 disabled) are HARD
    whatever the wording; anything about us is OURS; a full mailbox (x.2.2) and every
    temporary failure (4.x.x, or a provider that gave up retrying) is SOFT.
    """
    if status is not None:
        _, subject, detail = status.split(".")
        bad_address = (subject == "1" and detail in {"0", "1", "2", "3", "4", "5", "6"}) or (
            subject == "2" and detail == "1"
        )
        if status.startswith("5.") and bad_address:
            return Outcome.HARD
    if ours(status, diagnostic):
        return Outcome.OURS
    if status is not None:
        if status.startswith("4.") or status.endswith(".2.2"):
            return Outcome.SOFT
        if status.startswith("5."):
            return Outcome.HARD if permanent is not False else Outcome.SOFT
    return Outcome.HARD if permanent else Outcome.SOFT
