"""Attacks through the files syndicate writes, serves and prints (issue 13, items 15-18), each
against real parts: the ASGI app through httpx, the real CLI (click's runner), a real
``syndicate run`` process on 127.0.0.1. Each test here failed before its fix, except the
ones said to guard what was right already.

Attacks defended:

- CSV injection (15): a name typed into the public subscribe form (``=2+5``, ``+SUM(1;2)``,
  ``-2+3``, ``@SUM(A1)``) or a column name from another platform's export is written by
  ``subscribers export`` with a leading ``'``, which spreadsheets show as text instead of
  running it; ``export --raw`` writes cells as stored (for programs), ``import --raw`` reads
  such a file back. Import drops exactly the ``'`` that export added, so any text, also one
  that really starts with ``'``, reads back unchanged (a property test).
- Stored data that no CSV can hold (16): a header cell with a control character is refused
  at import as ``file:1: reason``; attributes stored before that check (a key holding ESC, a
  reserved or padded key, a NUL in a value, ``;`` in a topic) no longer crash ``export`` with
  a traceback: they are written escaped or left out, each with a warning on stderr. (The
  refusal at import was fixed in issue 12; its test here pins the ``file:1:`` form.)
- Published folders (17): ``feeds.folder = "."`` made ``run`` serve ``syndicate.toml``,
  ``subscribers/*.csv`` and the Maildir (confirmation tokens). A served folder (the feeds
  folder with its ``media/`` images, the archive folder) that contains or lies inside the
  config file, the state folder ``.syndicate/`` (secret, SQLite database) or a database file
  elsewhere, the subscriber files, the Maildir, the templates, the content folder or the DKIM
  key is refused when the settings load, naming the key to change; symlinks are followed.
  ``run`` exits with status 2 and that message, before it listens. ``feeds/`` beside them
  (the example publication) and folders outside the site are fine (these pass already).
- Printed paths and values (18): a content file named ``a.md:1: ok<LF>forged.md`` printed
  a forged problem line in ``check``, ``articles``, ``build`` and the ``run`` log, and a CSV
  named so did the same in ``import``; ESC, C1 (CSI) and bidi overrides in names and titles
  reached the terminal. Problems print their path and reason escaped (``\\n``, ``\\x1b``,
  ``\\u202e``); every string the CLI prints is one line with its control characters escaped
  (the console itself does it, so no command can forget); log records are single lines; the
  JSON output escapes C1 and bidi characters too, while its ``path`` stays exact.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from syndicate.cli import main
from syndicate.config import load_settings
from syndicate.errors import ConfigError
from syndicate.models import Problem
from syndicate.subscribers.csvexport import ExportRow, key_problem, writable_keys, writable_row
from syndicate.subscribers.csvexport import write_rows as write_csv
from syndicate.subscribers.csvfile import Row, read_rows
from tests.conftest import Site
from tests.test_run import CONFIG as RUN_CONFIG
from tests.test_run import REPO, Running
from tests.test_web import Web, subscribe

ESC = "\x1b"


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def records(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output, newline="")))


# --- 15: CSV injection ------------------------------------------------------------------------

FORMULAS = ["=2+5", "+SUM(1;2)", "-2+3", "@SUM(A1)"]


def test_names_from_the_subscribe_form_are_exported_as_text(web_site: Site, web: Web) -> None:
    for n, name in enumerate(FORMULAS):
        assert subscribe(web, f"f{n}@example.org", "weekly", name=name).status_code == 200
    code, guarded, _ = cli(web_site, "subscribers", "export", "weekly")
    assert code == 0, guarded
    names = {r["email"]: r["name"] for r in records(guarded)}
    assert names == {f"f{n}@example.org": f"'{name}" for n, name in enumerate(FORMULAS)}
    code, raw, _ = cli(web_site, "subscribers", "export", "weekly", "--raw")
    assert code == 0, raw
    names = {r["email"]: r["name"] for r in records(raw)}
    assert names == {f"f{n}@example.org": name for n, name in enumerate(FORMULAS)}
    code, helped, _ = cli(web_site, "subscribers", "export", "--help")
    assert "--raw" in helped and "formula" in helped


def test_both_exports_import_back_unchanged(site: Site) -> None:
    """The default export into one list, the raw one into another: the names read back as
    typed, also one that really starts with ``'`` and one that looks guarded already."""
    site.configure('[lists.weekly]\ntitle = "Weekly"\n[lists.daily]\ntitle = "Daily"\n')
    names = ["=2+5", "'quoted", "'=looks guarded", "''+x", "O'Brien"]
    for n, name in enumerate(names):
        added = cli(site, "subscribers", "add", "weekly", f"p{n}@x.org", f"--name={name}")
        assert added[0] == 0, added
    for list_name, flags in (("weekly", ()), ("daily", ("--raw",))):
        exported = site.root / f"{list_name}.csv"
        code, _, said = cli(site, "subscribers", "export", "weekly", "--out", str(exported), *flags)
        assert code == 0, said
        site.engine.dispose()
        with site.engine.begin() as conn:
            conn.execute(text("UPDATE subscribers SET name = NULL"))
        code, said, problem = cli(
            site, "subscribers", "import", list_name, str(exported), "--update", *flags
        )
        assert code == 0, said + problem
        with site.engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT email, name FROM subscribers")).all())
        assert stored == {f"p{n}@x.org": name for n, name in enumerate(names)}, list_name


