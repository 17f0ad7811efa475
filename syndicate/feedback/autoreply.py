"""Out-of-office replies, vacation notices and challenge-response mails: not bounces."""

from __future__ import annotations

import re
from email.message import Message

from syndicate.feedback.mime import header

_SUBJECT = re.compile(
    r"^\s*(re:\s*)?("
    r"auto(matic)?[ -]?(reply|response|antwort|risposta|respuesta|réponse)|autoreply|auto:|"
    r"out of (the )?office|ooo\b|away from (my|the) (desk|office)|on (vacation|holiday|leave)|"
    r"vacation|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[aá]tica|"
    r"risposta automatica|automatisch antwoord|fuera de la oficina|hors du bureau|"
    r"i am (currently )?(out|away)|"
    # challenge-response: the sender must prove to be a person before mail gets through
    r"please confirm|confirm your (e-?mail|message|address)|verify your (e-?mail|address)|"
    r"sender verification|\[spamarrest|spam ?arrest|boxbe|approval required"
    r")",
    re.IGNORECASE,
)


def reason(msg: Message, *, strong_only: bool) -> str | None:
    """Why ``msg`` is an automatic reply, or None. ``strong_only``: only signs no bounce
    carries (mail servers mark their own bounces ``Auto-Submitted: auto-replied`` too)."""
    if header(msg, "X-Autoreply") or header(msg, "X-Autorespond"):
        return "auto-reply (X-Autoreply)"
    if header(msg, "Precedence").lower() == "auto_reply":
        return "auto-reply (Precedence: auto_reply)"
    if header(msg, "X-Auto-Response-Suppress") and header(msg, "X-MS-Exchange-Inbox-Rules-Loop"):
        return "auto-reply (Exchange inbox rule)"
    subject = header(msg, "Subject")
    if _SUBJECT.search(subject):
        return f"auto-reply (subject {subject[:60]!r})"
    if strong_only:
        return None
    auto = header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"auto-reply (Auto-Submitted: {auto[:30]})"
    return None
