"""RSS 2.0 and Atom 1.0 documents with feedgen, plus the RFC 5005 archive markup.

feedgen writes RSS's ``atom:link`` only for ``rel="self"``, so the archive, hub and
``fh:archive`` markup comes from a small feedgen extension registered on every feed.

Titles are plain text, shown literally by every reader. Most readers treat an RSS title,
and many an Atom text title, as HTML, so a title that looks like markup
(``<script>…</script> & "Sanctions"``) would be stripped or run, and the W3C validator warns
"title should not contain HTML". Such a title is escaped once more as HTML: Atom declares it
``type="html"``; RSS, which cannot declare it, follows the RSS Best Practices Profile and
writes ``&`` and ``<`` in every title as the hexadecimal references ``&#x26;`` and ``&#x3C;``
(the encoding that works in the most readers). A title without markup ("AT&T", "A < B") is
written once-escaped, which reads right whether a reader takes it as text or as HTML.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from syndicate import __version__
from syndicate.feeds.items import FeedItem

# What an HTML-reading feed reader would take for a tag, a comment or a character reference.
_MARKUP = re.compile(r"<[A-Za-z/!?]|&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
_RSS_TITLE = re.compile(rb"<title>([^<]*)</title>")
ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
GENERATOR_URI = "https://github.com/syndicate"


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """Feed-level facts: what the document is, where it lives and where it links to."""

    title: str
    description: str
    language: str
    author: str
    home_url: str
    self_url: str
    updated: datetime
    hub: str | None = None
    archive: bool = False
    current_url: str | None = None
    prev_archive_url: str | None = None
    next_archive_url: str | None = None


def looks_like_markup(text: str) -> bool:
    """Whether a reader that takes the text as HTML would not show it literally."""
    return _MARKUP.search(text) is not None


def _title(text: str) -> str:
    """A title as feeds carry it: escaped as HTML when it looks like markup."""
    return html.escape(text, quote=False) if looks_like_markup(text) else text


def _atom_title_type(element: Any, text: str) -> None:
    """Declare an Atom title ``type="html"`` when ``_title`` escaped it."""
    if looks_like_markup(text):
        tag = etree.QName(element).namespace
        found = element.find(f"{{{tag}}}title" if tag else "title")
        if found is not None:
            found.set("type", "html")


def _hex_references(match: re.Match[bytes]) -> bytes:
    text = match.group(1).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")
    return b"<title>" + text.replace(b"&gt;", b"&#x3E;") + b"</title>"


class _History(BaseExtension):  # type: ignore[misc]
    """Adds ``fh:archive`` and the atom:links feedgen leaves out of RSS."""

    def __init__(self) -> None:
        self.archive = False
        self.title = ""
        self.rss_links: list[tuple[str, str]] = []

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS} if self.archive else {}

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        for rel, href in self.rss_links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", rel=rel, href=href)
        if self.archive:
            etree.SubElement(channel, f"{{{HISTORY_NS}}}archive")
        return feed

    def extend_atom(self, feed: Any) -> Any:
        _atom_title_type(feed, self.title)
        if self.archive:
            etree.SubElement(feed, f"{{{HISTORY_NS}}}archive")
        return feed


class _EntryLinks(BaseEntryExtension):  # type: ignore[misc]
    """Writes an Atom entry's links itself.

    feedgen 1.0 drops ``rel``, ``type``, ``title`` and ``length`` from entry links (it reads
    them from the new XML element instead of the link data), which would turn related and
    enclosure links into extra alternates.
    """

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []
        self.updated: str | None = None
        self.title = ""

    def extend_rss(self, item: Any) -> Any:
        # RSS has no update date; atom:updated is the common extension feed readers know.
        if self.updated:
            etree.SubElement(item, f"{{{ATOM_NS}}}updated").text = self.updated
        return item

    def extend_atom(self, entry: Any) -> Any:
        _atom_title_type(entry, self.title)
        tag = etree.QName(entry).namespace
        name = f"{{{tag}}}link" if tag else "link"
        for old in [el for el in entry if etree.QName(el).localname == "link"]:
            entry.remove(old)
        for attrs in self.links:
            etree.SubElement(entry, name, attrs)
        return entry


def _generator(channel: Channel, items: tuple[FeedItem, ...], *, rss: bool) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.register_extension("history", _History, _EntryLinks)
    history: _History = fg.history
    history.archive = channel.archive
    history.title = channel.title
    fg.id(channel.self_url)
    fg.title(_title(channel.title))
    if not rss:  # Atom needs a feed author for entries that name none; RSS wants an email
        fg.author(name=channel.author)
    fg.description(channel.description)
    fg.subtitle(channel.description)
    fg.language(channel.language)
    fg.generator("syndicate", version=__version__, uri=GENERATOR_URI)
    fg.updated(channel.updated)
    fg.lastBuildDate(channel.updated)
    self_type = "application/rss+xml" if rss else "application/atom+xml"
    fg.link(href=channel.self_url, rel="self", type=self_type)
    extra = [
        ("hub", channel.hub),
        ("current", channel.current_url),
        ("prev-archive", channel.prev_archive_url),
        ("next-archive", channel.next_archive_url),
    ]
    for rel, href in extra:
        if href:
            if rss:
                history.rss_links.append((rel, href))
            else:
                fg.link(href=href, rel=rel)
    # Last: feedgen takes the RSS <link> from the most recently added link.
    fg.link(href=channel.home_url, rel="alternate")
    for item in items:
        _add_entry(fg, item)
    return fg


def _add_entry(fg: FeedGenerator, item: FeedItem) -> None:
    fe = fg.add_entry(order="append")
    fe.id(item.id)
    fe.guid(item.id, permalink=False)
    fe.title(_title(item.title))
    fe.history.title = item.title
    fe.link(href=item.url, rel="alternate")
    fe.published(item.published)
    fe.updated(item.updated)
    if item.author:
        fe.author(name=item.author)
        fe.dc.dc_creator(item.author)
    for tag in item.tags:
        fe.category(term=tag)
    fe.summary(item.summary or item.title)
    if item.content_html:
        fe.content(item.content_html, type="html")
    links = [{"rel": "alternate", "type": "text/html", "href": item.url}]
    if item.image and item.image.type:
        length = str(item.image.length or 0)
        fe.enclosure(url=item.image.url, length=length, type=item.image.type)
        links.append(
            {"rel": "enclosure", "type": item.image.type, "length": length, "href": item.image.url}
        )
    links.extend({"rel": "related", "href": r.url, "title": r.title} for r in item.related)
    fe.history.links = links
    fe.history.updated = item.updated.isoformat()


def rss_document(channel: Channel, items: tuple[FeedItem, ...]) -> bytes:
    """An RSS 2.0 document."""
    data: bytes = _generator(channel, items, rss=True).rss_str(pretty=True)
    return _RSS_TITLE.sub(_hex_references, data)


def atom_document(channel: Channel, items: tuple[FeedItem, ...]) -> bytes:
    """An Atom 1.0 document."""
    data: bytes = _generator(channel, items, rss=False).atom_str(pretty=True)
    return data
