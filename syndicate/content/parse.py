"""Parsing one content file, start to finish: the unit of work a worker process runs.

Reading, hashing, decoding, parsing and finishing (URL, teaser, sanitizing) depend only on
the file and the settings, so they run in parallel; identity is settled afterwards by the
caller, which re-finishes the rare article whose identity differs from the hint it sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from syndicate.config import Publication
from syndicate.content.article import dump_payload, finish
from syndicate.content.media import MediaResolver, line_of
from syndicate.content.registry import parse_file
from syndicate.errors import ContentError
from syndicate.models import Entry
from syndicate.parallel import pmap

# Below this many files a process pool costs more than it saves.
PARALLEL_MIN_JOBS = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One file to parse, with the identity it most likely has."""

    rel: str
    path: str
    shown: str
    suffix: str
    stem: str
    size: int
    mtime_ns: int
    cached_sha: str | None
    hint_id: str
    hint_first_seen: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishOptions:
    """The settings ``finish`` needs, small enough to send to a worker."""

    publication: Publication
    teaser_length: int
    default_author: str | None
    content_root: str = ""  # where local images are looked up ("": not at all)
    content_shown: str = "content"
    media_url: str = ""  # where their published copies are served
    max_image_size: int = 10_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What became of a job: unchanged bytes, a problem, a draft (no payload), or a payload.

    Kept small on purpose: it crosses a process boundary for every file.
    """

    job: Job
    sha: str = ""
    unchanged: bool = False
    problem: tuple[int, str] | None = None
    front_matter_id: str | None = None
    payload: str | None = None
    html: str = ""


def finish_payload(
    entry: Entry,
    stem: str,
    id: str,
    first_seen: datetime,
    opts: FinishOptions,
    media: MediaResolver | None = None,
) -> tuple[str, str]:
    """The serialized payload and the HTML of a parsed entry under a given identity."""
    meta, html = finish(
        entry,
        id=id,
        default_slug=stem,
        first_seen=first_seen,
        publication=opts.publication,
        teaser_length=opts.teaser_length,
        default_author=opts.default_author,
        media=media,
    )
    return dump_payload(meta), html


def run_job(job: Job, opts: FinishOptions) -> Outcome:
    """Read, hash, parse and finish one file. Never raises for a bad file."""
    try:
        with open(job.path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return Outcome(job=job, problem=(1, f"cannot read: {exc.strerror}"))
    sha = hashlib.sha256(data).hexdigest()
    if sha == job.cached_sha:
        return Outcome(job=job, sha=sha, unchanged=True)
    try:
        entry = parse_file(job.shown, job.suffix, data)
    except ContentError as exc:
        return Outcome(job=job, sha=sha, problem=(exc.line, exc.reason))
    if entry is None:
        return Outcome(job=job, sha=sha)
    media = None
    if opts.content_root:
        media = MediaResolver(
            root=opts.content_root,
            rel=job.rel,
            shown=opts.content_shown,
            base_url=opts.media_url,
            max_size=opts.max_image_size,
        )
    try:
        payload, html = finish_payload(
            entry, job.stem, job.hint_id, job.hint_first_seen, opts, media
        )
    except (ValueError, OverflowError) as exc:
        return Outcome(job=job, sha=sha, problem=(1, f"cannot publish this article: {exc}"))
    if media is not None and media.errors:
        first = media.errors[0]
        line = line_of(data.decode("utf-8", "replace"), first.ref)
        return Outcome(job=job, sha=sha, problem=(line, first.reason))
    return Outcome(job=job, sha=sha, front_matter_id=entry.id, payload=payload, html=html)


def run_jobs(jobs: Sequence[Job], opts: FinishOptions, *, workers: int | None) -> Iterator[Outcome]:
    """Outcomes in job order; in a pool of worker processes when there is enough work."""
    return pmap(
        partial(run_job, opts=opts),
        jobs,
        workers=workers,
        min_items=PARALLEL_MIN_JOBS,
        preload=__name__,
    )
