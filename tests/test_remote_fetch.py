"""fetch_source against a real local HTTP server: formats, conditional GET, limits, failures."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate import __version__
from syndicate.config import FeedSource
from syndicate.content.remote import Fetched, Validators, fetch_source
from syndicate.errors import SourceError

try:  # tests/ may or may not be a package, depending on who runs pytest how
    from tests.httpserver import FeedServer, serve
except ImportError:  # pragma: no cover
    from httpserver import FeedServer, serve  # type: ignore[no-redef,import-not-found]

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title>Example</title><link>https://example.org/</link><description>Feed</description>
  <item>
    <title>Hello &lt;em&gt;world&lt;/em&gt;
       again</title>
    <link>https://example.org/posts/hello</link>
    <guid isPermaLink="false">post-1</guid>
    <pubDate>Tue, 02 Jan 2024 10:00:00 +0100</pubDate>
    <dc:creator>Ann Author</dc:creator>
    <category>news</category><category> news </category><category>tech</category>
    <description>A short &lt;b&gt;summary&lt;/b&gt;.</description>
    <content:encoded><![CDATA[<p>First <b>para</b> &amp; more.</p><p>Second.</p>]]>
    </content:encoded>
    <media:thumbnail url="https://example.org/thumb.jpg"/>
  </item>
  <item>
    <title>Second</title>
    <link>/posts/second</link>
    <description>&lt;p&gt;Only a description.&lt;/p&gt;</description>
    <enclosure url="https://example.org/pic.png" type="image/png" length="10"/>
  </item>
</channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom example</title><id>urn:feed</id><updated>2024-03-01T00:00:00Z</updated>
  <entry>
    <title type="html">Atom &lt;i&gt;entry&lt;/i&gt;</title>
    <id>urn:uuid:1</id>
    <link rel="alternate" href="https://example.org/atom/1"/>
    <published>2024-02-29T23:30:00-01:00</published>
    <updated>2024-03-01T12:00:00Z</updated>
    <author><name>Bea</name></author>
    <category term="science"/><category term="space"/>
    <summary>Plain summary text</summary>
    <content type="html">&lt;p&gt;Full atom body.&lt;/p&gt;&lt;p&gt;Two.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Only content</title>
    <updated>2024-03-02T00:00:00Z</updated>
    <content type="xhtml">
      <div xmlns="http://www.w3.org/1999/xhtml"><p>XHTML body</p></div>
    </content>
  </entry>
</feed>
"""

JSON_FEED: dict[str, Any] = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JSON example",
    "items": [
        {
            "id": "j1",
            "url": "https://example.org/j/1",
            "title": "JSON <b>one</b>",
            "content_html": "<p>JSON body</p><p>more</p>",
            "summary": "Short one",
            "date_published": "2024-05-01T10:00:00+02:00",
            "date_modified": "2024-05-02T00:00:00Z",
            "authors": [{"name": "Cy"}, {"name": "Di"}],
            "tags": ["a", "b", "a"],
            "image": "https://example.org/j1.png",
        },
        {"id": 42, "content_text": "Line one\n\nLine <two>", "author": {"name": "Old Style"}},
    ],
}

RSS_TYPE = "application/rss+xml; charset=utf-8"
JSON_TYPE = "application/feed+json"


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with serve() as running:
        yield running


def source(server: FeedServer, path: str, **options: Any) -> FeedSource:
    # The test server listens on loopback, which sources may only reach when allowed.
    return FeedSource(type="feed", url=server.url(path), allow_private=True, **options)


def fetch(server: FeedServer, path: str, **options: Any) -> Fetched:
    return fetch_source(source(server, path, **options), None)


def fails(server: FeedServer, path: str, **options: Any) -> str:
    with pytest.raises(SourceError) as caught:
        fetch(server, path, **options)
    assert caught.value.url == server.url(path)
    return caught.value.reason


def test_rss_entries(server: FeedServer) -> None:
    server.route("/rss.xml", body=RSS, content_type=RSS_TYPE)
    fetched = fetch(server, "/rss.xml")
    assert fetched.status == 200
    assert fetched.problems == ()
    first, second = fetched.entries
    assert first.title == "Hello world again"
    assert first.html == "<p>First <b>para</b> &amp; more.</p><p>Second.</p>"
    assert first.lead == "First para & more."
    assert first.summary == "A short summary."
    assert first.guid == "post-1"
    assert first.url == "https://example.org/posts/hello"
    assert first.date == datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
    assert first.updated is None
    assert first.author == "Ann Author"
    assert first.tags == ("news", "tech")
    assert first.image == "https://example.org/thumb.jpg"
    assert second.title == "Second"
    assert second.html == "<p>Only a description.</p>"
    assert second.lead == "Only a description."
    assert second.summary is None  # the description is the content, not a separate summary
    assert second.url == server.url("/posts/second")  # relative to where the feed lives
    assert second.image == "https://example.org/pic.png"
    assert second.date is None


