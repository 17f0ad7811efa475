"""One line for a connection to the SMTP server that could not be opened, secured or
authenticated: what the editor reads when a send stops at once ("Failures are loud").

Apart from the pool (``delivery.smtp``): it only reads aiosmtplib's and the operating
system's errors.
"""

from __future__ import annotations

import os
import ssl

import aiosmtplib

from syndicate.delivery.transport import clean_reply

__all__ = ["connect_problem"]


def connect_problem(exc: BaseException, host: str, port: int, *, timeout: float) -> str:
    """One line for a connection that could not be opened, secured or authenticated:
    ``cannot connect to HOST:PORT: reason``, or the TLS or login problem at HOST:PORT."""
    where = f"{host}:{port}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return clean_reply(f"authentication failed at {where}: {exc.code} {exc.message}")
    tls = _tls_problem(exc)
    if tls is not None:
        reason = tls.reason or tls.strerror or str(tls)
        return clean_reply(f"cannot start TLS with {where}: handshake failed ({reason})")
    if type(exc) in (aiosmtplib.SMTPException, aiosmtplib.SMTPNotSupported):
        # aiosmtplib's word for "STARTTLS/AUTH not offered": a configuration error
        if "starttls" in str(exc).casefold():
            return clean_reply(f"cannot start TLS with {where}: {exc}")
        return clean_reply(f"cannot use {where}: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return clean_reply(
            f"cannot connect to {where}: the server answered {exc.code} {exc.message}"
        )
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return f"cannot connect to {where}: no answer within {timeout:g} s"
    cause: BaseException | None = exc
    for _ in range(8):  # the operating system's words ("Connection refused"), when it has them
        if isinstance(cause, OSError) and (cause.errno or cause.strerror):
            reason = os.strerror(cause.errno) if cause.errno else str(cause.strerror)
            return clean_reply(f"cannot connect to {where}: {reason}")
        if cause is None:
            break
        cause = cause.__cause__ or cause.__context__
    return clean_reply(f"cannot connect to {where}: {exc}")


def _tls_problem(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc``, if any, following the exception chain."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
