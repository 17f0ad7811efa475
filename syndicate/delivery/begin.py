"""Finding or beginning a list's send: the digest recorded, its archive copy written, the
ledger enqueued; what :class:`~syndicate.delivery.engine.Sender` does before any mail.

An interrupted send is resumed first (its recorded digest, rendered again); otherwise the
list's next digest is prepared, rendered (a broken site template records no send), then
recorded with its send row in one transaction, archived from the very copy rendered for
sending, and its ledger rows enqueued. A send stopped in PREPARING is enqueued again
(idempotent) and writes its archive copy if it had not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from syndicate.config import Settings
from syndicate.delivery.copies import Copies, variant_key
from syndicate.delivery.enqueue import enqueue_send
from syndicate.delivery.report import SendReport
from syndicate.digest.archive import ARCHIVE_FOLDER, write_archive
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.note import Note
from syndicate.digest.plan import make_plan
from syndicate.digest.post import check_once, prepare_post
from syndicate.digest.prepare import Prepared, list_state, prepare, prepare_recorded
from syndicate.errors import SyndicateError
from syndicate.models import Article, RenderedDigest
from syndicate.store import digests as digest_repo
from syndicate.store import sends as send_repo
from syndicate.store.sends import SendStatus
from syndicate.subscribers.tokens import Signer

__all__ = ["Begun", "begin_send"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Begun:
    """The send found or begun: its digest, and the copies rendered so far (if any)."""

    prepared: Prepared
    copies: Copies | None


def begin_send(
    settings: Settings,
    engine: Engine,
    signer: Signer,
    list_name: str,
    articles: Sequence[Article],
    report: SendReport,
    given: Prepared | None,
    *,
    clock: Callable[[], datetime],
    resume_only: bool,
    note: Note | None = None,
    article: Article | None = None,
    again: bool = False,
    cursor: datetime | None = None,
    exact: bool = False,
    on_record: Callable[[Connection, str], None] | None = None,
) -> Begun | None:
    """Find or begin the list's send (filling in ``report``); None when there is nothing
    to send (nothing new, or nothing to resume with ``resume_only``).

    ``article``: a post of that one article (once per list unless ``again``; ``cursor``
    recorded with it). ``exact``: ``given`` or nothing, never a digest assembled anew.
    ``on_record(conn, digest_id)`` runs in the transaction that records the digest.
    """
    now = clock()
    cfg = settings.mailing_list(list_name)
    copies: Copies | None = None
    with engine.connect() as conn:
        interrupted = send_repo.interrupted_send(conn, list_name)
    if interrupted is not None:
        report.resumed, report.send_id = True, interrupted.id
        report.digest_id, report.interrupted = interrupted.digest_id, interrupted.status
        prepared = prepare_recorded(settings, engine, list_name, interrupted.digest_id, articles)
        status = interrupted.status
        if status is SendStatus.PREPARING:  # stopped before its archive copy was written?
            copies = Copies(settings, signer, prepared)
            _archive(settings, copies.get(variant_key(EVERYTHING))[1].rendered, list_name)
    elif resume_only:
        return None
    else:
        kind = digest_repo.DIGEST if article is None else digest_repo.POST
        if article is not None:
            check_once(engine, list_name, article, again=again)
        current = given is not None and given.state == list_state(engine, list_name, kind=kind)
        shown = given if given is not None and current else None
        if shown is None and exact and given is not None:
            raise SyndicateError(
                f"{given.digests[EVERYTHING].id} cannot be sent as it was prepared: "
                f"{list_name} recorded another digest since (`syndicate sends` lists it)"
            )
        if shown is None and article is not None:
            shown = prepare_post(settings, engine, list_name, article, now=now, cursor=cursor)
        elif shown is None:  # what the caller showed is stale (or there was nothing)
            shown = prepare(settings, engine, list_name, articles, now=now, note=note)
        prepared = shown
        if not prepared.fresh and not cfg.send_empty:
            report.nothing_new = True
            report.plan = make_plan(settings, list_name, prepared)
            return None
        whole = prepared.digests[EVERYTHING]
        # Rendered before anything is recorded: a broken site template records no send.
        copies = Copies(settings, signer, prepared)
        archived = copies.get(variant_key(EVERYTHING))[1].rendered
        with engine.begin() as conn:
            digest_repo.record_digest(
                conn,
                digest_id=whole.id,
                list_name=list_name,
                issue=whole.issue,
                # An approved digest is dated when it was prepared: what appeared while it
                # waited is new for the next one.
                created=whole.created if exact else now,
                article_ids=[a.id for a in prepared.fresh],
                note=prepared.note.source if prepared.note is not None else None,
                kind=whole.kind,
                title=whole.lead[0].title if whole.kind == digest_repo.POST else None,
                since=prepared.cursor,
            )
            report.send_id = send_repo.create_send(conn, list_name, whole.id, now=now)
            if on_record is not None:
                on_record(conn, whole.id)
        report.digest_id = whole.id
        # The copy rendered for sending, reused: the archive is exactly what readers get.
        _archive(settings, archived, list_name)
        status = SendStatus.PREPARING
    report.plan = make_plan(settings, list_name, prepared)
    if status is SendStatus.PREPARING:
        enqueue_send(engine, settings, prepared, list_name, report.send_id or 0, now=clock())
    return Begun(prepared=prepared, copies=copies)


def _archive(settings: Settings, rendered: RenderedDigest, list_name: str) -> None:
    """Write the digest's archive copy; a failure leaves the send to be resumed."""
    try:
        write_archive(rendered, settings)
    except OSError as exc:
        raise SyndicateError(
            f"cannot write the archive copy {ARCHIVE_FOLDER}/{list_name}/"
            f"{rendered.digest.issue}.html: {exc.strerror or exc}; {rendered.digest.id} is "
            f"recorded: fix that, then `syndicate send {list_name}` resumes it"
        ) from None
