"""Site settings from ``syndicate.toml`` plus the environment, validated once on load.

Every problem names the file and the key path and says what is expected, e.g.
``syndicate.toml: publication.base_url: must be an absolute http(s) URL, got 'example.org'``.
Secrets never live in the file; they come from environment variables.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from syndicate.errors import ConfigError

CONFIG_NAME = "syndicate.toml"
DEFAULT_DB_PATH = Path(".syndicate/state.db")
ENV_SITE = "SYNDICATE_SITE"
ENV_DATABASE_URL = "SYNDICATE_DATABASE_URL"
ENV_SECRET = "SYNDICATE_SECRET"
ENV_SMTP_PASSWORD = "SYNDICATE_SMTP_PASSWORD"


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    if any(c in value for c in "\r\n\t "):
        raise ValueError(f"must not contain whitespace, got {value!r}")
    return value


def _no_trailing_slash(value: str) -> str:
    return value.rstrip("/")


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', got {value!r}"
        ) from None
    return value


def _article_url(value: str) -> str:
    try:
        value.format(base_url="https://x.test", slug="s", year="2026", month="01", day="01", id="i")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            "must be a pattern using only {base_url}, {slug}, {year}, {month}, {day} "
            f"and {{id}}, got {value!r} ({exc!r})"
        ) from None
    if "{slug}" not in value and "{id}" not in value:
        raise ValueError(
            f"must contain {{slug}} or {{id}} so every article gets its own URL, got {value!r}"
        )
    return value


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"must be a single line, got {value!r}")
    return _printable(value)


def _printable(value: str) -> str:
    # These values end up in XML feeds and mail headers, where control characters break.
    bad = next((c for c in value if ord(c) < 32 and c not in "\n\t"), None)
    if bad is not None:
        raise ValueError(f"must not contain control character {bad!r}, got {value!r}")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
# A base that paths are appended to: kept without its trailing slash.
BaseUrl = Annotated[str, AfterValidator(_http_url), AfterValidator(_no_trailing_slash)]
Line = Annotated[str, Field(min_length=1), AfterValidator(_single_line)]
Text = Annotated[str, AfterValidator(_printable)]
# BCP 47: language, optional script, optional region, variants (RFC 5646, private use aside).
LANGUAGE_TAG = (
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Publication(_Section):
    """``[publication]``: who publishes and where articles live on the web."""

    title: Line
    base_url: BaseUrl
    description: Text = ""
    language: Annotated[str, Field(pattern=LANGUAGE_TAG)] = "en"
    author: Line | None = None
    article_url: Annotated[str, AfterValidator(_article_url)] = "{base_url}/{slug}/"
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"


class Database(_Section):
    """``[database]``: the state store. Default: an SQLite file inside the site."""

    url: str | None = None


class FeedSource(_Section):
    """``[[content.sources]]`` with ``type = "feed"``: a remote RSS, Atom or JSON feed."""

    type: Literal["feed"]
    url: HttpUrl
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] | None = None
    timeout: Annotated[float, Field(gt=0, le=300)] = 20.0
    max_bytes: Annotated[int, Field(gt=0)] = 10_000_000

    @property
    def key(self) -> str:
        """Stable name of this source in the store."""
        return self.name or f"feed:{self.url}"


class Content(_Section):
    """``[content]``: the article folder and any remote sources."""

    folder: str = "content"
    max_file_size: Annotated[int, Field(gt=0)] = 5_000_000
    teaser_length: Annotated[int, Field(ge=40, le=2000)] = 300
    poll_interval: Annotated[int, Field(ge=10)] = 300  # seconds between re-reads in `run`
    sources: list[FeedSource] = []


class Feeds(_Section):
    """``[feeds]``: the syndication feeds ``syndicate build`` writes."""

    folder: str = "feeds"
    base_url: BaseUrl | None = None
    items: Annotated[int, Field(ge=1, le=1000)] = 20
    archive_items: Annotated[int, Field(ge=1, le=10000)] | None = None
    per_tag: bool = True
    full_content: bool = True
    hub: HttpUrl | None = None
    id_authority: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")] | None = None


def _cron(value: str) -> str:
    try:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"must be a cron expression with five fields (minute hour day month weekday), "
            f"e.g. '0 7 * * mon', got {value!r} ({exc})"
        ) from None
    return value


def _jinja(value: str) -> str:
    from jinja2 import Environment, TemplateSyntaxError

    try:
        Environment().parse(value)
    except TemplateSyntaxError as exc:
        raise ValueError(f"is not a valid Jinja2 template: {exc.message}, got {value!r}") from None
    return value


def _address(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"must be an email address ({exc}), got {value!r}") from None


Address = Annotated[str, AfterValidator(_single_line), AfterValidator(_address)]
DEFAULT_SUBJECT = (
    "{{ list.title }}{% if lead.title %}: {{ lead.title }}"
    "{% if count > 1 %} and {{ count - 1 }} more{% endif %}{% endif %}"
)


class MailingList(_Section):
    """``[lists.NAME]``: one subscriber list and its digest."""

    title: Line
    description: Text = ""
    subject: Annotated[str, AfterValidator(_single_line), AfterValidator(_jinja)] = DEFAULT_SUBJECT
    schedule: Annotated[str, AfterValidator(_cron)] = "0 7 * * mon"
    timezone: Annotated[str, AfterValidator(_timezone)] | None = None
    max_articles: Annotated[int, Field(ge=1, le=200)] = 10
    lead_articles: Annotated[int, Field(ge=0, le=50)] = 1
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    send_empty: bool = False
    # seconds: a digest missed while `syndicate run` was down is still sent this late
    misfire_grace: Annotated[int, Field(ge=0)] = 21_600


def _no_encoded_words(value: str) -> str:
    # An RFC 2047 encoded word in a display name can smuggle CR/LF past older email packages.
    if "=?" in value:
        raise ValueError(f"must not contain '=?' (RFC 2047 encoded words), got {value!r}")
    return value


class Email(_Section):
    """``[email]``: who digests come from, and what every footer says."""

    from_name: Annotated[Line, AfterValidator(_no_encoded_words)]
    from_address: Address
    reply_to: Address | None = None
    postal_address: Text | None = None
    unsubscribe_mailto: Address | None = None
    dkim_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")] | None = None
    dkim_selector: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] | None = None
    dkim_key_file: str | None = None  # relative to the site folder


class Smtp(_Section):
    """``[smtp]``: the outgoing mail server. Without it, mail goes to a Maildir in the site."""

    host: Line
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Line | None = None
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    connections: Annotated[int, Field(ge=1, le=64)] = 4
    rate_limit: Annotated[float, Field(gt=0)] | None = None
    max_messages_per_connection: Annotated[int, Field(ge=1)] = 100
    processes: Annotated[int, Field(ge=1, le=64)] | None = None  # default: one per core
    workers: bool = False  # sends are delivered by `syndicate worker` processes
    lease: Annotated[int, Field(ge=5, le=86_400)] = 300  # seconds a claimed ledger row is held
    retry_for: Annotated[int, Field(ge=60)] = 86_400  # seconds a deferred copy is retried


class Web(_Section):
    """``[web]``: where the subscriber pages are served (confirm, unsubscribe, preferences)."""

    base_url: BaseUrl | None = None


LIST_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ListName = Annotated[str, Field(pattern=LIST_NAME)]


class SiteConfig(_Section):
    """The whole of ``syndicate.toml``."""

    publication: Publication
    database: Database = Database()
    content: Content = Content()
    feeds: Feeds = Feeds()
    email: Email | None = None
    smtp: Smtp | None = None
    web: Web = Web()
    lists: dict[ListName, MailingList] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Secrets:
    """Secrets come from the environment only, never from the config file."""

    secret: str | None
    smtp_password: str | None


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


def format_validation_error(filename: str, exc: ValidationError) -> list[str]:
    """Turn pydantic's errors into ``file: key.path: what is expected`` lines."""
    lines = []
    for err in exc.errors(include_url=False):
        loc, why = err["loc"], _describe(err)
        if loc and loc[-1] == "[key]":  # a table name, e.g. [lists.Bad]
            loc = loc[:-1]
            why = "is not a valid name: use lowercase letters, digits, '-' and '_'"
        lines.append(f"{filename}: {_loc(loc) or '(top level)'}: {why}")
    return lines


def parse_config(text: str, filename: str = CONFIG_NAME) -> SiteConfig:
    """Validate the TOML text of a config file."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{filename}: not valid TOML: {exc}"]) from None
    try:
        return SiteConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(filename, exc)) from None


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
    env_db = os.environ.get(ENV_DATABASE_URL)
    return Settings(
        root=root,
        config=config,
        database_url=_resolve_db_url(root, env_db or config.database.url),
        content_dir=(root / config.content.folder).resolve(),
        feeds_dir=(root / config.feeds.folder).resolve(),
        secrets=Secrets(
            secret=os.environ.get(ENV_SECRET) or None,
            smtp_password=os.environ.get(ENV_SMTP_PASSWORD) or None,
        ),
    )
