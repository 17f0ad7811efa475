"""Stable article ids: derived once from where an article came from, then kept in the store."""

from __future__ import annotations

import hashlib


def new_id(source: str, key: str, taken: set[str]) -> str:
    """A short id derived from source and key, so a rebuilt store gives the same ids.

    Falls back to a suffixed variant when the derived id is already taken (a file created
    where a renamed one used to be).
    """
    base = hashlib.sha256(f"{source}\0{key}".encode()).hexdigest()[:20]
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate
