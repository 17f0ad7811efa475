"""The sections of ``syndicate.toml``, one pydantic model each."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from syndicate.config.analytics import Analytics
from syndicate.config.types import (
    LANGUAGE_TAG,
    ON_PUBLISH,
    Address,
    BaseUrl,
    HttpUrl,
    IpNetwork,
    Line,
    Origin,
    Text,
    article_url_pattern,
    cron_expression,
    duration,
    hex_color,
    image_url,
    is_loopback,
    jinja_template,
    no_encoded_words,
    single_line,
    timezone_name,
)
from syndicate.config.warmup import Warmup, parse_warmup
from syndicate.config.webhooks import Webhooks

DEFAULT_ACCENT = "#0b57d0"
DEFAULT_LOGO_WIDTH = 160


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Publication(_Section):
    """``[publication]``: who publishes and where articles live on the web."""

    title: Line
    base_url: BaseUrl
    description: Text = ""
    language: Annotated[str, Field(pattern=LANGUAGE_TAG)] = "en"
    author: Line | None = None
    article_url: Annotated[str, AfterValidator(article_url_pattern)] = "{base_url}/{slug}/"
    timezone: Annotated[str, AfterValidator(timezone_name)] = "UTC"


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
    # Off by default: a feed (or its redirect) must not reach loopback, the LAN or metadata.
    allow_private: bool = False

    @property
    def key(self) -> str:
        """Stable name of this source in the store."""
        return self.name or f"feed:{self.url}"


class Content(_Section):
    """``[content]``: the article folder and any remote sources."""

    folder: str = "content"
    max_file_size: Annotated[int, Field(gt=0)] = 5_000_000
    max_image_size: Annotated[int, Field(gt=0)] = 10_000_000  # bytes per local image
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


MIN_MISFIRE_GRACE = 60  # seconds; the lowest misfire_grace (a tick may start late by that much)
DEFAULT_SUBJECT = (
    "{{ list.title }}{% if lead.title %}: {{ lead.title }}"
    "{% if count > 1 %} and {{ count - 1 }} more{% endif %}{% endif %}"
)


class MailingList(_Section):
    """``[lists.NAME]``: one subscriber list and its digest."""

    title: Line
    description: Text = ""
    subject: Annotated[str, AfterValidator(single_line), AfterValidator(jinja_template)] = (
        DEFAULT_SUBJECT
    )
    schedule: Annotated[str, AfterValidator(cron_expression)] = "0 7 * * mon"
    timezone: Annotated[str, AfterValidator(timezone_name)] | None = None
    max_articles: Annotated[int, Field(ge=1, le=200)] = 10
    lead_articles: Annotated[int, Field(ge=0, le=50)] = 1
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    send_empty: bool = False
    # seconds: an article first seen after the last send but dated more than this before it
    # (an imported archive, a new remote source) is not new; one dated yesterday is
    backdated_within: Annotated[int, Field(ge=0)] = 604_800
    # seconds: a digest missed while `syndicate run` was down is still sent this late; at
    # least 60 (MIN_MISFIRE_GRACE): a busy `run` starts a due job a few seconds late
    misfire_grace: Annotated[int, Field(ge=MIN_MISFIRE_GRACE)] = 21_600
    # Markdown file (relative to the site folder) mailed once to each new reader who confirms
    welcome: (
        Annotated[str, Field(min_length=1, max_length=500), AfterValidator(single_line)] | None
    ) = None
    # when the schedule fires (or a `send --at` is due), prepare the digest, mail a preview
    # to [email] editors and wait for `syndicate approve` / `syndicate reject`
    approve: bool = False
    # how long a prepared digest waits for an answer ("12h", "90m", "2d"), then on_timeout
    approve_timeout: Annotated[int, BeforeValidator(duration)] = 43_200
    on_timeout: Literal["send", "skip"] = "skip"
    # "digest": new articles together; "post": each new article mailed on its own, in full
    mode: Literal["digest", "post"] = "digest"
    # a post's subject (sandboxed: ``article``, ``list``, ``publication``); default its title
    post_subject: (
        Annotated[str, AfterValidator(single_line), AfterValidator(jinja_template)] | None
    ) = None
    # content links in its mails lead through /c/<signed id> and are counted ([analytics])
    count_clicks: bool = False

    @model_validator(mode="after")
    def _on_publish_posts_only(self) -> MailingList:
        if self.schedule == ON_PUBLISH and self.mode != "post":
            raise ValueError(
                'schedule: "on-publish" mails each article as it appears, which only a list '
                'with mode = "post" does; set mode = "post", or give a cron schedule'
            )
        if self.approve and self.mode == "post":
            raise ValueError(
                'approve: true holds digests for the editors, and a list with mode = "post" '
                'mails no digests; set approve = false, or mode = "digest"'
            )
        return self


class Email(_Section):
    """``[email]``: who digests come from, and what every footer says."""

    from_name: Annotated[Line, AfterValidator(no_encoded_words)]
    from_address: Address
    reply_to: Address | None = None
    postal_address: Text | None = None
    unsubscribe_mailto: Address | None = None
    dkim_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")] | None = None
    dkim_selector: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] | None = None
    dkim_key_file: str | None = None  # relative to the site folder
    # Branding of the default digest templates (a site's own templates may use them too).
    logo_url: Annotated[str, AfterValidator(image_url)] | None = None  # absolute or base-relative
    logo_width: Annotated[int, Field(ge=16, le=600)] = DEFAULT_LOGO_WIDTH  # pixels, in the email
    accent_color: Annotated[str, AfterValidator(hex_color)] = DEFAULT_ACCENT  # links, buttons
    # who gets the preview of a digest that waits for approval ([lists.NAME] approve = true)
    editors: Annotated[list[Address], Field(max_length=50)] = []


DEFAULT_MAX_CONNECTIONS = 32


class Smtp(_Section):
    """``[smtp]``: the outgoing mail server. Without it, mail goes to a Maildir in the site."""

    host: Line
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Line | None = None
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    connections: Annotated[int, Field(ge=1, le=64)] = 8  # where a send starts
    # the most connections adaptive concurrency grows to (it backs off when the relay
    # pushes back, and remembers what the relay tolerated); default 32 (or `connections`,
    # if more); = connections: no growth beyond it
    max_connections: Annotated[int, Field(ge=1, le=256)] | None = None
    rate_limit: Annotated[float, Field(gt=0)] | None = None
    max_messages_per_connection: Annotated[int, Field(ge=1)] = 100
    # MAIL, RCPT and DATA in one write where the server offers PIPELINING (RFC 2920);
    # false only for a server that offers it and then mishandles it
    pipelining: bool = True
    # the message goes with MAIL and RCPT (BDAT, RFC 3030) where the server offers CHUNKING
    # too: one round trip a message instead of two
    chunking: bool = True
    processes: Annotated[int, Field(ge=1, le=64)] | None = None  # default: one per core
    workers: bool = False  # sends are delivered by `syndicate worker` processes
    lease: Annotated[int, Field(ge=5, le=86_400)] = 300  # seconds a claimed ledger row is held
    retry_for: Annotated[int, Field(ge=60)] = 86_400  # seconds a deferred copy is retried
    # seconds `syndicate send` waits for its own deferred copies' retries before it leaves
    # them to the background (`run`, `worker`, the next send); 0: never wait
    wait_for_retries: Annotated[int, Field(ge=0, le=3_600)] = 120
    # messages per rolling 24 hours across every process and worker (as SES counts them)
    daily_limit: Annotated[int, Field(ge=1, le=10**9)] | None = None
    # a new sending domain's ramp: [200, 500, ...] per day, or { start = 200, factor = 1.5 }
    warmup: Annotated[Warmup, BeforeValidator(parse_warmup)] | None = None

    @model_validator(mode="after")
    def _ceiling_above_start(self) -> Smtp:
        if self.max_connections is not None and self.max_connections < self.connections:
            raise ValueError(
                f"max_connections: {self.max_connections} is below connections "
                f"({self.connections}), where a send starts; raise max_connections or lower "
                "connections"
            )
        return self

    @property
    def connection_ceiling(self) -> int:
        """``max_connections``, else 32 (or ``connections``, if that is more)."""
        return self.max_connections or max(DEFAULT_MAX_CONNECTIONS, self.connections)


class Web(_Section):
    """``[web]``: where the subscriber pages are served (confirm, unsubscribe, preferences)."""

    base_url: BaseUrl | None = None
    # Sites whose pages may post the subscribe form (an embedded signup form); None: the
    # origins of publication.base_url and web.base_url. The pages' own origin always may.
    allowed_origins: list[Origin] | None = None
    # Addresses of reverse proxies whose X-Forwarded-For names the visitor (web/proxy.py).
    trusted_proxies: list[IpNetwork] = ["127.0.0.1", "::1"]
    # What one connection may take (service/http.py): seconds for a request's headers, for
    # its body once the headers are in, and how many connections are served at once.
    header_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    body_timeout: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 200


LISTEN_SCHEMES = ("smtp://", "lmtp://")


def _host_port(value: str) -> str:
    rest = next((value[len(s) :] for s in LISTEN_SCHEMES if value.startswith(s)), value)
    host, colon, port = rest.rpartition(":")
    bad_host = not host or any(c in host for c in "/@ \t")
    if not colon or bad_host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(
            "must be host:port (SMTP), smtp://host:port or lmtp://host:port, "
            f"e.g. '127.0.0.1:2525' or 'lmtp://127.0.0.1:2424', got {value!r}"
        )
    return value


def _verp_base(value: str) -> str:
    if "+" in value.partition("@")[0]:
        raise ValueError(
            f"must not contain '+' before the '@' (each copy's return path adds '+<token>'), "
            f"got {value!r}"
        )
    return value


IMAP_PORTS = {"implicit": 993, "starttls": 143, "none": 143}
Folder = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line)]


class Imap(_Section):
    """``[bounces.imap]``: a mailbox ``syndicate run`` polls for bounces (password from
    ``SYNDICATE_IMAP_PASSWORD``, never from the file)."""

    host: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None  # default: 993, or 143
    # "implicit": TLS from the first byte (993); "starttls": upgraded before login (143);
    # "none": plain text, only to a loopback host (the password would cross the wire)
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    ca_file: str | None = None  # PEM CA bundle to trust (site-relative); default: the system's
    username: Line
    folder: Folder = "INBOX"
    # processed messages are moved here (created if missing); with delete = true they are
    # deleted (expunged) instead
    move_to: Folder = "syndicate-processed"
    delete: bool = False
    poll_interval: Annotated[int, Field(ge=10, le=86_400)] = 60  # seconds between polls
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0  # seconds, each network operation

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "password: must not be in syndicate.toml (secrets live in the environment); "
                "remove it and set SYNDICATE_IMAP_PASSWORD"
            )
        return data

    @model_validator(mode="after")
    def _plain_only_locally(self) -> Imap:
        if self.tls == "none" and not is_loopback(self.host):
            raise ValueError(
                f"tls: 'none' is allowed only for a loopback host (127.0.0.1, ::1, localhost), "
                f"got host {self.host!r}: the password would cross the network in clear; "
                "use tls = 'implicit' (port 993) or 'starttls' (port 143)"
            )
        if self.delete and "move_to" in self.model_fields_set:
            raise ValueError(
                f"move_to ({self.move_to!r}) and delete = true: processed messages are either "
                "moved or deleted, not both; remove move_to to delete them, or delete = true "
                "to move them"
            )
        if self.folder == self.move_to and not self.delete:
            raise ValueError(
                f"move_to: must differ from folder ({self.folder!r}), or processed messages "
                "would be read again on every poll"
            )
        return self

    @property
    def server_port(self) -> int:
        """The port to connect to: ``port``, else the usual one for ``tls``."""
        return self.port or IMAP_PORTS[self.tls]


class Bounces(_Section):
    """``[bounces]``: where bounces come back (VERP) and how they are judged.

    Without this section the envelope sender is ``[email] from_address``, as before.
    """

    address: Annotated[Address, AfterValidator(_verp_base)]  # copies: local+TOKEN@domain
    # days: a bounce without our token or Message-ID acts only on an address mailed this recently
    trust_window_days: Annotated[int, Field(ge=1, le=365)] = 14
    soft_limit: Annotated[int, Field(ge=1, le=100)] = 3  # soft bounces (distinct sends) …
    soft_window_days: Annotated[int, Field(ge=1, le=365)] = 30  # … within this many days
    unmatched_days: Annotated[int, Field(ge=1, le=3650)] = 30  # unmatched feedback is kept
    maildir: str | None = None  # a Maildir `syndicate run` reads bounces from (site-relative)
    # where `syndicate run` takes bounces from a local MTA: "host:port" or "smtp://host:port"
    # (SMTP), "lmtp://host:port" (LMTP: one reply per recipient)
    listen: Annotated[str, AfterValidator(_host_port)] | None = None
    imap: Imap | None = None  # [bounces.imap]: a mailbox `syndicate run` polls


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
    bounces: Bounces | None = None
    lists: dict[ListName, MailingList] = {}
    webhooks: Webhooks = []  # [[webhooks]]: see config/webhooks.py
    analytics: Analytics = Analytics()  # [analytics]: see config/analytics.py
