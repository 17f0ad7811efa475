"""The CLI, run in-process through click's runner against real folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate import __version__
from syndicate.cli import main

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example publication at the repository root."""
    site = tmp_path / "example"
    site.mkdir()
    shutil.copy(REPO / "syndicate.toml", site / "syndicate.toml")
    shutil.copytree(REPO / "content", site / "content")
    return site


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0 and __version__ in out
    code, out, _ = run("--help")
    assert code == 0
    assert "Examples:" in out and "syndicate init" in out
    for command in ("init", "check", "articles"):
        assert command in out


def test_example_publication_reads_cleanly(example: Path) -> None:
    code, out, err = run("--site", str(example), "check", "--offline")
    assert code == 0, err
    assert "4 articles read, 0 problems" in out


def test_articles_json_on_the_example(example: Path) -> None:
    code, out, _ = run("--site", str(example), "articles", "--json", "--offline")
    assert code == 0
    doc = json.loads(out)
    assert doc["problems"] == []
    found = {a["title"]: a for a in doc["articles"]}
    assert "Energy Outlook 2027 (work in progress)" not in found  # a draft
    mediator = found[
        "Among Conflicts and Sanctions: Kazakhstan’s Role in Navigating Peace and Resolving Crises"
    ]
    assert mediator["author"] == "Ernest Gallo"
    assert len(mediator["related"]) == 3
    related = {r["title"]: r["url"] for r in mediator["related"]}
    # Two of the three teasers name articles of this publication and link to them.
    assert (
        related["On the Prospects of a Third World War"]
        == found["On the Prospects of a Third World War"]["url"]
    )
    assert related["AI Fighter Jets: Skynet or Strategic Supremacy?"].startswith("https://")
    assert (
        related[
            "Reevaluating Zionism: A Philosophical Perspective on the Modern State of Israel’s "
            "Prophetic and Historical Significance"
        ]
        is None
    )
    jets = found["AI Fighter Jets: Skynet or Strategic Supremacy?"]
    assert jets["image"] == "https://eurasia-letter.example.org/images/f16-vista.jpg"
    assert jets["published"] == "2026-10-12T08:00:00+02:00"
    for article in found.values():
        assert len(article["teaser"]) <= 300
        assert set(article) >= {"id", "title", "author", "published", "tags", "url", "teaser"}


def test_articles_table_lists_everything(example: Path) -> None:
    code, out, _ = run("--site", str(example), "articles", "--offline")
    assert code == 0
    assert "4 articles" in out
    assert "Ernest Gallo" in out and "related teasers: 3" in out


def test_init_scaffolds_a_working_site(tmp_path: Path) -> None:
    target = tmp_path / "my-letter"
    code, out, _ = run("init", str(target), "--base-url", "https://letter.example.org")
    assert code == 0, out
    assert (target / "syndicate.toml").is_file()
    assert 'title = "My Letter"' in (target / "syndicate.toml").read_text(encoding="utf-8")
    code, out, err = run("--site", str(target), "check")
    assert code == 0, err
    code, out, _ = run("--site", str(target), "articles", "--json")
    assert [a["title"] for a in json.loads(out)["articles"]] == ["Hello, world"]


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "syndicate.toml").write_text("# mine\n", encoding="utf-8")
    code, _, err = run("init", str(tmp_path))
    assert code == 1
    assert "already exists" in err
    assert (tmp_path / "syndicate.toml").read_text(encoding="utf-8") == "# mine\n"


def test_init_rejects_a_bad_url(tmp_path: Path) -> None:
    code, _, err = run("init", str(tmp_path / "x"), "--base-url", "example.org")
    assert code == 2
    assert "publication.base_url: must be an absolute http(s) URL, got 'example.org'" in err
    assert not (tmp_path / "x" / "syndicate.toml").exists()


def test_check_reports_problems_and_fails(example: Path) -> None:
    (example / "content" / "broken.md").write_text("---\ntitle: [\n---\nx\n", encoding="utf-8")
    code, _, err = run("--site", str(example), "check", "--offline")
    assert code == 1
    assert "content/broken.md:" in err and "front matter is not valid YAML" in err
    code, out, _ = run("--site", str(example), "check", "--offline", "--json")
    assert code == 1
    doc = json.loads(out)  # one object, problems under their own key
    assert doc["ok"] is False and doc["articles"] == 4
    [problem] = doc["problems"]
    assert problem["path"] == "content/broken.md" and problem["line"] >= 1
    assert "front matter is not valid YAML" in problem["reason"]


def test_config_error_exits_2_and_names_the_key(example: Path) -> None:
    toml = example / "syndicate.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n[bogus]\n", encoding="utf-8")
    code, _, err = run("--site", str(example), "articles")
    assert code == 2
    assert "syndicate.toml: bogus: unknown key" in err


def test_missing_site_is_explained(tmp_path: Path) -> None:
    code, _, err = run("--site", str(tmp_path), "check")
    assert code == 2 and "syndicate init" in err


def test_every_command_module_is_mapped_for_lazy_loading() -> None:
    import importlib
    import pkgutil

    import syndicate.cli
    from syndicate.cli.base import COMMANDS
    from syndicate.cli.base import main as group

    for info in pkgutil.iter_modules(syndicate.cli.__path__):
        importlib.import_module(f"syndicate.cli.{info.name}")
    assert set(group.commands) == set(COMMANDS)
    for name, module in COMMANDS.items():
        assert group.commands[name].callback.__module__ == f"syndicate.cli.{module}"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("key", "template"),
    [
        ("subject", "{{ lead.title | nosuchfilter }}"),
        ("subject", "{{ 1 / 0 }}"),
        ("subject", "{{ lead.title.__class__ }}"),
        ("post_subject", '{{ "x" * 100000 }}'),
    ],
)
def test_a_subject_template_that_cannot_render_exits_1_in_check_and_preview_alike(
    example: Path, key: str, template: str
) -> None:
    # The configuration is valid (the template parses): rendering it is a problem, exit 1.
    toml = example / "syndicate.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("[lists.weekly]\n", f"[lists.weekly]\n{key} = '{template}'\n", 1),
        encoding="utf-8",
    )
    code, _, err = run("--site", str(example), "check")
    assert code == 1, err
    assert f"syndicate.toml: lists.weekly.{key}: cannot be rendered" in err
    args = ["--article", "kazakhstan-mediator"] if key == "post_subject" else []
    code, _, err = run("--site", str(example), "preview", "weekly", "--format", "text", *args)
    assert code == 1, err
    assert f"error: syndicate.toml: lists.weekly.{key}: cannot be rendered" in err
