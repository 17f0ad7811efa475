"""The digest's HTML part in a real browser: readable on phones, no horizontal scrolling.

A realistic site (long titles, long unbreakable words and URLs, a lead image, related
teasers) is read, assembled and rendered exactly as for sending, then opened in headless
Debian Chromium (``/usr/bin/chromium``, driven by Playwright) at phone widths. Full-page
screenshots are kept in ``test-artifacts/`` at the repository root.

Without Chromium or Playwright the module is skipped on a developer's machine; with ``CI``
set it fails instead, so CI cannot pass by skipping it.
"""

from __future__ import annotations

import http.server
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from syndicate.config import load_settings
from syndicate.content.reader import read_site
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.prepare import prepare
from syndicate.digest.render import render_digest
from syndicate.store import open_store
from tests.browsers import require_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
# The plain-text export has no date: it is dated by its modification time when first read
# (set to this), which puts it mid-digest.
READ_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
IMAGE_SIZE = (1200, 600)
MIN_BODY_FONT_PX = 14.0


require_browser()

# A long unbreakable token: no space, hyphen or other break opportunity in 120 characters.
LONG_URL = "https://data.example.org/exports/" + "x" * 40 + "/" + "0123456789abcdef" * 3
assert len(LONG_URL) >= 120 and " " not in LONG_URL
LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenherstellungsbetriebsleiter"

CONFIG = """\
[publication]
title = "The Eurasia Letter"
base_url = "https://eurasia-letter.example.org"
description = "Essays and analysis on diplomacy, security and trade across Eurasia."
language = "en"
author = "The Eurasia Letter editors"
timezone = "Europe/Berlin"

[database]
url = "sqlite:///{db}"

[content]
folder = "content"

[email]
from_name = "The Eurasia Letter"
from_address = "letter@eurasia-letter.example.org"
postal_address = "The Eurasia Letter\\nFriedrichstraße 1\\n10117 Berlin, Germany"

[lists.weekly]
title = "The Eurasia Letter — weekly"
description = "Every new essay, once a week."
max_articles = 5
lead_articles = 2
"""

LEAD_TEASER = (
    "Freight volumes on the Trans-Caspian route have more than doubled; the full data set "
    f"is at {LONG_URL} and the operators call it the {LONG_WORD} problem."
)
RULES_TEASER = (
    "Export controls were written for hardware, not for software, and the register at "
    f"{LONG_URL}?page=2 lists them all."
)


def _markdown(title: str, date: str, summary: str, *, image: str = "", tags: str = "") -> str:
    lines = [
        "---",
        f'title: "{title}"',
        f"date: {date}",
        "author: Aigerim Sadykova-Lindqvist",
        f"tags: [{tags or 'trade'}]",
        f'summary: "{summary}"',
    ]
    if image:
        lines += [f"image: {image}", "image_credit: Photo by the Port of Aktau press office"]
    lines += ["---", "", f"{summary}", "", "## More", "", "Body text of the article.", ""]
    return "\n".join(lines)


PLAIN_TEXT = f"""\
Reevaluating Kazakhstan’s Multi-Vector Foreign Policy as a Mediator Between East and West

Kazakhstan’s multi-vector foreign policy signifies amicable relations with all states. \
The country’s willingness to facilitate negotiations is a testament to its commitment.

[Photo by the official website of the President of the Republic of Kazakhstan]

Ernest Gallo is an academic and a visiting professor on international studies. The views \
and opinions expressed in this article are those of the author.

The Old Silk Road Revisited: Caravanserais, Customs Posts and Container Terminals

A history of the routes between China and Europe, from {LONG_WORD} to {LONG_URL}, and \
what the caravan trade can still teach logistics planners...

The Middle Corridor Comes of Age, and Why Every Shipper Between Shanghai and Rotterdam Cares

Freight volumes on the Trans-Caspian International Transport Route have more than doubled...
"""


def _png(width: int, height: int) -> bytes:
    """A real RGB PNG: a horizontal gradient with a few coloured bands."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = []
    for y in range(height):
        band = (y * 5) // height
        red, green = (40 + 40 * band) % 256, (90 + 30 * band) % 256
        row = bytes(c for x in range(width) for c in (red, green, (x * 255) // width))
        rows.append(b"\x00" + row)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + chunk(b"IEND", b"")
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a local HTTP server that serves ``img.png`` (1200×600)."""
    folder = tmp_path_factory.mktemp("images")
    (folder / "img.png").write_bytes(_png(*IMAGE_SIZE))

    def handler(*args: Any) -> _QuietHandler:
        return _QuietHandler(*args, directory=str(folder))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class Rendered:
    path: Path
    teasers: tuple[str, ...]  # body-text snippets that must be readable


