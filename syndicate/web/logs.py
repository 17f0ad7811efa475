"""Tokens never reach a log: the web app's and uvicorn's loggers redact them first.

uvicorn's error log prints tracebacks and its access log the request path, which holds the
token of ``/confirm/…``, ``/unsubscribe/…`` and ``/preferences/…``: :func:`redact_logs`
puts :class:`~syndicate.redact.RedactTokens` on those loggers (``syndicate/redact.py``
says what is redacted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from syndicate.redact import RedactTokens, redact

__all__ = ["WEB_LOGGERS", "RedactTokens", "redact", "redact_logs"]
WEB_LOGGERS = (
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "syndicate.web.app",
    "syndicate.web.render",
)


def redact_logs(names: Iterable[str] = WEB_LOGGERS) -> None:
    """Put :class:`RedactTokens` on each named logger (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
