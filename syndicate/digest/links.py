"""Content links of a rendered mail, and the same mail with them led through ``/c/``.

Pure text work on what :func:`render_digest` made, done once per send and version (never
per copy). Only the ``href`` of ``<a>`` tags is read (MJML writes every link, buttons and
linked images included, as ``<a href="...">`` with the value in double quotes), and the
text part gets the same URLs replaced where the text templates print links: the numbered
references (``[3] URL`` at the start of a line) and a post body's ``text (URL)``; a URL
printed as words (the footer's site address) stays readable as it is. The HTML is not
parsed and written out again: a parser's serialisation would alter MJML's output (its
Outlook conditional comments, its whitespace), and a mail must stay what was rendered.

Never rewritten: the per-recipient links (unsubscribe and preferences: markers at this
point), links to the subscriber pages and the archive copy (view in browser), ``mailto:``
and anything that is not a plain http(s) URL.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from urllib.parse import urlsplit

from syndicate.models import RenderedDigest
from syndicate.subscribers.clickids import ClickIds

CLICK_PATH = "c"  # /c/<signed id>
MAX_LINKS = 500  # a digest holds far fewer; bounds the work and the table
_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.IGNORECASE)
_OWN_PAGES = ("/unsubscribe", "/preferences", "/confirm", "/test-copy", "/c/", "/archive/")
# A URL fit for a Location header as it is: ASCII, no spaces, no controls, no quotes.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
# Like the markers of digest/markers.py: plain ASCII that rendering leaves alone, and
# "SYNDICATEx9" so that the personalizer's check for altered markers covers it.
_LINK_MARKER = "SYNDICATEx9LINK{}Z"


def link_marker(index: int) -> str:
    """The marker that stands for the per-reader id of link ``index`` (per_subscriber)."""
    return _LINK_MARKER.format(index)


LINK_MARKER_PATTERN = r"SYNDICATEx9LINK[0-9]{1,4}Z"


def _countable(url: str, *, web_url: str, archive_url: str) -> bool:
    if "SYNDICATEx9" in url or url == archive_url or not _PLAIN_URL.fullmatch(url):
        return False
    parts = urlsplit(url)
    own = urlsplit(web_url)
    if parts.netloc.lower() == own.netloc.lower():
        path = parts.path.removeprefix(own.path.rstrip("/"))
        if path.startswith(_OWN_PAGES) or path in ("/unsubscribe", "/preferences"):
            return False
    return True


def content_links(rendered: RenderedDigest, *, web_url: str) -> list[str]:
    """The countable links of the HTML part, each once, in the order they first appear."""
    found: dict[str, None] = {}
    archive = rendered.digest.archive_url
    for match in _HREF.finditer(rendered.html):
        url = html.unescape(match.group(2)).strip()
        if url not in found and _countable(url, web_url=web_url, archive_url=archive):
            found[url] = None
            if len(found) >= MAX_LINKS:
                break
    return list(found)


def rewrite(rendered: RenderedDigest, targets: dict[str, str]) -> RenderedDigest:
    """``rendered`` with each link in ``targets`` (URL → its ``/c/`` URL) replaced, in the
    HTML hrefs and in the text part's link references (``[3] URL``, ``(URL)``)."""
    if not targets:
        return rendered

    def href(match: re.Match[str]) -> str:
        url = html.unescape(match.group(2)).strip()
        new = targets.get(url)
        if new is None:
            return match.group(0)
        return f"{match.group(1)}{html.escape(new)}{match.group(3)}"

    body = _HREF.sub(href, rendered.html)
    words = "|".join(re.escape(u) for u in sorted(targets, key=len, reverse=True))
    # "[3] URL" (a line of the Links list) or "text (URL)" (a post's body), whole URLs only.
    in_text = re.compile(rf"(^\[[0-9]+\] |\()({words})(?=$|[\s)])", re.MULTILINE)
    text = in_text.sub(lambda m: m.group(1) + targets[m.group(2)], rendered.text)
    return replace(rendered, html=body, text=text)


class ClickFiller:
    """The per-reader part of per-subscriber click ids: one short HMAC per link and copy."""

    __slots__ = ("_ids", "_prefixes")

    def __init__(self, ids: ClickIds, prefixes: tuple[bytes, ...]) -> None:
        self._ids, self._prefixes = ids, prefixes

    def __len__(self) -> int:
        return len(self._prefixes)

    def values(self, subscriber_id: int) -> tuple[str, ...]:
        """The click id of every link, in marker order, for one subscriber's copy."""
        finish, ids = self._ids.finish, subscriber_id
        return tuple(finish(p, ids) for p in self._prefixes)
