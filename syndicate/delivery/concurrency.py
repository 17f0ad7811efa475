"""How many connections to use: an AIMD controller with a throughput check, and what counts
as the server pushing back.

Pure: no clock, no I/O. The caller (``delivery.adaptive``) feeds it one :meth:`tick` per
interval (messages answered, seconds, whether work waited for a connection) and one
:meth:`Controller.pushback` per pushback event; each returns a :class:`Change` when the
target moved.

Growth is judged by what it bought: after an increase, the next full interval must answer
at least half the proportional gain more messages (four connections to six: +25 %), else
the controller goes back to where it was and holds there. The first step is by half; while
each step brings at least ``STRONG`` (80 %) of its proportional gain the next one doubles
(8, 12, 24, 32 instead of 8, 12, 18, 27, 32). Over a relay 50 ms away every
connection adds its share; on loopback, where one core is the bound, the first check fails
and the pool stays as it started. A pushback cuts the
target to 0.7 of the connections that were open when it came (never below one) and caps
growth there: that is what the relay tolerated. After ``reprobe`` quiet intervals at the
cap the controller tries one more (a limit may have been a moment's, or raised).

A pushback is never read as fewer connections than the relay was just seen to carry: once a
whole busy interval passed at N connections without one, a refusal counted at N or fewer open
(the relay still counted a connection of ours that was closing, or one it had not yet seen
close) is taken as a refusal at N + 1. That is retrial B7: a relay allowing two sessions, a
421 counted at two open, and a ceiling of one stored. The proof lapses at each cut, so a relay
that really lowered its limit is followed down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiosmtplib

__all__ = ["Change", "Controller", "connection_pushback", "reply_pushback"]

DECREASE = 0.7  # multiplicative decrease on pushback (12 connections: 8)
GAIN = 0.5  # share of the proportional throughput gain an increase must show
SLOW_START = 1.5  # growth factor until the first hold or pushback (then +1 at a time)
STRONG = 0.8  # a step that brought this share of its proportional gain: the next doubles
REPROBE = 20  # intervals at the cap (or held) before one more connection is tried

# Replies that mean "fewer connections, please", whatever their code: RFC 3463 4.7.x is
# "security or policy status" (rate limits, "4.7.0 Try again later", "421 4.7.28"); the
# words are what relays without enhanced codes say. Greylisting is per sender and recipient,
# not about connections: it is retried like any 4xx and does not shrink the pool.
_POLICY_CODE = re.compile(r"^\s*4\.7\.\d{1,3}\b")
_WORDS = re.compile(
    r"too many (?:connections|sessions|concurrent|simultaneous|messages)|rate.?limit|"
    r"throttl|connection limit|concurrency limit|slow down",
    re.IGNORECASE,
)
_GREYLIST = re.compile(r"grey.?list|gray.?list", re.IGNORECASE)


def _short(reply: str) -> str:
    """The reply's words without an enhanced status code, for a log line."""
    text = re.sub(r"^\s*\d\.\d{1,3}\.\d{1,3}\s*", "", reply)
    return " ".join(text.split())[:80]


def reply_pushback(code: int | None, reply: str) -> str | None:
    """Why a reply is the server pushing back (``"421 too many connections"``), else None.

    421 always is (the server closes the session); other 4xx replies are when they carry a
    4.7.x code or say so in words. 5xx never: those are about the message.
    """
    if code is None or not 400 <= code <= 499:
        return None
    if code == 421 or (
        not _GREYLIST.search(reply) and (_POLICY_CODE.match(reply) or _WORDS.search(reply))
    ):
        words = _short(reply)
        return f"{code} {words}" if words else str(code)
    return None


