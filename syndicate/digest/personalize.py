"""Per-recipient parts of a digest, filled in cheaply: the digest is rendered once.

A :class:`Personalizer` splits the rendered HTML and text on the markers once; ``fill`` then
only signs two tokens and joins the parts with one recipient's values (no Jinja2, no MJML).

Values by context: in the HTML the name and address are HTML-escaped (so the markers work in
text and in attribute values alike) and the URLs are HTML-escaped too (``&`` in a base URL);
in the text part everything goes in as it is, minus control characters. ``NAME`` and ``EMAIL``
are not URL-encoded: they belong in text and attributes, never inside a URL. A missing or
blank name becomes :data:`DEFAULT_NAME`, so "Hello NAME," reads "Hello reader,".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit, urlunsplit

from syndicate.digest import markers
from syndicate.digest.links import LINK_MARKER_PATTERN, ClickFiller
from syndicate.errors import SyndicateError
from syndicate.models import RenderedDigest
from syndicate.subscribers.tokens import Purpose, Signer

DEFAULT_NAME = "reader"  # the archive copy says the same; reads fine after "Hello" or "Dear"
TEST_COPY_PATH = "test-copy"  # /test-copy/unsubscribe, /test-copy/preferences: inert pages
MAX_NAME = 200  # what the CSV import accepts; longer names are cut, not refused

# Every character a URI may hold as it is (RFC 3986 unreserved, reserved and "%").
URL_SAFE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# C0 and C1 controls, DEL, line/paragraph separators, bidi overrides and isolates, surrogates.
_UNWANTED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]+")
_SPACES = re.compile(r"\s+")
_MARKER = re.compile("(" + "|".join(re.escape(m) for m in markers.ALL) + ")")
# With per-subscriber click ids: the link markers too (slot 4 + link number).
_MARKER_LINKS = re.compile(
    "(" + "|".join([*(re.escape(m) for m in markers.ALL), LINK_MARKER_PATTERN]) + ")"
)
_MANGLED = re.compile("syndicatex9", re.IGNORECASE)  # a marker that rendering altered
_SLOT = {marker: index for index, marker in enumerate(markers.ALL)}
assert markers.ALL == (
    markers.NAME,
    markers.EMAIL,
    markers.UNSUBSCRIBE_URL,
    markers.PREFERENCES_URL,
)


class PersonalizeError(SyndicateError):
    """The rendered digest cannot be personalized safely; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipient:
    """Who one copy of a digest goes to."""

    subscriber_id: int
    email: str
    name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Personal:
    """One recipient's copy of the digest body, and the links in it."""

    subscriber_id: int  # whose copy: build_message refuses to pair it with anyone else
    html: str
    text: str
    unsubscribe_url: str
    preferences_url: str


def test_copy_url(web_url: str, page: str) -> str:
    """Where a link of a test copy or preview leads: a page saying it is a test copy.

    It carries no token, so clicking it (or a mail client's one-click POST) changes nothing.
    """
    return f"{web_url}/{TEST_COPY_PATH}/{page}"


def unsubscribe_url(web_url: str, token: str) -> str:
    """The unsubscribe page for an unsubscribe token (also the RFC 8058 one-click target)."""
    return f"{web_url}/unsubscribe/{token}"


def preferences_url(web_url: str, token: str) -> str:
    """The preferences page for a preferences token."""
    return f"{web_url}/preferences/{token}"


def confirm_url(web_url: str, token: str) -> str:
    """The double opt-in confirmation page for a confirm token."""
    return f"{web_url}/confirm/{token}"


def ascii_url(url: str) -> str:
    """``url`` as an ASCII URI (IDNA host, percent-encoded rest), fit for mail headers.

    URLs that already are plain URIs come back unchanged; ValueError when no form fits.
    """
    if URL_SAFE.fullmatch(url):
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():
        try:
            host = (parts.hostname or "").encode("idna").decode("ascii")
            port = "" if parts.port is None else f":{parts.port}"
        except (UnicodeError, ValueError):
            raise ValueError(f"not a usable host name in {url!r}") from None
        userinfo, at, _ = netloc.rpartition("@")
        netloc = f"{quote(userinfo, safe=':')}{at}{host}{port}"
    safe = "/:@!$&'()*+,;=%~"  # delimiters and existing %-escapes stay as they are
    out = urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=safe),
            quote(parts.query, safe=safe + "?"),
            quote(parts.fragment, safe=safe + "?"),
        )
    )
    if not URL_SAFE.fullmatch(out):
        raise ValueError(f"cannot make an ASCII URI of {url!r}")
    return out


def clean_name(name: str | None) -> str | None:
    """A name fit to show: no control or bidi-override characters, spaces collapsed, at most
    :data:`MAX_NAME` characters; None when nothing is left."""
    if not name:
        return None
    text = _SPACES.sub(" ", _UNWANTED.sub(" ", name)).strip()[:MAX_NAME].rstrip()
    return text or None


@dataclass(frozen=True, slots=True, kw_only=True)
class Values:
    """One recipient's marker values, in the order of ``markers.ALL``."""

    html: tuple[str, ...]  # then one click id per link, with per-subscriber click ids
    text: tuple[str, ...]
    unsubscribe_url: str
    preferences_url: str


