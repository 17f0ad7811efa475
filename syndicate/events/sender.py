"""Delivering the webhooks' outbox: claim due events, POST them signed, record the answers.

Each round claims at most :data:`BATCH` rows (leased, so two ``run`` processes never send one
event at once) and POSTs them, at most :data:`CONCURRENCY` at a time per endpoint, with
httpx: a whole attempt (connect, send, answer) has the endpoint's ``timeout``, redirects are
not followed, and at most :data:`READ_LIMIT` bytes of an answer are read. 2xx delivers the
event, recorded as soon as it came (a crash later in the round does not send it again);
anything else is retried (``retry.py``), recorded when the round ends. When an endpoint
gives no answer at all (refused, timed out), its other rows of the round are given back
untried, due when the failed one is: a dead or stuck endpoint is probed on the backoff
schedule, not hammered once per event, and costs a round at most one ``timeout``. The
store is only touched from a worker thread, so the event loop (pages, sends) never waits
for it.

Log lines name the endpoint by its key and host (a URL's path or query may hold a token),
the event by its ``webhook-id`` and type, and the answer's status; never a payload or the
secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from syndicate import __version__
from syndicate.config import Settings
from syndicate.config.webhooks import Webhook, webhook_secret
from syndicate.errors import SyndicateError
from syndicate.events.retry import retry_at
from syndicate.events.signing import Signer
from syndicate.store import webhooks as repo
from syndicate.store.webhooks import EventRow
from syndicate.text import plural, printable

log = logging.getLogger(__name__)

BATCH = 16
CONCURRENCY = 4
READ_LIMIT = 1024  # bytes of an answer read (for the error message); the rest is dropped
LEASE_MARGIN = timedelta(seconds=30)
POLL = timedelta(seconds=5)  # how often an idle sender looks for events other processes wrote
MIN_WAIT = 0.05  # seconds: never spin
KEEP = timedelta(days=30)  # delivered and given-up events are listed this long
PRUNE_EVERY = timedelta(hours=1)
USER_AGENT = f"syndicate/{__version__} (webhooks)"
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What one attempt got: the HTTP status (None: no answer) and, unless 2xx, why."""

    code: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


@dataclass(slots=True, kw_only=True)
class RoundReport:
    """What one round did, per endpoint key."""

    delivered: dict[str, int] = field(default_factory=dict)
    retrying: dict[str, int] = field(default_factory=dict)
    given_up: dict[str, int] = field(default_factory=dict)
    claimed: int = 0

    def count(self, which: dict[str, int], endpoint: str, n: int = 1) -> None:
        which[endpoint] = which.get(endpoint, 0) + n

    def add(self, other: RoundReport) -> None:
        """Fold another round's counts into this one."""
        for mine, theirs in (
            (self.delivered, other.delivered),
            (self.retrying, other.retrying),
            (self.given_up, other.given_up),
        ):
            for endpoint, n in theirs.items():
                self.count(mine, endpoint, n)
        self.claimed += other.claimed


def _reason(code: int, head: bytes) -> str:
    text = printable(head.decode("utf-8", "replace").strip())[:200]
    return f"HTTP {code}" + (f": {text}" if text else "")


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the answer's body; the rest is never read."""
    head = b""
    async for chunk in response.aiter_raw():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]


