"""``syndicate admin``: the editor's desk — admin accounts (``admin_users``) and API tokens
(``admin_tokens``). Each subcommand module registers itself on the group below."""

from __future__ import annotations

from syndicate.cli.base import main


@main.group()
def admin() -> None:
    """Admin accounts for the web desk at /admin/, and tokens for the HTTP API at /api/v1/."""


# Subcommand modules (imported last: they register on ``admin``).
from syndicate.cli import admin_tokens, admin_users  # noqa: E402,F401
