"""Bearer-token authentication, scopes and the per-token rate limit of the HTTP API, and the
JSON error every failure answers with.

Only the ``Authorization: Bearer`` header authenticates: no cookie is read, so a browser
cannot be made to send an API request with credentials (no CSRF exposure). A missing,
unknown or revoked token is 401 (with ``WWW-Authenticate: Bearer``); a token without the
scope an endpoint needs is 403 naming the scope. Tokens never reach a log line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from syndicate.store import api_tokens as repo
from syndicate.store.api_tokens import ApiToken
from syndicate.web.ratelimit import RateLimiter

# The documented default: 600 requests per token per minute (10/s sustained, bursts of 600).
RATE_CAPACITY = 600
RATE_PERIOD = 60.0


class ApiError(Exception):
    """A failure answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


# Every answer of the API carries these (JSON only; nothing may frame or sniff it).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def error_response(exc: ApiError) -> JSONResponse:
    """The JSON answer of an :class:`ApiError`."""
    return JSONResponse(
        {"error": {"code": exc.code, "message": exc.message}},
        status_code=exc.status,
        headers={**SECURITY_HEADERS, **exc.headers},
    )


def unauthorized(message: str) -> ApiError:
    """401, with the challenge RFC 6750 asks for."""
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": 'Bearer realm="api"'})


@dataclass(frozen=True, slots=True)
class Authority:
    """Checks the bearer token of a request against the store."""

    engine: Engine
    clock: Callable[[], datetime]
    limiter: RateLimiter

    async def check(self, request: Request, scope: str) -> ApiToken:
        """The request's token if it may use ``scope``; :class:`ApiError` otherwise."""
        header = request.headers.get("authorization")
        if header is None:
            raise unauthorized("send a token: `Authorization: Bearer <token>`")
        kind, _, value = header.partition(" ")
        if kind.lower() != "bearer" or not value.strip():
            raise unauthorized("only `Authorization: Bearer <token>` is accepted")
        token = await run_in_threadpool(self._find, value.strip())
        if token is None:
            raise unauthorized("this token is not known (or was revoked)")
        wait = self.limiter.acquire(f"token:{token.id}")
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests with this token: at most {RATE_CAPACITY} per "
                f"{RATE_PERIOD:.0f} seconds; retry after the Retry-After header's seconds",
                {"Retry-After": str(int(wait) + 1)},
            )
        if scope not in token.scopes:
            raise ApiError(
                403,
                "forbidden",
                f"this token lacks the scope {scope!r} (it has: {', '.join(token.scopes)}); "
                f"make one with it: syndicate admin token create --name NAME --scopes {scope}",
            )
        return token

    def _find(self, value: str) -> ApiToken | None:
        now = self.clock()
        with self.engine.begin() as conn:
            token = repo.find_token(conn, value)
            if token is None or token.revoked_at is not None:
                return None
            repo.touch(conn, token, now=now)
        return token


def default_limiter() -> RateLimiter:
    """The documented default limit per token."""
    return RateLimiter(capacity=RATE_CAPACITY, period=RATE_PERIOD)
