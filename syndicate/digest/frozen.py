"""A prepared digest, frozen as JSON while it waits for approval, and thawed to be sent.

What the editors were shown is what readers get: the articles exactly as they were when
the digest was prepared (an article edited or added while it waits changes nothing), its
editor's note, its issue number and date. Nothing is assembled again from the content at
approval time; only who gets it (the subscribers then active, with their topics) is read
when it is sent. pydantic (already what reads ``syndicate.toml``) writes and checks the
JSON, so a row that was tampered with or cut short fails loudly instead of sending
something else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from syndicate.config import Settings
from syndicate.digest.assemble import EVERYTHING, ListState, versions
from syndicate.digest.mailable import LeftOut
from syndicate.digest.note import parse_note
from syndicate.digest.prepare import Prepared
from syndicate.errors import SyndicateError
from syndicate.models import Article

FORMAT = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Frozen:
    """Everything a prepared digest was made from."""

    format: int
    list_name: str
    created: datetime
    issue: int
    last_sent: datetime | None
    sent_ids: tuple[str, ...]
    fresh: tuple[Article, ...]
    # The URLs "Also on" teasers were checked against: the digest's own articles and the
    # teasers' URLs the site had (not every URL of the site).
    known_urls: tuple[str, ...]
    note: str | None
    left_out: tuple[LeftOut, ...] = ()


_ADAPTER = TypeAdapter(Frozen)


def freeze(prepared: Prepared, *, list_name: str, known_urls: frozenset[str]) -> str:
    """The JSON that :func:`thaw` turns back into ``prepared``."""
    whole = prepared.digests[EVERYTHING]
    teasers = {t.url for a in prepared.fresh for t in a.related if t.url}
    known = {a.url for a in prepared.fresh} | (teasers & known_urls)
    frozen = Frozen(
        format=FORMAT,
        list_name=list_name,
        created=whole.created,
        issue=prepared.state.issue,
        last_sent=prepared.state.last_sent,
        sent_ids=tuple(sorted(prepared.state.sent_ids)),
        fresh=prepared.fresh,
        known_urls=tuple(sorted(known)),
        note=prepared.note.source if prepared.note is not None else None,
        left_out=prepared.left_out,
    )
    return _ADAPTER.dump_json(frozen).decode("utf-8")


def read(text: str, *, where: str) -> Frozen:
    """The frozen digest in ``text``; SyndicateError naming ``where`` if it cannot be read."""
    try:
        frozen = _ADAPTER.validate_json(text)
    except ValidationError as exc:
        raise SyndicateError(f"{where}: the prepared digest cannot be read back: {exc}") from None
    if frozen.format != FORMAT:
        raise SyndicateError(f"{where}: prepared by another version (format {frozen.format})")
    return frozen


def thaw(
    settings: Settings,
    text: str,
    audience: dict[frozenset[str], int],
    *,
    where: str,
    extra_topics: Sequence[frozenset[str]] = (),
) -> Prepared:
    """The prepared digest again, with a version for every topic set of ``audience`` (the
    subscribers now), each made from the frozen articles."""
    frozen = read(text, where=where)
    state = ListState(
        issue=frozen.issue, last_sent=frozen.last_sent, sent_ids=frozenset(frozen.sent_ids)
    )
    note = None
    if frozen.note is not None:
        note = parse_note(frozen.note, base_url=settings.publication.base_url, where=where)
    digests = versions(
        frozen.list_name,
        settings.mailing_list(frozen.list_name),
        frozen.fresh,
        {EVERYTHING, *audience, *extra_topics},
        state=state,
        publication=settings.publication,
        known_urls=frozenset(frozen.known_urls),
        now=frozen.created,
    )
    return Prepared(
        state=state,
        fresh=frozen.fresh,
        digests=digests,
        audience=audience,
        note=note,
        left_out=frozen.left_out,
    )
