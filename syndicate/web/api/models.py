"""The HTTP API's request and response shapes (pydantic): input is validated by them, and the
OpenAPI document (web/api/openapi.py) is generated from them, so the two cannot drift."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic import model_validator as _model_validator

from syndicate.config import LIST_NAME
from syndicate.errors import SyndicateError
from syndicate.service.api_subscribers import TRAIL
from syndicate.service.api_views import ARTICLE_CURSOR_PATTERN
from syndicate.store.search import CURSOR_PATTERN, MAX_LIMIT
from syndicate.subscribers.address import normalize_address
from syndicate.subscribers.names import PLAIN_LINE

StatusName = Literal["pending", "active", "unsubscribed", "bounced", "complained"]
# One line, nothing invisible: names and consent sources end up in mails, on the desk and in
# the consent trail (the rule of subscribers/names.py, which the form, CLI and import use).
Line = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PLAIN_LINE)]
ListName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=LIST_NAME)]
Topic = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=PLAIN_LINE)]
_CURSOR = f"^{CURSOR_PATTERN.pattern}$"
_ARTICLE_CURSOR = f"^{ARTICLE_CURSOR_PATTERN.pattern}$"
# What a refused pattern means, in words (the 422 message; the document keeps the pattern).
PATTERN_MESSAGES = {
    PLAIN_LINE: "must not contain control characters (CR, LF, tab …) or invisible format "
    "characters (U+200B, U+202E …)",
    LIST_NAME: "not a list name (lower-case letters, digits, - and _)",
    _CURSOR: "not a cursor from a `next` link",
    _ARTICLE_CURSOR: "not a cursor from a `next` link",
}
# RFC 3339 (the document's date-time): a date, a time and an offset; nothing else is read
# as one (pydantic alone would take "0.5" or "2026" as seconds since 1970).
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


def _checked_address(value: str) -> str:
    try:
        return normalize_address(value).email
    except SyndicateError as exc:
        raise ValueError(str(exc)) from None


# -- errors ----------------------------------------------------------------------------------


class ErrorBody(_Out):
    """What went wrong: a stable ``code`` for programs, a ``message`` for people."""

    code: str
    message: str


class ErrorOut(_Out):
    """Every failure answers with this body."""

    error: ErrorBody


# -- subscribers -----------------------------------------------------------------------------


class SubscriberQuery(_In):
    """Query of ``GET /subscribers``."""

    q: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        None, description="A prefix of the address or of the name (case-insensitive)."
    )
    list: ListName | None = Field(None, description="Only subscribers of this list.")
    status: StatusName | None = Field(
        None, description="Only this status (on `list`, or on any list without one)."
    )
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT}.")
    cursor: Annotated[str, StringConstraints(pattern=_CURSOR)] | None = Field(
        None, description="The `cursor` of the previous page (opaque)."
    )


class Membership(_Out):
    """One list a subscriber is on."""

    list_name: str = Field(serialization_alias="list")
    status: StatusName
    topics: list[str] = Field(description="Topics chosen on this list; empty: everything.")


class ConsentEvent(_Out):
    """One status change of the consent trail."""

    list_name: str = Field(serialization_alias="list")
    status: StatusName
    previous: StatusName | None
    at: datetime
    source: str
    detail: str | None


class SubscriberOut(_Out):
    """A subscriber (in search results: without the trail or topics)."""

    id: int
    email: str
    name: str | None
    created_at: datetime
    lists: list[Membership]


class SubscriberDetail(SubscriberOut):
    """A subscriber with their consent trail: its newest entries, oldest first."""

    consent: list[ConsentEvent] = Field(
        description=f"The newest {TRAIL} entries of the consent trail, oldest first."
    )
    consent_truncated: bool = Field(
        description="True when older entries are left out (`consent_older` says how many)."
    )
    consent_older: int = Field(
        ge=0,
        description="How many older entries are left out (0: the whole trail); "
        "`syndicate subscribers show EMAIL` lists them all.",
    )


class SubscriberPage(_Out):
    """One page of subscribers; ``next`` is the URL of the next page (null on the last)."""

    items: list[SubscriberOut]
    cursor: str | None
    next: str | None


class SubscribeIn(_In):
    """``POST /subscribers``: double opt-in (``pending``, the default: a confirmation mail is
    sent, as by the subscribe form) or ``confirmed`` (consent given elsewhere: ``source``
    says where, and it is kept in the consent trail)."""

    email: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    name: Line | None = None
    lists: list[ListName] = Field(min_length=1, max_length=50)
    status: Literal["pending", "confirmed"] = "pending"
    source: Line | None = Field(
        None, description="Required with `confirmed`: where and how consent was given."
    )

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        return _checked_address(value)

    @_model_validator(mode="after")
    def _consent(self) -> SubscribeIn:
        if self.status == "confirmed" and not self.source:
            raise ValueError("status confirmed needs a consent source (field `source`)")
        return self


class SubscribeAccepted(_Out):
    """A double opt-in request was recorded (the same answer for every address)."""

    status: Literal["pending"]
    message: str


class PatchIn(_In):
    """``PATCH /subscribers/{email}``: only the fields given change."""

    name: Line | None = None
    topics: dict[ListName, list[Topic]] | None = Field(
        None, description="Per list they are on: the topics chosen (empty: everything)."
    )
    lists: list[ListName] | None = Field(
        None,
        max_length=50,
        description="The lists they should be on: others are unsubscribed; new ones get a "
        "confirmation mail (double opt-in).",
    )


class ChangeOut(_Out):
    """What a write did, per list, and the subscriber now (only for a token that may read it).

    A ``subscribers:write`` token alone must not be a way to look an address up: it gets the
    per-list ``results`` and ``to_confirm``, never the name, lists, topics or consent trail.
    """

    subscriber: SubscriberDetail | None = Field(
        None,
        description="The subscriber after the change; only when the token also has "
        "`subscribers:read` (left out otherwise).",
    )
    results: dict[str, str] = Field(
        description="Per list: active, already, pending, suppressed or unsubscribed."
    )
    to_confirm: list[str] = Field(description="Lists that wait for a confirmation mail.")


class DeleteQuery(_In):
    """Query of ``DELETE /subscribers/{email}``."""

    list: ListName | None = Field(None, description="Only this list (default: every list).")


# -- lists, sends, articles ------------------------------------------------------------------


class ListOut(_Out):
    """A declared list and its subscribers per status."""

    name: str
    title: str
    description: str | None
    counts: dict[str, int]


class ListsOut(_Out):
    """Every declared list."""

    lists: list[ListOut]


class SendsQuery(_In):
    """Query of ``GET /sends``."""

    list: ListName | None = None
    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    before: int | None = Field(
        None, ge=1, le=2**31 - 1, description="The `before` of the last page."
    )


class SendOut(_Out):
    """One send of one digest (or post) to one list."""

    id: int
    digest: str
    list_name: str = Field(serialization_alias="list")
    title: str | None
    state: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]


class SendsOut(_Out):
    """Sends, newest first."""

    items: list[SendOut]
    before: int | None
    next: str | None


class FailureOut(_Out):
    """A recipient who did not (yet) get the send, with the server's reply."""

    email: str
    status: str
    code: int | None
    reply: str | None
    attempts: int
    at: datetime
    next_attempt: datetime | None
    bounced: bool