def test_atom_entries(server: FeedServer) -> None:
    server.route("/atom.xml", body=ATOM, content_type="application/atom+xml")
    first, second = fetch(server, "/atom.xml").entries
    assert first.title == "Atom entry"
    assert first.html == "<p>Full atom body.</p><p>Two.</p>"
    assert first.lead == "Full atom body."
    assert first.summary == "Plain summary text"
    assert first.guid == "urn:uuid:1"
    assert first.url == "https://example.org/atom/1"
    assert first.date == datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
    assert first.updated == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert first.author == "Bea"
    assert first.tags == ("science", "space")
    assert second.title == "Only content"
    assert "<p>XHTML body</p>" in second.html
    assert second.summary is None  # feedparser's copy of the content is not a summary
    assert second.guid is None
    assert second.date == second.updated == datetime(2024, 3, 2, tzinfo=UTC)


def test_json_feed_entries(server: FeedServer) -> None:
    server.route("/feed.json", body=json.dumps(JSON_FEED).encode(), content_type=JSON_TYPE)
    first, second = fetch(server, "/feed.json").entries
    assert first.title == "JSON one"
    assert first.html == "<p>JSON body</p><p>more</p>"
    assert first.lead == "JSON body"
    assert first.summary == "Short one"
    assert first.guid == "j1"
    assert first.url == "https://example.org/j/1"
    assert first.date == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert first.updated == datetime(2024, 5, 2, tzinfo=UTC)
    assert first.author == "Cy, Di"
    assert first.tags == ("a", "b")
    assert first.image == "https://example.org/j1.png"
    assert second.html == "<p>Line one</p><p>Line &lt;two&gt;</p>"
    assert second.title == "Line one Line <two>"
    assert second.guid == "42"
    assert second.author == "Old Style"
    assert second.url is None


def test_json_feed_is_recognised_by_its_body(server: FeedServer) -> None:
    body = b"\n  " + json.dumps(JSON_FEED).encode()
    server.route("/plain-json", body=body, content_type="text/plain")
    assert len(fetch(server, "/plain-json").entries) == 2


def test_xml_feed_mislabelled_as_json_is_still_read(server: FeedServer) -> None:
    server.route("/mislabelled", body=RSS, content_type="application/json")
    assert len(fetch(server, "/mislabelled").entries) == 2


def test_etag_gives_304_without_entries(server: FeedServer) -> None:
    stamp = "Tue, 02 Jan 2024 10:00:00 GMT"
    server.route("/etag.xml", body=RSS, content_type=RSS_TYPE, etag='"v1"', last_modified=stamp)
    feed = source(server, "/etag.xml")
    first = fetch_source(feed, None)
    assert first.validators == Validators(etag='"v1"', last_modified=stamp)
    assert len(first.entries) == 2
    second = fetch_source(feed, first.validators)
    assert second == Fetched(status=304, validators=first.validators, entries=(), problems=())
    initial, conditional = server.requests_for("/etag.xml")[-2:]
    assert "if-none-match" not in initial.headers
    assert conditional.headers["if-none-match"] == '"v1"'
    assert conditional.headers["if-modified-since"] == stamp


def test_changed_etag_gives_a_full_response(server: FeedServer) -> None:
    server.route("/etag2.xml", body=RSS, content_type=RSS_TYPE, etag='"v2"')
    fetched = fetch_source(source(server, "/etag2.xml"), Validators(etag='"v1"'))
    assert fetched.status == 200
    assert fetched.validators.etag == '"v2"'
    assert len(fetched.entries) == 2


def test_request_headers_name_syndicate(server: FeedServer) -> None:
    server.route("/ua.xml", body=RSS, content_type=RSS_TYPE)
    fetch(server, "/ua.xml")
    headers = server.requests_for("/ua.xml")[-1].headers
    assert headers["user-agent"] == f"syndicate/{__version__} (+https://github.com/syndicate)"
    for kind in ("application/rss+xml", "application/atom+xml", "application/feed+json"):
        assert kind in headers["accept"]
    assert "if-none-match" not in headers


