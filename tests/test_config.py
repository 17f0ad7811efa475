"""Configuration: every mistake names the file, the key path and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.config import load_settings, parse_config
from syndicate.errors import ConfigError

GOOD = '[publication]\ntitle = "T"\nbase_url = "https://example.org/"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


def test_the_documented_base_url_message() -> None:
    assert problems('[publication]\ntitle = "T"\nbase_url = "example.org"\n') == [
        "syndicate.toml: publication.base_url: must be an absolute http(s) URL, got 'example.org'"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "colour = 1\n", "syndicate.toml: publication.colour: unknown key"),
        (GOOD + "[feeds2]\nx = 1\n", "syndicate.toml: feeds2: unknown key"),
        ('[publication]\nbase_url = "https://e.org"\n', "publication.title: is required"),
        ("", "syndicate.toml: publication: is required but missing"),
        (GOOD + "[content]\nteaser_length = 'long'\n", "content.teaser_length: input should be"),
        (GOOD + "[content]\nmax_file_size = -1\n", "content.max_file_size: input should be"),
        (GOOD + 'timezone = "Mars/Base"\n', "publication.timezone: must be an IANA time zone"),
        (GOOD + 'article_url = "{base_url}/{nope}/"\n', "publication.article_url: must be a"),
        (GOOD + 'article_url = "{base_url}/x/"\n', "must contain {slug} or {id}"),
        (GOOD + 'language = "english!"\n', "publication.language: string should match"),
        (
            GOOD + '[[content.sources]]\ntype = "feed"\nurl = "ftp://x.org/f"\n',
            "content.sources[0].url: must be an absolute http(s) URL, got 'ftp://x.org/f'",
        ),
        (
            GOOD + '[[content.sources]]\ntype = "git"\nurl = "https://x.org"\n',
            "content.sources[0].type: input should be 'feed', got 'git'",
        ),
        ('[publication]\ntitle = "T\\nX"\nbase_url = "https://e.org"\n', "must be a single line"),
        ("[publication\n", "syndicate.toml: not valid TOML"),
        (GOOD + 'description = "About\\u0002 us"\n', "must not contain control character"),
        (GOOD + 'language = "en-US-US"\n', "publication.language: string should match"),
        (GOOD + "[feeds]\nitems = 0\n", "feeds.items: input should be greater than"),
        (GOOD + '[feeds]\nhub = "hub.example.org"\n', "feeds.hub: must be an absolute http(s)"),
    ],
)
def test_each_mistake_is_named(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems('[publication]\ntitle = 5\nbase_url = "x"\nextra = 1\n')
    assert len(found) == 3


def test_defaults_and_normalisation() -> None:
    config = parse_config(GOOD)
    assert config.publication.base_url == "https://example.org"
    assert config.publication.article_url == "{base_url}/{slug}/"
    assert config.content.folder == "content"
    assert config.content.max_file_size == 5_000_000
    assert config.database.url is None


def test_load_settings_resolves_paths_and_reads_secrets_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "syndicate.toml").write_text(
        GOOD + '[database]\nurl = "sqlite:///data/x.db"\n', encoding="utf-8"
    )
    monkeypatch.setenv("SYNDICATE_SECRET", "s3cret")
    monkeypatch.delenv("SYNDICATE_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.root == tmp_path.resolve()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/data/x.db"
    assert settings.content_dir == tmp_path.resolve() / "content"
    assert settings.secrets.secret == "s3cret"
    assert settings.secrets.smtp_password is None


def test_default_database_is_sqlite_inside_the_site(tmp_path: Path) -> None:
    (tmp_path / "syndicate.toml").write_text(GOOD, encoding="utf-8")
    url = load_settings(tmp_path).database_url
    assert url == f"sqlite:///{tmp_path.resolve()}/.syndicate/state.db"


def test_database_url_from_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "syndicate.toml").write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("SYNDICATE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert load_settings(tmp_path).database_url == "postgresql+psycopg://u@h/db"


def test_site_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "syndicate.toml").write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("SYNDICATE_SITE", str(tmp_path))
    assert load_settings(None).root == tmp_path.resolve()


def test_missing_config_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="syndicate init"):
        load_settings(tmp_path)


def test_misfire_grace_below_a_minute_is_refused_naming_the_minimum() -> None:
    # trial16 U12: 10 was accepted and silently treated as 60; now config says so.
    lists = '[lists.news]\ntitle = "News"\n'
    found = problems(GOOD + lists + "misfire_grace = 10\n")
    assert any(
        "lists.news.misfire_grace: input should be greater than or equal to 60" in p for p in found
    ), found
    config = parse_config(GOOD + lists + "misfire_grace = 60\n")
    assert config.lists["news"].misfire_grace == 60
