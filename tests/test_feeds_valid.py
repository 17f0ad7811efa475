"""The feeds ``syndicate build`` writes are valid and complete.

Every test builds a real site in tmp (content files → ``read_site`` → ``build_feeds``) and
reads back the files under ``settings.feeds_dir``: feedparser for RSS and Atom, ``json`` and
a JSON Schema transcription of JSON Feed 1.1 for JSON, plus our own checks of the rules the
W3C Feed Validation Service applies, RFC 5005 archives, per-tag feeds and hostile input.
"""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Any

import feedparser
import pytest
from jsonschema import Draft202012Validator
from lxml import etree
from lxml import html as lxml_html

from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.errors import ConfigError
from syndicate.feeds.build import build_feeds
from syndicate.models import Article
from tests.conftest import BASE_CONFIG, NOW, Site

REPO = Path(__file__).resolve().parent.parent
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "jsonfeed-1.1.schema.json"

ATOM = "http://www.w3.org/2005/Atom"
HISTORY = "http://purl.org/syndication/history/1.0"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
NS = {"atom": ATOM, "fh": HISTORY, "content": CONTENT, "dc": DC}
A = f"{{{ATOM}}}"

FORMATS = ("rss.xml", "atom.xml", "feed.json")
DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
RFC822 = re.compile(rf"^({DAYS}), \d{{2}} ({MONTHS}) \d{{4}} \d{{2}}:\d{{2}}:\d{{2}} [+-]\d{{4}}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# RFC 5646 §2.1 "well-formed" language tags (the grandfathered irregular tags aside).
BCP47 = re.compile(
    r"""^(?:
        (?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})   # language (+ extlang)
        (?:-[a-z]{4})?                                          # script
        (?:-(?:[a-z]{2}|[0-9]{3}))?                             # region
        (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*                # variants
        (?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*                     # extensions
        (?:-x(?:-[a-z0-9]{1,8})+)?                              # private use
      | x(?:-[a-z0-9]{1,8})+
    )$""",
    re.X | re.I,
)
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Attributes whose value is a URL, in HTML and in the feed formats.
URL_ATTRS = frozenset(
    {
        "href",
        "src",
        "url",
        "uri",
        "cite",
        "action",
        "formaction",
        "poster",
        "data",
        "longdesc",
        "background",
        "srcset",
        "ping",
        "usemap",
        "codebase",
        "manifest",
        "xlink:href",
    }
)
JSON_URL_KEYS = frozenset(
    {
        "home_page_url",
        "feed_url",
        "next_url",
        "icon",
        "favicon",
        "url",
        "external_url",
        "image",
        "banner_image",
        "avatar",
    }
)
ACTIVE_TAGS = frozenset(
    {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form"}
    | {"svg", "math", "link", "meta", "base"}
)
ACTIVE_SCHEMES = ("javascript:", "vbscript:", "data:")


# ---------------------------------------------------------------------------------------
# Building a site and reading its feeds back


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    """A site after ``read_site`` + ``build_feeds``, with every file the build left behind."""

    site: Site
    settings: Settings
    articles: tuple[Article, ...]
    written: tuple[str, ...]
    files: dict[str, bytes]

    def url(self, rel: str) -> str:
        return f"{self.settings.feeds_url}/{rel}"

    def rel(self, url: str) -> str:
        prefix = self.settings.feeds_url + "/"
        assert url.startswith(prefix), url
        return url.removeprefix(prefix)

    @property
    def folders(self) -> list[str]:
        """Every page folder ('' is the main feed), sorted."""
        return sorted({_folder(rel) for rel in self.files})

    def path(self, folder: str, fmt: str) -> str:
        return f"{folder}/{fmt}" if folder else fmt

    def data(self, folder: str, fmt: str) -> bytes:
        return self.files[self.path(folder, fmt)]

    def xml(self, folder: str, fmt: str) -> etree._Element:
        return etree.fromstring(self.data(folder, fmt))

    def json(self, folder: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.data(folder, "feed.json").decode("utf-8"))
        return doc

    def parsed(self, folder: str, fmt: str) -> Any:
        return feedparser.parse(self.data(folder, fmt))

    @property
    def archives(self) -> list[str]:
        """Archive folders, oldest (archive/1) first."""
        found = [f for f in self.folders if f.startswith("archive/")]
        return sorted(found, key=lambda f: int(f.split("/")[1]))

    @property
    def tag_folders(self) -> list[str]:
        return [f for f in self.folders if f.startswith("tags/")]

    def article(self, url: str) -> Article:
        [found] = [a for a in self.articles if a.url == url]
        return found


def _folder(rel: str) -> str:
    parent = str(PurePosixPath(rel).parent)
    return "" if parent == "." else parent


def build(site: Site) -> Built:
    settings = site.settings
    report = read_site(settings, site.engine, now=NOW, offline=True)
    assert report.problems == ()
    assert report.articles
    result = build_feeds(settings, site.engine, report.articles)
    root = settings.feeds_dir
    every = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    # The feed documents; the published images under media/ are checked on their own.
    files = {rel: data for rel, data in every.items() if not rel.startswith("media/")}
    return Built(
        site=site,
        settings=settings,
        articles=report.articles,
        written=result.written,
        files=files,
    )


def feeds_section(**values: object) -> str:
    lines = ["", "[feeds]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def markdown(front: dict[str, str], body: str) -> str:
    """A Markdown article; front matter values are written verbatim (quote them yourself)."""
    head = "".join(f"{k}: {v}\n" for k, v in front.items())
    return f"---\n{head}---\n{body}"


# ---------------------------------------------------------------------------------------
# Scenarios: each writes a site; the generic validity tests run over all of them


def copy_sample(site: Site) -> None:
    shutil.copytree(REPO / "content", site.content, dirs_exist_ok=True)


def sample_scenario(site: Site) -> None:
    copy_sample(site)


ARCHIVE_COUNT = 10
ARCHIVE_PER_PAGE = 3
EDITED = 5  # this article gets a front-matter `updated` newer than every publication date
EDITED_AT = "2026-02-15T08:00:00+00:00"
WITH_IMAGE = {3: "/images/a3.jpg", 8: "pictures/a8.png"}  # site path; file of the folder
# The smallest well-formed files of each kind the content reader publishes.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def media_url(built: Built, name: str) -> str:
    """The URL of the published copy of a content file (hash prefix, then its name)."""
    [url] = [m.url for a in built.articles for m in a.media if m.source == name] or [
        f"(no published copy of {name})"
    ]
    return url


def archive_title(i: int) -> str:
    return f"Archive article {i}"


def archive_scenario(site: Site) -> None:
    """10 articles on distinct days, 3 per page, relative links and images, one edit."""
    site.configure(feeds_section(items=ARCHIVE_PER_PAGE))
    for i in range(ARCHIVE_COUNT):
        front = {
            "title": f'"{archive_title(i)}"',
            "date": f"2026-01-{i + 1:02d}T10:00:00+01:00",
            "tags": f"[odd-{i % 2}]",
        }
        if i == EDITED:
            front["updated"] = EDITED_AT
        if i in WITH_IMAGE:
            front["image"] = WITH_IMAGE[i]
            front["image_credit"] = f'"Photo {i} by A & B"'
        body = (
            f"Body of article {i}, see [the parent](../x) and [home](/).\n\n"
            f"![a figure](/images/y{i}.png)\n\n"
            f'<a href="../raw/{i}">raw link</a> <img src="pics/{i}.gif" alt="">\n'
        )
        site.write(f"a{i:02d}.md", markdown(front, body))
        site.write(f"pics/{i}.gif", GIF + bytes([i]))
    site.write("pictures/a8.png", PNG)


TAGS = {
    "Foreign Policy": {"A", "C"},
    "C++": {"A", "D"},
    "C#": {"B", "D"},
    "../etc": {"B"},
    "<script>": {"C"},
    "Внешняя политика": {"C", "D"},
}


def tag_scenario(site: Site) -> None:
    for n, name in enumerate("ABCD"):
        tags = [tag for tag, members in TAGS.items() if name in members]
        front = {
            "title": f"Tagged {name}",
            "date": f"2026-05-{n + 1:02d}",
            "tags": json.dumps(tags, ensure_ascii=False),
        }
        site.write(f"{name.lower()}.md", markdown(front, f"Article {name} body.\n"))


HOSTILE_TITLE_YAML = r'"<script>alert(1)</script> \x0b& \x01\"quotes\""'
HOSTILE_TITLE = '<script>alert(1)</script> & "quotes"'
HOSTILE_AUTHOR_YAML = r'"Eve\x01 \x1fMallory\x0c"'
HOSTILE_AUTHOR = "Eve Mallory"
HOSTILE_TAGS_YAML = r'["news\x0bflash", "<b>bold</b>", "a&b"]'
HOSTILE_BODY = (
    "Opening \x01line\x0b with \x0c control \x1f characters.\n\n"
    "<script>alert(2)</script>\n\n"
    "<style>p { color: red }</style>\n\n"
    '<p onclick="alert(3)" onmouseover="alert(4)" style="color:red">click me</p>\n\n'
    "A [markdown js link](javascript:alert(5)) and "
    '<a href="JaVaScRiPt:alert(6)">an html one</a> and '
    '<a href=" javascript:alert(7)">a spaced one</a> and '
    '<a href="java&#x09;script:alert(8)">an encoded one</a>.\n\n'
    '<iframe src="https://evil.example/frame"></iframe>\n\n'
    '<img src="x.png" onerror="alert(9)"> <svg><script>alert(10)</script></svg>\n\n'
    '<object data="https://evil.example/o.swf"></object><form action="/steal"><input></form>\n\n'
    'Tail with <a href="//cdn.example.net/p">a protocol-relative link</a>.\n'
)


def hostile_scenario(site: Site) -> None:
    front = {
        "title": HOSTILE_TITLE_YAML,
        "date": "2026-03-01T10:00:00Z",
        "author": HOSTILE_AUTHOR_YAML,
        "tags": HOSTILE_TAGS_YAML,
        "image_credit": r'"<script>credit()</script>\x01"',
    }
    site.write("hostile.md", markdown(front, HOSTILE_BODY))
    site.write("x.png", PNG)
    # No markup, but "&" and "<": escaped once, it reads right as text and as HTML.
    calm = {"title": '"Calm: AT&T & Co. say 1 < 2"', "date": "2026-02-01"}
    site.write("calm.md", markdown(calm, "Nothing here.\n"))


HUB = "https://hub.example.org/"


def summary_hub_scenario(site: Site) -> None:
    copy_sample(site)
    site.configure(feeds_section(full_content=False, hub=HUB, items=2))


SCENARIOS: dict[str, Callable[[Site], None]] = {
    "sample": sample_scenario,
    "archive": archive_scenario,
    "tags": tag_scenario,
    "hostile": hostile_scenario,
    "summary-hub": summary_hub_scenario,
}


@pytest.fixture(params=sorted(SCENARIOS))
def built(request: pytest.FixtureRequest, site: Site) -> Built:
    SCENARIOS[request.param](site)
    return build(site)


def built_with(site: Site, scenario: Callable[[Site], None]) -> Built:
    scenario(site)
    return build(site)


# ---------------------------------------------------------------------------------------
# Reading items out of each format


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    id: str
    title: str
    link: str
    published: datetime
    updated: datetime | None


def reader_title(entry: Any) -> str:
    """The title a reader shows: feedparser hands over HTML titles as HTML source."""
    title: str = entry["title"]
    return html.unescape(title) if entry["title_detail"]["type"] == "text/html" else title


def rss_rows(data: bytes) -> list[Row]:
    parsed = feedparser.parse(data)
    return [
        Row(
            id=e["id"],
            title=reader_title(e),
            link=e["link"],
            published=parsedate_to_datetime(e["published"]),
            updated=None,
        )
        for e in parsed.entries
    ]


def atom_rows(data: bytes) -> list[Row]:
    parsed = feedparser.parse(data)
    return [
        Row(
            id=e["id"],
            title=reader_title(e),
            link=e["link"],
            published=datetime.fromisoformat(e["published"]),
            updated=datetime.fromisoformat(dict.__getitem__(e, "updated")),
        )
        for e in parsed.entries
    ]


def json_rows(doc: dict[str, Any]) -> list[Row]:
    return [
        Row(
            id=i["id"],
            title=i["title"],
            link=i["url"],
            published=datetime.fromisoformat(i["date_published"]),
            updated=datetime.fromisoformat(i["date_modified"]),
        )
        for i in doc["items"]
    ]


def html_fields(built: Built, folder: str) -> Iterator[tuple[str, str]]:
    """(where, html) for every HTML or text-as-HTML field of every item of a page."""
    rss = built.xml(folder, "rss.xml")
    for n, item in enumerate(rss.iterfind("channel/item")):
        for el in item:
            if el.tag in ("description", f"{{{CONTENT}}}encoded") and el.text:
                yield f"{folder}/rss.xml item {n} {el.tag}", el.text
    atom = built.xml(folder, "atom.xml")
    for n, entry in enumerate(atom.iterfind(f"{A}entry")):
        for el in entry:
            if el.tag in (f"{A}content", f"{A}summary") and el.text:
                yield f"{folder}/atom.xml entry {n} {el.tag}", el.text
    for n, item in enumerate(built.json(folder)["items"]):
        for key in ("content_html", "summary", "content_text"):
            if item.get(key):
                yield f"{folder}/feed.json item {n} {key}", item[key]


def html_tree(fragment: str) -> etree._Element:
    return lxml_html.fragment_fromstring(fragment, create_parent="div")


def html_urls(fragment: str) -> list[str]:
    """Every URL in an HTML fragment: URL attributes via lxml, href=/src= via a regex."""
    urls = [
        value
        for el in html_tree(fragment).iter()
        for name, value in el.attrib.items()
        if name.lower() in URL_ATTRS
    ]
    urls += re.findall(r"""\b(?:href|src|cite)\s*=\s*["']?([^"'\s>]*)""", fragment, re.I)
    return urls


def is_absolute(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def links(el: etree._Element, rel: str) -> list[etree._Element]:
    """Atom links of ``el`` with a given rel (a missing rel means "alternate")."""
    return [
        link
        for link in el.iterfind(f"{A}link")
        if link.get("rel", "alternate") == rel and link.get("href") is not None
    ]


def newest_update(built: Built, urls: list[str]) -> datetime:
    return max((a.updated or a.published) for a in (built.article(u) for u in urls))


# ---------------------------------------------------------------------------------------
# 1. Everything parses, and the three formats tell the same story


def test_every_page_has_every_format_and_parses(built: Built) -> None:
    assert built.folders, "the build wrote nothing"
    assert "" in built.folders
    for folder in built.folders:
        for fmt in FORMATS:
            rel = built.path(folder, fmt)
            assert rel in built.files, f"{rel} is missing"
            assert rel in built.written
            if fmt.endswith(".xml"):
                parsed = built.parsed(folder, fmt)
                assert parsed.bozo == 0, (rel, parsed.get("bozo_exception"))
                assert parsed.version == ("rss20" if fmt == "rss.xml" else "atom10"), rel
            else:
                doc = built.json(folder)
                assert isinstance(doc, dict)
    expected = {built.path(f, fmt) for f in built.folders for fmt in FORMATS}
    assert set(built.files) == expected, "stray files (temp files?) left in the feeds folder"


def test_formats_agree_on_items(built: Built) -> None:
    for folder in built.folders:
        rss = rss_rows(built.data(folder, "rss.xml"))
        atom = atom_rows(built.data(folder, "atom.xml"))
        js = json_rows(built.json(folder))
        assert rss, f"{folder or 'main'}: no items"
        assert [r.id for r in rss] == [r.id for r in atom] == [r.id for r in js], folder
        assert [r.title for r in rss] == [r.title for r in atom] == [r.title for r in js]
        assert [r.link for r in rss] == [r.link for r in atom] == [r.link for r in js]
        assert [r.published for r in rss] == [r.published for r in atom]
        assert [r.published for r in atom] == [r.published for r in js]
        assert [r.updated for r in atom] == [r.updated for r in js]
        # …and they are the articles read from the content, newest first.
        articles = [built.article(r.link) for r in js]
        assert [r.title for r in js] == [XML_FORBIDDEN.sub("", a.title) for a in articles]
        assert [r.published for r in js] == [a.published for a in articles]
        assert [r.updated for r in js] == [a.updated or a.published for a in articles]
        keys = [(a.published, a.id) for a in articles]
        assert keys == sorted(keys, reverse=True), f"{folder}: not newest first"


# ---------------------------------------------------------------------------------------
# 2. JSON Feed 1.1 against a JSON Schema transcription of the spec


def schema_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    checker = Draft202012Validator.FORMAT_CHECKER
    # Without rfc3987 (or rfc3986-validator) and rfc3339-validator, jsonschema silently
    # accepts any string as "uri" / "date-time": the schema would check nothing.
    assert not checker.conforms("not a uri", "uri"), "pip install rfc3987"
    assert not checker.conforms("yesterday", "date-time"), "pip install rfc3339-validator"
    return Draft202012Validator(schema, format_checker=checker)


def test_every_json_feed_matches_the_schema(built: Built) -> None:
    validator = schema_validator()
    for folder in built.folders:
        doc = built.json(folder)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == [], f"{folder or 'main'}/feed.json"


def _drop_item_id(doc: dict[str, Any]) -> None:
    del doc["items"][0]["id"]


def _bad_item_url(doc: dict[str, Any]) -> None:
    doc["items"][0]["url"] = "not a url at all"


def _bad_feed_url(doc: dict[str, Any]) -> None:
    doc["feed_url"] = "http://exa mple.org/feed.json"


def _bad_date(doc: dict[str, Any]) -> None:
    doc["items"][0]["date_published"] = "yesterday at noon"


def _no_content(doc: dict[str, Any]) -> None:
    doc["items"][0].pop("content_html", None)
    doc["items"][0].pop("content_text", None)


def _wrong_version(doc: dict[str, Any]) -> None:
    doc["version"] = "https://jsonfeed.org/version/1"


def _unknown_feed_key(doc: dict[str, Any]) -> None:
    doc["generator"] = "syndicate"


def _unknown_item_key(doc: dict[str, Any]) -> None:
    doc["items"][0]["comments"] = "none"


def _tags_not_strings(doc: dict[str, Any]) -> None:
    doc["items"][0]["tags"] = ["ok", 3]


def _bad_hub(doc: dict[str, Any]) -> None:
    doc["hubs"] = [{"type": "WebSub"}]


def _author_not_object(doc: dict[str, Any]) -> None:
    doc["items"][0]["authors"] = ["Jane"]


def _no_title(doc: dict[str, Any]) -> None:
    del doc["title"]


BROKEN: dict[str, Callable[[dict[str, Any]], None]] = {
    "item without id": _drop_item_id,
    "item url not a URI": _bad_item_url,
    "feed_url not a URI": _bad_feed_url,
    "date_published not a date-time": _bad_date,
    "item without content": _no_content,
    "wrong version": _wrong_version,
    "unknown feed key": _unknown_feed_key,
    "unknown item key": _unknown_item_key,
    "tag not a string": _tags_not_strings,
    "hub without url": _bad_hub,
    "author not an object": _author_not_object,
    "feed without title": _no_title,
}


@pytest.mark.parametrize("breakage", sorted(BROKEN))
def test_schema_rejects_broken_documents(site: Site, breakage: str) -> None:
    validator = schema_validator()
    doc = built_with(site, sample_scenario).json("")
    assert validator.is_valid(doc)
    broken = copy.deepcopy(doc)
    BROKEN[breakage](broken)
    assert not validator.is_valid(broken), breakage


def test_schema_allows_underscore_extensions(site: Site) -> None:
    validator = schema_validator()
    doc = built_with(site, sample_scenario).json("")
    doc["_syndicate"] = {"about": "extension"}
    doc["items"][0]["_syndicate"] = {"about": "extension"}
    assert validator.is_valid(doc)


# ---------------------------------------------------------------------------------------
# 3. What the W3C Feed Validation Service checks


# The W3C validator's checks of RSS text elements (feedvalidator's ``nonhtml``): an HTML end
# tag is "should not contain HTML"; an entity or a character reference in the text, or a
# "<" before a letter, is a warning unless its line uses hexadecimal references (the RSS
# Best Practices Profile's encoding).
HTML_END_TAG = re.compile(r"</(\w+)>")
HTML_ENTITY = re.compile(r"&(#?\w+)")
RSS_PROFILE = re.compile(r"&#[x0-9]|<[/a-zA-Z]")


def check_rss_titles(rel: str, data: bytes) -> None:
    for raw in re.findall(rb"<title>([^<]*)</title>", data):
        text = html.unescape(raw.decode("utf-8"))
        assert not HTML_END_TAG.search(text), f"{rel}: title should not contain HTML: {raw!r}"
        if HTML_ENTITY.search(text) or RSS_PROFILE.search(text):
            assert b"&#x" in raw, f"{rel}: encode & and < as &#x26; and &#x3C;: {raw!r}"


def check_atom_titles(rel: str, feed: etree._Element) -> None:
    for title in feed.iter(f"{A}title"):
        text = title.text or ""
        if title.get("type", "text") == "text":
            assert not re.search(r"</?\w+[^>]*>", text), f"{rel}: undeclared HTML {text!r}"
        else:
            assert title.get("type") == "html", rel
            fragment = html_tree(text)
            assert [el.tag for el in fragment.iter()] == ["div"], f"{rel}: markup {text!r}"


def check_rss(built: Built, folder: str) -> None:
    rel = built.path(folder, "rss.xml")
    check_rss_titles(rel, built.data(folder, "rss.xml"))
    root = built.xml(folder, "rss.xml")
    assert root.tag == "rss" and root.get("version") == "2.0", rel
    [channel] = root.findall("channel")
    for name in ("title", "link", "description"):
        assert (channel.findtext(name) or "").strip(), f"{rel}: channel has no {name}"
    selves = [link for link in channel.findall("atom:link", NS) if link.get("rel") == "self"]
    assert len(selves) == 1, f"{rel}: {len(selves)} atom:link rel=self"
    assert selves[0].get("href") == built.url(rel)
    assert selves[0].get("type") == "application/rss+xml"
    language = channel.findtext("language")
    assert language and BCP47.match(language), f"{rel}: language {language!r}"
    items = channel.findall("item")
    assert items, f"{rel}: no items"
    for item in items:
        guid = item.findtext("guid")
        assert guid and guid.strip(), f"{rel}: item without guid"
        pub = item.findtext("pubDate") or ""
        assert RFC822.match(pub), f"{rel}: pubDate {pub!r}"
        assert parsedate_to_datetime(pub).tzinfo is not None
        enclosures = item.findall("enclosure")
        assert len(enclosures) <= 1, f"{rel}: {len(enclosures)} enclosures"
        for enc in enclosures:
            assert is_absolute(enc.get("url") or ""), enc.get("url")
            assert re.fullmatch(r"\d+", enc.get("length") or ""), enc.get("length")
            assert re.fullmatch(r"[\w.+-]+/[\w.+-]+", enc.get("type") or ""), enc.get("type")
    # lastBuildDate: the newest item update, never the wall clock.
    last = channel.findtext("lastBuildDate") or ""
    assert RFC822.match(last), f"{rel}: lastBuildDate {last!r}"
    urls = [item.findtext("link") or "" for item in items]
    assert parsedate_to_datetime(last) == newest_update(built, urls), rel


def check_atom(built: Built, folder: str) -> None:
    rel = built.path(folder, "atom.xml")
    feed = built.xml(folder, "atom.xml")
    assert feed.tag == f"{A}feed", rel
    check_atom_titles(rel, feed)
    assert (feed.findtext(f"{A}id") or "").strip(), f"{rel}: no id"
    assert (feed.findtext(f"{A}title") or "").strip(), f"{rel}: no title"
    updated = feed.findtext(f"{A}updated") or ""
    assert RFC3339.match(updated), f"{rel}: updated {updated!r}"
    [self_link] = links(feed, "self")
    assert self_link.get("href") == built.url(rel)
    assert self_link.get("type") == "application/atom+xml"
    lang = feed.get("{http://www.w3.org/XML/1998/namespace}lang")
    assert lang and BCP47.match(lang), f"{rel}: xml:lang {lang!r}"
    feed_has_author = feed.find(f"{A}author/{A}name") is not None
    entries = feed.findall(f"{A}entry")
    assert entries, f"{rel}: no entries"
    for entry in entries:
        assert (entry.findtext(f"{A}id") or "").strip(), f"{rel}: entry without id"
        assert (entry.findtext(f"{A}title") or "").strip(), f"{rel}: entry without title"
        for name in ("updated", "published"):
            value = entry.findtext(f"{A}{name}") or ""
            assert RFC3339.match(value), f"{rel}: entry {name} {value!r}"
        assert len(links(entry, "alternate")) == 1, f"{rel}: not exactly one alternate link"
        names = [n.text for n in entry.findall(f"{A}author/{A}name")]
        assert feed_has_author or any(n and n.strip() for n in names), (
            f"{rel}: entry without author in a feed without author (RFC 4287 §4.1.1)"
        )
        for link in entry.iterfind(f"{A}link"):
            assert link.get("rel", "alternate") in {"alternate", "related", "enclosure"}, rel
    urls = [links(e, "alternate")[0].get("href") or "" for e in entries]
    assert datetime.fromisoformat(updated) == newest_update(built, urls), rel


def test_rss_follows_the_validator_rules(built: Built) -> None:
    for folder in built.folders:
        check_rss(built, folder)


def test_atom_follows_the_validator_rules(built: Built) -> None:
    for folder in built.folders:
        check_atom(built, folder)


def test_ids_are_unique_within_and_across_pages(built: Built) -> None:
    owner: dict[str, str] = {}  # id -> article URL, across every page and format
    for folder in built.folders:
        for fmt, rows in (
            ("rss", rss_rows(built.data(folder, "rss.xml"))),
            ("atom", atom_rows(built.data(folder, "atom.xml"))),
            ("json", json_rows(built.json(folder))),
        ):
            ids = [r.id for r in rows]
            dupes = [i for i, n in Counter(ids).items() if n > 1]
            assert not dupes, f"{folder}/{fmt}: duplicate ids {dupes}"
            for r in rows:
                assert owner.setdefault(r.id, r.link) == r.link, f"id {r.id} names two articles"
    # Main + archive pages partition the articles: no id on two of them.
    chrono = [f for f in built.folders if not f.startswith("tags/")]
    seen = Counter(r.id for f in chrono for r in json_rows(built.json(f)))
    assert all(n == 1 for n in seen.values()), seen
    assert len(seen) == len(built.articles)
    assert len(set(owner.values())) == len(owner), "two ids for one article"


def test_every_url_is_absolute(built: Built) -> None:
    for rel, data in built.files.items():
        if rel.endswith(".xml"):
            root = etree.fromstring(data)
            for el in root.iter():
                for name, value in el.attrib.items():
                    if etree.QName(name).localname in URL_ATTRS:
                        assert is_absolute(value), f"{rel}: <{el.tag} {name}={value!r}>"
            for path in ("channel/link", "channel/docs", "channel/item/link", "channel/image/url"):
                for el in root.iterfind(path):
                    assert is_absolute(el.text or ""), f"{rel}: {path} {el.text!r}"
            for name in ("icon", "logo"):
                for el in root.iterfind(f"{A}{name}"):
                    assert is_absolute(el.text or ""), f"{rel}: {name} {el.text!r}"
        else:
            for key, value in _walk_json(json.loads(data)):
                if key in JSON_URL_KEYS:
                    assert is_absolute(value), f"{rel}: {key} {value!r}"
    for folder in built.folders:
        for where, fragment in html_fields(built, folder):
            for url in html_urls(fragment):
                assert is_absolute(url), f"{where}: relative URL {url!r}"


def _walk_json(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk_json(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_json(v, key)
    else:
        yield key, value


def test_relative_links_in_markdown_become_absolute(site: Site) -> None:
    built = built_with(site, archive_scenario)
    base = built.settings.publication.base_url
    for folder in ("", *built.archives):
        for item in built.json(folder)["items"]:
            urls = set(html_urls(item["content_html"]))
            i = int(item["title"].rsplit(" ", 1)[1])
            article_url = item["url"]
            assert f"{base}/x" in urls, urls  # ../x from /a0i/
            assert f"{base}/" in urls, urls  # /
            assert f"{base}/images/y{i}.png" in urls, urls
            assert f"{base}/raw/{i}" in urls, urls
            # A path relative to the article's file: the published copy of that file.
            assert media_url(built, f"pics/{i}.gif") in urls, urls
            assert not any(u.startswith(f"{article_url}pics/") for u in urls), urls
            if i in WITH_IMAGE:
                expected = {3: f"{base}/images/a3.jpg", 8: media_url(built, "pictures/a8.png")}[i]
                assert item["image"] == expected
                assert expected in urls  # the figure in the content


LANGUAGES = ["en", "EN", "de-CH", "de-CH-1996", "zh-Hant-TW", "sr-Latn-RS", "es-419"]
ILL_FORMED = ["en-12", "en-US-US", "en-ab-cd"]


@pytest.mark.parametrize("language", LANGUAGES + ILL_FORMED)
def test_language_is_well_formed_bcp47(site: Site, language: str) -> None:
    """Whatever language the config accepts, the feeds carry a well-formed BCP 47 tag."""
    sample_scenario(site)
    config = site.root / "syndicate.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[publication]\n", f'[publication]\nlanguage = "{language}"\n', 1),
        encoding="utf-8",
    )
    try:
        site.settings  # noqa: B018 - loading validates the config
    except ConfigError:
        return  # rejected up front: nothing ill-formed can reach a feed
    built = build(site)
    for folder in built.folders:
        channel_lang = built.xml(folder, "rss.xml").findtext("channel/language")
        atom_lang = built.xml(folder, "atom.xml").get("{http://www.w3.org/XML/1998/namespace}lang")
        json_lang = built.json(folder)["language"]
        assert channel_lang == atom_lang == json_lang == language
        assert BCP47.match(language), f"{language!r} is not a well-formed BCP 47 tag"


def test_rss_items_carry_the_update_time(site: Site) -> None:
    built = built_with(site, archive_scenario)
    [edited] = [a for a in built.articles if a.title == archive_title(EDITED)]
    assert edited.updated == datetime.fromisoformat(EDITED_AT)
    for folder in built.folders:
        for entry in built.parsed(folder, "rss.xml").entries:
            if entry["link"] == edited.url:
                value = dict.get(entry, "updated")
                assert value is not None, f"{folder}/rss.xml: no update time for an edit"
                assert datetime.fromisoformat(value) == edited.updated


def test_atom_has_an_author_without_publication_author(site: Site) -> None:
    """RFC 4287 §4.1.1: an entry without author needs a feed author."""
    config = BASE_CONFIG.format(db=site.db_url).replace('author = "The Editors"\n', "")
    (site.root / "syndicate.toml").write_text(config, encoding="utf-8")
    site.write("anon.md", markdown({"title": "Anonymous", "date": "2026-01-01"}, "Body.\n"))
    built = build(site)
    for folder in built.folders:
        check_atom(built, folder)


# ---------------------------------------------------------------------------------------
# 4. RFC 5005 archives, and JSON Feed's next_url chain


def chrono_titles(built: Built, folder: str) -> list[str]:
    return [i["title"] for i in built.json(folder)["items"]]


def test_archives_follow_rfc5005(site: Site) -> None:
    built = built_with(site, archive_scenario)
    newest_first = [archive_title(i) for i in reversed(range(ARCHIVE_COUNT))]
    older = newest_first[ARCHIVE_PER_PAGE:][::-1]  # oldest first
    pages = [older[n : n + ARCHIVE_PER_PAGE] for n in range(0, len(older), ARCHIVE_PER_PAGE)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert built.archives == ["archive/1", "archive/2", "archive/3"]
    expected = {"": newest_first[:ARCHIVE_PER_PAGE]}
    for n, chunk in enumerate(pages, start=1):
        expected[f"archive/{n}"] = chunk[::-1]  # newest first within a page
    for folder, titles in expected.items():
        for fmt in ("rss.xml", "atom.xml"):
            got = [e["title"] for e in built.parsed(folder, fmt).entries]
            assert got == titles, f"{folder}/{fmt}"
        assert chrono_titles(built, folder) == titles, f"{folder}/feed.json"

    count = len(built.archives)
    for fmt in ("rss.xml", "atom.xml"):
        for folder in ("", *built.archives):
            root = built.xml(folder, fmt)
            holder = root.find("channel") if fmt == "rss.xml" else root
            assert holder is not None
            rels: dict[str, list[str]] = {}
            for link in holder.iterfind(f"{A}link"):
                rels.setdefault(link.get("rel", "alternate"), []).append(link.get("href") or "")
            marker = holder.findall(f"{{{HISTORY}}}archive")
            where = f"{folder or 'main'}/{fmt}"
            if folder == "":
                assert marker == [], f"{where}: the subscription feed is no archive"
                assert rels.get("prev-archive") == [built.url(f"archive/{count}/{fmt}")], where
                assert "next-archive" not in rels and "current" not in rels, where
                continue
            n = int(folder.split("/")[1])
            assert len(marker) == 1, f"{where}: no fh:archive"
            assert rels.get("current") == [built.url(fmt)], where
            prev = [built.url(f"archive/{n - 1}/{fmt}")] if n > 1 else None
            nxt = [built.url(f"archive/{n + 1}/{fmt}")] if n < count else None
            assert rels.get("prev-archive") == prev, where
            assert rels.get("next-archive") == nxt, where
            # Every link of the chain leads to a file the build wrote.
            for href in [*(prev or []), *(nxt or [])]:
                assert built.rel(href) in built.files

    # JSON Feed: main → newest archive → … → oldest, which has no next_url.
    chain, url = [], built.json("").get("next_url")
    collected = chrono_titles(built, "")
    while url:
        folder = _folder(built.rel(url))
        assert folder not in chain, "next_url loops"
        chain.append(folder)
        collected += chrono_titles(built, folder)
        url = built.json(folder).get("next_url")
    assert chain == ["archive/3", "archive/2", "archive/1"]
    assert collected == newest_first


def test_every_article_is_on_exactly_one_chronological_page(site: Site) -> None:
    built = built_with(site, archive_scenario)
    for fmt in FORMATS:
        seen: Counter[str] = Counter()
        for folder in ("", *built.archives):
            if fmt == "feed.json":
                seen.update(i["url"] for i in built.json(folder)["items"])
            else:
                seen.update(e["link"] for e in built.parsed(folder, fmt).entries)
        assert seen == Counter(a.url for a in built.articles), fmt


# ---------------------------------------------------------------------------------------
# 5. Per-tag feeds


def test_tag_feeds_have_safe_distinct_folders_and_the_right_articles(site: Site) -> None:
    built = built_with(site, tag_scenario)
    feeds_dir = built.settings.feeds_dir
    folders = built.tag_folders
    assert len(folders) == len(TAGS), folders
    for folder in folders:
        name = folder.removeprefix("tags/")
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name), folder
        resolved = (feeds_dir / folder).resolve()
        assert resolved.parent == (feeds_dir / "tags").resolve(), folder
    # Nothing escaped the feeds folder (e.g. ../etc), inside or beside the site.
    outside = [
        p
        for p in built.site.root.parent.rglob("*")
        if p.is_file() and feeds_dir not in p.parents and p.suffix in {".xml", ".json"}
    ]
    assert outside == []
    by_members: dict[frozenset[str], str] = {}
    for folder in folders:
        titles = frozenset(chrono_titles(built, folder))
        for fmt in ("rss.xml", "atom.xml"):
            assert frozenset(e["title"] for e in built.parsed(folder, fmt).entries) == titles
        by_members[titles] = folder
    for tag, members in TAGS.items():
        titles = frozenset(f"Tagged {m}" for m in members)
        assert titles in by_members, f"no feed holds exactly the articles tagged {tag!r}"
        folder = by_members[titles]
        feed_title = reader_title(built.parsed(folder, "atom.xml").feed)
        assert tag in feed_title, (tag, feed_title)
        assert built.json(folder)["title"] == feed_title
        for item in built.json(folder)["items"]:
            assert tag in item["tags"]


def test_tag_spelled_like_a_hashed_folder_gets_its_own_feed(site: Site) -> None:
    site.write("a.md", markdown({"title": "Sharp", "date": "2026-01-01", "tags": "['C#']"}, "A.\n"))
    [sharp] = build(site).tag_folders
    lookalike = sharp.removeprefix("tags/")
    front = {"title": "Lookalike", "date": "2026-01-02", "tags": f"[{lookalike}]"}
    site.write("b.md", markdown(front, "B.\n"))
    built = build(site)
    assert len(built.tag_folders) == 2, f"'C#' and {lookalike!r} share {built.tag_folders}"
    assert chrono_titles(built, sharp) == ["Sharp"]


def test_tag_with_control_character_builds(site: Site) -> None:
    front = {"title": "Odd tag", "date": "2026-01-01", "tags": r'["evil\x01tag", "fine"]'}
    site.write("odd.md", markdown(front, "Body.\n"))
    built = build(site)
    assert len(built.tag_folders) == 2
    for folder in built.folders:
        for fmt in ("rss.xml", "atom.xml"):
            assert built.parsed(folder, fmt).bozo == 0
    titles = {built.json(f)["title"] for f in built.tag_folders}
    assert any("eviltag" in t for t in titles), titles


# ---------------------------------------------------------------------------------------
# 6. Hostile input stays inert


def assert_inert(where: str, fragment: str) -> None:
    assert not XML_FORBIDDEN.search(fragment), f"{where}: control character"
    assert not re.search(r"<\s*/?\s*(script|style|iframe|object|embed|svg)\b", fragment, re.I), (
        f"{where}: active markup in {fragment!r}"
    )
    for el in html_tree(fragment).iter():
        if not isinstance(el.tag, str):
            continue
        assert el.tag.lower() not in ACTIVE_TAGS, f"{where}: <{el.tag}>"
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), f"{where}: {name}= on <{el.tag}>"
            assert name.lower() != "style", f"{where}: style= on <{el.tag}>"
            squeezed = re.sub(r"[\s\x00-\x1f]+", "", value).lower()
            assert not squeezed.startswith(ACTIVE_SCHEMES), f"{where}: {name}={value!r}"


def test_hostile_input_stays_inert(site: Site) -> None:
    built = built_with(site, hostile_scenario)
    for rel, data in built.files.items():
        text = data.decode("utf-8")
        assert not XML_FORBIDDEN.search(text), f"{rel}: XML-forbidden character"
        if rel.endswith(".xml"):
            parsed = feedparser.parse(data)
            assert parsed.bozo == 0, (rel, parsed.get("bozo_exception"))
        else:
            for key, value in _walk_json(json.loads(text)):
                if isinstance(value, str):
                    assert not XML_FORBIDDEN.search(value), f"{rel}: {key} {value!r}"
    pages_with_hostile = 0
    for folder in built.folders:
        js = built.json(folder)
        hostile = [i for i in js["items"] if i["url"].endswith("/hostile/")]
        if not hostile:
            continue
        pages_with_hostile += 1
        [item] = hostile
        assert item["title"] == HOSTILE_TITLE
        assert item["authors"] == [{"name": HOSTILE_AUTHOR}]
        assert item["tags"] == ["news flash", "<b>bold</b>", "a&b"]
        for fmt in ("rss.xml", "atom.xml"):
            [entry] = [e for e in built.parsed(folder, fmt).entries if e["link"] == item["url"]]
            # HTML that shows the title literally: escaped once more, no element in it.
            assert entry["title_detail"]["type"] == "text/html", fmt
            assert html.unescape(entry["title"]) == HOSTILE_TITLE, fmt
            assert "<" not in entry["title"], fmt
            assert entry["author"] == HOSTILE_AUTHOR, fmt
            assert [t["term"] for t in entry["tags"]] == item["tags"], fmt
        for fmt in ("rss.xml", "atom.xml") if folder == "" else ():
            [calm] = [e for e in built.parsed(folder, fmt).entries if e["link"] != item["url"]]
            assert calm["title"] == "Calm: AT&T & Co. say 1 < 2", fmt
            assert calm["title_detail"]["type"] == "text/plain", fmt
        # In the XML: HTML-escaped text, never markup; "&" and "<" as hexadecimal references.
        rss = built.xml(folder, "rss.xml")
        assert html.escape(HOSTILE_TITLE, quote=False) in [
            t.text for t in rss.iterfind("channel/item/title")
        ]
        assert b"<title>&#x26;lt;script&#x26;gt;" in built.data(folder, "rss.xml")
        atom = built.xml(folder, "atom.xml")
        [title] = [
            e.find(f"{A}title")
            for e in atom.iterfind(f"{A}entry")
            if links(e, "alternate")[0].get("href") == item["url"]
        ]
        assert title is not None and title.get("type") == "html"
        assert html.unescape(title.text or "") == HOSTILE_TITLE
        for where, fragment in html_fields(built, folder):
            assert_inert(where, fragment)
        content = item["content_html"]
        assert "Opening line" in content and "characters" in content  # the text survived
        assert "click me" in content
        assert "https://cdn.example.net/p" in html_urls(content)
        assert media_url(built, "x.png") in html_urls(content)
    # The hostile article is on the main feed and on each of its three tag feeds.
    assert pages_with_hostile == 4


def test_cite_urls_are_absolute_and_safe(site: Site) -> None:
    body = (
        'Quoting.\n\n<blockquote cite="../sources/1">quoted</blockquote>\n\n'
        '<p><q cite="javascript:alert(1)">inline</q> <del cite="/changes">old</del> '
        '<ins cite="changes#2">new</ins></p>\n'
    )
    site.write("cite.md", markdown({"title": "Cite", "date": "2026-01-01"}, body))
    built = build(site)
    for folder in built.folders:
        for where, fragment in html_fields(built, folder):
            assert_inert(where, fragment)
            for url in html_urls(fragment):
                assert is_absolute(url), f"{where}: {url!r}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("title", r"Test\u0001 Letter"),
        ("description", r"About\u0002 us"),
        ("author", r"The\u0003 Editors"),
    ],
)
def test_publication_text_with_control_characters(site: Site, key: str, value: str) -> None:
    """Whatever the config accepts, the build writes parseable feeds."""
    text = (site.root / "syndicate.toml").read_text(encoding="utf-8")
    text = re.sub(rf"(?m)^{key} = .*$\n?", "", text)
    text = text.replace("[publication]\n", f'[publication]\n{key} = "{value}"\n', 1)
    (site.root / "syndicate.toml").write_text(text, encoding="utf-8")
    try:
        site.settings  # noqa: B018 - loading validates the config
    except ConfigError:
        return  # rejected up front
    site.write("a.md", markdown({"title": "A", "date": "2026-01-01"}, "Body.\n"))
    built = build(site)
    for rel, data in built.files.items():
        assert not XML_FORBIDDEN.search(data.decode("utf-8")), rel
        if rel.endswith(".xml"):
            assert feedparser.parse(data).bozo == 0, rel


# ---------------------------------------------------------------------------------------
# 7. The sample article: author, teaser, photo credit and related links


def sample_parts() -> dict[str, Any]:
    """What the plain-text sample says, read from the file rather than restated here."""
    text = (REPO / "content" / "kazakhstan-mediator.txt").read_text(encoding="utf-8")
    paras = [p.strip() for p in text.split("\n\n") if p.strip()]
    [credit] = [p[1:-1] for p in paras if p.startswith("[") and p.endswith("]")]
    tail = paras[paras.index(f"[{credit}]") + 2 :]  # after the credit and the bio
    teasers = [(tail[n], tail[n + 1]) for n in range(0, len(tail), 2)]
    return {"title": paras[0], "lead": paras[1], "credit": credit, "teasers": teasers}


def test_sample_article_is_complete(site: Site) -> None:
    built = built_with(site, sample_scenario)
    sample = sample_parts()
    assert len(sample["teasers"]) == 3
    item = next(i for i in built.json("")["items"] if i["title"] == sample["title"])
    atom = built.xml("", "atom.xml")
    [entry] = [e for e in atom.iterfind(f"{A}entry") if e.findtext(f"{A}title") == sample["title"]]
    rss_item = next(
        i
        for i in built.xml("", "rss.xml").iterfind("channel/item")
        if i.findtext("title") == sample["title"]
    )
    parsed = {
        fmt: next(e for e in built.parsed("", fmt).entries if e["title"] == sample["title"])
        for fmt in ("rss.xml", "atom.xml")
    }

    # Author, from the bio line.
    assert item["authors"] == [{"name": "Ernest Gallo"}]
    assert parsed["rss.xml"]["author"] == parsed["atom.xml"]["author"] == "Ernest Gallo"
    assert rss_item.findtext("dc:creator", namespaces=NS) == "Ernest Gallo"

    # The teaser as summary: a prefix of the first paragraph, the same in every format.
    summary = item["summary"]
    assert summary == rss_item.findtext("description") == entry.findtext(f"{A}summary")
    assert 40 < len(summary) < len(sample["lead"])
    assert sample["lead"].startswith(summary.rstrip("…").rstrip())

    # The photo credit inside the content (not left in the body as a bracketed line).
    contents = [
        item["content_html"],
        rss_item.findtext("content:encoded", namespaces=NS) or "",
        entry.findtext(f"{A}content") or "",
    ]
    for content in contents:
        assert sample["credit"] in content
        assert f"[{sample['credit']}]" not in content

    # Related teasers: Atom rel="related" links to the two matching example articles.
    urls = {a.title: a.url for a in built.articles}
    matched = [(t, urls[t]) for t, _ in sample["teasers"] if t in urls]
    unmatched = [t for t, _ in sample["teasers"] if t not in urls]
    assert len(matched) == 2 and len(unmatched) == 1
    related = [(link.get("title"), link.get("href")) for link in links(entry, "related")]
    assert related == matched
    for title in unmatched:
        assert all(title != t for t, _ in related)
    # …and in the content: the matched teasers link to their article, the other does not.
    for content in contents:
        tree = html_tree(content)
        anchors = {(a.text_content(), a.get("href")) for a in tree.iter("a")}
        for pair in matched:
            assert pair in anchors
        assert unmatched[0] in tree.text_content()
        assert not any(text == unmatched[0] for text, _ in anchors)


# ---------------------------------------------------------------------------------------
# 8. Summary-only feeds and WebSub hubs


def test_summary_only_feeds_with_hub(site: Site) -> None:
    built = built_with(site, summary_hub_scenario)
    assert built.archives, "items = 2 over the sample should make archive pages"
    hub = HUB.rstrip("/")
    for folder in built.folders:
        rss = built.xml(folder, "rss.xml")
        assert rss.findall("channel/item/content:encoded", NS) == []
        assert all((i.findtext("description") or "").strip() for i in rss.iterfind("channel/item"))
        hubs = [
            link.get("href", "").rstrip("/")
            for link in rss.findall("channel/atom:link", NS)
            if link.get("rel") == "hub"
        ]
        assert hubs == [hub], f"{folder}/rss.xml"

        atom = built.xml(folder, "atom.xml")
        assert atom.findall(f"{A}entry/{A}content") == []
        assert all(e.findtext(f"{A}summary") for e in atom.iterfind(f"{A}entry"))
        assert [link.get("href", "").rstrip("/") for link in links(atom, "hub")] == [hub]

        doc = built.json(folder)
        assert [i for i in doc["items"] if "content_html" in i] == []
        assert all(i["content_text"] == i["summary"] for i in doc["items"])
        assert [(h["type"], h["url"].rstrip("/")) for h in doc["hubs"]] == [("WebSub", hub)]


def test_full_content_without_hub_by_default(site: Site) -> None:
    built = built_with(site, sample_scenario)
    for folder in built.folders:
        rss = built.xml(folder, "rss.xml")
        items = rss.findall("channel/item")
        assert len(rss.findall("channel/item/content:encoded", NS)) == len(items)
        assert not [x for x in rss.findall("channel/atom:link", NS) if x.get("rel") == "hub"]
        atom = built.xml(folder, "atom.xml")
        entries = atom.findall(f"{A}entry")
        assert len(atom.findall(f"{A}entry/{A}content")) == len(entries)
        assert all(c.get("type") == "html" for c in atom.iterfind(f"{A}entry/{A}content"))
        assert links(atom, "hub") == []
        doc = built.json(folder)
        assert all("content_html" in i for i in doc["items"]) and "hubs" not in doc