def test_redirects_are_followed(server: FeedServer) -> None:
    server.route("/moved", status=301, headers={"Location": "/rss-target.xml"})
    server.route("/rss-target.xml", body=RSS, content_type=RSS_TYPE)
    assert len(fetch(server, "/moved").entries) == 2


def test_redirect_loop_is_refused(server: FeedServer) -> None:
    server.route("/loop", status=302, headers={"Location": "/loop"})
    assert "more than 5 redirects" in fails(server, "/loop")
    assert len(server.requests_for("/loop")) == 6


BIG = RSS + b"<!--" + b"x" * 50_000 + b"-->"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("content-length", {"body": BIG}),
        ("chunked", {"body": BIG, "chunked": True}),
        ("close-delimited", {"body": BIG, "content_length": None}),
        # the declared length alone is enough to refuse, before any of the body is read
        ("declared-only", {"body": RSS, "content_length": 50_000}),
    ],
)
def test_size_cap(server: FeedServer, name: str, options: dict[str, Any]) -> None:
    server.route(f"/big-{name}", **options)
    assert fails(server, f"/big-{name}", max_bytes=10_000) == (
        "response is larger than the 10,000-byte limit (max_bytes)"
    )


def test_size_cap_applies_to_the_decompressed_body(server: FeedServer) -> None:
    bomb = gzip.compress(b" " * 2_000_000)
    server.route("/bomb.xml", body=bomb, headers={"Content-Encoding": "gzip"})
    assert "larger than the 100,000-byte limit" in fails(server, "/bomb.xml", max_bytes=100_000)


def test_body_within_the_cap_is_read(server: FeedServer) -> None:
    server.route("/fits.xml", body=RSS, chunked=True)
    assert len(fetch(server, "/fits.xml", max_bytes=len(RSS)).entries) == 2


def test_timeout(server: FeedServer) -> None:
    server.route("/slow.xml", body=RSS, delay=3.0)
    started = time.monotonic()
    assert fails(server, "/slow.xml", timeout=0.5) == "timed out after 0.5s"
    assert time.monotonic() - started < 2.5


def test_content_length_lie(server: FeedServer) -> None:
    server.route("/short.xml", body=RSS, content_length=len(RSS) + 100)
    assert fails(server, "/short.xml", timeout=2.0).startswith("network error")


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (500, "HTTP 500 from server; will retry on the next read"),
        (503, "HTTP 503 from server; will retry on the next read"),
        (404, "HTTP 404: there is no feed at this URL; check the source url"),
        (403, "HTTP 403: the server refused access to the feed"),
    ],
)
def test_http_errors(server: FeedServer, status: int, reason: str) -> None:
    server.route(f"/status-{status}", body=b"oops", content_type="text/plain", status=status)
    assert fails(server, f"/status-{status}") == reason


def test_connection_refused() -> None:
    with serve() as gone:
        url = gone.url("/feed.xml")
    with pytest.raises(SourceError, match="could not connect"):
        fetch_source(FeedSource(type="feed", url=url, timeout=2.0, allow_private=True), None)


def test_tls_error(server: FeedServer) -> None:
    url = server.url("/rss.xml").replace("http://", "https://")
    with pytest.raises(SourceError, match="TLS error"):
        fetch_source(FeedSource(type="feed", url=url, timeout=2.0, allow_private=True), None)


def test_html_page_is_not_a_feed(server: FeedServer) -> None:
    page = b"<!doctype html><html><head><title>Home</title></head><body><p>Hi</p></body></html>"
    server.route("/page.html", body=page, content_type="text/html; charset=utf-8")
    assert fails(server, "/page.html").startswith("not an RSS, Atom or JSON feed")


def test_invalid_json_feed(server: FeedServer) -> None:
    server.route(
        "/broken.json",
        body=b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
        content_type=JSON_TYPE,
    )
    assert fails(server, "/broken.json").startswith("invalid JSON feed")


def test_json_without_version_is_not_a_feed(server: FeedServer) -> None:
    server.route("/other.json", body=b'{"items": []}', content_type="application/json")
    assert fails(server, "/other.json").startswith("not a JSON Feed")


