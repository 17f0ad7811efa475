"""Admin user names: short, ASCII, lower case; what anyone types is normalized the same way."""

from __future__ import annotations

import re

NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,62}", re.ASCII)


def normalize_name(text: str) -> str:
    """The name as stored: surrounding spaces dropped, lower case."""
    return text.strip().lower()


def name_problem(name: str) -> str | None:
    """Why ``name`` (normalized) cannot be an admin's name, or None."""
    if not NAME.fullmatch(name):
        return (
            f"{name!r} is not a valid user name: use 1 to 63 lower-case letters, digits and . _ @ -"
            ", starting with a letter or digit"
        )
    return None