class FeedbackOut(_Out):
    """A bounce, complaint or refusal after the server took the copy."""

    email: str
    outcome: str
    diagnostic: str
    at: datetime


class LinkClicksOut(_Out):
    """One counted link of the send's mail: where it leads and how often it was followed
    (by anyone: no reader is named)."""

    url: str
    clicks: int


class ReportOut(_Out):
    """``syndicate report``: outcome counts, failures with the server's reply, feedback."""

    send: SendOut
    delivered: int
    deferred: int
    failed: int
    bounced: int
    complaints: int
    failures: list[FailureOut]
    failures_truncated: bool
    feedback: list[FeedbackOut]
    clicks: int | None = Field(
        description="Clicks on the send's links in all; null when its list did not count "
        "clicks (`count_clicks`) when it went out. A count, not a rate: one reader "
        "following a link twice is two clicks."
    )
    clickers: int | None = Field(
        description="Distinct readers who followed a link of the send (over `delivered`: the "
        "share of readers who clicked); null when clicks name nobody (`[analytics] "
        "per_subscriber` off) or the send counted no clicks."
    )
    links: list[LinkClicksOut] = Field(
        description="Clicks per link, most clicked first; empty when clicks were not counted."
    )
    topic_skipped: int | None = Field(
        description="Readers of a digest who got no copy because no new article matched their "
        "topics (not among `counts`: they have no row in the send's ledger); null when not "
        "known: a post, or a send made before the count was kept.",
        ge=0,
    )


def date_time(value: Any) -> datetime:
    """An RFC 3339 date-time with its offset, as an aware datetime in UTC (ValueError for
    anything else: a number, a date alone, no offset, out of range)."""
    found = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise ValueError(
            "give a date-time with a time zone offset (RFC 3339, e.g. 2026-12-01T09:00:00Z)"
        )
    text = value[: found.start("fraction")] if found["fraction"] else value[: found.start("offset")]
    fraction = (found["fraction"] or ".0")[1:7].ljust(6, "0")
    offset = "+00:00" if found["offset"] in ("Z", "z") else found["offset"]
    try:
        parsed = datetime.fromisoformat(f"{text[:10]}T{text[11:]}.{fraction}{offset}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("not a valid date-time (RFC 3339, e.g. 2026-12-01T09:00:00Z)") from None


class ArticlesQuery(_In):
    """Query of ``GET /articles``."""

    limit: int = Field(20, ge=1, le=MAX_LIMIT)
    since: datetime | None = Field(
        None,
        description="Only articles first seen after this RFC 3339 date-time; the offset is "
        "required (2026-12-01T09:00:00Z).",
    )
    cursor: Annotated[str, StringConstraints(pattern=_ARTICLE_CURSOR)] | None = Field(
        None, description="The `cursor` of the previous page (opaque)."
    )

    @field_validator("since", mode="before")
    @classmethod
    def _strict(cls, value: Any) -> datetime | None:
        return None if value is None else date_time(value)


class ArticleOut(_Out):
    """An article's metadata."""

    id: str
    title: str
    url: str | None
    date: str | None
    author: str | None
    tags: list[str]
    first_seen: datetime


class ArticlesOut(_Out):
    """Articles, newest first; ``next`` is the URL of the next page (null on the last)."""

    items: list[ArticleOut]
    cursor: str | None
    next: str | None