def test_json_feed_with_wrongly_typed_fields(server: FeedServer) -> None:
    items: list[Any] = [
        {
            "id": True,
            "title": 5,
            "content_html": ["<p>x</p>"],
            "content_text": "Fallback text",
            "summary": {"a": 1},
            "url": 7,
            "date_published": {},
            "date_modified": "not a date",
            "authors": "Ann",
            "author": ["x"],
            "tags": "abc",
            "image": False,
        },
        "not an object",
        {"title": ["list"], "content_html": None},
        {"title": "Odd bits", "tags": [1, "ok", None, " ok "], "authors": [1, {"name": 2}]},
        {"title": "Odd dates", "date_published": "2024-01-01T00:00:00", "url": "javascript:x"},
    ]
    body = json.dumps({"version": "https://jsonfeed.org/version/1", "items": items}).encode()
    server.route("/typed.json", body=body, content_type=JSON_TYPE)
    fetched = fetch(server, "/typed.json")
    url = server.url("/typed.json")
    assert [str(p) for p in fetched.problems] == [
        f"{url}: entry 2 is not an object",
        f"{url}: entry 3 has neither title nor content",
    ]
    first, bits, dates = fetched.entries
    assert first.title == "Fallback text"
    assert first.html == "<p>Fallback text</p>"
    assert (first.guid, first.url, first.date, first.updated) == (None, None, None, None)
    assert (first.author, first.summary, first.image, first.tags) == (None, None, None, ())
    assert bits.tags == ("ok",)
    assert bits.author is None
    assert dates.date == datetime(2024, 1, 1, tzinfo=UTC)  # no offset: taken as UTC
    assert dates.url is None


def test_json_feed_items_must_be_a_list(server: FeedServer) -> None:
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": {"id": 1}}'
    server.route("/items.json", body=body, content_type=JSON_TYPE)
    assert fails(server, "/items.json") == "invalid JSON feed: 'items' is not a list"


