"""The desk's previews of each list's next digest: the digest waiting for approval exactly
as it was prepared (the editors' preview mail, digest/preview.py), or else the digest the
list would send now. Links inert, as in every test copy (digest/testcopy.py). The page's
``<title>`` says it is the desk's preview (:func:`retitled`), the mail itself unchanged."""

from __future__ import annotations

import html as markup
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.frozen import thaw
from syndicate.digest.prepare import prepare
from syndicate.digest.preview import for_approval
from syndicate.digest.render import render_digest
from syndicate.digest.testcopy import SAMPLE_NAME, TestCopies
from syndicate.service.scheduler import list_timezone
from syndicate.store import queued as queued_repo

SAMPLE_EMAIL = "reader@example.org"
_HEAD_END = re.compile(r"</head\s*>", re.I)
_HEAD = re.compile(r"<head(?:\s[^>]*)?>", re.I)
_TITLE = re.compile(r"<title(?:\s[^>]*)?>.*?</title\s*>", re.I | re.S)


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """A rendered preview: what it is, and its HTML (links inert)."""

    list_name: str
    digest_id: str
    subject: str
    html: str
    waiting: bool  # the digest held for approval (else the next one, if sent now)
    articles: int


def preview(settings: Settings, engine: Engine, list_name: str, *, now: datetime) -> Preview:
    """The list's waiting digest, or its next one (stored articles only: no fetching)."""
    cfg = settings.mailing_list(list_name)
    with engine.connect() as conn:
        row = queued_repo.waiting(conn, list_name)
    if row is not None and row.prepared is not None:
        prepared = thaw(settings, row.prepared, {}, where=f"queued send {row.id}")
        whole = prepared.digests[EVERYTHING]
        rendered = render_digest(whole, settings, note=prepared.note)
        until = row.wait_until or now + timedelta(seconds=cfg.approve_timeout)
        zone = list_timezone(settings, list_name)  # as the run log and `sends` say it
        rendered = for_approval(
            rendered,
            list_name,
            until=f"{until.astimezone(zone):%Y-%m-%d %H:%M %Z}",
            on_timeout=cfg.on_timeout,
            desk=True,
        )
    else:
        read = read_site(settings, engine, now=now, offline=True)
        whole = prepare(settings, engine, list_name, read.articles, now=now).digests[EVERYTHING]
        rendered = render_digest(whole, settings)
    personal = TestCopies(rendered, settings, date=now).personal(SAMPLE_EMAIL, SAMPLE_NAME)
    return Preview(
        list_name=list_name,
        digest_id=whole.id,
        subject=rendered.subject,
        html=personal.html,
        waiting=row is not None,
        articles=len(whole.articles),
    )


def retitled(page: str, title: str) -> str:
    """``page`` (a mail's HTML) with ``title`` (escaped) as its ``<title>``: the one in its
    ``<head>`` replaced, or one put first in the head when it has none. A page without a
    ``<head>`` is left as it is: anything put elsewhere could change how the mail renders."""
    tag = f"<title>{markup.escape(title, quote=False)}</title>"
    end = _HEAD_END.search(page)
    head = page[: end.start()] if end is not None else ""
    found = _TITLE.search(head)
    if found is not None:
        return page[: found.start()] + tag + page[found.end() :]
    opened = _HEAD.search(head)
    if opened is None:
        return page
    return page[: opened.end()] + tag + page[opened.end() :]
