"""Site templates and branding: errors as ``file:line: reason``, logo and accent colour, and
the editor's note (preview, send, test copies, and a resumed send)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender
from syndicate.delivery.maildir import MaildirTransport
from syndicate.digest.note import load_note
from syndicate.digest.render import render_digest
from syndicate.digest.templating import TemplateError
from syndicate.store.tables import digests
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site

SECRET = "templates-secret-0123456789abcdef"
CONFIG = """
[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"
{branding}

[lists.weekly]
title = "Weekly"
"""
GOOD_MJML = """\
<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ recipient_name }}: {{ digest.articles|length }} new.</mj-text>
        <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
NOTE = """\
## From the editor

This week **everything** changed. Read [the essay](/essays/change/) first.

<script>alert("x")</script><img src="x" onerror="alert(1)">

* one thing
* another
"""


def wall() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def letter(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG.format(branding=""))
    stamp = (wall() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write("a.md", f"---\ntitle: Trade wars\ndate: {stamp}\n---\n\nText.\n")
    rows = read_rows(io.BytesIO(b"email,name\nada@example.org,Ada\n"), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=9)).problems
    return site


def cli(site: Site, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout_bytes, result.stderr


def override(site: Site, name: str, text: str) -> None:
    folder = site.root / "templates"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def with_line(text: str, line: int, replacement: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = replacement
    return "\n".join(lines) + "\n"


# --- template errors ----------------------------------------------------------------------

BROKEN = [
    pytest.param(
        "digest.mjml.j2",
        with_line(GOOD_MJML, 5, "        <mj-text>{{ digest.issue + }}</mj-text>"),
        5,
        "syntax error: unexpected",
        id="jinja-syntax",
    ),
    pytest.param(
        "digest.mjml.j2",
        with_line(GOOD_MJML, 5, "        <mj-text>{{ no_such_thing.title }}</mj-text>"),
        5,
        "'no_such_thing' is undefined",
        id="undefined",
    ),
    pytest.param(
        "digest.mjml.j2",
        with_line(GOOD_MJML, 6, "        <mj-text><a href='{{ unsubscribe_url }}'>Bye</a>"),
        6,
        "MJML",
        id="mjml-unclosed",
    ),
    pytest.param(
        "digest.txt.j2",
        "Hello {{ recipient_name }}\n{{ unsubscribe_url }}\n{{ digest.nope.deeper }}\n",
        3,
        "has no attribute 'nope'",
        id="text-undefined",
    ),
]


@pytest.mark.parametrize(("name", "text", "line", "reason"), BROKEN)
@pytest.mark.parametrize(
    "command",
    [
        ("preview", "weekly", "--offline"),
        ("send", "weekly", "--offline", "--to", "me@example.net"),
        ("send", "weekly", "--offline", "--yes"),
        ("send", "weekly", "--offline", "--dry-run"),  # says what the send would do: fail
    ],
    ids=["preview", "test-copy", "send", "dry-run"],
)
def test_a_template_error_names_file_and_line(
    letter: Site, name: str, text: str, line: int, reason: str, command: tuple[str, ...]
) -> None:
    if name == "digest.txt.j2":
        override(letter, "digest.mjml.j2", GOOD_MJML)
    override(letter, name, text)
    code, out, err = cli(letter, *command)
    assert code == 1, (out, err)
    assert f"error: templates/{name}:{line}: " in err, err
    assert reason in err
    assert "Traceback" not in err and not out.strip()
    with letter.engine.connect() as conn:  # nothing recorded: the next send is a new one
        assert conn.scalar(select(func.count()).select_from(digests)) == 0


def test_an_mjml_tag_closed_out_of_turn_on_its_own_line_names_the_line_once(letter: Site) -> None:
    line = "        <mj-text><mj-section>{{ digest.issue }}</mj-text>"
    override(letter, "digest.mjml.j2", with_line(GOOD_MJML, 5, line))
    code, _, err = cli(letter, "preview", "weekly", "--offline")
    assert code == 1, err
    assert "error: templates/digest.mjml.j2:5: MJML: <mj-section> is not closed before " in err
    assert "(line 5)" not in err  # the position is already in front


def test_the_scheduled_path_raises_the_same_error(letter: Site) -> None:
    override(letter, "digest.mjml.j2", with_line(GOOD_MJML, 5, "<mj-text>{{ nope }}</mj-text>"))
    settings = letter.settings
    articles = read_site(settings, letter.engine, now=wall(), offline=True).articles

    async def go() -> None:
        transport = MaildirTransport(letter.root / "maildir")
        sender = Sender(settings, letter.engine, transport, Signer(SECRET), clock=wall)
        try:
            await sender.run("weekly", articles)
        finally:
            await transport.close()

    with pytest.raises(TemplateError) as caught:
        asyncio.run(go())
    assert str(caught.value).startswith("templates/digest.mjml.j2:5: 'nope' is undefined")


@pytest.mark.parametrize(("name", "text", "line", "reason"), BROKEN)
def test_check_finds_the_template_error_before_any_send(
    letter: Site, name: str, text: str, line: int, reason: str
) -> None:
    if name == "digest.txt.j2":
        override(letter, "digest.mjml.j2", GOOD_MJML)
    override(letter, name, text)
    code, _, err = cli(letter, "check", "--offline")
    assert code == 1 and f"templates/{name}:{line}: " in err and reason in err, err
    assert "Traceback" not in err


def test_check_finds_a_template_without_unsubscribe_link(letter: Site) -> None:
    override(letter, "digest.mjml.j2", GOOD_MJML.replace("{{ unsubscribe_url }}", "/bye"))
    code, _, err = cli(letter, "check", "--offline")
    assert code == 1 and "templates/digest.mjml.j2" in err and "unsubscribe_url" in err, err
    code, _, err = cli(letter, "preview", "weekly", "--offline")
    assert code == 1 and "templates/digest.mjml.j2" in err and "Traceback" not in err


def test_a_good_override_renders(letter: Site) -> None:
    override(letter, "digest.mjml.j2", GOOD_MJML)
    code, out, err = cli(letter, "preview", "weekly", "--offline")
    assert code == 0, err
    assert "Hello Sample Reader: 1 new." in out.decode()


# --- branding -----------------------------------------------------------------------------


def test_logo_and_accent_colour_reach_the_default_template(letter: Site) -> None:
    letter.configure(CONFIG.format(branding='logo_url = "/img/logo.png"\naccent_color = "#AA3300"'))
    code, out, err = cli(letter, "preview", "weekly", "--offline")
    assert code == 0, err
    page = lxml_html.fromstring(out)
    logos = [i for i in page.iter("img") if i.get("src") == "https://news.example.org/img/logo.png"]
    assert logos and logos[0].get("alt") == "Test Letter"
    html = out.decode()
    assert "#aa3300" in html and "#0b57d0" not in html  # links and button
    letter.configure(CONFIG.format(branding=""))
    code, out, err = cli(letter, "preview", "weekly", "--offline")
    assert code == 0 and "logo.png" not in out.decode() and "#0b57d0" in out.decode()


@pytest.mark.parametrize(
    ("setting", "key"),
    [('accent_color = "red"', "email.accent_color"), ('logo_url = "ftp://x/y.png"', "logo_url")],
)
def test_bad_branding_is_a_config_error(letter: Site, setting: str, key: str) -> None:
    letter.configure(CONFIG.format(branding=setting))
    code, _, err = cli(letter, "preview", "weekly", "--offline")
    assert code == 2 and key in err and "syndicate.toml" in err


# --- the editor's note --------------------------------------------------------------------


def note_file(tmp_path: Path, text: str | bytes = NOTE) -> Path:
    path = tmp_path / "note.md"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()  # type: ignore[attr-defined]


def assert_has_note(text: str, html: str) -> None:
    page = lxml_html.fromstring(html)
    strong = [s.text_content() for s in page.iter("strong")]
    assert "everything" in strong
    assert "https://news.example.org/essays/change/" in {a.get("href") for a in page.iter("a")}
    assert "<script" not in html and "onerror" not in html and 'alert("x")' not in html
    flat = " ".join(text.split())  # the text part is wrapped at 78 columns
    assert "From the editor" in text and "This week everything changed." in flat
    assert "the essay (https://news.example.org/essays/change/)" in flat
    assert "* one thing" in text
    assert text.index("From the editor") < text.index("Trade wars")  # at the top


def test_preview_shows_the_note_at_the_top(letter: Site, tmp_path: Path) -> None:
    path = note_file(tmp_path)
    code, out, err = cli(
        letter, "preview", "weekly", "--offline", "--format", "eml", "--note", str(path)
    )
    assert code == 0, err
    message = email.message_from_bytes(out, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert_has_note(*parts(message))


def test_a_test_copy_shows_the_note(letter: Site, tmp_path: Path) -> None:
    path = note_file(tmp_path)
    code, _, err = cli(
        letter, "send", "weekly", "--offline", "--to", "me@example.net", "--note", str(path)
    )
    assert code == 0, err
    [copy] = maildir(letter)
    assert_has_note(*parts(copy))


def maildir(site: Site) -> list[EmailMessage]:
    new = site.root / "maildir" / "new"
    paths = sorted(new.iterdir()) if new.is_dir() else []
    found = []
    for p in paths:
        message = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def test_the_note_survives_a_resumed_send(letter: Site, tmp_path: Path) -> None:
    path = note_file(tmp_path)
    settings = letter.settings
    articles = read_site(settings, letter.engine, now=wall(), offline=True).articles
    note = load_note(path, base_url=settings.publication.base_url)

    async def record_only() -> None:
        transport = MaildirTransport(letter.root / "maildir")
        sender = Sender(settings, letter.engine, transport, Signer(SECRET), clock=wall)
        try:  # records the digest, its note and its ledger; delivers nothing (as for workers)
            await sender.run("weekly", articles, deliver=False, note=note)
        finally:
            await transport.close()

    asyncio.run(record_only())
    assert maildir(letter) == []
    path.unlink()  # the note file is gone: the store has it
    code, _, err = cli(letter, "send", "weekly", "--offline", "--yes")
    assert code == 0, err
    assert "resuming" in err
    [copy] = maildir(letter)
    assert_has_note(*parts(copy))
    archived = (letter.root / "archive" / "weekly" / "1.html").read_text(encoding="utf-8")
    assert "This week" in archived


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"caf\xe9 au lait\n", "note.md:1: not UTF-8"),
        (b"   \n\n", "note.md: is empty"),
        (b"x" * 30_000, "note.md: is 30,000 characters long"),
    ],
)
def test_a_bad_note_names_the_file(
    letter: Site, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = note_file(tmp_path, content)
    for command in (("preview", "weekly"), ("send", "weekly", "--yes")):
        code, _, err = cli(letter, *command, "--offline", "--note", str(path))
        assert code == 1 and reason in err and str(tmp_path) in err, err
    assert maildir(letter) == []
    code, _, err = cli(letter, "preview", "weekly", "--note", str(tmp_path / "missing.md"))
    assert code != 0 and "missing.md" in err


def test_render_digest_without_note_has_no_note_block(letter: Site) -> None:
    from syndicate.digest.prepare import prepare

    settings = letter.settings
    articles = read_site(settings, letter.engine, now=wall(), offline=True).articles
    prepared = prepare(settings, letter.engine, "weekly", articles, now=wall())
    plain = render_digest(prepared.digests[frozenset()], settings)
    assert 'class="txt note"' not in plain.html
