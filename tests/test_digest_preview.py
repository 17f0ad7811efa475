"""``syndicate preview`` on a copy of the example publication, and rendering per topic set."""

from __future__ import annotations

import email
import email.policy
import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.config import load_settings
from syndicate.content.reader import read_site
from syndicate.digest.archive import write_archive
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.prepare import prepare, render_for_audience
from syndicate.digest.render import render_digest
from syndicate.store import open_store
from syndicate.store.tables import digests
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import NOW, Site

REPO = Path(__file__).resolve().parent.parent
SECRET = "preview-secret-" + "x" * 20
MEDIATOR = (
    "Among Conflicts and Sanctions: Kazakhstan’s Role in Navigating Peace and Resolving Crises"
)


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "example"
    site.mkdir()
    shutil.copy(REPO / "syndicate.toml", site / "syndicate.toml")
    shutil.copytree(REPO / "content", site / "content")
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    return site


def preview(site: Path, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(
        main, ["--site", str(site), "preview", "weekly", "--offline", *args]
    )
    return result.exit_code, result.stdout_bytes, result.stderr


def test_html_preview_holds_the_sample_article(example: Path) -> None:
    code, out, err = preview(example)
    assert code == 0, err
    page = lxml_html.fromstring(out)
    text = page.text_content()
    assert MEDIATOR in text
    assert "In the tense and complex geopolitical landscape" in text  # its teaser
    hrefs = {a.get("href") for a in page.iter("a")}
    assert "https://eurasia-letter.example.org/2026/kazakhstan-mediator/" in hrefs
    # Its related teasers: two are articles of this digest, the third is in "Also on".
    assert "AI Fighter Jets: Skynet or Strategic Supremacy?" in text
    assert "On the Prospects of a Third World War" in text
    assert "Reevaluating Zionism" in text
    assert "SYNDICATEx9" not in out.decode()  # every per-recipient marker filled
    assert "subject: The Eurasia Letter — weekly: Among Conflicts" in err


def test_every_html_link_is_in_the_text_part(example: Path) -> None:
    _, html_out, _ = preview(example, "--format", "html")
    _, text_out, _ = preview(example, "--format", "text")
    hrefs = {a.get("href") for a in lxml_html.fromstring(html_out).iter("a") if a.get("href")}
    text = text_out.decode()
    # Tokens differ per run only by issue time within the same second; compare link targets.
    missing = [
        h for h in hrefs if h.split("/unsubscribe/")[0].split("/preferences/")[0] not in text
    ]
    assert not missing


def test_eml_is_a_complete_message_and_nothing_is_recorded(example: Path) -> None:
    code, out, err = preview(example, "--format", "eml")
    assert code == 0, err
    msg = email.message_from_bytes(out, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "MIME-Version",
    ):
        assert msg[header], header
        assert "\n" not in str(msg[header]) and "\r" not in str(msg[header])
    engine = open_store(f"sqlite:///{example / '.syndicate' / 'state.db'}")
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(digests)) == 0
    finally:
        engine.dispose()
    assert not (example / "archive").exists()


def test_preview_writes_a_file(example: Path, tmp_path: Path) -> None:
    target = tmp_path / "next.html"
    code, out, _ = preview(example, "--out", str(target))
    assert code == 0 and out == b""
    assert MEDIATOR.encode() in target.read_bytes()


def test_preview_needs_no_secret_and_makes_none(
    example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its links are inert (no tokens), so nothing needs signing: not even on a shared store.
    monkeypatch.delenv("SYNDICATE_SECRET")
    code, first, err = preview(example, "--format", "text")
    assert code == 0, err
    assert not (example / ".syndicate" / "secret").exists()
    assert b"/test-copy/unsubscribe" in first and b"/unsubscribe/" not in first
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", f"sqlite:///{example / 'elsewhere.db'}")
    code, _, err = preview(example)
    assert code == 0, err


def test_two_topic_sets_render_two_digests(site: Site) -> None:
    site.configure(
        '\n[email]\nfrom_name = "Letter"\nfrom_address = "letter@example.org"\n'
        '\n[lists.weekly]\ntitle = "Weekly"\n'
    )
    site.write("t.md", "---\ntitle: Trade news\ndate: 2026-11-20\ntags: [trade]\n---\n\nx\n")
    site.write("e.md", "---\ntitle: Energy news\ndate: 2026-11-21\ntags: [energy]\n---\n\nx\n")
    rows = read_rows(
        io.BytesIO(
            b"email,topics\na@example.org,trade\nb@example.org,Trade\nc@example.org,energy\n"
        ),
        "s.csv",
    )
    import_rows(site.engine, "weekly", rows, now=NOW)
    articles = read_site(site.settings, site.engine, now=NOW, offline=True).articles
    prepared = prepare(site.settings, site.engine, "weekly", articles, now=NOW)
    rendered = render_for_audience(prepared, site.settings)
    assert len(rendered) == 2  # three subscribers, two distinct topic sets
    trade = rendered[frozenset({"trade"})]
    energy = rendered[frozenset({"energy"})]
    assert "Trade news" in trade.html and "Energy news" not in trade.html
    assert "Energy news" in energy.html and "Trade news" not in energy.html


def test_archive_copy_has_nothing_personal(example: Path) -> None:
    settings = load_settings(example)
    engine = open_store(settings.database_url)
    try:
        articles = read_site(settings, engine, now=NOW, offline=True).articles
        digest = prepare(settings, engine, "weekly", articles, now=NOW).digests[EVERYTHING]
    finally:
        engine.dispose()
    path = write_archive(render_digest(digest, settings), settings)
    assert path == example / "archive" / "weekly" / "1.html"
    page = path.read_text(encoding="utf-8")
    assert MEDIATOR in page
    assert "SYNDICATEx9" not in page
    hrefs = {a.get("href") for a in lxml_html.fromstring(page).iter("a")}
    assert "https://eurasia-letter.example.org/unsubscribe" in hrefs  # the generic page
    assert not any("/unsubscribe/" in (h or "") for h in hrefs)  # nobody's token
