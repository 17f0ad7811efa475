"""Which :class:`Outcome` an enhanced status code and a diagnostic text make: the one
classifier that bounce mail (DSNs, flufl.bounce's finds) and provider webhooks share.

Order matters: a failure of the recipient's address (``5.1.0``–``5.1.6``, ``5.1.10``,
``5.2.1``) is hard whatever else the text says; a status naming the sender or the message
(``x.1.7``/``x.1.8`` bad sender address, ``5.2.3``/``5.3.4`` too big, ``x.6.x`` media) and
any sign that the *sender* was refused (reputation, policy, spam, authentication, rate
limits: mostly ``5.7.x`` / ``4.7.x`` with words) make it ours, never the reader's; then
temporary failures and a full mailbox are soft, and so is a ``5.7.x`` without a word of
why (RFC 3463 files per-recipient filtering there too); then words of a missing mailbox
make it hard. When nothing says, ``default`` decides: soft for a bounce mail (a single odd
rejection removes nobody), the provider's own verdict for a webhook (SES "Permanent", a
Mailgun permanent bounce: the provider saw the whole SMTP reply and suppresses the
address itself, which is better evidence than the absence of our words).
"""

from __future__ import annotations

import re

from syndicate.feedback.report import Outcome

STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# RFC 3463: 5.1.x is a bad destination address or system (5.1.10: Microsoft's null MX
# "recipient not found"), 5.2.1 a disabled mailbox, 5.1.6 "moved, no forwarding address".
_HARD_CODES = re.compile(r"5\.1\.([0-6]|10)|5\.2\.1|5\.4\.1")
_SOFT_CODES = re.compile(r"4\.\d+\.\d+|5\.2\.2|5\.4\.7|5\.3\.[12]")
# Always ours: the sender's address (x.1.7, x.1.8), the message's size (5.2.3, 5.3.4), its
# media (x.6.x). Ours when the words say so: the security refusals (x.7.x).
_OURS_ALWAYS = re.compile(r"[45]\.1\.[78]|5\.2\.3|5\.3\.4|[45]\.6\.\d+")
_OURS_CODES = re.compile(r"[45]\.7\.\d+")
_OURS_WORDS = re.compile(
    r"reputation|\bpolic(y|ies)\b|\bspam|unsolicited|\bbulk\b|block ?list|black ?list|"
    r"\bblock(ed|ing)?\b|spamhaus|barracuda|\bsorbs\b|\brbl\b|\bdnsbl\b|\bspf\b|\bdkim\b|"
    r"\bdmarc\b|\bptr\b|reverse (dns|lookup)|\brdns\b|unauthenticated|not authenticated|"
    r"authentication (failed|required)|rate.?limit|throttl|too many (connections|messages|"
    r"mails|emails)|try again later.*(volume|rate)|content (rejected|filter)|"
    r"message (content )?rejected|banned|blacklisted|(?<!not )\blisted (at|in|on)\b|\bjunk\b|"
    r"\bphish|\bvirus|malware|suspicious|not accepted for policy|message (is )?too (large|big)|"
    r"(maximum|inbound) message size|message size exceeds",
    re.IGNORECASE,
)
_HARD_WORDS = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address|account|domain)|"
    r"(mailbox|recipient|address|user|account)( \S+)? (does not|doesn't|did not) exist|"
    r"(invalid|unknown|non-?existent|bad) (recipient|mailbox|address|user|account)|"
    r"(mailbox|account) (is )?(disabled|unavailable|inactive|deactivated|suspended|closed)|"
    r"recipient (address )?rejected|not (a )?(valid|known) (user|recipient|mailbox)|"
    r"user(name)? not found|address not found|mailbox not found|recipient not found|"
    r"no mailbox here|host (or domain name )?not found|domain (not found|does not exist)|"
    r"not listed in|unrouteable|unroutable|moved|no longer (available|valid|active)",
    re.IGNORECASE,
)
_FULL_WORDS = re.compile(
    r"(mailbox|inbox|quota|storage)( \S+)? (is )?(full|exceeded|over)|over ?quota|"
    r"insufficient (disk )?space|exceeded (the )?(storage|quota)|disk quota|"
    r"quota (reached|exceeded)",
    re.IGNORECASE,
)


def status_in(text: str) -> str | None:
    """The first enhanced status code (``5.1.1``) in ``text``, if any."""
    found = STATUS.search(text[:4096])
    return ".".join(found.groups()) if found else None


def enhanced_status(*texts: str | None) -> str | None:
    """The first enhanced status code in the first of ``texts`` that has one."""
    for found_in in texts:
        if found_in and (found := status_in(found_in)) is not None:
            return found
    return None


def classify(status: str | None, diagnostic: str, *, default: Outcome = Outcome.SOFT) -> Outcome:
    """HARD, SOFT or OURS for a failed recipient; ``default`` when nothing says which.

    ``status`` is an enhanced status code (from the DSN, else found in the text);
    ``diagnostic`` the server's words (only the first 4 KB are read). ``default`` is what
    the caller knows without our words (a provider's permanent/temporary verdict); it
    decides only when neither the code nor the words do.
    """
    text = diagnostic[:4096]
    code = status or status_in(text)
    if code is not None and _HARD_CODES.fullmatch(code):
        return Outcome.HARD
    if code is not None and _OURS_ALWAYS.fullmatch(code):
        return Outcome.OURS
    if (code is not None and _OURS_CODES.fullmatch(code) and _OURS_WORDS.search(text)) or (
        _OURS_WORDS.search(text) and not _HARD_WORDS.search(text)
    ):
        return Outcome.OURS
    if _FULL_WORDS.search(text):
        return Outcome.SOFT
    if code is not None and _SOFT_CODES.fullmatch(code):
        return Outcome.SOFT
    if code is not None and code.startswith("5.7."):
        return Outcome.SOFT  # a security refusal without a word of why: scored, not hard
    if _HARD_WORDS.search(text):
        return Outcome.HARD
    return default
