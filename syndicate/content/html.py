"""HTML hygiene: one sanitizer for everything that reaches a feed, an email or a page."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import nh3

from syndicate.content.markup import MarkupError, bounded_html

__all__ = ["MarkupError", "absolute_http_url", "plain_text", "sanitize"]

# nh3's defaults minus layout/structure tags that have no place inside an article body.
TAGS = nh3.ALLOWED_TAGS - {"area", "map", "nav", "header", "footer", "center", "article"}
ATTRIBUTES: dict[str, set[str]] = {
    # ``cite`` is a URL nh3 neither scheme-checks nor rewrites: it goes.
    **{tag: set(attrs) - {"cite"} for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
}
URL_SCHEMES = {"http", "https", "mailto"}
URL_LIMIT = 4096
# Block tags get a space before them so "<p>a</p><p>b</p>" reads "a b", not "ab".
_BLOCK_TAG = re.compile(r"<(?=/?(?:p|div|br|li|h[1-6]|blockquote|pre|tr|td|th|dd|dt)\b)", re.I)


def sanitize(
    raw: str, base_url: str, *, image_url: Callable[[str], str | None] | None = None
) -> str:
    """Strip scripts, styles, event handlers and unsafe URLs; make relative URLs absolute.

    ``image_url`` maps an ``<img src>`` to the URL it is published at (None: leave it to
    the base URL), before the relative ones left are resolved against ``base_url``.
    ``MarkupError`` if the HTML nests too deep or is too big to read (see markup.py).
    """
    raw = bounded_html(raw)
    published: Callable[[str, str, str], str | None] | None = None
    if image_url is not None and "<img" in raw.lower():  # a Python call per attribute: rarely
        mapper = image_url

        def published(tag: str, attr: str, value: str) -> str | None:
            if tag == "img" and attr == "src":
                return mapper(value) or value
            return value

    return nh3.clean(
        raw,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        url_relative=("rewrite_with_base", base_url),
        link_rel="noopener noreferrer",
        attribute_filter=published,
    )


def plain_text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed (``MarkupError`` as for
    :func:`sanitize`)."""
    text = nh3.clean(
        _BLOCK_TAG.sub(" <", bounded_html(fragment)),
        tags=set(),
        clean_content_tags={"script", "style"},
    )
    return " ".join(html_lib.unescape(text).split())


def absolute_http_url(value: str, base_url: str) -> str | None:
    """``value`` resolved against ``base_url`` if the result is a clean http(s) URL, else None."""
    if len(value) > URL_LIMIT or not value.isprintable() or any(c in " <>\"'\\" for c in value):
        return None
    try:
        resolved = urljoin(base_url, value)
        parts = urlsplit(resolved)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return resolved