def test_a_formula_in_a_column_name_is_exported_as_text(site: Site) -> None:
    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    source = site.root / "platform.csv"
    source.write_text("email,=cmd|' /C calc'!A0\nann@example.org,x\n", encoding="utf-8")
    code, said, problem = cli(site, "subscribers", "import", "weekly", str(source))
    assert code == 0, said + problem
    code, exported, _ = cli(site, "subscribers", "export", "weekly")
    assert code == 0, exported
    assert exported.splitlines()[0] == "email,name,topics,status,'=cmd|' /C calc'!A0"
    again = list(read_rows(io.BytesIO(exported.encode()), "x.csv"))
    assert isinstance(again[0], Row) and again[0].attributes == {"=cmd|' /C calc'!A0": "x"}


# Text biased towards what spreadsheets run and the guard itself, then anything at all.
CELL = st.text(st.sampled_from("'=+-@\t\r\n \"a;,"), min_size=1, max_size=12) | st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1
)
NAME = CELL.map(lambda n: n.strip()[:80].strip()).filter(lambda n: n and not key_problem(n))
KEY = CELL.filter(lambda k: key_problem(k) is None)


@settings(max_examples=400, deadline=None)
@given(name=NAME, key=KEY, value=CELL, raw=st.booleans())
def test_any_text_exported_reads_back_the_same(name: str, key: str, value: str, raw: bool) -> None:
    out = io.StringIO(newline="")
    original = ExportRow(email="ann@example.org", name=name, attributes={key: value})
    write_csv(out, [original], attribute_keys=[key], raw=raw)
    if not raw:
        cells = [c for record in csv.reader(io.StringIO(out.getvalue())) for c in record]
        assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells), cells
    back = list(read_rows(io.BytesIO(out.getvalue().encode()), "x.csv", raw=raw))
    assert len(back) == 1 and isinstance(back[0], Row), back
    assert (back[0].name, back[0].attributes) == (name, {key: value})


# --- 16: what no CSV can hold -----------------------------------------------------------------


def test_a_header_cell_with_a_control_character_is_refused_at_line_1(site: Site) -> None:
    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    bad = site.root / "bad.csv"
    bad.write_bytes(b"email,name,\x1b[2Jkey\ncy@example.org,Cy,v\n")
    code, said, problem = cli(site, "subscribers", "import", "weekly", str(bad))
    assert code == 1
    assert problem.startswith(
        f'{bad}:1: column 3 ("\\u001b[2Jkey") has a control character (U+001B) in its name'
    ), problem
    assert ESC not in said + problem


