"""Fetch one remote RSS, Atom or JSON Feed source and turn its entries into ``Entry`` objects.

Everything off the network is hostile: ``fetch`` bounds the request (time, bytes, addresses,
redirects), feedparser only sees an in-memory stream (handed bytes, it opens a local file of
that name) and the JSON Feed branch checks the type of every field. Only ``SourceError``
leaves; bad entries become problems.
"""

from __future__ import annotations

import calendar
import html
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from syndicate.config import FeedSource
from syndicate.content.fetch import ACCEPT, USER_AGENT, Download, download
from syndicate.content.html import absolute_http_url, plain_text
from syndicate.content.markup import MarkupError, bounded_html
from syndicate.errors import SourceError
from syndicate.models import Entry, Problem

LEAD_LIMIT = 1000
TITLE_LIMIT = 80
JSON_TYPES = frozenset({"application/feed+json", "application/json"})
JSON_VERSIONS = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_CODING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})

_P_OPEN = re.compile(r"<p[\s>/]", re.IGNORECASE)
_P_CLOSE = re.compile(r"</p\s*>", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n\s*\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class Validators:
    """Conditional-GET state the caller keeps in the store between reads."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    """The outcome of one read: the final status, new validators, entries and skipped ones."""

    status: int
    validators: Validators
    entries: tuple[Entry, ...]
    problems: tuple[Problem, ...]


def fetch_source(source: FeedSource, validators: Validators | None) -> Fetched:
    """Fetch ``source`` and parse its entries, conditionally when ``validators`` are given.

    A 304 answer yields no entries and the ``validators`` passed in. Entries come back in feed
    order, not deduplicated; entries that cannot be used are reported in ``problems``. Raises
    ``SourceError`` for any network, HTTP, address, size or format failure of the source as a
    whole (``fetch.download`` says what bounds the request).
    """
    old = validators or Validators()
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    conditions = {"If-None-Match": old.etag, "If-Modified-Since": old.last_modified}
    for name, value in conditions.items():
        # Stored validators came from a server: never let one inject a header line.
        if value and value.isascii() and value.isprintable():
            headers[name] = value
    response = download(source, headers)
    if response.status == 304:
        return Fetched(status=304, validators=old, entries=(), problems=())
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    body = response.body
    # The body decides when it can: servers often mislabel feeds.
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{" or (start != b"<" and (ctype in JSON_TYPES or ctype.endswith("+json"))):
        built = _json_entries(source.url, body)
    else:
        built = _xml_entries(source.url, response)
    return Fetched(
        status=response.status,
        validators=Validators(
            etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
        ),
        entries=tuple(e for e in built if isinstance(e, Entry)),
        problems=tuple(
            # feedparser knows no line numbers: the entry's number says where it is.
            Problem(path=source.url, line=None, reason=f"entry {i} {e}")
            for i, e in enumerate(built, 1)
            if isinstance(e, str)
        ),
    )


def _json_entries(url: str, body: bytes) -> list[Entry | str]:
    try:
        doc: object = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise SourceError(url, f"invalid JSON feed: {exc}") from None
    if not isinstance(doc, dict):
        raise SourceError(url, "not a JSON Feed: the document is not a JSON object")
    version = _str(doc, "version")
    if version is None or not version.startswith(JSON_VERSIONS):
        raise SourceError(url, "not a JSON Feed: no https://jsonfeed.org/version/ in 'version'")
    items = doc.get("items")
    if not isinstance(items, list):
        raise SourceError(url, "invalid JSON feed: 'items' is not a list")
    return [_json_entry(item) if isinstance(item, dict) else "is not an object" for item in items]


_EntryBuilder = Callable[[Mapping[str, object]], Entry | str]


def _bounded(build: _EntryBuilder) -> _EntryBuilder:
    """``build``, with HTML beyond the bounds of markup.py reported as the entry's problem."""

    def bounded(item: Mapping[str, object]) -> Entry | str:
        try:
            return build(item)
        except MarkupError as exc:
            return f"has {exc}; it is skipped"

    return bounded


@_bounded
def _json_entry(item: Mapping[str, object]) -> Entry | str:
    body = _str(item, "content_html")
    if body is None and (text := _str(item, "content_text")):
        body = _text_html(text)
    summary = _str(item, "summary")  # plain text in JSON Feed
    texts = _texts(_str(item, "title"), body, _text_html(summary) if summary else None)
    if isinstance(texts, str):
        return texts
    names = [_str(a, "name") for a in _list(item.get("authors")) if isinstance(a, dict)]
    if not any(names) and isinstance(author := item.get("author"), dict):
        names = [_str(author, "name")]  # JSON Feed 1.0 had a single author
    guid = item.get("id")
    if isinstance(guid, int) and not isinstance(guid, bool):
        guid = str(guid)  # the spec says string, but numeric ids are common in the wild
    return Entry(
        title=texts[0],
        html=texts[1],
        lead=texts[2],
        summary=texts[3],
        guid=_text(guid),
        url=_http_url(_str(item, "url")),
        date=_from_iso(_str(item, "date_published")),
        updated=_from_iso(_str(item, "date_modified")),
        author=plain_text(", ".join(n for n in names if n)) or None,
        tags=_tags(map(_text, _list(item.get("tags")))),
        image=_http_url(_str(item, "image")),
    )


def _xml_entries(url: str, response: Download) -> list[Entry | str]:
    # The body is decoded already: feedparser must not see the coding it came in.
    headers = {k: v for k, v in response.headers.items() if k not in _CODING_HEADERS}
    try:
        # Relative links in entries resolve against where the feed actually came from.
        headers["content-location"] = urljoin(response.url, headers.get("content-location", ""))
        parsed: Any = feedparser.parse(io.BytesIO(response.body), response_headers=headers)
    except Exception as exc:  # feedparser aims never to raise, but it is fed hostile bytes
        raise SourceError(url, f"could not parse the feed: {exc}") from exc
    # Plain dict access skips FeedParserDict's aliases, some of which warn (updated_parsed).
    feed = dict.get(parsed, "feed")
    entries = [dict(e) for e in _list(dict.get(parsed, "entries")) if isinstance(e, dict)]
    has_title = isinstance(feed, dict) and _str(feed, "title") is not None
    bozo = bool(dict.get(parsed, "bozo"))
    if not entries and (not dict.get(parsed, "version") or (bozo and not has_title)):
        why = dict.get(parsed, "bozo_exception")
        raise SourceError(url, "not an RSS, Atom or JSON feed" + (f" ({why})" if why else ""))
    return [_feedparser_entry(entry) for entry in entries]


@_bounded
def _feedparser_entry(entry: Mapping[str, object]) -> Entry | str:
    contents = [c for c in _list(entry.get("content")) if isinstance(c, dict)]
    # Prefer an HTML rendition when a feed offers several (e.g. content:encoded and a plain one).
    contents.sort(key=lambda c: "html" not in (_str(c, "type") or "html"))
    detail = entry.get("summary_detail")
    texts = _texts(
        _str(entry, "title"),
        _detail_html(contents[0]) if contents else None,
        _detail_html(detail) if isinstance(detail, dict) else _str(entry, "summary"),
    )
    if isinstance(texts, str):
        return texts
    detail = entry.get("author_detail")
    name = _str(detail, "name") if isinstance(detail, dict) else None
    published = _from_struct(entry.get("published_parsed") or entry.get("created_parsed"))
    updated = _from_struct(entry.get("updated_parsed"))
    return Entry(
        title=texts[0],
        html=texts[1],
        lead=texts[2],
        summary=texts[3],
        guid=_str(entry, "id"),
        url=_http_url(_str(entry, "link")),
        date=published or updated,
        updated=updated,
        author=plain_text(name or _str(entry, "author") or "") or None,
        tags=_tags(_str(t, "term") for t in _list(entry.get("tags")) if isinstance(t, dict)),
        image=_feedparser_image(entry),
    )


def _detail_html(detail: Mapping[str, object]) -> str | None:
    value = _str(detail, "value")
    return _text_html(value) if value and _str(detail, "type") == "text/plain" else value


def _feedparser_image(entry: Mapping[str, object]) -> str | None:
    thumbs = [_str(m, "url") for m in _list(entry.get("media_thumbnail")) if isinstance(m, dict)]
    media = [m for m in _list(entry.get("media_content")) if isinstance(m, dict)]
    links = [e for e in _list(entry.get("links")) if isinstance(e, dict)]
    found = (
        thumbs
        + [_str(m, "url") for m in media if _is_image(m) or _str(m, "medium") == "image"]
        + [_str(e, "href") for e in links if _str(e, "rel") == "enclosure" and _is_image(e)]
    )
    return next(filter(None, map(_http_url, found)), None)


def _is_image(mapping: Mapping[str, object]) -> bool:
    return (_str(mapping, "type") or "").startswith("image/")


def _texts(
    title: str | None, body: str | None, summary: str | None
) -> tuple[str, str, str, str | None] | str:
    """Title, html, lead and plain summary of an entry, or why it cannot be one."""
    # feedparser copies Atom content into summary when there is none: that is not a summary.
    if body is None or summary == body:
        body, summary = body or summary or "", None
    bounded_html(body)  # hostile HTML is refused before any parser reads it (cached)
    plain_title = plain_text(title or "")
    text: str | None = None
    if not plain_title:
        if not body:
            return "has neither title nor content"
        if not (text := plain_text(body)):
            return "has no title and no text to make one from"
        plain_title = _shorten(text, TITLE_LIMIT)
    plain_summary = plain_text(summary or "")
    lead = _first_paragraph(body) or plain_summary or (plain_text(body) if text is None else text)
    return plain_title, body, _shorten(lead, LEAD_LIMIT), plain_summary or None


def _tags(terms: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in (" ".join((term or "").split()) for term in terms) if t))


