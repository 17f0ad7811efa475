"""``[[webhooks]]``: endpoints told about subscribers, sends and articles (Standard Webhooks).

Each endpoint names the events it wants and the environment variable holding its signing
secret (``whsec_`` + base64, as the Standard Webhooks specification writes it): the secret
itself never lives in ``syndicate.toml``. Plain ``http://`` is allowed to a loopback host
only, unless ``allow_http = true`` says the payloads (addresses included) may cross the
network in clear.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from syndicate.config.types import HttpUrl, is_loopback
from syndicate.errors import ConfigError

# Every event type, in the order the README documents them.
EVENT_TYPES = (
    "subscriber.created",
    "subscriber.confirmed",
    "subscriber.unsubscribed",
    "subscriber.bounced",
    "subscriber.complained",
    "send.started",
    "send.finished",
    "article.published",
)
ALL_EVENTS = "*"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # the specification's bounds for a symmetric secret
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
HOOK_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


def _event_names(value: list[str]) -> list[str]:
    if not value:
        raise ValueError(
            f"must name at least one event (or ['{ALL_EVENTS}'] for all): {', '.join(EVENT_TYPES)}"
        )
    unknown = [v for v in value if v != ALL_EVENTS and v not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"unknown event {unknown[0]!r}; the events are {', '.join(EVENT_TYPES)} "
            f"(or '{ALL_EVENTS}' for all)"
        )
    return value


class Webhook(BaseModel):
    """One ``[[webhooks]]`` endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: Annotated[str, Field(pattern=HOOK_NAME)] | None = None  # default: the URL's host
    url: HttpUrl
    events: Annotated[list[str], AfterValidator(_event_names)]
    secret_env: Annotated[str, Field(pattern=ENV_NAME)]
    timeout: Annotated[float, Field(gt=0, le=60)] = 10.0  # seconds, the whole attempt
    # seconds from the first attempt: then an event that still fails is given up
    retry_for: Annotated[int, Field(ge=3_600, le=30 * 86_400)] = 3 * 86_400
    allow_http: bool = False  # plain http:// to a host that is not this machine
    _number: int = PrivateAttr(default=0)  # its place among the [[webhooks]] tables, from 1

    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "secret" in data:
            raise ValueError(
                "secret: must not be in syndicate.toml (secrets live in the environment); "
                "remove it, put it in an environment variable and name that in secret_env"
            )
        return data

    @model_validator(mode="after")
    def _plain_only_locally(self) -> Webhook:
        parts = urlsplit(self.url)
        if parts.scheme == "http" and not self.allow_http and not is_loopback(self.host):
            raise ValueError(
                f"url: plain http:// is allowed only to a loopback host (127.0.0.1, ::1, "
                f"localhost), got {self.url!r}: subscribers' addresses would cross the network "
                "in clear; use https://, or set allow_http = true if that network is yours"
            )
        return self

    @property
    def host(self) -> str:
        """The URL's host: what the log names (never the path, which may hold a token)."""
        return urlsplit(self.url).hostname or ""

    @property
    def key(self) -> str:
        """Stable name of this endpoint in the store and on the command line."""
        return self.name or self.host

    @property
    def where(self) -> str:
        """How every message names this endpoint: ``[[webhooks]] #2 (name "crm")``."""
        return label(self._number, {"name": self.name, "url": self.url})

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint subscribed to ``event_type``."""
        return event_type in self.events or ALL_EVENTS in self.events


def label(number: int, table: Any) -> str:
    """``[[webhooks]] #N`` (counted from 1, as the tables stand in the file) and its name
    (``name``, else the URL's host, which the name defaults to), from the raw table."""
    where = f"[[webhooks]] #{number}" if number else "[[webhooks]]"
    if not isinstance(table, Mapping):
        return where
    name = table.get("name")
    if isinstance(name, str) and name:
        return f'{where} (name "{name}")'
    url = table.get("url")
    host = urlsplit(url).hostname if isinstance(url, str) else None
    return f'{where} (host "{host}")' if host else where


def _unique_keys(hooks: list[Webhook]) -> list[Webhook]:
    seen: dict[str, int] = {}
    for i, hook in enumerate(hooks, start=1):
        hook._number = i
        if hook.key in seen:
            raise ValueError(
                f"#{seen[hook.key]} and #{i} are both named {hook.key!r}: give each a "
                'different name = "…" (the name defaults to the URL\'s host)'
            )
        seen[hook.key] = i
    return hooks


Webhooks = Annotated[list[Webhook], AfterValidator(_unique_keys)]


def secret_problem(hook: Webhook, environ: Mapping[str, str]) -> str | None:
    """What is wrong with the endpoint's secret in ``environ`` (None: nothing)."""
    from syndicate.config.paths import CONFIG_NAME  # paths imports the sections, and so this

    where = f"{CONFIG_NAME}: {hook.where}: secret_env: {hook.secret_env}"
    how = (
        f"set it to the endpoint's signing secret: {SECRET_PREFIX} followed by the base64 of "
        f"{SECRET_BYTES[0]} to {SECRET_BYTES[1]} random bytes (`syndicate webhooks secret` "
        "prints a new one)"
    )
    value = environ.get(hook.secret_env, "")
    if not value:
        return f"{where} is not set; {how}"
    if not value.startswith(SECRET_PREFIX):
        return f"{where} does not start with {SECRET_PREFIX!r}; {how}"
    try:
        raw = base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return f"{where} is not valid base64 after {SECRET_PREFIX!r}; {how}"
    if not SECRET_BYTES[0] <= len(raw) <= SECRET_BYTES[1]:
        return f"{where} holds {len(raw)} bytes; {how}"
    return None


def secret_problems(
    hooks: Sequence[Webhook], environ: Mapping[str, str] | None = None
) -> list[str]:
    """What is wrong with any endpoint's secret (``syndicate check``)."""
    env = os.environ if environ is None else environ
    return [p for hook in hooks if (p := secret_problem(hook, env)) is not None]


def webhook_secret(hook: Webhook, environ: Mapping[str, str] | None = None) -> str:
    """The endpoint's ``whsec_…`` secret from the environment, or a ConfigError naming the
    endpoint and the variable."""
    env = os.environ if environ is None else environ
    problem = secret_problem(hook, env)
    if problem is not None:
        raise ConfigError([problem])
    return env[hook.secret_env]


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