@pytest.fixture(scope="module")
def digest_html(tmp_path_factory: pytest.TempPathFactory, image_server: str) -> Rendered:
    """The weekly digest of a realistic site, rendered as for sending, in an HTML file."""
    root = tmp_path_factory.mktemp("site")
    (root / "syndicate.toml").write_text(CONFIG.format(db=root / "state.db"), encoding="utf-8")
    content = root / "content"
    content.mkdir()
    image = f"{image_server}/img.png"
    files = {
        "corridor.md": _markdown(
            "The Middle Corridor Comes of Age, and Why Every Shipper Between Shanghai and "
            "Rotterdam Cares",
            "2026-11-25T09:30:00+01:00",
            LEAD_TEASER,
            image=image,
            tags="trade, logistics",
        ),
        "autonomy.md": _markdown(
            "AI Fighter Jets, Autonomous Drones and the Unwritten Rules of Machine Warfare "
            "in an Age of Software-Defined Deterrence",
            "2026-11-24T08:00:00+01:00",
            RULES_TEASER,
            image=image,
            tags="defence",
        ),
        "caspian.md": _markdown(
            f"Why the {LONG_WORD} Became a Byword for Caspian Bureaucracy",
            "2026-11-23T08:00:00+01:00",
            f"Every border post has its own stamp: {LONG_URL}#stamps is the list.",
        ),
        "deterrence.md": _markdown(
            "On the Prospects of a Third World War",
            "2026-11-22T08:00:00+01:00",
            "Deterrence has held for eighty years. What would it take for it to fail?",
            tags="security",
        ),
        # Older than the rest and past max_articles: linked from "Also on" and "more".
        "silk-road.md": _markdown(
            "The Old Silk Road Revisited: Caravanserais, Customs Posts and Container Terminals",
            "2026-11-01T08:00:00+01:00",
            "A history of the routes between China and Europe.",
        ),
        "kazakhstan.txt": PLAIN_TEXT,
    }
    for name, text in files.items():
        (content / name).write_text(text, encoding="utf-8")
    os.utime(content / "kazakhstan.txt", (READ_AT.timestamp(), READ_AT.timestamp()))

    settings = load_settings(root)
    engine = open_store(settings.database_url)
    try:
        report = read_site(settings, engine, now=NOW, offline=True)
        assert not report.problems, report.problems
        assert len(report.articles) == len(files)
        prepared = prepare(settings, engine, "weekly", report.articles, now=NOW)
    finally:
        engine.dispose()
    digest = prepared.digests[EVERYTHING]
    assert len(digest.lead) == 2 and all(a.image == image for a in digest.lead)
    assert digest.rest and digest.also and digest.more == 1
    rendered = render_digest(digest, settings)
    assert rendered.warnings == ()
    assert LONG_URL in rendered.html and LONG_WORD in rendered.html
    path = root / "digest.html"
    path.write_text(rendered.html, encoding="utf-8")
    return Rendered(path=path, teasers=("Freight volumes on the Trans-Caspian", "Deterrence has"))


# Measures the page in the browser: overflow, images, and the font size of body text.
MEASURE = """
(teasers) => {
  const doc = document.documentElement;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > window.innerWidth + 0.5) {
      wide.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
    }
  }
  const imgs = [...document.images].map(img => ({
    src: img.src, alt: img.getAttribute('alt'), width: img.getAttribute('width'),
    natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
  }));
  const fonts = teasers.map(snippet => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const el = walker.currentNode.parentElement;
      // The hidden inbox preheader repeats the lead teaser in 1px type: skip it.
      if (walker.currentNode.textContent.includes(snippet)
          && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) {
        return {snippet, px: parseFloat(getComputedStyle(el).fontSize)};
      }
    }
    return {snippet, px: null};
  });
  return {
    scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth,
    wide: wide.slice(0, 10), imgs, fonts,
    background: getComputedStyle(document.body).backgroundColor,
  };
}
"""

CASES = [
    pytest.param(375, "light", id="375"),
    pytest.param(640, "light", id="640"),
    pytest.param(375, "dark", id="375-dark"),
]


@pytest.mark.parametrize(("width", "scheme"), CASES)
def test_digest_fits_phone_width(
    browser: Browser, digest_html: Rendered, width: int, scheme: str
) -> None:
    page = browser.new_page(
        viewport={"width": width, "height": 800},
        color_scheme="dark" if scheme == "dark" else "light",
    )
    try:
        page.goto(digest_html.path.as_uri(), wait_until="load")
        ARTIFACTS.mkdir(exist_ok=True)
        suffix = "-dark" if scheme == "dark" else ""
        page.screenshot(path=str(ARTIFACTS / f"digest-{width}{suffix}.png"), full_page=True)
        m = page.evaluate(MEASURE, list(digest_html.teasers))
    finally:
        page.close()

    assert m["innerWidth"] == width
    assert m["imgs"], "the lead images are missing"
    for img in m["imgs"]:
        assert (img["alt"] or "").strip(), f"image without alt text: {img}"
        assert img["width"], f"image without a width attribute: {img}"
        assert img["natural"] == IMAGE_SIZE[0], f"image did not load: {img}"
        assert img["shown"] <= width, f"image wider than the screen: {img}"
    for font in m["fonts"]:
        assert font["px"] is not None, f"body text not found: {font['snippet']!r}"
        assert font["px"] >= MIN_BODY_FONT_PX, f"body text too small: {font}"
    if scheme == "dark":
        red, green, blue = (int(v) for v in m["background"][4:-1].split(",")[:3])
        assert red + green + blue < 3 * 64, f"dark scheme not applied: {m['background']}"
    assert m["scrollWidth"] <= m["innerWidth"], (
        f"scrolls horizontally: document {m['scrollWidth']}px wide in a {width}px viewport; "
        f"elements past the right edge: {m['wide']}"
    )
