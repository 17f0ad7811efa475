"""Carrying out recorded subscribe requests: pending subscriptions and one confirmation mail.

The subscribe form only records a request (:func:`syndicate.store.signups.add`), the same
cheap insert whatever the address, and answers; so how long it takes tells nobody whether
the address was known. The outbox sender calls :class:`Signups` before each delivery round:
here it is decided what the request changes (new, pending, active, unsubscribed or
suppressed address), and the confirmation mail is built and queued, in the transaction that
takes the request.

Consent rules: a web subscription is only ever *pending* until its confirm link is used;
bounced and complained addresses stay suppressed whatever the form says; someone who
unsubscribed may ask again (pending, then active on confirm: their own consent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import jinja2
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from syndicate.config import Settings
from syndicate.errors import SyndicateError
from syndicate.events import record_changes
from syndicate.models import Source, Status
from syndicate.store import outbox
from syndicate.store import signups as requests
from syndicate.store import subscribers as repo
from syndicate.store.signups import Signup
from syndicate.store.subscribers import Change, NewSubscriber
from syndicate.subscribers.confirmation import build_confirmation
from syndicate.subscribers.tokens import Signer

# A pending subscriber asking again gets a new mail at most this often.
RESEND_AFTER = timedelta(minutes=10)
KEPT = frozenset({Status.ACTIVE, Status.BOUNCED, Status.COMPLAINED})  # the form never changes
BATCH = 100
log = logging.getLogger(__name__)


class Signups:
    """Carries out every recorded request; call it with the current time (from a thread).

    ``env`` finds the confirmation mail's templates (the web pages' environment).
    """

    def __init__(
        self, settings: Settings, engine: Engine, *, signer: Signer, env: jinja2.Environment
    ) -> None:
        self.settings, self.engine, self.signer, self.env = settings, engine, signer, env

    def __call__(self, now: datetime) -> int:
        """Handle the waiting requests (ten batches at most); how many mails were queued."""
        queued = 0
        for _ in range(10):
            with self.engine.connect() as conn:
                batch = requests.oldest(conn, BATCH)
            for signup in batch:
                queued += self._one(signup, now)
            if len(batch) < BATCH:
                break
        return queued

    def _one(self, signup: Signup, now: datetime) -> int:
        try:
            return int(_retrying(self.engine, lambda conn: self._carry_out(conn, signup, now)))
        except (SyndicateError, jinja2.TemplateError) as exc:
            # Nothing of it was stored; the request is dropped, or it would fail forever.
            log.error("subscribe request %d dropped: %s", signup.id, exc)
            with self.engine.begin() as conn:
                requests.take(conn, signup.id)
            return 0

    def _carry_out(self, conn: Connection, signup: Signup, now: datetime) -> bool:
        if not requests.take(conn, signup.id):
            return False  # another process took it
        declared = [n for n in dict.fromkeys(signup.lists) if n in self.settings.config.lists]
        return subscribe(
            conn,
            self.settings,
            signup,
            declared,
            signer=self.signer,
            env=self.env,
            now=now,
        )


def _retrying(engine: Engine, work: Callable[[Connection], bool]) -> bool:
    """``work`` in one transaction; once more if it lost an insert race (two requests for
    one new address: the second run finds the winner's row)."""
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                return work(conn)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def subscribe(
    conn: Connection,
    settings: Settings,
    signup: Signup,
    lists: list[str],
    *,
    signer: Signer,
    env: jinja2.Environment,
    now: datetime,
) -> bool:
    """Make ``lists`` pending for the request's address and queue one confirmation mail;
    True when a mail was queued."""
    if not lists:
        return False
    key = signup.email.casefold()
    stored = repo.subscriber_by_key(conn, key)
    if stored is None:
        new = NewSubscriber(email=signup.email, key=key, name=signup.name, attributes=())
        subscriber_id = repo.insert_subscribers(conn, [new], now=now)[key]
        # An unauthenticated form never renames a stored subscriber: only new ones get it.
        email, current = signup.email, {}
    else:
        subscriber_id, email = stored.id, stored.email
        current = repo.subscriptions_of(conn, subscriber_id)
    changes, mail_for = [], []
    for list_name in lists:
        status = current.get(list_name)
        if status in KEPT:
            continue
        mail_for.append(list_name)
        if status is not Status.PENDING:
            changes.append(
                Change(
                    subscriber_id=subscriber_id,
                    list_name=list_name,
                    status=Status.PENDING,
                    previous=status,
                    source=Source.WEB,
                    detail=signup.detail[:200],
                )
            )
    if not mail_for:
        return False
    if not changes:  # only asking again for pending lists: not too often
        last = outbox.last_queued_at(conn, email)
        if last is not None and now - last < RESEND_AFTER:
            return False
    repo.apply_changes(conn, changes, now=now)
    record_changes(conn, settings.config.webhooks, changes, now=now)
    mail = build_confirmation(
        settings,
        subscriber_id=subscriber_id,
        email=email,
        lists=mail_for,
        signer=signer,
        now=now,
        env=env,
    )
    outbox.enqueue(conn, sender=mail.sender, recipient=mail.recipient, data=mail.data, now=now)
    return True
