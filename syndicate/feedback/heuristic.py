"""Non-standard bounces, through flufl.bounce (GNU Mailman's detectors).

flufl.bounce knows the home-grown formats of qmail, Exim, old Postfix and Sendmail,
Exchange, GroupWise, Yahoo, AOL and others, and a set of generic phrasings. It answers
only *which addresses* failed, temporarily or permanently: no status code, no reason. The
reason is then looked for in the message's text (an enhanced status code, words of a
missing mailbox or of a policy refusal); a permanent failure with none counts as hard,
as flufl.bounce's own users (Mailman) count it. What it misses: Message-IDs (none read),
which of several addresses failed how, and bounces in languages it has no phrasing for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.message import Message

from flufl.bounce import all_failures

from syndicate.feedback.classify import classify, status_in
from syndicate.feedback.dsn import returned_message_id
from syndicate.feedback.mime import address_in, clean, text_of
from syndicate.feedback.report import Feedback, Outcome

_MAX_ADDRESSES = 50
# flufl.bounce logs "Running detector: …" at INFO for each detector it asks, and a detector
# that trips over a stranger's odd message (no From:, random bytes) as an ERROR with its
# traceback, before raising: `detect` takes that as "not a bounce", and so the import says.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL + 1)


def _text(parts: Sequence[Message]) -> str:
    for part in parts:
        if part.get_content_maintype() == "text" and part.get_content_subtype() == "plain":
            text = text_of(part)
            if text.strip():
                return text[:8192]
    return ""


def _near(text: str, address: str) -> str:
    """The few lines around ``address`` in the text: where its reason is written."""
    at = text.lower().find(address.lower())
    if at < 0:
        return text[:2048]
    return text[max(0, at - 200) : at + 600]


def detect(msg: Message, parts: Sequence[Message]) -> list[Feedback] | None:
    """The failures flufl.bounce finds, classified by the text around them."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # its detectors are heuristics over strangers' text
        return None
    if not temporary and not permanent:
        return None
    text = _text(parts)
    message_id, _ = returned_message_id(parts)
    found: list[Feedback] = []
    for raw, failed in [(a, False) for a in sorted(temporary)] + [
        (a, True) for a in sorted(permanent)
    ]:
        address = address_in(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
        if address is None or len(found) >= _MAX_ADDRESSES:
            continue
        near = _near(text, address)
        status = status_in(near)
        if failed:
            outcome = classify(status, near, default=Outcome.HARD)
        else:  # flufl's temporary failures are warnings: "still trying"
            outcome = Outcome.DELAYED
        diagnostic = clean(near, 300)
        found.append(
            Feedback(
                outcome=outcome,
                source="flufl",
                event_id="",
                recipient=address,
                status=status,
                diagnostic=diagnostic,
                message_id=message_id,
            )
        )
    return found
