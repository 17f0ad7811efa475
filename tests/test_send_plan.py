"""Issue 12, item 2 (and the send prompt of 16): one plan for dry-run, preview and send.

A reader whose topics match none of the new articles gets nothing, unless the list sets
``send_empty = true``; ``send --dry-run``, the confirmation prompt, ``preview`` and the send
itself describe (and do) the same thing. Mail goes into the site's Maildir, read back."""

from __future__ import annotations

import email
import io
import json
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import Site

SECRET = "test-secret-0123456789abcdef"
CONFIG = """
[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"

[lists.weekly]
title = "Weekly"
"""
READERS = (
    "email,name,topics\n"
    "ada@example.org,Ada,\n"
    "grace@example.org,Grace,trade\n"
    "sam@example.org,Sam,sport\n"
)


def wall() -> datetime:
    return datetime.now(UTC)


def cli(site: Site, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def mailed(site: Site) -> list[str]:
    """Who got a mail in the site's Maildir."""
    new = site.root / "maildir" / "new"
    if not new.is_dir():
        return []
    found = []
    for path in new.iterdir():
        message = email.message_from_bytes(path.read_bytes())
        found.append(getaddresses([message["To"]])[0][1])
    return sorted(found)


@pytest.fixture
def letter(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """Ada chose no topics, Grace chose trade, Sam chose sport; the one new article is trade."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG)
    stamp = (wall() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write("a.md", f"---\ntitle: Tariffs rise\ndate: {stamp}\ntags: [trade]\n---\n\nText.\n")
    rows = read_rows(io.BytesIO(READERS.encode()), "in.csv")
    report = import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=30))
    assert not report.problems
    return site


def test_a_reader_whose_topics_match_nothing_gets_nothing_and_every_view_agrees(
    letter: Site,
) -> None:
    code, stdout, stderr = cli(letter, "send", "weekly", "--dry-run", "--offline", "--json")
    assert code == 0, stderr
    plan = json.loads(stdout)
    by_topics = {tuple(v["topics"]): v for v in plan["versions"]}
    assert by_topics[("sport",)]["skipped"] is True
    assert by_topics[("sport",)]["articles"] == 0
    assert by_topics[("trade",)]["skipped"] is False
    assert by_topics[()]["skipped"] is False
    assert plan["recipients"] == 2 and plan["skipped"] == 1
    would = sorted(e for v in plan["versions"] if not v["skipped"] for e in v["emails"])

    code, stdout, stderr = cli(letter, "send", "weekly", "--dry-run", "--offline")
    assert code == 0, stderr
    assert "topics sport: 1 subscriber · no new article for these topics: skipped" in stdout
    assert "topics trade: 1 subscriber · 1 article · subject 'Weekly: Tariffs rise'" in stdout

    code, _, stderr = cli(letter, "preview", "weekly", "--topics", "sport", "--offline")
    assert code == 0, stderr
    skipped = "topics sport: 1 subscriber · no new article for these topics: skipped"
    assert skipped in stderr  # the same plan, in preview

    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline", "--json")
    assert code == 0, stderr
    done = json.loads(stdout)
    assert done["counts"] == {"sent": 2} and done["skipped"] == 1
    assert mailed(letter) == would == ["ada@example.org", "grace@example.org"]


def test_send_empty_sends_the_empty_version_too(letter: Site) -> None:
    letter.configure(CONFIG + "send_empty = true\n")
    code, stdout, stderr = cli(letter, "send", "weekly", "--dry-run", "--offline", "--json")
    assert code == 0, stderr
    assert not any(v["skipped"] for v in json.loads(stdout)["versions"])
    code, _, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stderr
    assert mailed(letter) == ["ada@example.org", "grace@example.org", "sam@example.org"]


def test_the_prompt_shows_each_versions_subject_articles_and_recipients(letter: Site) -> None:
    code, stdout, stderr = cli(letter, "send", "weekly", "--offline", stdin="n\n")
    assert code == 1  # declined: nothing sent, nothing recorded
    assert mailed(letter) == []
    # The words `send`, `report` and the desk use (one phrase everywhere).
    assert (
        "weekly-1: 1 new article, 2 recipients "
        "(1 subscriber skipped: nothing new for their topics)" in stderr
    )
    assert (
        "readers without topics: 1 subscriber · 1 article · subject 'Weekly: Tariffs rise'"
        in stderr
    )
    assert "Send weekly-1 to 2 subscribers?" in stderr
    assert "not sent: nothing was recorded" in stderr  # declining is never silent
    assert "send 1" not in stderr + stdout
    code, stdout, _ = cli(letter, "status", "--json")
    assert code == 0 and json.loads(stdout)["sends"] == []


def test_a_send_with_no_one_to_answer_says_to_add_yes(letter: Site) -> None:
    """From a script or cron (stdin closed, no terminal) the question gets no answer."""
    code, _, stderr = cli(letter, "send", "weekly", "--offline", stdin="")
    assert code == 1
    assert mailed(letter) == []
    assert "no answer (no terminal): add --yes to send without asking" in stderr
    assert "`syndicate send weekly --yes`" in stderr
    assert "not sent: nothing was recorded" in stderr
    assert "Aborted" not in stderr
