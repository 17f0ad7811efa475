"""Value types of ``syndicate.toml``: each validator says what is expected and what it got."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    if any(c in value for c in "\r\n\t "):
        raise ValueError(f"must not contain whitespace, got {value!r}")
    return value


def _no_trailing_slash(value: str) -> str:
    return value.rstrip("/")


def timezone_name(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"must be an IANA time zone name such as 'UTC' or 'Europe/Berlin', got {value!r}"
        ) from None
    return value


def article_url_pattern(value: str) -> str:
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


def single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"must be a single line, got {value!r}")
    return _printable(value)


def _printable(value: str) -> str:
    # These values end up in XML feeds and mail headers, where control characters break.
    bad = next((c for c in value if ord(c) < 32 and c not in "\n\t"), None)
    if bad is not None:
        raise ValueError(f"must not contain control character {bad!r}, got {value!r}")
    return value


def web_origin(value: str) -> str:
    """An origin as browsers send it in ``Origin``: ``scheme://host[:port]``, lower-cased,
    the default port dropped; a lone trailing ``/`` is forgiven, any other path is not."""
    example = "'https://magazine.example' or 'http://localhost:8000'"
    text = value.strip()
    if any(c in text for c in "\r\n\t *"):
        raise ValueError(f"must be one origin, without spaces or wildcards, got {value!r}")
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"must be an origin such as {example}: bad port in {value!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"must be an origin such as {example} (scheme://host[:port]), got {value!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(
            f"must be an origin such as {example}: scheme, host and port only, no path, "
            f"query or user, got {value!r}"
        )
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}[scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def ip_network(value: str) -> str:
    """An IP address or network (``10.0.0.5``, ``10.0.0.0/8``, ``::1``), normalized."""
    text = value.strip()
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(
            f"must be an IP address or network such as '10.0.0.5' or '10.0.0.0/8', got {value!r}"
        ) from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (where a plain-text connection is safe)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Origin = Annotated[str, AfterValidator(web_origin)]
IpNetwork = Annotated[str, AfterValidator(ip_network)]
# A base that paths are appended to: kept without its trailing slash.
BaseUrl = Annotated[str, AfterValidator(_http_url), AfterValidator(_no_trailing_slash)]
Line = Annotated[str, Field(min_length=1), AfterValidator(single_line)]
Text = Annotated[str, AfterValidator(_printable)]
# BCP 47: language, optional script, optional region, variants (RFC 5646, private use aside).
LANGUAGE_TAG = (
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)


ON_PUBLISH = "on-publish"  # a post list's schedule: each article within one content poll


def cron_expression(value: str) -> str:
    if value == ON_PUBLISH:
        return value
    try:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"must be a cron expression with five fields (minute hour day month weekday), "
            f"e.g. '0 7 * * mon' (or 'on-publish' for a list with mode = \"post\"), got "
            f"{value!r} ({exc})"
        ) from None
    return value


def jinja_template(value: str) -> str:
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


Address = Annotated[str, AfterValidator(single_line), AfterValidator(_address)]


def no_encoded_words(value: str) -> str:
    # An RFC 2047 encoded word in a display name can smuggle CR/LF past older email packages.
    if "=?" in value:
        raise ValueError(f"must not contain '=?' (RFC 2047 encoded words), got {value!r}")
    return value


def hex_color(value: str) -> str:
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        raise ValueError(f"must be a colour written #rrggbb, such as '#0b57d0', got {value!r}")
    return value.lower()


def image_url(value: str) -> str:
    # Absolute http(s), or a path that is resolved against publication.base_url.
    if not value or any(c in value for c in " \t\r\n\"'<>\\") or not value.isprintable():
        raise ValueError(f"must be a URL without spaces or quotes, got {value!r}")
    scheme = urlsplit(value).scheme
    if scheme and scheme not in ("http", "https"):
        raise ValueError(
            f"must be an http(s) URL or a path relative to publication.base_url, got {value!r}"
        )
    if scheme:
        _http_url(value)
    return value


_DURATION = re.compile(r"(\d{1,6})\s*([dhms])")
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
MAX_DURATION = 30 * 86_400


def duration(value: object) -> int:
    """A span of time as seconds: ``"12h"``, ``"90m"``, ``"1h30m"``, ``"2d"`` or a number of
    seconds; between a minute and 30 days."""
    example = "a duration such as '12h', '90m', '1h30m' or '2d' (or seconds as a number)"
    if isinstance(value, bool):
        raise ValueError(f"must be {example}, got {value!r}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and len(value) <= 40:
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"must be {example}, got {value!r}")
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError(f"must be {example}, got {value!r}")
    if not 60 <= seconds <= MAX_DURATION:
        raise ValueError(f"must be between 1 minute and 30 days, got {value!r}")
    return seconds
