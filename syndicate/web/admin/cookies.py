"""The admin desk's cookies: HMAC-signed values, and the attributes every one carries.

A value is ``<data>.<tag>``: ``tag`` is HMAC-SHA256 (base64url) of a purpose and ``data``
under the desk's cookie key, so a pre-session cookie never passes as a session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

SESSION = "syndicate_admin"
PRE_SESSION = "syndicate_admin_pre"
MAX_VALUE = 256  # every value of ours is far shorter


def tag(key: bytes, purpose: str, data: str) -> str:
    """The HMAC tag of ``data`` for ``purpose`` (base64url, no padding)."""
    mac = hmac.new(key, f"{purpose}\x00{data}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def sign(key: bytes, purpose: str, data: str) -> str:
    """``data`` with its tag, as a cookie value (``data`` must not contain ``.``)."""
    return f"{data}.{tag(key, purpose, data)}"


def unsign(key: bytes, purpose: str, value: str | None) -> str | None:
    """The data of a signed value, or None if it is missing, malformed or forged."""
    if not value or len(value) > MAX_VALUE or not value.isascii():
        return None
    data, dot, found = value.rpartition(".")
    if not dot or not data:
        return None
    if not hmac.compare_digest(found, tag(key, purpose, data)):
        return None
    return data


def set_cookie(
    response: Response, name: str, value: str, *, path: str, secure: bool, max_age: int | None
) -> None:
    """Set one of our cookies: HttpOnly, SameSite=Strict, only under the desk's path."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, name: str, *, path: str, secure: bool) -> None:
    """Remove one of our cookies."""
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="strict")


def is_https(request: Request, web_url: str) -> bool:
    """Whether cookies must be ``Secure``: the request came over https (directly or, per
    web/proxy.py, from a trusted proxy's ``X-Forwarded-Proto``), or the pages' public URL
    is https (then the proxy in front terminates TLS even if it does not say so)."""
    return request.url.scheme == "https" or web_url.lower().startswith("https://")