def test_entries_without_guid(server: FeedServer) -> None:
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>A</title><link>https://example.org/a</link></item>
    <item><title>B</title><guid>  </guid></item>
    </channel></rss>"""
    server.route("/noguid.xml", body=rss)
    feed = {"version": "https://jsonfeed.org/version/1.1", "items": [{"title": "C", "id": " "}]}
    server.route("/noguid.json", body=json.dumps(feed).encode(), content_type=JSON_TYPE)
    a, b = fetch(server, "/noguid.xml").entries
    (c,) = fetch(server, "/noguid.json").entries
    assert (a.guid, b.guid, c.guid) == (None, None, None)
    assert a.url == "https://example.org/a"
    assert (a.html, a.lead) == ("", "")


def test_entry_without_title(server: FeedServer) -> None:
    long_text = "word " * 40
    rss = f"""<rss version="2.0"><channel><title>T</title>
    <item><description>&lt;p&gt;Short &lt;b&gt;untitled&lt;/b&gt; post&lt;/p&gt;
    </description></item>
    <item><guid>empty</guid></item>
    <item><description>{long_text}</description></item>
    <item><title>   </title><description>&lt;img src="https://example.org/x.png"&gt;</description></item>
    </channel></rss>""".encode()
    server.route("/notitle.xml", body=rss)
    fetched = fetch(server, "/notitle.xml")
    short, long = fetched.entries
    assert short.title == "Short untitled post"
    assert short.lead == "Short untitled post"
    assert long.title.endswith("…")
    assert len(long.title) <= 80
    assert long.title.startswith("word word")
    url = server.url("/notitle.xml")
    assert [(p.path, p.line, p.reason) for p in fetched.problems] == [
        (url, None, "entry 2 has neither title nor content"),
        (url, None, "entry 4 has no title and no text to make one from"),
    ]


def test_entries_keep_feed_order_and_duplicates(server: FeedServer) -> None:
    items = "".join(f"<item><title>{n}</title><guid>same</guid></item>" for n in "cab")
    server.route("/order.xml", body=f"<rss version='2.0'><channel>{items}</channel></rss>".encode())
    assert [e.title for e in fetch(server, "/order.xml").entries] == ["c", "a", "b"]


def test_a_local_path_as_body_is_not_opened(server: FeedServer, tmp_path: Path) -> None:
    # feedparser opens the file a bytes argument names; a body must never be read that way.
    local = tmp_path / "local.xml"
    local.write_bytes(RSS)
    server.route("/path.xml", body=str(local).encode(), content_type="application/xml")
    assert fails(server, "/path.xml").startswith("not an RSS, Atom or JSON feed")


# --- hostile bodies -----------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from(
    [
        "application/rss+xml",
        "application/atom+xml",
        JSON_TYPE,
        "application/json",
        "text/html",
        "text/plain; charset=utf-16",
        "application/octet-stream",
        "",
    ]
)
PREFIXES = st.sampled_from(
    [
        b"",
        b"<?xml version='1.0'?>",
        b"<rss version='2.0'><channel><item>",
        b"{",
        b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>",
        b"\xef\xbb\xbf",
        b"<html>",
    ]
)
ODD_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\ud800",
        "\x00",
        "<p>x</p>",
        "<script>x</script>",
        "http://a",
        "https://[::1",
        "2024-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "&amp;",
    ]
)
JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | ODD_STRINGS
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
TEXTS = st.text(max_size=40) | ODD_STRINGS
FIELDS = (
    "id url title content_html content_text summary date_published date_modified authors author "
    "tags image"
).split()
FIELD_VALUES = (
    JSON_VALUES | TEXTS | st.lists(TEXTS | st.fixed_dictionaries({"name": TEXTS}), max_size=3)
)
JSON_ITEMS = st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES, max_size=8) | (
    st.fixed_dictionaries(
        {"title": TEXTS}, optional=dict.fromkeys([f for f in FIELDS if f != "title"], FIELD_VALUES)
    )
)
JSON_FEEDS = st.fixed_dictionaries(
    {
        "version": st.sampled_from(
            ["https://jsonfeed.org/version/1.1", "https://jsonfeed.org/version/1"]
        ),
        "items": st.lists(JSON_ITEMS | JSON_VALUES, max_size=5),
    }
)


def check(fetched: Fetched) -> None:
    """Whatever came in, what comes out keeps the Entry promises."""
    assert fetched.status == 200
    for entry in fetched.entries:
        assert entry.title and isinstance(entry.title, str)
        assert isinstance(entry.html, str)
        assert len(entry.lead) <= 1000
        for moment in (entry.date, entry.updated):
            assert moment is None or moment.utcoffset() is not None
        for link in (entry.url, entry.image):
            assert link is None or link.startswith(("http://", "https://"))
        assert len(set(entry.tags)) == len(entry.tags)
        assert entry.guid is None or entry.guid == entry.guid.strip() != ""
        for text in (entry.title, entry.html, entry.lead, entry.summary or "", *entry.tags):
            text.encode("utf-8")  # no lone surrogates: nh3 and the store would choke on them
            assert "\x00" not in text
    # An entry's problem names its number (feedparser knows no lines), in feed order.
    numbers = [int(p.reason.split()[1]) for p in fetched.problems]
    assert all(p.line is None and p.reason.startswith("entry ") for p in fetched.problems)
    assert numbers == sorted(set(numbers)) and all(n >= 1 for n in numbers)


def fetch_or_refuse(server: FeedServer, path: str, body: bytes, content_type: str) -> None:
    server.route(path, body=body, content_type=content_type)
    try:
        fetched = fetch(server, path, timeout=5.0, max_bytes=100_000)
    except SourceError as error:
        assert error.reason
    else:
        check(fetched)


@settings(max_examples=150, deadline=None)
@given(prefix=PREFIXES, body=st.binary(max_size=2000), content_type=CONTENT_TYPES)
def test_arbitrary_bytes(server: FeedServer, prefix: bytes, body: bytes, content_type: str) -> None:
    fetch_or_refuse(server, "/fuzz-bytes", prefix + body, content_type)


@settings(max_examples=150, deadline=None)
@given(value=JSON_VALUES | JSON_FEEDS, content_type=CONTENT_TYPES)
def test_arbitrary_json(server: FeedServer, value: object, content_type: str) -> None:
    fetch_or_refuse(server, "/fuzz-json", json.dumps(value).encode(), content_type)


@settings(max_examples=150, deadline=None)
@given(fields=st.lists(st.tuples(TEXTS, TEXTS, TEXTS, TEXTS, TEXTS), max_size=4), raw=st.booleans())
def test_arbitrary_rss_fields(
    server: FeedServer, fields: list[tuple[str, str, str, str, str]], raw: bool
) -> None:
    def field(text: str) -> str:
        return text if raw else escape(text)

    items = "".join(
        f"<item><title>{field(t)}</title><link>{field(link)}</link><guid>{field(g)}</guid>"
        f"<pubDate>{field(d)}</pubDate><description>{field(s)}</description>"
        f"<media:content url={quoteattr(link)} medium='image'/></item>"
        for t, link, g, d, s in fields
    )
    body = (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
        f"xmlns:media='http://search.yahoo.com/mrss/'><channel><title>F</title>{items}</channel></rss>"
    )
    fetch_or_refuse(server, "/fuzz-rss", body.encode("utf-8", "surrogatepass"), RSS_TYPE)
