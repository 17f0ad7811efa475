"""Site settings from ``syndicate.toml`` plus the environment, validated once on load.

Every problem names the file and the key path and says what is expected, e.g.
``syndicate.toml: publication.base_url: must be an absolute http(s) URL, got 'example.org'``.
Secrets never live in the file; they come from environment variables.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from syndicate.config.paths import CONFIG_NAME, STATE_FOLDER, published_folder_problems
from syndicate.config.sections import Email, MailingList, Publication, SiteConfig
from syndicate.config.webhooks import label as webhook_label
from syndicate.errors import ConfigError

DEFAULT_DB_PATH = Path(STATE_FOLDER) / "state.db"
ENV_SITE = "SYNDICATE_SITE"
ENV_DATABASE_URL = "SYNDICATE_DATABASE_URL"
ENV_SECRET = "SYNDICATE_SECRET"
ENV_SMTP_PASSWORD = "SYNDICATE_SMTP_PASSWORD"
ENV_IMAP_PASSWORD = "SYNDICATE_IMAP_PASSWORD"


@dataclass(frozen=True, slots=True, kw_only=True)
class Secrets:
    """Secrets come from the environment only, never from the config file."""

    secret: str | None
    smtp_password: str | None
    imap_password: str | None = None  # [bounces.imap]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Validated configuration of one site, with paths resolved against the site root."""

    root: Path
    config: SiteConfig
    database_url: str
    content_dir: Path
    feeds_dir: Path
    secrets: Secrets

    @property
    def publication(self) -> Publication:
        return self.config.publication

    def mailing_list(self, name: str) -> MailingList:
        """The declared list ``name``, or an error naming the lists that are declared."""
        found = self.config.lists.get(name)
        if found is None:
            declared = ", ".join(sorted(self.config.lists)) or "none"
            raise ConfigError(
                [
                    f"{CONFIG_NAME}: no list named {name!r}; declared lists: {declared} "
                    f"(declare it as [lists.{name}] with a title)"
                ]
            )
        return found

    @property
    def web_url(self) -> str:
        """Public URL of the subscriber pages: ``[web] base_url``, else the site's."""
        return self.config.web.base_url or self.publication.base_url

    @property
    def email(self) -> Email:
        """The ``[email]`` section; sending anything needs it."""
        if self.config.email is None:
            raise ConfigError(
                [
                    f"{CONFIG_NAME}: email: is required to render or send digests; add an [email] "
                    'section with from_name = "…" and from_address = "…"'
                ]
            )
        return self.config.email

    @property
    def feeds_url(self) -> str:
        """Public URL of the feeds folder: ``[feeds] base_url``, else ``<base_url>/feeds``."""
        return self.config.feeds.base_url or f"{self.publication.base_url}/feeds"

    @property
    def id_authority(self) -> str:
        """The tag-URI authority of entry ids: ``[feeds] id_authority``, else the site's host."""
        return self.config.feeds.id_authority or (
            urlsplit(self.publication.base_url).hostname or "localhost"
        )


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _describe(err: Any) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if kind == "missing":
        return "is required but missing"
    if kind == "value_error":
        return str(msg).removeprefix("Value error, ")
    if kind == "literal_error":
        return f"{msg[0].lower()}{msg[1:]}, got {value!r}"
    return f"{msg[0].lower()}{msg[1:]}, got {value!r}"


def _where(loc: tuple[int | str, ...], raw: Mapping[str, Any] | None) -> str:
    """The key path; a ``[[webhooks]]`` table named by number and name, as the rest of the
    webhooks' messages do (``[[webhooks]] #2 (name "crm"): url``)."""
    if loc and loc[0] == "webhooks":
        tables = (raw or {}).get("webhooks")
        if len(loc) > 1 and isinstance(loc[1], int):
            table = tables[loc[1]] if isinstance(tables, list) and loc[1] < len(tables) else None
            rest = _loc(loc[2:])
            return webhook_label(loc[1] + 1, table) + (f": {rest}" if rest else "")
        return webhook_label(0, None)
    return _loc(loc)


def format_validation_error(
    filename: str, exc: ValidationError, raw: Mapping[str, Any] | None = None
) -> list[str]:
    """Turn pydantic's errors into ``file: key.path: what is expected`` lines (``raw``, the
    data validated, lets a [[webhooks]] table be named by its name)."""
    lines = []
    for err in exc.errors(include_url=False):
        loc, why = err["loc"], _describe(err)
        if loc and loc[-1] == "[key]":  # a table name, e.g. [lists.Bad]
            loc = loc[:-1]
            why = "is not a valid name: use lowercase letters, digits, '-' and '_'"
        lines.append(f"{filename}: {_where(loc, raw) or '(top level)'}: {why}")
    return lines


def parse_config(text: str, filename: str = CONFIG_NAME) -> SiteConfig:
    """Validate the TOML text of a config file."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{filename}: not valid TOML: {exc}"]) from None
    try:
        config = SiteConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(filename, exc, raw)) from None
    if problems := _approval_problems(config, filename):
        raise ConfigError(problems)
    return config


def _approval_problems(config: SiteConfig, filename: str) -> list[str]:
    """A list that waits for approval needs someone to mail its preview to."""
    editors = config.email.editors if config.email is not None else []
    return [
        f"{filename}: lists.{name}.approve: true needs [email] editors, the addresses that "
        f'get the preview to approve (e.g. editors = ["desk@example.org"]); add them or set '
        "approve = false"
        for name, cfg in config.lists.items()
        if cfg.approve and not editors
    ]


def default_sqlite_url(root: Path) -> str:
    """The store a site uses when none is configured: SQLite in ``.syndicate/``."""
    return f"sqlite:///{(root / DEFAULT_DB_PATH).as_posix()}"


def _resolve_db_url(root: Path, url: str | None) -> str:
    if url is None:
        return default_sqlite_url(root)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            return f"sqlite:///{(root / rel).as_posix()}"
    return url


def site_root(site: str | os.PathLike[str] | None) -> Path:
    """The site folder: the argument, else ``$SYNDICATE_SITE``, else the current directory."""
    return Path(site or os.environ.get(ENV_SITE) or ".").resolve()


def load_settings(site: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate the site's ``syndicate.toml``, plus secrets from the environment."""
    root = site_root(site)
    path = root / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: not found; run `syndicate init DIR` to create a site, or pass --site DIR"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    config = parse_config(text, CONFIG_NAME)
    database_url = _resolve_db_url(root, os.environ.get(ENV_DATABASE_URL) or config.database.url)
    if problems := published_folder_problems(root, config, database_url):
        raise ConfigError(problems)
    return Settings(
        root=root,
        config=config,
        database_url=database_url,
        content_dir=(root / config.content.folder).resolve(),
        feeds_dir=(root / config.feeds.folder).resolve(),
        secrets=Secrets(
            secret=os.environ.get(ENV_SECRET) or None,
            smtp_password=os.environ.get(ENV_SMTP_PASSWORD) or None,
            imap_password=os.environ.get(ENV_IMAP_PASSWORD) or None,
        ),
    )