def test_export_of_data_stored_before_the_checks_never_crashes(site: Site) -> None:
    """Rows stored by an older version: the export writes what it can, says what it changed,
    and the file imports back without a problem."""
    site.configure('[lists.weekly]\ntitle = "Weekly"\ntags = ["a;b", "c"]\n')
    code, said, problem = cli(site, "subscribers", "add", "weekly", "ann@example.org")
    assert code == 0, said + problem
    stored = [["co\x1b[2Jmp", "ACME"], ["name", "shadow"], [" pad ", "p"], ["note", "nul\x00"]]
    site.engine.dispose()
    with site.engine.begin() as conn:
        conn.execute(text("UPDATE subscribers SET attributes = :a"), {"a": json.dumps(stored)})
        conn.execute(text("UPDATE subscriptions SET topics = :t"), {"t": json.dumps(["a;b"])})
    code, exported, warned = cli(site, "subscribers", "export", "weekly")
    assert code == 0, warned
    assert ESC not in warned and "\x00" not in exported
    assert 'attribute "co\\u001b[2Jmp" is written as column "co\\u001b[2Jmp"' in warned
    assert 'attribute "name" is left out' in warned
    assert "NUL" in warned and "';'" in warned
    again = list(read_rows(io.BytesIO(exported.encode()), "x.csv"))
    assert not [p for p in again if isinstance(p, Problem)], again
    assert isinstance(again[0], Row) and again[0].attributes == {
        "co\\u001b[2Jmp": "ACME",
        "note": "nul\\u0000",
        "pad": "p",
    }
    assert again[0].topics == ("a,b",)


@settings(max_examples=300, deadline=None)
@given(
    attributes=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=6),
    topics=st.lists(st.text(min_size=1, max_size=8), max_size=3),
    name=st.text(max_size=8).map(str.strip),
)
def test_whatever_is_stored_can_be_exported(
    attributes: dict[str, str], topics: list[str], name: str
) -> None:
    """Exported and imported again, without a problem (the values may come back escaped)."""
    columns, _ = writable_keys(attributes)
    stored = ExportRow(email="a@x.org", name=name, topics=tuple(topics), attributes=attributes)
    row, _ = writable_row(stored, columns)
    out = io.StringIO(newline="")
    write_csv(out, [row], attribute_keys=sorted(columns.values()))
    back = list(read_rows(io.BytesIO(out.getvalue().encode()), "x.csv"))
    assert len(back) == 1 and isinstance(back[0], Row), back


# --- 17: a served folder that holds private files ---------------------------------------------

FORBIDDEN = [  # (extra config, what the first error names)
    ('[feeds]\nfolder = "."\n', "contains the site's config file syndicate.toml"),
    ('[feeds]\nfolder = ".."\n', "contains the site's config file syndicate.toml"),
    ('[feeds]\nfolder = ".syndicate"\n', "contains the state folder .syndicate/"),
    ('[feeds]\nfolder = "subscribers"\n', "contains the subscriber files subscribers/"),
    ('[feeds]\nfolder = "subscribers/public"\n', "is inside the subscriber files subscribers/"),
    ('[feeds]\nfolder = "maildir"\n', "contains the Maildir maildir/"),
    ('[feeds]\nfolder = "templates"\n', "contains the templates templates/"),
    ('[feeds]\nfolder = "content"\n', "contains the content folder 'content'"),
    ('[feeds]\nfolder = "content/feeds"\n', "is inside the content folder 'content'"),
    ('[feeds]\nfolder = "public"\n[database]\nurl = "sqlite:///public/state.db"\n', "database"),
    (
        '[feeds]\nfolder = "public"\n[email]\nfrom_name = "L"\nfrom_address = "l@x.org"\n'
        'dkim_key_file = "public/dkim.pem"\n',
        "contains the DKIM key 'public/dkim.pem'",
    ),
]


def _config(site: Site, extra: str, content: str = "content") -> None:
    site.configure(extra)
    path = site.root / "syndicate.toml"
    text_ = path.read_text(encoding="utf-8").replace(
        'folder = "content"', f'folder = "{content}"', 1
    )
    if "[database]" in extra:  # the test's own url instead of the site's
        head, _, rest = text_.partition("[database]\nurl = ")
        text_ = head + rest.split("\n", 1)[1]
    path.write_text(text_, encoding="utf-8")


@pytest.mark.parametrize(("extra", "named"), FORBIDDEN)
def test_a_feeds_folder_holding_private_files_is_refused(
    site: Site, extra: str, named: str
) -> None:
    _config(site, extra)
    with pytest.raises(ConfigError) as refused:
        load_settings(site.root)
    first = refused.value.problems[0]
    assert first.startswith("syndicate.toml: feeds.folder: the feeds folder "), first
    why = "`syndicate run` serves" if " contains " in first else "`syndicate build` would write"
    assert named in first and why in first, first


_BOUNCES = '[bounces]\naddress = "bounces@news.example.org"\nmaildir = "{}"\n'


