"""Tokens never reach a log: what ``run`` and ``worker`` log is redacted first.

A token in a link acts as the reader (it unsubscribes them, changes their lists), so a log
line holding one hands that power to whoever reads the log. :func:`redact` replaces the
token segment of every token route (``/confirm/…``, ``/unsubscribe/…``, ``/preferences/…``)
and anything shaped like a token (``<payload>.<tag>``, see ``subscribers/tokens.py``, or
a VERP return path's ``<send>-<subscriber>-<mac>``, see ``subscribers/verp.py``: a bounce
carrying one is believed, so it is as good as the reader's) with ``<token>``.
:class:`RedactTokens` applies it to a record's message, arguments, traceback and stack.
``run`` and ``worker`` put it on their log handler (every logger's records pass it, a
library's too); ``web/logs.py`` also puts it on the web app's and uvicorn's loggers.
"""

from __future__ import annotations

import logging
import re

# "c": click ids (``/c/…``), which name a reader with ``[analytics] per_subscriber``.
TOKEN_ROUTES = ("confirm", "unsubscribe", "preferences", "c")
_ROUTE = re.compile(r"(/(?:" + "|".join(TOKEN_ROUTES) + r")/)[^/\s?#\"'<>]+")
# A token: a base64url payload of at least 15 bytes (20 characters), a dot, and the
# 43-character base64url HMAC-SHA256 tag.
_SHAPE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
# A VERP token: two base-36 ids (a confirmation mail's: "c-", subscriber, day) and the
# 80-bit MAC in hex; in any case, as some servers change the case of local parts.
_VERP = re.compile(
    r"(?<![A-Za-z0-9])(?:c-)?[A-Za-z0-9]{1,13}-[A-Za-z0-9]{1,13}-[A-Fa-f0-9]{20}(?![A-Za-z0-9])"
)
_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    """``text`` with every token (and every token route's last segment) as ``<token>``."""
    text = _SHAPE.sub("<token>", _ROUTE.sub(r"\1<token>", text))
    return _VERP.sub("<token>", text) if "-" in text else text


def _redact_arg(value: object) -> object:
    if value is None or isinstance(value, int | float):
        return value  # numbers stay numbers: uvicorn's access formatter needs its %d
    text = value if isinstance(value, str) else str(value)
    clean = redact(text)
    return value if clean == text else clean


class RedactTokens(logging.Filter):
    """A filter that redacts tokens from a record; it never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set, and only format exc_info otherwise.
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
