"""Turning waiting welcomes into outbox mails: built, personalized and queued in one go.

The confirmation (web link, ``subscribers add``) wrote a ``welcomes`` row in its own
transaction; the outbox sender calls :class:`Welcomes` before each round. Each list's
welcome is rendered once per round and personalized per reader like a digest copy (their
own unsubscribe and preferences links, List-Unsubscribe with one-click, a VERP return path
of the confirmation mails' shape), DKIM-signed when the site signs, and queued in the
outbox in the transaction that marks the welcome ``queued``: a welcome another process took
meanwhile is not queued twice, and one whose reader left before it was built is
``skipped``. The outbox checks the subscription once more as it sends (and drops the mail
when it ended), so nobody who unsubscribed in between gets it.

A welcome file or template that cannot be used leaves the welcomes waiting (they go out
once it is fixed) and is logged once per distinct problem, not every round.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import jinja2
from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.config.mailhost import mail_host
from syndicate.delivery.dkim import DkimKey
from syndicate.delivery.dkim import sign as dkim_sign
from syndicate.delivery.setup import dkim_key
from syndicate.digest.message import message_id
from syndicate.digest.personalize import Personalizer, Recipient
from syndicate.digest.welcome import (
    WELCOME_TEMPLATES,
    latest_issue,
    load_welcome,
    render_welcome,
)
from syndicate.digest.wire import WireTemplate
from syndicate.errors import SyndicateError
from syndicate.models import RenderedDigest, Status
from syndicate.store import outbox
from syndicate.store import welcomes as repo
from syndicate.store.welcomes import Waiting, WelcomeStatus
from syndicate.subscribers.tokens import Signer
from syndicate.subscribers.verp import site_verp

BATCH = 100
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Mail:
    """One list's welcome this round: rendered once, ready to personalize."""

    rendered: RenderedDigest
    wire: WireTemplate


