"""Standard Webhooks signatures: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The signature is ``v1,`` and the base64 HMAC-SHA256, keyed with the decoded secret, of
``{id}.{timestamp}.{body}``. The ``standardwebhooks`` package (the specification's own
reference library, small, typed, no dependencies) computes it, so the scheme is not written
a second time here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook as _Scheme


class Signer:
    """Signs bodies with one endpoint's ``whsec_…`` secret."""

    def __init__(self, secret: str) -> None:
        self._scheme = _Scheme(secret)

    def headers(self, message_id: str, body: str, *, at: datetime) -> dict[str, str]:
        """The three headers of one attempt made ``at`` (whole seconds, as signed)."""
        when = at.astimezone(UTC).replace(microsecond=0)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": self._scheme.sign(message_id, when, body),
        }