@pytest.mark.parametrize(
    ("extra", "field", "served"),
    [
        (_BOUNCES.format("feeds/bounces"), "bounces.maildir", "the feeds folder 'feeds'"),
        (_BOUNCES.format("archive/bounces"), "bounces.maildir", "the archive folder archive/"),
        ('[feeds]\nfolder = "bounces"\n' + _BOUNCES.format("bounces"), "feeds.folder", "the feeds"),
    ],
)
def test_a_bounce_maildir_in_a_served_folder_is_refused(
    site: Site, extra: str, field: str, served: str
) -> None:
    """Its bounces carry VERP tokens (which act as the reader) and readers' addresses."""
    _config(site, extra)
    with pytest.raises(ConfigError) as refused:
        load_settings(site.root)
    first = refused.value.problems[0]
    assert first.startswith(f"syndicate.toml: {field}: {served}"), first
    assert "contains the bounce Maildir " in first and "serves this folder" in first, first
    if field == "bounces.maildir":
        assert first.endswith(": change bounces.maildir"), first


def test_a_bounce_maildir_of_its_own_is_fine(site: Site) -> None:
    _config(site, _BOUNCES.format("bounces"))
    assert load_settings(site.root).config.bounces is not None


def test_a_symlink_to_the_site_is_no_way_around(site: Site) -> None:
    (site.root / "public").symlink_to(site.root)
    _config(site, '[feeds]\nfolder = "public"\n')
    with pytest.raises(ConfigError, match=r"feeds\.folder: .* contains the site's config file"):
        load_settings(site.root)


def test_content_inside_the_served_archive_is_refused(site: Site) -> None:
    _config(site, "", content="archive/posts")
    with pytest.raises(ConfigError) as refused:
        load_settings(site.root)
    assert refused.value.problems == [
        f"syndicate.toml: content.folder: the archive folder archive/ ({site.root}/archive) "
        "contains the content folder 'archive/posts'; `syndicate run` serves this folder over "
        "HTTP to anyone: change content.folder"
    ]


