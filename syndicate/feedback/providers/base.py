"""What every provider reader shares: the request, the refusal, the shape of a reader.

A reader turns one webhook request into :class:`~syndicate.feedback.report.Feedback`
values, or refuses it with :class:`Refused` (401: credentials or signature missing or
wrong; 403: stale, replayed or from a topic that is not ours; 400: not the provider's
payload). It reads its secrets from the ``env`` it is given, never from a file, and
writes nothing: the web route hands what it returns to the intake.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from syndicate.feedback.report import Feedback
from syndicate.text import one_line

MAX_BODY = 1024 * 1024  # SNS caps a message at 256 KB; SendGrid batches stay well below
MAX_SKEW = 300  # seconds a signed timestamp may differ from our clock (Mailgun, SendGrid)
MAX_ADDRESS = 320
MAX_DIAGNOSTIC = 1000
MAX_ID = 200


class Refused(Exception):
    """A webhook request we do not act on; ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRequest:
    """One POST as received: the raw body and the headers, names in lower case."""

    body: bytes
    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Reader(Protocol):
    """One provider's webhook: its payloads and its signature scheme."""

    name: str

    def configured(self, env: Mapping[str, str]) -> bool:
        """Whether the secrets this provider needs are set (else the route is off: 404)."""
        ...

    def read(
        self, request: WebhookRequest, env: Mapping[str, str], now: datetime
    ) -> list[Feedback]:
        """The feedback in one verified request; :class:`Refused` when it does not verify."""
        ...


class FetchError(Exception):
    """An outbound HTTPS GET (SNS certificate, subscription confirmation) failed."""


# GET ``url`` (https) and return at most ``max_bytes`` of its body, or raise FetchError.
Fetcher = Callable[[str, int], bytes]


def parse_json(data: bytes | str, what: str = "body") -> Any:
    """JSON from a stranger, bounded; 400 when it is not JSON."""
    if len(data) > MAX_BODY:
        raise Refused(413, f"the {what} is larger than {MAX_BODY} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Refused(400, f"the {what} is not JSON") from None


def obj(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` when both are JSON objects, else an empty one."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def items(value: Any, key: str) -> list[Any]:
    """``value[key]`` when it is a list, else an empty one."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, list) else []


def text(value: Any, key: str, limit: int = MAX_DIAGNOSTIC) -> str | None:
    """``value[key]`` as one bounded printable line (numbers too), or None."""
    found = value.get(key) if isinstance(value, dict) else None
    if isinstance(found, bool) or found is None:
        return None
    if isinstance(found, int | float):
        found = str(found)
    if not isinstance(found, str):
        return None
    return one_line(found, limit) or None


def joined(*parts: str | None, limit: int = MAX_DIAGNOSTIC) -> str:
    """The non-empty, distinct ``parts`` as one bounded line."""
    return one_line(" ".join(dict.fromkeys(p for p in parts if p)), limit)


def address(value: str | None) -> str | None:
    """An address as reported, when it looks like one (one line, an ``@``, bounded)."""
    if value is None:
        return None
    found = value.strip().strip("<>").strip()
    if not found or len(found) > MAX_ADDRESS or "@" not in found or any(c.isspace() for c in found):
        return None
    return found


def message_id(value: str | None) -> str | None:
    """A returned Message-ID in the form we write it: ``<left@right>``."""
    if value is None:
        return None
    found = value.strip().strip("<>").strip()
    if not found or len(found) > MAX_ADDRESS or "@" not in found or any(c.isspace() for c in found):
        return None
    return f"<{found}>"


def verp_token(sender: str | None) -> str | None:
    """The token in a VERP envelope sender (``bounces+TOKEN@host``), not yet verified."""
    found = address(sender)
    if found is None:
        return None
    local = found.rpartition("@")[0]
    token = local.partition("+")[2]
    return token[:MAX_ID] or None


def event_key(source: str, *parts: str | None) -> str:
    """A stable event id: the provider's own ids and the recipient, hashed to a fixed size.

    The same event delivered twice (a provider's retry) gives the same key, so the intake
    records it once; the hash keeps a stranger's text out of the key column.
    """
    joined = "\x00".join((p or "").casefold() for p in parts)
    return f"{source}:{hashlib.sha256(joined.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"


def epoch(value: Any) -> datetime | None:
    """Seconds since 1970 (a number or a numeric string) as an aware datetime, or None."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value < 32503680000:  # year 3000
        return None
    return datetime.fromtimestamp(value, UTC)


def iso_time(value: str | None) -> datetime | None:
    """An ISO 8601 time (``2016-01-27T14:59:38.237Z``) as an aware datetime, or None."""
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def check_fresh(signed_at: int | None, now: datetime, window: int = MAX_SKEW) -> None:
    """403 unless a signed Unix time is within ``window`` seconds of ``now``."""
    if signed_at is None:
        raise Refused(401, "the signature has no timestamp")
    if abs(now.timestamp() - signed_at) > window:
        raise Refused(403, f"the signature is stale (signed more than {window} s from now)")


def int_or_none(value: Any) -> int | None:
    """An integer from an int or a short decimal string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) <= 12 and value.isdecimal():
        return int(value)
    return None


class SeenGuard(Protocol):
    """Remembers signed values: this one in memory, or the stored one ``run`` uses."""

    def first_time(self, value: str, now: datetime) -> bool:
        """Record ``value``; False when it was already seen within the window."""
        ...


class ReplayGuard:
    """Signed values (Mailgun tokens, SendGrid signatures) seen within the freshness window.

    A value seen again while it is still fresh is a replay. Beyond the window the
    timestamp check refuses it anyway, so entries expire then; the cache holds at most
    ``capacity`` values (the oldest go first). It lives in memory, per process, and is the
    default for a reader made without a guard (tests, tools); ``syndicate run`` gives the
    readers :class:`~syndicate.feedback.providers.replay.StoredReplayGuard` instead,
    which every process shares and a restart keeps.
    """

    def __init__(self, window: int = MAX_SKEW, capacity: int = 100_000) -> None:
        self.window, self.capacity = window, capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, value: str, now: datetime) -> bool:
        """Record ``value``; False when it was already seen within the window."""
        key = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        moment = now.timestamp()
        with self._lock:
            while self._seen:
                oldest, expires = next(iter(self._seen.items()))
                if expires > moment and len(self._seen) < self.capacity:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = moment + 2 * self.window  # both sides of the skew
            return True
