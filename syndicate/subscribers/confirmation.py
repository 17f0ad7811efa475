"""The double opt-in mail: "confirm your subscription", one signed link for every list asked for.

One request for several lists is one mail with one button: its token names all of them,
so one click confirms everything the request asked for (nothing is left pending).

Built once, as the exact bytes the outbox will send (retries resend the same bytes). The
address comes from a web form: one that is not canonical (never through
:func:`~syndicate.subscribers.address.normalize_address`) is refused with
:class:`ConfirmationError`, and the written header block is checked again for any line
break that is not folding. The name typed into the form is never part of the mail (no
greeting, no display name in ``To:``): whoever types an address may not be its owner, and
the mail is sent from the publication's own domain.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy as policies
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2

from syndicate.config import Settings
from syndicate.config.mailhost import mail_host
from syndicate.digest.personalize import confirm_url
from syndicate.errors import SyndicateError
from syndicate.subscribers.address import AddressError, display_address, normalize_address
from syndicate.subscribers.tokens import DEFAULT_MAX_AGE, MAX_LISTS, Purpose, Signer
from syndicate.subscribers.verp import site_verp

TEXT_TEMPLATE = "web/confirm.txt.j2"
HTML_TEMPLATE = "web/confirm.html.j2"
_BARE_BREAK = re.compile(rb"\r(?!\n)|(?<!\r)\n|\x00")


class ConfirmationError(SyndicateError):
    """The confirmation mail cannot be built safely; the message says which value is bad."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Confirmation:
    """A confirmation mail ready for the outbox: envelope and the complete message.

    ``sender`` is the envelope sender: with ``[bounces]`` a return path naming the
    subscriber and the day (so its bounce reaches the bounce address, not the editor's
    inbox, and can be trusted), else ``[email] from_address`` as before.
    """

    sender: str
    recipient: str
    data: bytes


def _recipient(email: str) -> str:
    try:
        canonical = normalize_address(email).email
    except AddressError as exc:
        raise ConfirmationError(f"To: {exc.reason}") from None
    if canonical != email:
        raise ConfirmationError(f"To: not a canonical address: {email!r}")
    return canonical


def _address(display_name: str, email: str) -> Address:
    """``Address`` from its parts: ``addr_spec=`` refuses a non-ASCII local part
    (``jörg@…``), which email-validator accepts and the SMTPUTF8 policy writes."""
    local, _, domain = email.rpartition("@")
    return Address(display_name, username=local, domain=domain)


def _check_headers(msg: EmailMessage, data: bytes) -> None:
    """The header block as written holds exactly the headers set: no value added a line."""
    head = data.split(b"\r\n\r\n", 1)[0]
    names = [
        line.split(b":", 1)[0].decode("ascii", "replace").lower()
        for line in head.split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    ]
    if _BARE_BREAK.search(head) or names != [key.lower() for key in msg.keys()]:
        raise ConfirmationError("a header holds a line break once written")


def build_confirmation(
    settings: Settings,
    *,
    subscriber_id: int,
    email: str,
    lists: Sequence[str],
    signer: Signer,
    now: datetime,
    env: jinja2.Environment,
) -> Confirmation:
    """The confirmation mail to ``email`` for ``lists`` (declared list names), issued ``now``.

    ``env`` finds ``web/confirm.txt.j2`` and ``web/confirm.html.j2`` (autoescaping the
    HTML one). Needs the ``[email]`` section.
    """
    if not lists:
        raise ValueError("a confirmation needs at least one list")
    sender = settings.email
    recipient = _recipient(email)
    web_url = settings.web_url
    chosen = [
        {"name": n, "title": d.title, "description": d.description}
        for n, d in ((n, settings.mailing_list(n)) for n in dict.fromkeys(lists))
    ]
    links = []  # one per MAX_LISTS lists: in practice always exactly one
    for start in range(0, len(chosen), MAX_LISTS):
        group = chosen[start : start + MAX_LISTS]
        names = [c["name"] for c in group]
        token = signer.make(Purpose.CONFIRM, subscriber_id, names, now=now)
        links.append(
            {
                "lists": group,
                "title": ", ".join(str(c["title"]) for c in group),
                "url": confirm_url(web_url, token),
            }
        )
    max_age = DEFAULT_MAX_AGE[Purpose.CONFIRM]
    context = {
        "publication": settings.publication,
        "name": None,  # kept for site templates: never a name typed into the form
        "email": display_address(recipient),  # shown to a person; the To header stays ASCII
        "lists": chosen,
        "links": links,
        "valid_days": max_age.days if max_age else None,
        "subscribe_url": f"{web_url}/subscribe",
    }
    text = env.get_template(TEXT_TEMPLATE).render(context)
    html = env.get_template(HTML_TEMPLATE).render(context)

    utf8 = not (recipient.isascii() and sender.from_address.isascii())
    msg = EmailMessage(policy=policies.SMTPUTF8 if utf8 else policies.SMTP)
    title = " ".join(settings.publication.title.split())
    try:
        msg["From"] = _address(" ".join(sender.from_name.split()), sender.from_address)
        if sender.reply_to:
            msg["Reply-To"] = _address("", sender.reply_to)
        msg["To"] = _address("", recipient)
        msg["Subject"] = f"Confirm your subscription to {title}"
    except (ValueError, IndexError) as exc:  # the email package refuses the value
        raise ConfirmationError(f"cannot write the headers: {exc}") from None
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<confirm.{secrets.token_hex(12)}@{mail_host(settings)}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    data = msg.as_bytes()
    _check_headers(msg, data)
    verp = site_verp(settings, signer)
    envelope = (
        verp.confirmation_sender(subscriber_id, now) if verp is not None else sender.from_address
    )
    return Confirmation(sender=envelope, recipient=recipient, data=data)