class Welcomes:
    """Builds and queues every waiting welcome; call it with the current time (in a thread).

    The site's DKIM key (``[email] dkim_*``) is loaded at the first welcome built: a key
    that cannot be used keeps the welcomes waiting (logged), rather than stopping ``run``
    or sending them unsigned.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        signer: Signer,
        env: jinja2.Environment | None = None,
    ) -> None:
        self.settings, self.engine, self.signer = settings, engine, signer
        self.env = env
        self.dkim: DkimKey | None = None
        self._dkim_loaded = False
        self.verp = site_verp(settings, signer) if settings.config.bounces else None
        self.host = mail_host(settings) if settings.config.email else ""
        self._said: set[str] = set()  # problems logged already

    def __call__(self, now: datetime) -> int:
        """Queue the waiting welcomes (ten batches at most); how many mails were queued."""
        if self.settings.config.email is None:
            return 0
        queued = 0
        for _ in range(10):
            with self.engine.connect() as conn:
                batch = repo.waiting(conn, BATCH)
            by_list: dict[str, list[Waiting]] = defaultdict(list)
            for item in batch:
                by_list[item.list_name].append(item)
            stuck = 0
            for list_name, items in by_list.items():
                done, left = self._list(list_name, items, now)
                queued, stuck = queued + done, stuck + left
            if len(batch) < BATCH or stuck == len(batch):
                break
        return queued

    def _list(self, list_name: str, items: list[Waiting], now: datetime) -> tuple[int, int]:
        """Queue the welcomes of one list; (queued, left waiting)."""
        cfg = self.settings.config.lists.get(list_name)
        if cfg is None or not cfg.welcome:
            self._skip(
                list_name, [i.subscriber_id for i in items], now, "the list sends no welcome"
            )
            return 0, 0
        for item in items:
            if item.status is not Status.ACTIVE:
                self._skip(list_name, [item.subscriber_id], now, _left(item))
        wanted = [item for item in items if item.status is Status.ACTIVE]
        if not wanted:
            return 0, 0
        try:
            mail = self._mail(list_name, now)
        except (SyndicateError, jinja2.TemplateError) as exc:
            self._once(f"welcome of {list_name}: {exc}; its welcomes wait until it is fixed")
            return 0, len(wanted)
        self._said = {p for p in self._said if not p.startswith(f"welcome of {list_name}:")}
        built: dict[int, tuple[Waiting, str, bytes]] = {}
        for item in wanted:
            try:
                built[item.subscriber_id] = (item, *self._build(item, mail, now))
            except SyndicateError as exc:  # this reader's address or name cannot be written
                self._skip(list_name, [item.subscriber_id], now, f"cannot be built: {exc}"[:300])
        return self._queue(list_name, built, now), 0

    def _build(self, item: Waiting, mail: _Mail, now: datetime) -> tuple[str, bytes]:
        """One reader's welcome: its envelope sender and the message bytes."""
        recipient = Recipient(subscriber_id=item.subscriber_id, email=item.email, name=item.name)
        mid = message_id(mail.rendered.digest, item.subscriber_id, self.host)
        data = bytes(mail.wire.message(recipient, mid))
        if self.dkim is not None:
            data = dkim_sign(data, self.dkim)
        envelope = (
            self.verp.confirmation_sender(item.subscriber_id, now)
            if self.verp is not None
            else self.settings.email.from_address
        )
        return envelope, data

    def _queue(
        self, list_name: str, built: dict[int, tuple[Waiting, str, bytes]], now: datetime
    ) -> int:
        """Queue the built welcomes still wanted, in one transaction: those whose reader
        left meanwhile are skipped, those another process took are left to it."""
        with self.engine.begin() as conn:
            active = repo.active_among(conn, list_name, list(built))
            gone = [sid for sid in built if sid not in active]
            repo.take_many(
                conn,
                list_name,
                gone,
                WelcomeStatus.SKIPPED,
                now=now,
                detail="no longer active when it was built",
            )
            taken = repo.take_many(conn, list_name, sorted(active), WelcomeStatus.QUEUED, now=now)
            for sid in sorted(taken):
                item, envelope, data = built[sid]
                row_id = outbox.enqueue(
                    conn,
                    sender=envelope,
                    recipient=item.email,
                    data=data,
                    now=now,
                    subscription=(sid, list_name),
                )
                repo.set_outbox(conn, sid, list_name, row_id)
        return len(taken)

    def _mail(self, list_name: str, now: datetime) -> _Mail:
        if not self._dkim_loaded:
            self.dkim, self._dkim_loaded = dkim_key(self.settings), True
        welcome = load_welcome(self.settings, list_name)
        latest = None
        if welcome.latest_issue:
            with self.engine.connect() as conn:
                latest = latest_issue(conn, self.settings, list_name)
        rendered = render_welcome(self.settings, list_name, welcome, latest, now=now, env=self.env)
        filler = Personalizer(
            rendered,
            list_name=list_name,
            web_url=self.settings.web_url,
            signer=self.signer,
            now=now,
            templates=WELCOME_TEMPLATES,
        )
        wire = WireTemplate(rendered, filler, settings=self.settings, list_name=list_name, date=now)
        return _Mail(rendered=rendered, wire=wire)

    def _skip(self, list_name: str, ids: list[int], now: datetime, why: str) -> None:
        with self.engine.begin() as conn:
            repo.take_many(conn, list_name, ids, WelcomeStatus.SKIPPED, now=now, detail=why)

    def _once(self, problem: str) -> None:
        if problem not in self._said:
            self._said.add(problem)
            log.error("%s", problem)


def _left(item: Waiting) -> str:
    state = item.status.value if item.status else "not subscribed"
    return f"not sent: {state} on {item.list_name} when it was built"


def combined(*steps: Callable[[datetime], object]) -> Callable[[datetime], None]:
    """One ``prepare`` for the outbox sender that runs each of ``steps`` in turn."""

    def run(now: datetime) -> None:
        for step in steps:
            step(now)

    return run
