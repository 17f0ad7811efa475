"""Local images: resolved against the article's file, published under feeds/media/ with
content-hashed names, served by `run`, and described truly by the feeds' enclosures."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import feedparser
import httpx
import pytest
from lxml import etree

from syndicate.content.reader import read_site
from syndicate.feeds.build import build_feeds
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.conftest import NOW, Site

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(100))
ATOM = "{http://www.w3.org/2005/Atom}"
ARTICLE = """---
title: With pictures
date: 2026-11-20
image: ../images/x.png
---
A chart: ![chart](../images/y.jpg)

<img src="../images/y.jpg" alt="again"> and a site image ![](/static/logo.png).
"""


def build(site: Site) -> tuple[list[str], set[str]]:
    """Read and build; the problems as text and the files under feeds/media/."""
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    build_feeds(site.settings, site.engine, report.articles)
    media = site.settings.feeds_dir / "media"
    files = {p.name for p in media.iterdir()} if media.is_dir() else set()
    return [str(p) for p in report.problems], files


def serve(site: Site, path: str) -> httpx.Response:
    app = create_app(site.settings, site.engine, signer=Signer("test-secret-0123456789abcdef"))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(go())


def test_relative_images_are_published_and_described(site: Site) -> None:
    site.write("2026/a.md", ARTICLE)
    site.write("images/x.png", PNG)
    site.write("images/y.jpg", JPEG)
    problems, files = build(site)
    assert problems == []
    [png] = [f for f in files if f.endswith("-x.png")]
    [jpg] = [f for f in files if f.endswith("-y.jpg")]
    assert files == {png, jpg}
    root = site.settings.feeds_dir
    assert (root / "media" / png).read_bytes() == PNG
    png_url = f"{site.settings.feeds_url}/media/{png}"
    jpg_url = f"{site.settings.feeds_url}/media/{jpg}"

    rss = etree.fromstring((root / "rss.xml").read_bytes())
    [enclosure] = rss.iterfind("channel/item/enclosure")
    assert enclosure.attrib == {"url": png_url, "length": str(len(PNG)), "type": "image/png"}
    atom = etree.fromstring((root / "atom.xml").read_bytes())
    [link] = [el for el in atom.iter(f"{ATOM}link") if el.get("rel") == "enclosure"]
    assert (link.get("href"), link.get("length"), link.get("type")) == (
        png_url,
        str(len(PNG)),
        "image/png",
    )
    [item] = json.loads((root / "feed.json").read_bytes())["items"]
    assert item["image"] == png_url
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', item["content_html"])
    assert srcs == [png_url, jpg_url, jpg_url, "https://news.example.org/static/logo.png"]
    [entry] = feedparser.parse((root / "rss.xml").read_bytes()).entries
    assert entry.enclosures[0]["length"] == str(len(PNG))

    response = serve(site, f"/feeds/media/{png}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == PNG
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert serve(site, "/feeds/rss.xml").headers["cache-control"] == "public, max-age=300"
    assert serve(site, f"/feeds/media/{jpg}").headers["content-type"] == "image/jpeg"


def test_a_changed_image_gets_a_new_name_and_the_old_copy_goes(site: Site) -> None:
    site.write("2026/a.md", ARTICLE)
    site.write("images/x.png", PNG)
    site.write("images/y.jpg", JPEG)
    _, before = build(site)
    path = site.write("images/y.jpg", JPEG + b"edited")
    os.utime(path, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    problems, after = build(site)
    assert problems == []
    assert len(after) == 2 and len(after & before) == 1  # x.png unchanged, y.jpg renamed
    [new] = after - before
    html = json.loads((site.settings.feeds_dir / "feed.json").read_bytes())["items"][0]
    assert f"/media/{new}" in html["content_html"]
    # The article leaves: so do its images.
    (site.content / "2026" / "a.md").unlink()
    _, gone = build(site)
    assert gone == set()


def test_an_image_outside_the_feed_is_not_published_early(site: Site) -> None:
    """A scheduled article's images wait for it."""
    site.write("soon.md", ARTICLE.replace("2026-11-20", "2099-01-01").replace("../", ""))
    site.write("images/x.png", PNG)
    site.write("images/y.jpg", JPEG)
    problems, files = build(site)
    assert problems == [] and files == set()


@pytest.mark.parametrize(
    ("ref", "prepare", "reason"),
    [
        ("../../etc/passwd", None, "is outside the content folder; put it under content/"),
        ("../outside.png", None, "is outside the content folder"),
        ("%2E%2E/%2e%2e/etc/passwd", None, "is outside the content folder"),
        ("link.png", "symlink", "is a link to a file outside the content folder"),
        ("notes.png", "text", "is not an image (PNG, JPEG, GIF, WebP or AVIF, by its content)"),
        ("drawing.svg", "svg", "is not an image"),
        (
            "huge.png",
            "huge",
            "over the 1,000-byte cap; shrink it or raise [content] max_image_size",
        ),
        ("missing.png", None, "not found: there is no file content/missing.png"),
        ("folder", "folder", "is not a file"),
    ],
)
def test_hostile_or_broken_images_are_refused(
    site: Site, tmp_path: Path, ref: str, prepare: str | None, reason: str
) -> None:
    config = site.root / "syndicate.toml"  # BASE_CONFIG has a [content] table: add to it
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('folder = "content"\n', 'folder = "content"\nmax_image_size = 1000\n'),
        encoding="utf-8",
    )
    outside = tmp_path / "secret.png"
    outside.write_bytes(PNG)
    (site.root / "outside.png").write_bytes(PNG)
    if prepare == "symlink":
        (site.content / ref).symlink_to(outside)
    elif prepare == "text":
        site.write(ref, "just some notes\n")
    elif prepare == "svg":
        site.write(ref, '<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>')
    elif prepare == "huge":
        site.write(ref, PNG + b"\x00" * 2000)
    elif prepare == "folder":
        (site.content / ref).mkdir()
    site.write("good.md", "---\ntitle: Good\ndate: 2026-11-01\n---\nFine.\n")
    site.write("bad.md", f"---\ntitle: Bad\ndate: 2026-11-02\n---\nIntro.\n\n![x]({ref})\n")
    problems, files = build(site)
    assert len(problems) == 1, problems
    assert problems[0].startswith("content/bad.md:7: "), problems
    assert reason in problems[0]
    assert files == set()
    # The front matter field is refused the same way, on its own line.
    site.write("bad.md", f"---\ntitle: Bad\nimage: {ref}\ndate: 2026-11-02\n---\nIntro.\n")
    problems, _ = build(site)
    assert len(problems) == 1 and problems[0].startswith("content/bad.md:3: "), problems
    titles = [e.title for e in feedparser.parse(site.settings.feeds_dir / "rss.xml").entries]
    assert titles == ["Good"]  # the valid article is still published