def _first_paragraph(markup: str) -> str:
    # Plain searches, not one lazy regex: a lazy match over hostile HTML can go quadratic.
    pos = 0
    for _ in range(5):
        start = _P_OPEN.search(markup, pos)
        if start is None:
            return ""
        close = _P_CLOSE.search(markup, start.end())
        reopen = _P_OPEN.search(markup, start.end())
        stop = min(m.start() if m else len(markup) for m in (close, reopen))
        if text := plain_text(markup[start.start() : stop]):
            return text
        pos = stop
    return ""


def _text_html(text: str) -> str:
    paragraphs = (p.strip() for p in _BLANK_LINE.split(text))
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def _http_url(value: str | None) -> str | None:
    value = (value or "").strip()
    return absolute_http_url(value, "") if value else None


def _from_struct(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _from_iso(value: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat((value or "").strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # RFC 3339 demands an offset; assume UTC
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _clean(text: str) -> str:
    # Lone surrogates (valid in JSON escapes) crash nh3 and NULs are refused by PostgreSQL.
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "")


def _str(mapping: Mapping[Any, object], key: str) -> str | None:
    return _text(dict.get(mapping, key) if isinstance(mapping, dict) else mapping.get(key))


def _text(value: object) -> str | None:
    """``value`` if it is a non-blank string (stripped and made safe), else None."""
    return (_clean(value.strip()) or None) if isinstance(value, str) else None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
