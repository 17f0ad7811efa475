"""What a send of a list's next digest will do: its versions, who gets which, which are skipped.

One plan, computed from the prepared digest, is what ``send --dry-run``, ``preview``, the
confirmation prompt of ``send`` and the sending engine all go by, so they cannot disagree.
A version whose topics match none of the new articles is *empty*: its readers get nothing
(unless the list sets ``send_empty = true``), rather than a greeting and a footer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syndicate.config import Settings
from syndicate.digest.assemble import EVERYTHING, matches
from syndicate.digest.mailable import LeftOut
from syndicate.digest.postrender import post_subject
from syndicate.digest.prepare import Prepared
from syndicate.digest.render import render_subject
from syndicate.models import Article
from syndicate.store.digests import POST


@dataclass(frozen=True, slots=True, kw_only=True)
class Version:
    """One version of the digest: for readers of ``topics`` (EVERYTHING: no topics chosen)."""

    topics: frozenset[str]
    readers: int
    articles: int
    subject: str
    skipped: bool  # empty and the list does not send empty digests: nobody gets it


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The digest a send would record and the versions it would mail."""

    list_name: str
    digest_id: str
    issue: int
    fresh: int  # new articles in the digest
    send_empty: bool
    versions: tuple[Version, ...]  # readers without topics first, then by topics
    left_out: tuple[LeftOut, ...] = ()  # new articles no digest can carry, and why
    title: str | None = None  # a post's article title (the plan of one article on its own)

    @property
    def nothing_new(self) -> bool:
        """True when there is no digest to send at all (and none will be recorded)."""
        return self.fresh == 0 and not self.send_empty

    @property
    def readers(self) -> int:
        """How many subscribers get a copy."""
        return sum(v.readers for v in self.versions if not v.skipped)

    @property
    def skipped_readers(self) -> int:
        """How many subscribers get nothing: no new article matches their topics."""
        return sum(v.readers for v in self.versions if v.skipped)


def is_empty(fresh: Sequence[Article], topics: frozenset[str]) -> bool:
    """Whether the version for ``topics`` would hold no article."""
    return not any(matches(a, topics) for a in fresh)


def skips(prepared: Prepared, topics: frozenset[str], *, send_empty: bool) -> bool:
    """Whether readers of ``topics`` get nothing from this digest."""
    return not send_empty and is_empty(prepared.fresh, topics)


def make_plan(settings: Settings, list_name: str, prepared: Prepared) -> Plan:
    """The plan of a prepared digest (a new one, or one recorded earlier being resumed)."""
    cfg = settings.mailing_list(list_name)
    whole = prepared.digests[EVERYTHING]
    sets = sorted({EVERYTHING, *prepared.audience}, key=lambda t: (len(t) > 0, sorted(t)))
    versions = []
    for topics in sets:
        digest = prepared.digests.get(topics) or whole
        if whole.kind == POST and whole.lead:
            subject = post_subject(whole, whole.lead[0], settings)
        else:
            subject = render_subject(cfg.subject, digest, settings)
        versions.append(
            Version(
                topics=topics,
                readers=prepared.audience.get(topics, 0),
                articles=len(digest.articles),
                subject=subject,
                skipped=skips(prepared, topics, send_empty=cfg.send_empty),
            )
        )
    return Plan(
        list_name=list_name,
        digest_id=whole.id,
        issue=whole.issue,
        fresh=len(prepared.fresh),
        send_empty=cfg.send_empty,
        versions=tuple(v for v in versions if v.readers or not v.topics),
        left_out=prepared.left_out,
        title=whole.lead[0].title if whole.kind == POST and whole.lead else None,
    )
