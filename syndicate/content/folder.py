"""The content folder: incremental reading of every article file under it.

An unchanged file (same size and mtime, else same SHA-256) is not parsed again: its stored
payload is reused. Each bad file is reported as ``path:line: reason`` and skipped.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.content.article import dump_payload, finish, parse_key
from syndicate.content.identity import new_id
from syndicate.content.registry import READERS, parse_file
from syndicate.errors import ContentError
from syndicate.models import Entry, Problem
from syndicate.store import articles as repo
from syndicate.store.articles import FileRow, StoredArticle

SOURCE = "content"


@dataclass(slots=True)
class FolderRead:
    """What one pass over the folder found: stored rows of current articles, and problems."""

    current: list[StoredArticle] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    parsed: int = 0
    reused: int = 0


@dataclass(frozen=True, slots=True)
class _Found:
    rel: str
    path: Path
    size: int
    mtime_ns: int


def _walk(root: Path) -> list[_Found]:
    """Article files under ``root`` (hidden files and folders skipped), sorted by path."""
    found: list[_Found] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in READERS:
                    st = entry.stat()
                    rel = Path(entry.path).relative_to(root).as_posix()
                    found.append(_Found(rel, Path(entry.path), st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.rel)
    return found


def read_folder(settings: Settings, engine: Engine, *, now: datetime) -> FolderRead:
    """Read the content folder incrementally, recording what changed in the store."""
    root, content = settings.content_dir, settings.config.content
    out = FolderRead()
    if not root.is_dir():
        out.problems.append(
            Problem(
                path=str(root),
                line=1,
                reason="content folder not found; "
                "create it or set [content] folder in syndicate.toml",
            )
        )
        return out
    key = parse_key(settings.publication, content)
    found = _walk(root)
    with engine.connect() as conn:
        cache = repo.load_files(conn)
        stored = repo.load_articles(conn, source=SOURCE)
        taken = repo.article_ids(conn)
    by_key = {a.key: a for a in stored.values()}
    present = {f.rel for f in found}
    # Articles whose file vanished, by content hash: a new file with the same bytes is a rename.
    orphans = {a.content_hash: a for a in stored.values() if a.key not in present}
    # Which file holds which id in this pass: two files claiming one id is an error.
    claimed = {r.article_id: p for p, r in cache.items() if r.article_id and p in present}
    new_files: list[FileRow] = []
    new_articles: list[StoredArticle] = []

    for f in found:
        shown = f"{settings.config.content.folder}/{f.rel}"
        row = cache.get(f.rel)
        if row and row.parse_key == key and (row.size, row.mtime_ns) == (f.size, f.mtime_ns):
            _reuse(out, row, stored, shown)
            continue
        if f.size > content.max_file_size:
            reason = (
                f"file is {f.size:,} bytes, over the {content.max_file_size:,}-byte cap; "
                "split it or raise [content] max_file_size"
            )
            new_files.append(
                FileRow(
                    path=f.rel,
                    size=f.size,
                    mtime_ns=f.mtime_ns,
                    sha256="",
                    parse_key=key,
                    problem_line=1,
                    problem=reason,
                )
            )
            out.problems.append(Problem(path=shown, line=1, reason=reason))
            continue
        try:
            data = f.path.read_bytes()
        except OSError as exc:
            out.problems.append(Problem(path=shown, line=1, reason=f"cannot read: {exc.strerror}"))
            continue
        sha = hashlib.sha256(data).hexdigest()
        if row and row.parse_key == key and row.sha256 == sha:
            row = replace(row, size=f.size, mtime_ns=f.mtime_ns)
            new_files.append(row)
            _reuse(out, row, stored, shown)
            continue
        out.parsed += 1
        file_row = FileRow(path=f.rel, size=f.size, mtime_ns=f.mtime_ns, sha256=sha, parse_key=key)
        try:
            entry = parse_file(shown, f.path.suffix.lower(), data)
        except ContentError as exc:
            new_files.append(replace(file_row, problem_line=exc.line, problem=exc.reason))
            out.problems.append(Problem(path=shown, line=exc.line, reason=exc.reason))
            continue
        if entry is None:  # a draft: remembered, so it is not parsed again while unchanged
            new_files.append(file_row)
            continue
        if entry.id is not None and claimed.get(entry.id, f.rel) != f.rel:
            reason = (
                f"front matter id {entry.id!r} is also used by "
                f"{claimed[entry.id]}; ids must be unique"
            )
            new_files.append(replace(file_row, problem_line=1, problem=reason))
            out.problems.append(Problem(path=shown, line=1, reason=reason))
            continue
        previous = _identify(entry, f.rel, row, sha, by_key, orphans, stored)
        article_id = previous.id if previous else (entry.id or new_id(SOURCE, f.rel, taken))
        first_seen = previous.first_seen if previous else now
        try:
            payload = dump_payload(
                finish(
                    entry,
                    id=article_id,
                    default_slug=Path(f.rel).stem,
                    first_seen=first_seen,
                    publication=settings.publication,
                    teaser_length=content.teaser_length,
                    default_author=settings.publication.author,
                )
            )
        except (ValueError, KeyError) as exc:
            new_files.append(replace(file_row, problem_line=1, problem=str(exc)))
            out.problems.append(Problem(path=shown, line=1, reason=str(exc)))
            continue
        article = StoredArticle(
            id=article_id,
            source=SOURCE,
            key=f.rel,
            content_hash=sha,
            first_seen=first_seen,
            changed_at=now if not previous or previous.content_hash != sha else previous.changed_at,
            payload=payload,
        )
        stored[article_id] = article
        claimed[article_id] = f.rel
        new_articles.append(article)
        new_files.append(replace(file_row, article_id=article_id))
        out.current.append(article)

    if new_files or new_articles or cache.keys() - present:
        with engine.begin() as conn:
            repo.save_articles(conn, new_articles)
            repo.save_files(conn, new_files)
            repo.forget_files(conn, cache.keys() - present)
    return out


def _identify(
    entry: Entry,
    rel: str,
    row: FileRow | None,
    sha: str,
    by_key: dict[str, StoredArticle],
    orphans: dict[str, StoredArticle],
    stored: dict[str, StoredArticle],
) -> StoredArticle | None:
    """The stored article this file continues, if any.

    In order: the front matter id; the article this path held last time; an article that
    once lived at this path; an article whose file vanished with these exact bytes (a rename).
    """
    if entry.id is not None:
        return stored.get(entry.id)
    if row is not None and row.article_id in stored:
        return stored[row.article_id]
    return by_key.get(rel) or orphans.pop(sha, None)


def _reuse(out: FolderRead, row: FileRow, stored: dict[str, StoredArticle], shown: str) -> None:
    out.reused += 1
    if row.problem is not None:
        out.problems.append(Problem(path=shown, line=row.problem_line or 1, reason=row.problem))
    elif row.article_id is not None and row.article_id in stored:
        out.current.append(stored[row.article_id])
