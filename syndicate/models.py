"""Frozen dataclasses that cross module borders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from syndicate.text import printable


@dataclass(frozen=True, slots=True, kw_only=True)
class Teaser:
    """A related-article teaser: a title, an excerpt and, when known, where it lives."""

    title: str
    excerpt: str
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """What a reader extracts from one file or feed entry, before the store gives it identity.

    ``html`` is untrusted: it is sanitized (and relative links made absolute) once the
    canonical URL is known. ``lead`` is the plain text of the first body paragraph, the raw
    material of the teaser.
    """

    title: str
    html: str
    lead: str
    id: str | None = None
    slug: str | None = None
    url: str | None = None
    date: datetime | None = None
    updated: datetime | None = None
    author: str | None = None
    author_bio: str | None = None
    summary: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    image_credit: str | None = None
    related: tuple[Teaser, ...] = ()
    guid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Media:
    """An image of an article, from the content folder, published under the feeds folder.

    ``name`` is content-hashed (``<sha256 prefix>-<stem>.<ext>``), so a changed image gets a
    new URL and caches never serve a stale one. ``source`` is relative to the content folder.
    """

    name: str
    url: str
    source: str
    size: int
    mtime_ns: int
    type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    """A publishable article: stable identity, canonical URL, dates that never move."""

    id: str
    source: str
    key: str
    slug: str
    title: str
    url: str
    published: datetime
    updated: datetime | None  # front matter ``updated``, else when an edit was first seen
    first_seen: datetime
    author: str | None
    author_bio: str | None
    teaser: str
    tags: tuple[str, ...]
    image: str | None
    image_credit: str | None
    html: str
    related: tuple[Teaser, ...]
    content_hash: str
    media: tuple[Media, ...] = ()  # images published with it (front matter and body)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One item that was skipped, with where and why (``path:line: reason``).

    ``line`` is None where no line is known (an entry of a remote feed): ``path: reason``.
    """

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        # A file named "a.md\nb.md:1: ..." must not print as two problems.
        where = printable(self.path) + ("" if self.line is None else f":{self.line}")
        return f"{where}: {printable(self.reason)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadReport:
    """The outcome of reading every source: what was read, and what was skipped and why.

    ``articles`` are those published by now: everything that feeds, digests and archives
    show. ``scheduled`` are dated later, held back until their time comes.
    """

    articles: tuple[Article, ...]
    problems: tuple[Problem, ...] = ()
    parsed: int = 0
    reused: int = 0
    scheduled: tuple[Article, ...] = ()


class Status(StrEnum):
    """Where a subscriber stands with one list."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


# Nobody in these states may be mailed again (until they resubscribe themselves).
SUPPRESSED = frozenset({Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED})
# A bounce or a spam report is about the address, not one list: on any list, it keeps an
# editor (desk, `subscribers add`/`import`, the API's "confirmed") from making the address
# active on every list; only the reader's own confirmation mail (or --resubscribe) can.
ADDRESS_WIDE = frozenset({Status.BOUNCED, Status.COMPLAINED})


class Source(StrEnum):
    """Where a status change came from: the consent trail records it."""

    CLI = "cli"
    IMPORT = "import"
    WEB = "web"
    API = "api"  # the HTTP API (web/api/), with the token's name in the detail
    ADMIN = "admin"  # the editor's desk (web/admin/), with the admin's name and the reason
    BOUNCE = "bounce"
    COMPLAINT = "complaint"  # a feedback-loop report (ARF)
    # Provider webhooks (their events say bounce or complaint; the provider is the source).
    SES = "ses"
    POSTMARK = "postmark"
    MAILGUN = "mailgun"
    SENDGRID = "sendgrid"


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscriber:
    """A person on one or more lists; ``topics`` are those chosen on the list the record was
    read for (topics belong to a subscription), empty when read without a list."""

    id: int
    email: str
    name: str | None
    created_at: datetime
    topics: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """What one email digest of a list holds, before rendering.

    ``topics`` is the topic set this version is for (None: the whole digest, for readers
    who chose no topics). ``more`` counts the new articles left out by ``max_articles``.
    """

    id: str
    list_name: str
    list_title: str
    issue: int
    created: datetime
    lead: tuple[Article, ...]
    rest: tuple[Article, ...]
    also: tuple[Teaser, ...]
    more: int
    more_url: str
    archive_url: str
    topics: frozenset[str] | None = None
    kind: str = "digest"  # or "post": one article mailed on its own, in full

    @property
    def articles(self) -> tuple[Article, ...]:
        """Every article of the digest, lead first."""
        return self.lead + self.rest


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedDigest:
    """A digest rendered once: subject, HTML and text with per-recipient markers in them."""

    digest: Digest
    subject: str
    preheader: str
    html: str
    text: str
    warnings: tuple[str, ...] = ()


class CrlfMessage(bytes):
    """A complete RFC 5322 message whose maker guarantees CRLF line ends only (no lone CR
    or LF): a transport may then skip scanning it for line ends."""

    __slots__ = ()
