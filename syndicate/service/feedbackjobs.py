"""The service's feedback jobs: bounces from ``[bounces] maildir`` and ``[bounces.imap]``,
and the hourly forgetting of old feedback events.

Each problem is logged once (every poll would meet it again), and once more when it is
fixed; what a poll took is logged as ``bounces import`` says it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from syndicate.config import Settings
from syndicate.feedback import imap as bounce_imap
from syndicate.feedback.importer import ImportReport
from syndicate.feedback.intake import prune as prune_feedback
from syndicate.feedback.maildir import folder as bounce_folder
from syndicate.feedback.maildir import poll as poll_bounces
from syndicate.feedback.maildir import problem as maildir_problem
from syndicate.feedback.summary import summary
from syndicate.text import plural

__all__ = ["PRUNE_EVERY", "FeedbackJobs"]

log = logging.getLogger("syndicate.service.work")
PRUNE_EVERY = timedelta(hours=1)


class FeedbackJobs:
    """The bounce polls and the pruning for one site, with what they logged last."""

    def __init__(
        self, settings: Settings, engine: Engine, *, clock: Callable[[], datetime]
    ) -> None:
        self.settings, self.engine, self.clock = settings, engine, clock
        self.imap_state = bounce_imap.ImapState()
        self.imap_problem: str | None = None  # the IMAP problem last logged (logged once)
        self.maildir_problem: str | None = None  # the same for [bounces] maildir
        self.unreadable: set[str] = set()  # files in the bounce Maildir logged as unreadable
        self.pruned_at: datetime | None = None  # feedback events last pruned (hourly)

    async def imap(self) -> None:
        """Take the bounces in the ``[bounces.imap]`` mailbox."""
        cfg = bounce_imap.config(self.settings)
        if cfg is None:
            return
        try:
            report = await asyncio.to_thread(
                bounce_imap.poll,
                self.engine,
                self.settings,
                now=self.clock(),
                state=self.imap_state,
                warn=log.warning,
            )
        except bounce_imap.ImapProblem as exc:
            # Logged once; the next poll tries again, and says so when it works again.
            if str(exc) != self.imap_problem:
                log.error("bounces: %s; retrying every %d s", exc, cfg.poll_interval)
            self.imap_problem = str(exc)
            return
        if self.imap_problem is not None:
            log.info("bounces: %s: reading the mailbox again", bounce_imap.where(cfg))
            self.imap_problem = None
        self._log_bounces(report)

    async def maildir(self) -> None:
        """Take the bounces delivered into ``[bounces] maildir``."""
        path = bounce_folder(self.settings)
        if path is None:
            return
        problem = maildir_problem(self.settings)
        if problem is not None:  # logged once, and once more when it is fixed
            if problem != self.maildir_problem:
                log.warning("bounces: %s", problem)
            self.maildir_problem = problem
            return
        if self.maildir_problem is not None:
            log.info("bounces: %s is a Maildir now: reading it", path)
            self.maildir_problem = None
        now = self.clock()
        report = await asyncio.to_thread(poll_bounces, self.engine, self.settings, path, now=now)
        self._log_bounces(report)
        self._log_unreadable(report)

    def _log_unreadable(self, report: ImportReport) -> None:
        """Each file the poll cannot read, once (it stays in ``new/``, so every poll meets
        it again); once fixed and taken, it is forgotten."""
        lines = {f"{row.name}: {row.reason}" for row in report.cannot_read}
        for line in sorted(lines - self.unreadable):
            log.warning("bounces: %s", line)
        self.unreadable = lines

    async def prune(self) -> None:
        """Forget unmatched events and old confirmed deliveries, at most once per
        :data:`PRUNE_EVERY` (from the retry job, which every ``run`` has)."""
        now = self.clock()
        if self.pruned_at is not None and now - self.pruned_at < PRUNE_EVERY:
            return
        self.pruned_at = now
        try:
            gone = await asyncio.to_thread(prune_feedback, self.engine, self.settings, now=now)
        except SQLAlchemyError as exc:  # the retries go on; the next hour tries again
            log.warning("bounces: forgetting old feedback events failed: %s", exc)
            return
        if gone:
            log.info("bounces: forgot %s", plural(gone, "unmatched event"))

    def _log_bounces(self, report: ImportReport) -> None:
        """The same counts as ``bounces import`` says (those that are not 0): they add up to
        the messages taken, the already imported and the not-a-bounce ones included."""
        if report.messages:
            removed = report.counts.get("removed", 0)
            gone = f"; {plural(removed, 'subscriber')} removed" if removed else ""
            log.info("bounces: %s%s", summary(report.messages, report.counts, every=False), gone)
