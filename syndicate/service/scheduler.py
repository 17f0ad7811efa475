"""When each list's digest is due, and the APScheduler jobs that run it.

Digest jobs live in the state store (``SQLAlchemyJobStore`` on the store's engine), one per
declared list with the id ``digest:<list>``; the content poll and the retry sweep (deferred
copies of every send, retried while the next digests go out as scheduled) are
in-memory jobs of the running process. The job store keeps references to the job functions,
so they are module-level and take only the list name; they reach the running service through
``register()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.config.types import ON_PUBLISH

log = logging.getLogger(__name__)

DIGESTS = "default"  # the persistent job store
LOCAL = "local"  # jobs that only make sense while this process runs
PREFIX = "digest:"
RETRY_EVERY = timedelta(seconds=60)
BOUNCES_EVERY = 60  # seconds between looks into the bounce Maildir
QUEUE_EVERY = timedelta(seconds=10)  # between looks for queued sends that are due
_MAX_SKIPS = 100_000
# The internal interval jobs (poll, queued sends, retries, bounces): a tick a busy loop
# started late still runs, once (coalesced), without APScheduler's "was missed by" warning
# (its default grace is 1 s). The digest jobs keep their list's misfire_grace: a missed
# digest is still reported.
INTERNAL_JOB: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True}


class DigestTrigger(CronTrigger):  # type: ignore[misc]
    """A cron trigger that fires once per wall-clock time, also on the day DST ends.

    APScheduler 3.11's CronTrigger fires ``30 2 * * *`` twice on the night clocks go back
    (02:30 summer time, then 02:30 winter time) and can return the same time again inside
    the repeated hour (agronholm/apscheduler#1021). Like cron, we skip the second pass
    through the repeated hour and insist every fire time is later than the previous one.
    A time in the hour skipped in spring fires once, an hour later by the wall clock.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        # Compared in UTC: datetimes sharing a tzinfo compare by wall time, ignoring ``fold``.
        floor = previous_fire_time.astimezone(UTC) if previous_fire_time else None
        for _ in range(_MAX_SKIPS):
            if fire is None:
                return None
            instant = fire.astimezone(UTC)
            # via UTC: a time in the spring gap becomes a real one, and ``fold`` is set
            local = instant.astimezone(self.timezone)
            if (floor is None or instant > floor) and not local.fold:
                return local
            after = max(instant, floor or instant) + timedelta(seconds=1)
            fire = super().get_next_fire_time(None, after.astimezone(self.timezone))
        raise RuntimeError(f"no fire time found after {previous_fire_time} for {self}")


def list_timezone(settings: Settings, list_name: str) -> ZoneInfo:
    """The zone a list's schedule is read in: its own, else the publication's."""
    cfg = settings.mailing_list(list_name)
    return ZoneInfo(cfg.timezone or settings.publication.timezone)


def list_trigger(settings: Settings, list_name: str) -> DigestTrigger:
    """The trigger of a list's ``schedule`` in its time zone."""
    cfg = settings.mailing_list(list_name)
    trigger: DigestTrigger = DigestTrigger.from_crontab(
        cfg.schedule, timezone=list_timezone(settings, list_name)
    )
    return trigger


def next_run(settings: Settings, list_name: str, *, now: datetime) -> datetime | None:
    """When the list's digest is next due after ``now``, in the list's time zone (None for an
    ``on-publish`` list: it sends after each content poll, not by the clock)."""
    if settings.mailing_list(list_name).schedule == ON_PUBLISH:
        return None
    fire: datetime | None = list_trigger(settings, list_name).get_next_fire_time(None, now)
    return fire.astimezone(list_timezone(settings, list_name)) if fire else None


def missed_run(
    trigger: CronTrigger, stored_next: datetime | None, *, now: datetime, grace: timedelta
) -> datetime | None:
    """The latest run missed while no scheduler ran, if it is at most ``grace`` old.

    ``stored_next`` is the next run time the job store kept from the last process. Runs
    missed in a row count once (coalesced); only the latest decides.
    """
    if stored_next is None or stored_next > now:
        return None
    latest = stored_next
    while True:
        following: datetime | None = trigger.get_next_fire_time(latest, now)
        if following is None or following > now:
            break
        latest = following
    return latest if now - latest <= grace else None


class Jobs(Protocol):
    """What the scheduled jobs do; the running service registers one."""

    async def digest(self, list_name: str) -> None:
        """Send the list's next digest."""
        ...

    async def poll(self) -> None:
        """Re-read content sources and rebuild the feeds."""
        ...

    async def retries(self) -> None:
        """Retry every send's deferred copies that are due (never holding a list back) and
        resume sends a crash interrupted."""
        ...

    async def bounces(self) -> None:
        """Take the bounces delivered into ``[bounces] maildir``."""
        ...

    async def imap(self) -> None:
        """Take the bounces in the ``[bounces.imap]`` mailbox."""
        ...

    async def queued(self) -> None:
        """Start queued sends that are due; decide approvals that timed out."""
        ...


_registered: Jobs | None = None


def register(jobs: Jobs | None) -> None:
    """Point the job functions at the running service (None: no service)."""
    global _registered
    _registered = jobs


def _jobs() -> Jobs:
    if _registered is None:
        raise RuntimeError("no syndicate service is registered to run this job")
    return _registered


async def _quietly(body: Awaitable[None]) -> None:
    """A job body awaited until the scheduler shuts down (a stop, or the role lost): then
    the body goes on as the service's tracked task, drained at a stop; nothing went wrong,
    so APScheduler gets no exception to log with a traceback."""
    try:
        await body
    except asyncio.CancelledError:
        return


async def run_digest(list_name: str) -> None:
    """Job: a list's scheduled digest."""
    await _quietly(_jobs().digest(list_name))


async def run_poll() -> None:
    """Job: re-read content and rebuild feeds."""
    await _quietly(_jobs().poll())


async def run_bounces() -> None:
    """Job: read the bounce Maildir."""
    await _quietly(_jobs().bounces())


async def run_imap() -> None:
    """Job: poll the bounce mailbox over IMAP."""
    await _quietly(_jobs().imap())


async def run_queued() -> None:
    """Job: queued sends that are due, approvals that timed out."""
    await _quietly(_jobs().queued())


async def run_retries() -> None:
    """Job: retry deferred copies that are due; resume interrupted sends."""
    await _quietly(_jobs().retries())


def _not_skips(record: logging.LogRecord) -> bool:
    """APScheduler's own line for a skipped run: :func:`_skipped` says it in our words."""
    return not str(record.msg).startswith('Execution of job "%s" skipped: maximum number')


def _skipped(event: JobSubmissionEvent) -> None:
    """A run skipped because the previous one of the same job still runs: normal when a
    poll or a send takes longer than its interval, so INFO."""
    job = event.job_id
    what, noun = (job.removeprefix(PREFIX), "digest") if job.startswith(PREFIX) else (job, "")
    noun = noun or _RUNS.get(job, "run")
    log.info("%s: still running the previous %s; skipped this one", what, noun)


_RUNS = {
    "poll": "poll",
    "bounces": "look into the Maildir",
    "imap": "IMAP poll",
    "retries": "retry pass",
    "queued": "look at the queued sends",
}


def make_scheduler(engine: Engine) -> Any:
    """An AsyncIOScheduler keeping digest jobs in the store; start it inside the event loop."""
    scheduler = AsyncIOScheduler(
        jobstores={DIGESTS: SQLAlchemyJobStore(engine=engine), LOCAL: MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=UTC,
    )
    own = logging.getLogger("apscheduler.scheduler")
    if _not_skips not in own.filters:
        own.addFilter(_not_skips)
    scheduler.add_listener(_skipped, EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _stored(scheduler: Any, job_id: str) -> Any:
    try:
        return scheduler.get_job(job_id, jobstore=DIGESTS)
    except Exception as exc:  # a job pickled by an older version: replaced below
        log.warning("stored job %s cannot be read (%s); replacing it", job_id, exc)
        return None


def install_jobs(
    scheduler: Any, settings: Settings, *, now: datetime, poll: bool = True
) -> Mapping[str, datetime]:
    """Put one digest job per declared list in the store, drop the others; add local jobs.

    Call with the scheduler started paused, then resume it. A digest missed while no
    process ran is set to run at once when it is within the list's ``misfire_grace``;
    otherwise the job waits for its next time. Returns each list's next run time.
    """
    lists = settings.config.lists
    planned: dict[str, datetime] = {}
    for name, cfg in lists.items():
        job_id = f"{PREFIX}{name}"
        old = _stored(scheduler, job_id)
        if cfg.schedule == ON_PUBLISH:  # sent after each content poll (Work.poll), no job
            if old is not None:
                scheduler.remove_job(job_id, jobstore=DIGESTS)
            continue
        trigger = list_trigger(settings, name)
        grace = timedelta(seconds=cfg.misfire_grace)
        missed = None
        if old is not None:
            missed = missed_run(old.trigger, old.next_run_time, now=now, grace=grace)
        when: datetime | None = missed or trigger.get_next_fire_time(None, now)
        if when is None:  # e.g. "0 0 30 2 *": a date that never comes
            log.warning("%s: its schedule %r never fires; no digest job", name, cfg.schedule)
            if old is not None:
                scheduler.remove_job(job_id, jobstore=DIGESTS)
            continue
        scheduler.add_job(
            run_digest,
            trigger,
            args=[name],
            id=job_id,
            name=f"digest of {name}",
            jobstore=DIGESTS,
            replace_existing=True,  # a changed schedule replaces the job, never adds one
            coalesce=True,
            max_instances=1,
            misfire_grace_time=cfg.misfire_grace,  # >= 60 s (config): a busy loop delays runs
            next_run_time=when,
        )
        planned[name] = when
        if missed is not None:
            log.info("%s: the digest due %s was missed; sending it now", name, missed)
    for job in scheduler.get_jobs(jobstore=DIGESTS):
        if job.id.startswith(PREFIX) and job.id.removeprefix(PREFIX) not in lists:
            scheduler.remove_job(job.id, jobstore=DIGESTS)
            log.info("removed the job of %s: the list is no longer declared", job.id)
    if poll:
        scheduler.add_job(
            run_poll,
            "interval",
            seconds=settings.config.content.poll_interval,
            id="poll",
            jobstore=LOCAL,
            replace_existing=True,
            next_run_time=now,
            **INTERNAL_JOB,
        )
        scheduler.add_job(
            run_queued,
            "interval",
            seconds=QUEUE_EVERY.total_seconds(),
            id="queued",
            jobstore=LOCAL,
            replace_existing=True,
            next_run_time=now,
            **INTERNAL_JOB,
        )
        if settings.config.bounces is not None and settings.config.bounces.maildir is not None:
            scheduler.add_job(
                run_bounces,
                "interval",
                seconds=BOUNCES_EVERY,
                id="bounces",
                jobstore=LOCAL,
                replace_existing=True,
                next_run_time=now,
                **INTERNAL_JOB,
            )
        if settings.config.bounces is not None and settings.config.bounces.imap is not None:
            scheduler.add_job(
                run_imap,
                "interval",
                seconds=settings.config.bounces.imap.poll_interval,
                id="imap",
                jobstore=LOCAL,
                replace_existing=True,
                next_run_time=now,
                **INTERNAL_JOB,
            )
    scheduler.add_job(
        run_retries,
        "interval",
        seconds=RETRY_EVERY.total_seconds(),
        id="retries",
        jobstore=LOCAL,
        replace_existing=True,
        next_run_time=now,
        **INTERNAL_JOB,
    )
    return planned
