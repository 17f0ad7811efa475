"""Time-based one-time codes (RFC 6238) with pyotp: 6 digits, 30-second steps, one step of
clock drift either way (``valid_window=1``). Which step a code belongs to is returned, so the
store can refuse a code used before (store/admins.py ``use_totp_step``)."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

STEP = 30
WINDOW = 1


def new_secret() -> str:
    """A fresh random base32 key (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (usually as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer)


def matching_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The time step whose code ``code`` is (within one step of ``now``), or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP)
    here = totp.timecode(now)
    found = None
    for step in range(here - WINDOW, here + WINDOW + 1):
        # every candidate is compared (constant work whichever matches)
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found