class _Template:
    """A text split once on the markers: literal parts, and which slot gets which value."""

    __slots__ = ("parts", "slots")

    def __init__(self, source: str, what: str, links: int = 0) -> None:
        pieces = (_MARKER_LINKS if links else _MARKER).split(source)
        # re.split with one group alternates literal, marker, literal, ...
        self.slots = tuple((i, _slot(pieces[i], links, what)) for i in range(1, len(pieces), 2))
        self.parts = pieces
        for literal in pieces[0::2]:
            found = _MANGLED.search(literal)
            if found is not None:
                near = literal[max(0, found.start() - 20) : found.end() + 20]
                raise PersonalizeError(f"{what}: a marker was altered by rendering: {near!r}")
        if not any(slot == _SLOT[markers.UNSUBSCRIBE_URL] for _, slot in self.slots):
            raise PersonalizeError(
                f"{what}: no unsubscribe link: the template must print {{{{ unsubscribe_url }}}}"
            )

    def fill(self, values: tuple[str, ...]) -> str:
        out = self.parts.copy()
        for index, slot in self.slots:
            out[index] = values[slot]
        return "".join(out)


def _slot(marker: str, links: int, what: str) -> int:
    found = _SLOT.get(marker)
    if found is not None:
        return found
    number = int(marker.removeprefix("SYNDICATEx9LINK").removesuffix("Z"))
    if number >= links:
        raise PersonalizeError(f"{what}: a click link marker with no link: {marker!r}")
    return len(markers.ALL) + number


class Personalizer:
    """Fills one rendered digest in for each recipient; build once per digest version.

    ``web_url`` is the public base of the subscriber pages (``settings.web_url``); ``now``
    is the issue time of the tokens. ``signer`` None makes test copies and previews: their
    links lead to the inert ``/test-copy/…`` pages and hold no token at all, whoever the
    recipient is, so a test copy can never unsubscribe anyone. Both the HTML and the text
    must hold an unsubscribe link, and no marker may have been altered by rendering: else
    :class:`PersonalizeError` naming ``templates`` (the HTML and the text template).
    Thread-safe: ``fill`` reads shared state only.
    """

    __slots__ = ("_clicks", "_html", "_list_name", "_now", "_signer", "_text", "_web_url")

    def __init__(
        self,
        rendered: RenderedDigest,
        *,
        list_name: str,
        web_url: str,
        signer: Signer | None,
        now: datetime,
        templates: tuple[str, str] | None = None,
        clicks: ClickFiller | None = None,
    ) -> None:
        if list_name != rendered.digest.list_name:
            raise ValueError(
                f"list {list_name!r} does not match the digest's {rendered.digest.list_name!r}"
            )
        self._list_name = list_name
        self._web_url = ascii_url(web_url).rstrip("/")
        self._signer = signer
        self._now = now
        self._clicks = clicks  # per-subscriber click ids: their link markers, filled per copy
        links = len(clicks) if clicks is not None else 0
        if templates is None:  # a digest's or a post's own
            kind = "post" if rendered.digest.kind == "post" else "digest"
            templates = (f"{kind}.mjml.j2", f"{kind}.txt.j2")
        self._html = _Template(rendered.html, f"templates/{templates[0]} (the HTML part)", links)
        self._text = _Template(rendered.text, f"templates/{templates[1]} (the text part)", links)
        self.fill(Recipient(subscriber_id=1, email="check@example.org", name=None))  # fail now

    @property
    def html_parts(self) -> tuple[list[str], tuple[tuple[int, int], ...]]:
        """The HTML split on the markers: literal parts and (index, slot) of each marker."""
        return self._html.parts, self._html.slots

    @property
    def text_parts(self) -> tuple[list[str], tuple[tuple[int, int], ...]]:
        """The text split on the markers, like ``html_parts``."""
        return self._text.parts, self._text.slots

    def values(self, recipient: Recipient) -> Values:
        """What fills the markers for one recipient, for the HTML and the text part."""
        sid, now, signer = recipient.subscriber_id, self._now, self._signer
        if signer is None:
            unsubscribe = test_copy_url(self._web_url, "unsubscribe")
            preferences = test_copy_url(self._web_url, "preferences")
        else:
            unsubscribe = unsubscribe_url(
                self._web_url, signer.make(Purpose.UNSUBSCRIBE, sid, self._list_name, now=now)
            )
            preferences = preferences_url(
                self._web_url, signer.make(Purpose.PREFERENCES, sid, self._list_name, now=now)
            )
        name = clean_name(recipient.name) or DEFAULT_NAME
        email = _UNWANTED.sub("", recipient.email)
        escape = html.escape
        # Click ids are base64url: the same in the HTML and the text, nothing to escape.
        ids = () if self._clicks is None else self._clicks.values(sid)
        # Order of markers.ALL: NAME, EMAIL, UNSUBSCRIBE_URL, PREFERENCES_URL.
        return Values(
            html=(escape(name), escape(email), escape(unsubscribe), escape(preferences), *ids),
            text=(name, email, unsubscribe, preferences, *ids),
            unsubscribe_url=unsubscribe,
            preferences_url=preferences,
        )

    def fill(self, recipient: Recipient) -> Personal:
        """The recipient's copy: every marker replaced by their values and their own tokens."""
        v = self.values(recipient)
        return Personal(
            subscriber_id=recipient.subscriber_id,
            html=self._html.fill(v.html),
            text=self._text.fill(v.text),
            unsubscribe_url=v.unsubscribe_url,
            preferences_url=v.preferences_url,
        )
