"""Whose copy a piece of feedback is about, and whether it may act on them.

In order: the VERP token (signed: names the copy, nobody can forge it; or, of a confirmation
mail, the subscriber and the day); our Message-ID in the returned part
(``<digest-id.subscriber-id@host>``, derived from the send and the subscriber, so nothing
extra is stored per copy); the address among subscribers (original recipient, then final).
Forged bounces remove nobody: anyone can mail the bounce address, and a Message-ID can be
guessed, so without a valid token feedback acts only on a copy we sent within the trust
window; with a token that fails verification (or names no copy) it acts on nobody. Provider
events (``trusted``, their signature verified) act on the subscriber their address names.

Bounces of confirmation mails (``by="confirmation"``) are matched by their return path's
token (issued within the trust window), or by the mail's Message-ID (random, so unguessable)
when the outbox shows that very mail accepted for the bounce's address within the window;
never by the address alone (anyone can fill in the form for an address, then forge a DSN
naming it), from any intake, provider events included. The policy lets only those act on
*pending* subscriptions: a copy's bounce ends the lists being mailed, not the pending ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from syndicate.feedback.report import Feedback, Outcome
from syndicate.store import feedback as repo
from syndicate.store import outbox
from syndicate.subscribers.address import AddressError, normalize_address
from syndicate.subscribers.verp import Verp

_MESSAGE_ID = re.compile(r"<?([A-Za-z0-9_-]{1,100})\.([1-9][0-9]{0,18})@([A-Za-z0-9.-]{1,253})>?")
_CONFIRM_ID = re.compile(r"<?confirm\.[0-9a-f]{24}@([A-Za-z0-9.-]{1,253})>?")
CONFIRMATION = "confirmation"  # ``matched_by`` of a confirmation mail's bounce
TOKEN_INVALID = "token-invalid"  # ``matched_by`` of a return-path token refused: acts on nobody


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """What matching found: the subscriber and send (or None), and whether it may act."""

    subscriber_id: int | None = None
    send_id: int | None = None
    # token | message-id | address | confirmation | token-invalid | "" (unmatched)
    by: str = ""
    counts: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Matcher:
    """The facts matching needs, gathered once per intake."""

    verp: Verp | None
    host: str  # the host of our Message-IDs
    window: timedelta  # ``[bounces] trust_window_days``
    now: datetime

    def match_all(
        self, conn: Connection, items: Sequence[Feedback], *, trusted: bool
    ) -> list[Match]:
        """Match many items, in order: the copies their tokens name are looked up in one
        query (an import's bounces nearly all carry one), the rest as :meth:`match` does."""
        pairs = []
        for item in items:
            found = self.verp.verify(item.token) if item.token and self.verp is not None else None
            if found is not None:
                pairs.append((found.send_id, found.subscriber_id))
        held = repo.copies(conn, pairs) if pairs else set()
        return [self.match(conn, item, trusted=trusted, copies=held) for item in items]

    def match(
        self,
        conn: Connection,
        item: Feedback,
        *,
        trusted: bool,
        copies: set[tuple[int, int]] | None = None,
    ) -> Match:
        """Match one item (never raises for anything the item holds). ``copies``: the
        (send, subscriber) pairs of the ledger looked up already (:meth:`match_all`)."""
        doubt: str | None = None
        if item.token:
            found = self.verp.verify(item.token) if self.verp is not None else None
            if found is not None and (
                (found.send_id, found.subscriber_id) in copies
                if copies is not None
                else repo.delivery(conn, found.send_id, found.subscriber_id)
            ):
                return Match(
                    subscriber_id=found.subscriber_id,
                    send_id=found.send_id,
                    by="token",
                    counts=True,
                    note="verified return path",
                )
            if found is None and (mail := self._confirmation_token(conn, item.token)) is not None:
                return mail
            doubt = "return-path token invalid" if found is None else "token: no such copy"
        match = self._without_token(conn, item, trusted=trusted, notes=[doubt] if doubt else [])
        if doubt is None or trusted:
            return match
        # A mail whose return path carries a token we did not sign (or one naming no copy
        # of ours) is forged, or another site's: it acts on nobody, whatever its Message-ID
        # or address would say; it is recorded as "not trusted" for the list, and as matched
        # by the refused token (not by the address or Message-ID it did not get to use).
        note = match.note if match.note.startswith(doubt) else f"{doubt}; {match.note}"
        by = TOKEN_INVALID if match.by in ("address", "message-id") else match.by
        return replace(match, by=by, counts=False, note=note)

    def _without_token(
        self, conn: Connection, item: Feedback, *, trusted: bool, notes: list[str]
    ) -> Match:
        """Match by our Message-ID, then by address (``notes``: what the token said)."""
        since = self.now - self.window
        if item.message_id and self._confirm_id(item.message_id):
            mail = self._confirmation_sent(conn, item, message_id=item.message_id)
            if mail is not None:
                return mail
            notes.append("Message-ID of no confirmation mail we sent in the window")
        elif item.message_id and (ours := self._message_id(item.message_id)) is not None:
            digest_id, subscriber_id = ours
            copy = repo.delivery_of_digest(conn, digest_id, subscriber_id)
            if copy is not None:
                recent = copy[1] >= since or trusted
                return Match(
                    subscriber_id=subscriber_id,
                    send_id=copy[0],
                    by="message-id",
                    counts=recent,
                    note="our Message-ID" + ("" if recent else "; mailed before the window"),
                )
            notes.append("Message-ID of no copy of ours")
        for address in (item.original_recipient, item.recipient):
            if not address:
                continue
            try:
                key = normalize_address(address).key
            except AddressError:
                continue
            known = repo.subscriber_by_key(conn, key)
            if known is None:
                continue
            send_id = repo.last_mailed(conn, known, since=since)
            counts = trusted or send_id is not None
            why = "by address" + ("" if counts else f"; not mailed in {self.window.days} days")
            if item.outcome is Outcome.DELIVERED and not trusted:
                # Anyone can mail "delivered" for an address: it would keep a bouncing
                # address on the list. From a mail it counts only for a copy it names.
                counts, why = False, "by address; a delivery report counts only for a copy"
            # An address names no confirmation mail (anyone can fill in the form, then mail
            # a DSN naming the address): the policy leaves pending lists to bounces that
            # name the confirmation mail (its return path's token or its Message-ID).
            return Match(
                subscriber_id=known,
                send_id=send_id,
                by="address",
                counts=counts,
                note="; ".join([*notes, why]),
            )
        notes.append("no subscriber has this address" if item.recipient else "no recipient")
        return Match(note="; ".join(notes))

    def _confirmation_token(self, conn: Connection, token: str) -> Match | None:
        """A genuine confirmation mail's return path, issued within the window."""
        mail = self.verp.verify_confirmation(token) if self.verp is not None else None
        if mail is None or mail.issued < (self.now - self.window).date():
            return None
        if repo.email_of(conn, mail.subscriber_id) is None:
            return None
        return Match(
            subscriber_id=mail.subscriber_id,
            by=CONFIRMATION,
            counts=True,
            note="verified return path of a confirmation mail",
        )

    def _confirmation_sent(
        self, conn: Connection, item: Feedback, *, message_id: str
    ) -> Match | None:
        """The confirmation mail with ``message_id`` the server accepted for the bounce's
        address in the window."""
        for address in (item.original_recipient, item.recipient):
            try:
                normal = normalize_address(address or "")
            except AddressError:
                continue
            known = repo.subscriber_by_key(conn, normal.key)
            if known is None:
                continue
            names = {normal.email, repo.email_of(conn, known) or normal.email}
            sent = outbox.sent_to(conn, sorted(names), since=self.now - self.window)
            wanted = message_id.strip().strip("<>").encode()
            if any(wanted in data[:65536] for data in sent):
                return Match(
                    subscriber_id=known,
                    by=CONFIRMATION,
                    counts=True,
                    note="Message-ID of a confirmation mail to this address, sent in the window",
                )
        return None

    def _confirm_id(self, value: str) -> bool:
        found = _CONFIRM_ID.fullmatch(value.strip())
        return found is not None and found[1].lower() == self.host.lower()

    def _message_id(self, value: str) -> tuple[str, int] | None:
        found = _MESSAGE_ID.fullmatch(value.strip())
        if found is None or found[3].lower() != self.host.lower():
            return None
        return found[1], int(found[2])
