"""The one-line summary of a bounce import, shared by ``bounces import`` and ``run``'s
Maildir poll, so both count every message the same way and the counts add up."""

from __future__ import annotations

from collections.abc import Mapping

from syndicate.text import plural

# What the summary counts: (key, one, many). "matched": matched to a subscriber and trusted
# (it may act); "not trusted": matched to a subscriber, but it may not act (no valid token
# and not mailed in the trust window, or a token that does not verify: `bounces list` gives
# each one's reason); "unmatched": no subscriber.
SUMMARY = (
    ("processed", "processed", None),
    ("matched", "matched", None),
    ("hard", "hard", None),
    ("soft", "soft", None),
    ("ours", "ours (deliverability)", None),
    ("complaint", "complaint", None),
    ("autoreply", "auto-reply ignored", "auto-replies ignored"),
    ("delayed", "delay ignored", "delays ignored"),
    ("unmatched", "unmatched", None),
    ("untrusted", "not trusted (see bounces list)", None),
    ("already", "already imported", None),
    ("delivered", "delivery confirmed", "deliveries confirmed"),
    ("not_feedback", "not a bounce", "not bounces"),
)
INVARIANT = {"processed", "matched", "hard", "soft", "ours", "unmatched", "untrusted", "already"}


def _count(n: int, key: str, one: str, many: str | None) -> str:
    return f"{n:,} {one}" if key in INVARIANT else plural(n, one, many)


def summary(messages: int, counts: Mapping[str, int], *, every: bool = True) -> str:
    """``4 messages: 0 processed, 2 matched, …``. ``every``: name the counts that are 0
    too (the import's fixed layout); else only the others (a log line)."""
    parts = [
        _count(counts.get(key, 0), key, one, many)
        for key, one, many in SUMMARY
        if every or counts.get(key, 0)
    ]
    return ": ".join([plural(messages, "message")] + [", ".join(parts)] * bool(parts))