def connection_pushback(exc: BaseException) -> str | None:
    """Why a network error is the server pushing back (refused or reset), else None.

    Timeouts are not: a slow network is no request for fewer connections.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError | BrokenPipeError):
            return "connection reset"
        if isinstance(seen, aiosmtplib.SMTPResponseException):
            return reply_pushback(seen.code, seen.message)
        if type(seen) is aiosmtplib.SMTPServerDisconnected:
            return "connection closed by the server"
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """The target moved from ``before`` to ``after``; ``reason`` set for a pushback."""

    before: int
    after: int
    reason: str | None = None
    at: int | None = None  # connections open when the server pushed back
    settled: bool = False  # ``before`` sent no faster: the controller holds at ``after``
    echo: bool = False  # a pushback right after a cut, seeing fewer open: no second cut


class Controller:
    """The target connection count, between 1 and ``ceiling``.

    ``start``: where a send begins (``[smtp] connections``, or what the relay tolerated last
    time); ``known``: that ceiling, when the relay taught one (growth waits at it for
    ``reprobe`` intervals before it tries beyond). ``cooldown``: intervals after a decrease
    in which further pushbacks are echoes of the same overload (connections opened before
    the cut) and do not cut again, except to below the ``at`` they report: a relay that
    refused the ``at``-th connection takes no more than ``at - 1`` now.
    """

    def __init__(
        self,
        *,
        start: int,
        ceiling: int,
        known: int | None = None,
        reprobe: int = REPROBE,
        cooldown: int = 1,
    ) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self.ceiling = ceiling
        self.limit = max(1, min(start, ceiling))
        self.cap = self.limit if known is not None else ceiling
        self.tolerated: int | None = None  # what to remember: proven, or cut to
        self.proven: int | None = None  # carried a whole busy interval, since the last cut
        self.pushbacks = 0
        self._reprobe, self._cooldown = reprobe, cooldown
        self._before: float | None = None  # rate before the increase being judged
        self._skip = 0  # intervals still to skip (the one a change happened in)
        self._quiet = 0  # intervals since the last pushback
        self._held = 0  # intervals at the cap or held
        self._slow = known is None  # slow start: grow by half until the first hold
        self._echo = 0  # intervals in which pushbacks are ignored
        self._holding = False  # growth stopped paying: wait ``reprobe`` intervals
        self._from = self.limit  # where the increase being judged started
        self._double = False  # the last step paid clearly: the next one doubles

    @property
    def echoing(self) -> bool:
        """Pushbacks now are echoes of the last cut's overload."""
        return self._echo > 0

    def pushback(self, reason: str, at: int) -> Change | None:
        """The server pushed back with ``at`` connections open: cut, unless an echo."""
        self.pushbacks += 1
        self._quiet = 0
        before = self.limit
        # The relay carried ``proven`` a moment ago: counted at fewer, it saw one more of ours.
        seen = max(at, self.proven + 1) if self.proven is not None else at
        if self._echo > 0:  # no second cut; but more than ``seen - 1`` it does not take now
            after = max(1, min(before, seen - 1))
            if after == before:
                return None
            self.limit = self.cap = self.tolerated = after
            self.proven = None
            return Change(before=before, after=after, reason=reason, at=at, echo=True)
        after = max(1, min(before, int(max(1, seen) * DECREASE)))
        self.limit = self.cap = after
        self.tolerated, self.proven = after, None
        self._before, self._slow, self._held, self._holding = None, False, 0, False
        self._skip = 1
        self._echo = self._cooldown + 1  # this interval and ``cooldown`` more
        return Change(before=before, after=after, reason=reason, at=at)

    def tick(self, *, completed: int, seconds: float, saturated: bool) -> Change | None:
        """One interval: ``completed`` messages answered in ``seconds``; ``saturated``:
        work waited for a connection (else more connections could not have helped)."""
        self._echo = max(0, self._echo - 1)
        self._quiet += 1
        if self._skip > 0:
            self._skip -= 1
            return None
        if not saturated or seconds <= 0:
            self._before = None  # a tail or a pause: nothing to judge growth by
            return None
        rate = completed / seconds
        if self._quiet > 1:  # a whole busy interval at this level, no pushback
            if self.tolerated is None or self.limit > self.tolerated:
                self.tolerated = self.limit
            self.proven = max(self.proven or 0, self.limit)
        if self._before is not None:  # judge the last increase
            before, self._before = self._before, None
            wanted = (self.limit - self._from) / self._from  # the proportional gain
            if rate >= before * (1 + GAIN * wanted):
                # Growth that clearly pays (a relay far away: every connection adds its
                # share) doubles, so a send reaches its level in fewer intervals.
                self._double = self._slow and before > 0 and rate >= before * (1 + STRONG * wanted)
                if self.limit >= self.cap:  # beyond the cap and it paid: one more may too
                    self.cap = min(self.ceiling, self.cap + 1)
                return self._grow(rate)
            # no gain: back to where it was (the extra connections only cost), and hold
            tried, self.limit = self.limit, self._from
            self._slow, self._holding, self._held, self._skip = False, True, 0, 1
            return Change(before=tried, after=self.limit, settled=True)
        if not self._holding and self.limit < self.cap:
            return self._grow(rate)
        self._held += 1
        if self._held >= self._reprobe and self.limit < self.ceiling:
            self._holding = False  # try beyond what held (or what the relay cut us to)
            self.cap = max(self.cap, self.limit + 1)
            return self._grow(rate)
        return None

    def _grow(self, rate: float) -> Change | None:
        before = self.limit
        if self._slow:
            step = before if self._double else max(1, int(before * (SLOW_START - 1)))
        else:
            step = 1
        self._double = False
        after = min(self.cap, self.ceiling, before + step)
        if after <= before:
            return None
        self.limit, self._from, self._before = after, before, rate
        self._skip, self._held = 1, 0
        return Change(before=before, after=after)