class Poster:
    """POSTs signed bodies to endpoints: the HTTP half of the sender (``webhooks test`` uses
    it alone).

    Reads every endpoint's secret at once: a missing or malformed one is a ConfigError
    naming the endpoint and the variable, before anything is sent.
    """

    def __init__(
        self,
        hooks: Sequence[Webhook],
        *,
        clock: Clock = _now,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.signers = {h.key: Signer(webhook_secret(h, env)) for h in hooks}
        self.clock = clock
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": USER_AGENT, "content-type": "application/json"},
            limits=httpx.Limits(max_connections=CONCURRENCY * max(1, len(hooks))),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def attempt(self, hook: Webhook, message_id: str, body: str) -> Answer:
        """POST one signed body to ``hook``; what came back."""
        headers = self.signers[hook.key].headers(message_id, body, at=self.clock())
        try:
            async with asyncio.timeout(hook.timeout):
                request = self.client.stream(  # the endpoint's timeout, not httpx's 5 s
                    "POST",
                    hook.url,
                    content=body.encode("utf-8"),
                    headers=headers,
                    timeout=hook.timeout,
                )
                async with request as response:
                    head = await _read_some(response, READ_LIMIT)
        except (TimeoutError, httpx.TimeoutException):
            return Answer(code=None, error=f"no answer within {hook.timeout:g} s")
        except httpx.HTTPError as exc:
            kind = type(exc).__name__
            said = printable(str(exc)).strip()
            return Answer(code=None, error=(f"{kind}: {said}" if said else kind)[:200])
        code = response.status_code
        if 200 <= code < 300:
            return Answer(code=code)
        if 300 <= code < 400:
            where = httpx.URL(response.headers.get("location", "")).host or "elsewhere"
            return Answer(
                code=code,
                error=f"HTTP {code}: redirect to {where} not followed (set url to where it points)",
            )
        return Answer(code=code, error=_reason(code, head))


class WebhookSender:
    """The outbox's sender for one site's ``[[webhooks]]`` endpoints (see the module)."""

    def __init__(
        self,
        hooks: Sequence[Webhook],
        engine: Engine,
        *,
        clock: Clock = _now,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        draw: Callable[[], float] | None = None,
    ) -> None:
        self.hooks = {h.key: h for h in hooks}
        self.poster = Poster(hooks, clock=clock, environ=environ, transport=transport)
        self.engine, self.clock = engine, clock
        self.draw = draw
        waves = math.ceil(BATCH / CONCURRENCY)
        longest = max((h.timeout for h in hooks), default=10.0)
        self.lease = timedelta(seconds=waves * longest) + LEASE_MARGIN
        # Per endpoint: a slow one holds its own requests back, not another endpoint's.
        self._gates = {key: asyncio.Semaphore(CONCURRENCY) for key in self.hooks}

    async def aclose(self) -> None:
        await self.poster.aclose()

    async def run_round(self) -> RoundReport:
        """Claim what is due and deliver it; what happened."""
        report = RoundReport()
        token = secrets.token_hex(16)
        now = self.clock()
        rows = await asyncio.to_thread(self._claim, token, now)
        report.claimed = len(rows)
        if not rows:
            return report
        down: set[str] = set()  # endpoints that gave no answer this round
        outcomes: list[tuple[EventRow, Answer | None]] = []
        recording = asyncio.Lock()

        async def one(row: EventRow) -> None:
            async with self._gates[row.endpoint]:
                if row.endpoint in down:
                    outcomes.append((row, None))  # not tried: its endpoint is not answering
                    return
                hook = self.hooks[row.endpoint]
                answer = await self.poster.attempt(hook, row.message_id, row.body)
                if answer.code is None:
                    down.add(row.endpoint)
            if answer.ok:  # recorded at once: a crash later in the round cannot repeat it
                async with recording:  # one at a time: the report is counted in the thread
                    await asyncio.to_thread(self._settle, token, [(row, answer)], report)
            else:
                outcomes.append((row, answer))

        await asyncio.gather(*(one(r) for r in rows))
        if outcomes:
            await asyncio.to_thread(self._settle, token, outcomes, report)
        return report

    def _claim(self, token: str, now: datetime) -> list[EventRow]:
        with self.engine.begin() as conn:
            return repo.claim(
                conn,
                list(self.hooks),
                now=now,
                lease_until=now + self.lease,
                token=token,
                limit=BATCH,
            )

    def _retry_time(self, row: EventRow, now: datetime) -> datetime | None:
        hook = self.hooks[row.endpoint]
        kwargs = {} if self.draw is None else {"draw": self.draw}
        return retry_at(
            row.attempts + 1,
            first_attempt=row.first_attempt_at or now,
            now=now,
            retry_for=timedelta(seconds=hook.retry_for),
            **kwargs,
        )

    def _settle(
        self, token: str, outcomes: list[tuple[EventRow, Answer | None]], report: RoundReport
    ) -> None:
        now = self.clock()
        # An endpoint that did not answer: the rows not tried wait for its next attempt.
        resume: dict[str, datetime] = {}
        with self.engine.begin() as conn:
            for row, answer in outcomes:
                if answer is not None:
                    again = self._record(conn, token, row, answer, report, now=now)
                    if answer.code is None:
                        resume.setdefault(row.endpoint, again or now)
            for row, answer in outcomes:
                if answer is None:
                    repo.release(conn, row.id, token, at=resume.get(row.endpoint, now))

    def _record(
        self,
        conn: Connection,
        token: str,
        row: EventRow,
        answer: Answer,
        report: RoundReport,
        *,
        now: datetime,
    ) -> datetime | None:
        """Write one attempt's outcome (and log it); when the row is tried again."""
        hook = self.hooks[row.endpoint]
        where = f"{hook.key} ({hook.host})"
        if answer.ok:
            code = answer.code or 0
            repo.delivered(conn, row.id, token, now=now, code=code)
            report.count(report.delivered, row.endpoint)
            log.debug("outgoing webhooks: %s: %s %s: %d", where, row.message_id, row.type, code)
            return None
        again = self._retry_time(row, now)
        error = answer.error or "failed"
        repo.attempt_failed(
            conn, row.id, token, now=now, code=answer.code, error=error, retry_at=again
        )
        attempt = row.attempts + 1
        if again is None:
            report.count(report.given_up, row.endpoint)
            log.error(
                "outgoing webhooks: %s: %s %s given up after %d attempts: %s",
                *(where, row.message_id, row.type, attempt, error),
            )
        else:
            report.count(report.retrying, row.endpoint)
            log.warning(
                "outgoing webhooks: %s: %s %s: %s (attempt %d; again at %s)",
                *(where, row.message_id, row.type, error, attempt),
                f"{again:%Y-%m-%d %H:%M:%S} UTC",
            )
        return again

    def next_due(self) -> datetime | None:
        """When the earliest pending event is due."""
        with self.engine.connect() as conn:
            return repo.next_due(conn, list(self.hooks))

    async def serve(self, stopping: asyncio.Event, *, poll: timedelta = POLL) -> None:
        """Deliver until ``stopping`` is set: round after round while there is work (a
        delivered event may free the next one of its subscriber), else wait for the next
        due event, at most ``poll`` (other processes record events too). Forgets delivered
        and given-up events after :data:`KEEP`. A round in flight when ``stopping`` is set
        is finished (its attempts are bounded by the endpoints' timeouts)."""
        done = RoundReport()
        pruned_at: datetime | None = None
        while not stopping.is_set():
            try:
                if pruned_at is None or self.clock() - pruned_at >= PRUNE_EVERY:
                    pruned_at = self.clock()
                    await asyncio.to_thread(self._prune, pruned_at)
                report = await self.run_round()
                done.add(report)
                if report.delivered or report.claimed >= BATCH:
                    continue
                _log_summary(self.hooks, done)
                done = RoundReport()
                due = await asyncio.to_thread(self.next_due)
            except (SQLAlchemyError, SyndicateError) as exc:
                log.error("outgoing webhooks: %s", exc)
                due = None
            except Exception:  # the loop must outlive any one round's surprise
                log.exception("outgoing webhooks")
                due = None
            wait = poll.total_seconds()
            if due is not None:
                wait = min(wait, max(0.0, (due - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), max(wait, MIN_WAIT))
        _log_summary(self.hooks, done)

    def _prune(self, now: datetime) -> None:
        with self.engine.begin() as conn:
            gone = repo.prune(conn, before=now - KEEP)
        if gone:
            log.info(
                "outgoing webhooks: forgot %s older than %d days", plural(gone, "event"), KEEP.days
            )


def sender_for(settings: Settings, engine: Engine) -> WebhookSender | None:
    """The sender of the site's ``[[webhooks]]`` (logged), or None without endpoints."""
    if not settings.config.webhooks:
        return None
    sender = WebhookSender(settings.config.webhooks, engine)
    names = ", ".join(f"{h.key} ({h.host})" for h in settings.config.webhooks)
    log.info("outgoing webhooks: sending events to %s", names)
    return sender


def _log_summary(hooks: Mapping[str, Webhook], done: RoundReport) -> None:
    """One INFO line per endpoint for what was delivered since the last line."""
    for key, n in sorted(done.delivered.items()):
        hook = hooks[key]
        log.info("outgoing webhooks: %s (%s): %s delivered", key, hook.host, plural(n, "event"))
