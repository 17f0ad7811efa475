"""What a send did, as the CLI, the scheduler and the workers read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from syndicate.delivery.quota import Allowance
from syndicate.digest.plan import Plan
from syndicate.errors import SyndicateError
from syndicate.store.sends import SendStatus


class SendLocked(SyndicateError):
    """Another process is sending this list right now."""


@dataclass(slots=True)
class SendReport:
    """What a run of ``send`` did."""

    list_name: str
    send_id: int | None = None
    digest_id: str | None = None
    resumed: bool = False  # an interrupted send was resumed (no new digest this time)
    interrupted: SendStatus | None = None  # where the resumed send had stopped
    nothing_new: bool = False
    finished: bool = False
    stopped: bool = False  # asked to stop (Ctrl-C, the service stopping) before the end
    error: str | None = None  # the server could not be used: the send stopped early
    counts: dict[str, int] = field(default_factory=dict)
    next_retry: datetime | None = None
    processes: int = 1  # the most processes that delivered at once
    connections: int = 0  # connections in use at the end (adaptive: what it settled at)
    plan: Plan | None = None  # the versions sent, and whom each skipped
    retried: dict[str, dict[str, int]] = field(default_factory=dict)  # older sends: counts
    # ``[smtp] daily_limit`` / ``warmup`` used up: rows stay queued; continues by itself
    paused: Allowance | None = None
    mode: str = "digest"  # "post": a post list's run (each new article on its own)
    title: str | None = None  # a post's article title (one article mailed on its own)
    # a post list's run: each post it resumed or mailed, in order (this report sums them up)
    posts: list[SendReport] = field(default_factory=list)