@pytest.mark.parametrize("folder", ["archive", "archive/feeds", "."])
def test_a_feeds_folder_overlapping_the_archive_is_refused(site: Site, folder: str) -> None:
    """``build`` writes and removes files in its folder: never among the archive's copies."""
    _config(site, f'[feeds]\nfolder = "{folder}"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(site.root)
    assert any(
        p.startswith("syndicate.toml: feeds.folder: ") and "overlaps the archive folder" in p
        for p in refused.value.problems
    ), refused.value.problems


@pytest.mark.parametrize("folder", ["feeds", "public/feeds", "build", "/srv/www/feeds-test"])
def test_a_folder_of_its_own_is_fine(site: Site, folder: str) -> None:
    _config(site, f'[feeds]\nfolder = "{folder}"\n')
    assert load_settings(site.root).feeds_dir == (site.root / folder).resolve()


def test_the_example_publication_loads() -> None:
    """The repository root is itself a publication, with feeds/ beside its private files."""
    settings = load_settings(REPO)
    assert settings.feeds_dir == REPO / "feeds"


def test_run_refuses_to_start_with_the_site_as_its_feeds_folder(site: Site) -> None:
    """Before, ``run`` started and served ``/feeds/syndicate.toml`` (and the Maildir)."""
    _config(site, '[feeds]\nfolder = "."\n' + RUN_CONFIG)
    env = {**os.environ, "SYNDICATE_SECRET": "s" * 32, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--site", str(site.root), "run", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    said = err.decode()
    assert proc.returncode == 2, (out, said)
    assert b"listening" not in out
    assert said.startswith("error: syndicate.toml: feeds.folder: the feeds folder '.' "), said
    assert "syndicate.toml" in said and "maildir/" in said and "Traceback" not in said


# --- 18: what is printed ----------------------------------------------------------------------

FORGED = "a.md:1: ok\nforged.md"  # a real file name: everything after the newline forges a line
SHOWN = "a.md:1: ok\\nforged.md"
BAD = "no front matter, no title line\n"


def _hostile_content(site: Site) -> None:
    site.write(FORGED, BAD)
    site.write("esc\x1b[2J\x1b]0;owned\x07.md", BAD)
    site.write("bidi\u202etxt.md", BAD)


def _lines_about(output: str, needle: str = "no title") -> list[str]:
    return [line for line in output.splitlines() if needle in line]


def test_check_prints_one_escaped_line_per_hostile_file_name(site: Site) -> None:
    _hostile_content(site)
    code, said, problems = cli(site, "check", "--offline")
    assert code == 1
    lines = problems.splitlines()
    assert not any(line.startswith("forged") for line in lines), lines
    assert len(_lines_about(problems)) == 3, lines
    assert f"content/{SHOWN}:1: no title" in problems
    assert "content/esc\\x1b[2J\\x1b]0;owned\\x07.md:1:" in problems
    assert "content/bidi\\u202etxt.md:1:" in problems
    assert not any(c in said + problems for c in "\x1b\x07\u202e")
    code, said, _ = cli(site, "check", "--offline", "--json")
    doc = json.loads(said)
    assert {p["path"] for p in doc["problems"]} >= {f"content/{FORGED}"}  # exact, for scripts
    assert all("\n" not in p["message"] for p in doc["problems"])
    assert "\u202e" not in said and "\\u202e" in said  # bidi escaped in the JSON text too


def test_articles_and_build_print_hostile_names_and_titles_escaped(site: Site) -> None:
    _hostile_content(site)
    # YAML escapes: ESC, CSI (a C1 control), a right-to-left override.
    site.write("ok.md", '---\ntitle: "Fine\\e[2J\\x9b31m\\u202eevil"\ndate: 2026-11-01\n---\nT.\n')
    for command in ("articles", "build"):
        code, said, problems = cli(site, command, "--offline")
        assert code in (0, 1), said + problems
        output = said + problems
        assert not any(c in output for c in "\x1b\x07\x9b\u202e"), repr(output)
        assert len(_lines_about(problems)) == 3 and f"{SHOWN}:1:" in problems, problems
        assert not any(line.startswith("forged") for line in output.splitlines())
    assert "Fine\\x1b[2J\\x9b31m\\u202eevil" in cli(site, "articles", "--offline")[1]


def test_import_problems_name_a_hostile_file_on_one_line(site: Site) -> None:
    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    path = site.root / "list.csv:1: ok\nforged.csv"
    path.write_bytes(b"email,name\nnot-an-address,X\n")
    code, said, problems = cli(site, "subscribers", "import", "weekly", str(path))
    assert code == 1
    assert not any(line.startswith("forged") for line in (said + problems).splitlines())
    assert "list.csv:1: ok\\nforged.csv:2: " in problems, problems


def test_stored_text_with_newlines_is_shown_on_its_lines(site: Site) -> None:
    """A name stored by an older version (or typed elsewhere) cannot add lines to ``show``."""
    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    assert cli(site, "subscribers", "add", "weekly", "ann@example.org", "--name", "Ann")[0] == 0
    site.engine.dispose()
    with site.engine.begin() as conn:
        conn.execute(text("UPDATE subscribers SET name = :n"), {"n": "Ann\nlists:\n  x: active"})
    code, said, _ = cli(site, "subscribers", "show", "ann@example.org")
    assert code == 0
    assert "Ann\\nlists:\\n  x: active" in said, said
    assert [line for line in said.splitlines() if line.startswith("lists:")] == ["lists:"], said


def test_run_logs_a_hostile_file_name_on_one_line(site: Site, tmp_path: Path) -> None:
    site.configure(RUN_CONFIG)
    _hostile_content(site)
    running = Running(site, tmp_path / "run.log")
    try:
        deadline = time.monotonic() + 30
        while len(_lines_about(running.log.read_text())) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert running.stop() == 0
    log = running.log.read_text()
    assert len(_lines_about(log)) == 3, log
    assert f"{SHOWN}:1: no title" in log and "\x1b" not in log and "\u202e" not in log
    assert not any(line.startswith("forged") for line in log.splitlines()), log


def test_the_console_escapes_what_it_renders_but_keeps_its_own_styles() -> None:
    """The net under every command: also a rich ``Text`` (not a plain string) is escaped,
    while the colours rich itself writes on a terminal stay."""
    from rich.text import Text

    from syndicate.cli.base import Terminal

    buffer = io.StringIO()
    console = Terminal(file=buffer, force_terminal=True, color_system="standard", width=200)
    console.print(Text("a\x1b[2Jb\x9bc", style="red"), "[bold]x[/bold]\ny")
    written = buffer.getvalue()
    assert "a\\x1b[2Jb\\x9bc" in written and "\\ny" in written, repr(written)
    assert "\x1b[31m" in written and "\x1b[2J" not in written and "\x9b" not in written
