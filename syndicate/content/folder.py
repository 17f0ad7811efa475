"""The content folder: incremental reading of every article file under it.

An unchanged file (same size and mtime, else same SHA-256) is not parsed again: its stored
payload is reused. Each bad file is reported as ``path:line: reason`` and skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.content.article import UNDATED, dump_payload, parse_key
from syndicate.content.identity import new_id
from syndicate.content.media import FOLDER as MEDIA_FOLDER
from syndicate.content.parse import FinishOptions, Job, Outcome, run_job, run_jobs
from syndicate.content.registry import READERS
from syndicate.models import Problem
from syndicate.store import articles as repo
from syndicate.store.articles import FileRow, StoredArticle

SOURCE = "content"
# Settled files written per transaction during a large read.
FLUSH_EVERY = 1000
# Files modified this close to the scan get their mtime recorded as RACY_MTIME (see _settle).
RACY_NS = 2_000_000_000
RACY_MTIME = -1


@dataclass(slots=True)
class FolderRead:
    """What one pass over the folder found: stored rows of current articles, and problems."""

    current: list[StoredArticle] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    parsed: int = 0
    reused: int = 0


def walk(root: Path) -> list[tuple[str, str, int, int]]:
    """``(relative path, path, size, mtime_ns)`` of every article file, hidden ones skipped."""
    found: list[tuple[str, str, int, int]] = []
    prefix = len(str(root)) + 1
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in READERS:
                    st = entry.stat()
                    rel = entry.path[prefix:].replace(os.sep, "/")
                    found.append((rel, entry.path, st.st_size, st.st_mtime_ns))
    found.sort()
    return found


class _Pass:
    """State of one read of the folder; ``run`` is the whole algorithm."""

    def __init__(self, settings: Settings, engine: Engine, now: datetime) -> None:
        self.settings, self.engine, self.now = settings, engine, now
        content = settings.config.content
        self.cap = content.max_file_size
        self.folder = content.folder
        media_url = f"{settings.feeds_url}/{MEDIA_FOLDER}"
        self.key = parse_key(settings.publication, content, media_url)
        self.opts = FinishOptions(
            publication=settings.publication,
            teaser_length=content.teaser_length,
            default_author=settings.publication.author,
            content_root=str(settings.content_dir),
            content_shown=content.folder,
            media_url=media_url,
            max_image_size=content.max_image_size,
        )
        self.out = FolderRead()
        self.undated_times: set[datetime] | None = None  # loaded when a new undated file needs it
        self.next_free: dict[datetime, datetime] = {}
        self.files: list[FileRow] = []
        self.articles: list[StoredArticle] = []

    def run(self, workers: int | None) -> FolderRead:
        # Wall-clock, not ``now``: it is compared with file system timestamps.
        self.scan_started_ns = time.time_ns()
        found = walk(self.settings.content_dir)
        with self.engine.connect() as conn:
            self.cache = repo.load_files(conn)
            self.stored = repo.load_articles(conn, source=SOURCE)
            self.taken = repo.article_ids(conn)
        self.by_key = {a.key: a for a in self.stored.values()}
        present = {f[0] for f in found}
        # Articles whose file vanished, by content hash: a new file with these bytes is a rename.
        self.orphans = {a.content_hash: a for a in self.stored.values() if a.key not in present}
        # Which file holds which id in this pass: two files claiming one id is an error.
        self.claimed = {
            r.article_id: p for p, r in self.cache.items() if r.article_id and p in present
        }
        jobs = [job for f in found if (job := self._plan(*f)) is not None]
        for outcome in run_jobs(jobs, self.opts, workers=workers):
            self._settle(outcome)
            if len(self.files) >= FLUSH_EVERY:
                self._flush()  # while the workers parse the next files
        self._flush(gone=self.cache.keys() - present)
        return self.out

    def _flush(self, gone: Iterable[str] = ()) -> None:
        """Write what was settled so far; each batch is consistent on its own."""
        gone = list(gone)
        if self.files or self.articles or gone:
            with self.engine.begin() as conn:
                repo.save_articles(conn, self.articles)
                repo.save_files(conn, self.files)
                repo.forget_files(conn, gone)
        self.files, self.articles = [], []

    def _plan(self, rel: str, path: str, size: int, mtime_ns: int) -> Job | None:
        """Reuse the cached result if size and mtime match; otherwise a job to parse."""
        row = self.cache.get(rel)
        fresh = row is not None and row.parse_key == self.key
        images_changed = fresh and row is not None and self._images_changed(row)
        if fresh and row is not None and (row.size, row.mtime_ns) == (size, mtime_ns):
            if not images_changed:
                self._reuse(row)
                return None
        stat_row = FileRow(path=rel, size=size, mtime_ns=mtime_ns, sha256="", parse_key=self.key)
        if size > self.cap:
            reason = (
                f"file is {size:,} bytes, over the {self.cap:,}-byte cap; "
                "split it or raise [content] max_file_size"
            )
            self._problem(stat_row, 1, reason)
            return None
        previous = self._previous(rel, row)
        stem, suffix = os.path.splitext(rel.rsplit("/", 1)[-1])
        return Job(
            rel=rel,
            path=path,
            shown=f"{self.folder}/{rel}",
            suffix=suffix.lower(),
            stem=stem,
            size=size,
            mtime_ns=mtime_ns,
            # An image changed: parse again although the article's own bytes did not.
            cached_sha=row.sha256 if fresh and row is not None and not images_changed else None,
            hint_id=previous.id if previous else new_id(SOURCE, rel, self.taken),
            hint_first_seen=previous.first_seen if previous else self.now,
        )

    def _settle(self, o: Outcome) -> None:
        """Record one job's outcome: give the article its identity and queue the writes."""
        job = o.job
        # The size and mtime seen before reading: if the file changes after that, the next
        # pass sees a different mtime and parses it again. A file modified moments before
        # the scan is "racy" (as git calls it): another write within the same timestamp tick
        # would keep size and mtime, so its mtime is not trusted and the next pass hashes it.
        racy = job.mtime_ns >= self.scan_started_ns - RACY_NS
        row = FileRow(
            path=job.rel,
            size=job.size,
            mtime_ns=RACY_MTIME if racy else job.mtime_ns,
            sha256=o.sha,
            parse_key=self.key,
        )
        if o.unchanged:
            cached = replace(self.cache[job.rel], size=job.size, mtime_ns=row.mtime_ns)
            self.files.append(cached)
            self._reuse(cached)
            return
        self.out.parsed += 1
        if o.problem is not None:
            self._problem(row, *o.problem)
            return
        if o.payload is None:  # a draft, remembered while unchanged
            self.files.append(row)
            return
        fm_id = o.front_matter_id
        if fm_id is not None and self.claimed.get(fm_id, job.rel) != job.rel:
            other = f"{self.folder}/{self.claimed[fm_id]}"
            reason = f"front matter id {fm_id!r} is also used by {other}"
            self._problem(row, 1, reason + "; ids must be unique")
            return
        previous = self._identify(fm_id, job.rel, o.sha)
        article_id = previous.id if previous else (fm_id or job.hint_id)
        first_seen = previous.first_seen if previous else self.now
        payload, html = o.payload, o.html
        if (article_id, first_seen) != (job.hint_id, job.hint_first_seen):
            # Rare (a rename, or an id set in the front matter): finish again, here.
            redo = run_job(replace(job, hint_id=article_id, hint_first_seen=first_seen), self.opts)
            if redo.payload is None:  # the file changed under us; the next pass sees it
                return
            payload, html = redo.payload, redo.html
        if _UNDATED_MARK in payload:
            payload = self._undated(payload, previous, job.mtime_ns)
        changed = previous is None or previous.content_hash != o.sha
        article = StoredArticle(
            id=article_id,
            source=SOURCE,
            key=job.rel,
            content_hash=o.sha,
            first_seen=first_seen,
            changed_at=self.now if changed or previous is None else previous.changed_at,
            payload=payload,
            html=html,
        )
        self.stored[article_id] = article
        self.claimed[article_id] = job.rel
        self.articles.append(article)
        self.files.append(replace(row, article_id=article_id))
        self.out.current.append(article)

    def _images_changed(self, row: FileRow) -> bool:
        """Whether an image the file's article publishes was changed, moved or removed."""
        article = self.stored.get(row.article_id) if row.article_id else None
        if article is None or '"media":[{' not in article.payload:
            return False
        for item in json.loads(article.payload)["media"]:
            try:
                st = os.stat(self.settings.content_dir / item["source"])
            except OSError:
                return True
            if (st.st_size, st.st_mtime_ns) != (item["size"], item["mtime_ns"]):
                return True
        return False

    def _undated(self, payload: str, previous: StoredArticle | None, mtime_ns: int) -> str:
        """Give an undated file its own publication time, kept for good once set.

        Several files read in one pass share a first-seen time, which would give their feed
        entries one timestamp (the W3C validator flags that). A new file gets its
        modification time instead, never later than first seen, one second earlier than any
        undated article already holding that second (files are settled in path order, so
        the result is the same on every machine). An article that was already published
        keeps the time it had.
        """
        meta = json.loads(payload)
        kept = _undated_time(previous)
        if kept is None:
            if self.undated_times is None:
                self.undated_times = {
                    t for a in self.stored.values() if (t := _undated_time(a)) is not None
                }
            mtime = datetime.fromtimestamp(mtime_ns // 1_000_000_000, UTC)
            wanted = min(mtime, self.now.replace(microsecond=0))
            # Where the last file wanting this second ended up: a folder of thousands of
            # exports sharing one mtime is placed in one walk, not one walk per file.
            kept = self.next_free.get(wanted, wanted)
            while kept in self.undated_times:
                kept -= timedelta(seconds=1)
            self.next_free[wanted] = kept
        if self.undated_times is not None:
            self.undated_times.add(kept)
        meta[UNDATED] = kept.isoformat()
        return dump_payload(meta)

    def _previous(self, rel: str, row: FileRow | None) -> StoredArticle | None:
        """The article this path held last time, or once held."""
        if row is not None and row.article_id in self.stored:
            return self.stored[row.article_id]
        return self.by_key.get(rel)

    def _identify(self, front_matter_id: str | None, rel: str, sha: str) -> StoredArticle | None:
        """The stored article a parsed file continues, if any.

        In order: the front matter id; the article this path holds or once held; an article
        whose file vanished with these exact bytes (a rename).
        """
        if front_matter_id is not None:
            return self.stored.get(front_matter_id)
        return self._previous(rel, self.cache.get(rel)) or self.orphans.pop(sha, None)

    def _reuse(self, row: FileRow) -> None:
        self.out.reused += 1
        if row.problem is not None:
            self.out.problems.append(
                Problem(
                    path=f"{self.folder}/{row.path}", line=row.problem_line or 1, reason=row.problem
                )
            )
        elif row.article_id is not None and row.article_id in self.stored:
            self.out.current.append(self.stored[row.article_id])

    def _problem(self, row: FileRow, line: int, reason: str) -> None:
        self.files.append(replace(row, problem_line=line, problem=reason))
        self.out.problems.append(
            Problem(path=f"{self.folder}/{row.path}", line=line, reason=reason)
        )


# How an undated payload reads (dump_payload writes no spaces; a title cannot fake it: its
# quotes are escaped).
_UNDATED_MARK = '"date":null'


def _undated_time(article: StoredArticle | None) -> datetime | None:
    """The publication time a stored undated article has (None: dated, or not stored)."""
    if article is None or _UNDATED_MARK not in article.payload:
        return None
    value = json.loads(article.payload).get(UNDATED)
    return datetime.fromisoformat(value) if value else article.first_seen


def read_folder(
    settings: Settings, engine: Engine, *, now: datetime, workers: int | None = None
) -> FolderRead:
    """Read the content folder incrementally, recording what changed in the store.

    ``workers``: processes that parse changed files; None picks the CPU count when there
    are enough of them to pay for the pool.
    """
    if not settings.content_dir.is_dir():
        reason = "content folder not found; create it or set [content] folder in syndicate.toml"
        return FolderRead(problems=[Problem(path=str(settings.content_dir), line=1, reason=reason)])
    return _Pass(settings, engine, now).run(workers)
