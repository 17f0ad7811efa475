"""``syndicate admin add-user | remove-user | list-users | passwd | totp``: the accounts
that may sign in to the web desk at /admin/."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import Engine

from syndicate.accounts import users
from syndicate.accounts.keys import admin_keys
from syndicate.accounts.passwords import MIN_LENGTH
from syndicate.cli.admin import admin
from syndicate.cli.base import Context, emit_json, err, errors, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.cli.sends import shown_time
from syndicate.store import open_store
from syndicate.store.admins import AdminUser
from syndicate.text import plural

_STDIN_HELP = "Read the password from the first line of stdin instead of asking."


def _read_password(name: str, from_stdin: bool) -> str:
    """The new password: the first line of stdin, or asked twice without echo."""
    if from_stdin:
        line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not line:
            raise users.AccountError("no password on stdin (it reads the first line)")
        return line
    if not sys.stdin.isatty():
        raise users.AccountError(
            "there is no terminal to ask for a password; pipe it in with --password-stdin"
        )
    password: str = click.prompt(
        f"New password for {name} (at least {MIN_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt="Repeat the password",
        err=True,
    )
    return password


@contextmanager
def _store(ctx: Context) -> Iterator[Engine]:
    engine = open_store(ctx.settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _secret_note(ctx: Context) -> None:
    if not ctx.settings.secrets.secret:
        err.print(
            "note: SYNDICATE_SECRET is not set; /admin/ stays off until `syndicate run` has it.",
            markup=False,
        )


@admin.command("add-user")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help=_STDIN_HELP)
@pass_ctx
def add_user(ctx: Context, name: str, password_stdin: bool) -> None:
    """Add an admin account NAME; asks for its password (or reads it from stdin)."""
    with errors():
        settings = ctx.settings
        name = users.check_name(name)  # before asking for a password
        with _store(ctx) as engine:
            password = _read_password(name, password_stdin)
            made = users.add_user(engine, name, password, now=wall_clock())
        out.print(
            f"Added admin {made.name}. Sign in at {settings.web_url.rstrip('/')}/admin/sign-in",
            markup=False,
        )
        out.print(
            f"Turn on two-step sign-in with `syndicate admin totp {made.name}`.", markup=False
        )
        _secret_note(ctx)


@admin.command("remove-user")
@click.argument("name")
@pass_ctx
def remove_user(ctx: Context, name: str) -> None:
    """Remove the admin account NAME; its sessions end at once."""
    with errors():
        engine = open_store(ctx.settings.database_url)
        found = next((u for u in users.list_users(engine) if u.name == name.strip().lower()), None)
        users.remove_user(engine, name)
        assert found is not None
        ended = f" and ended {plural(found.sessions, 'session')}" if found.sessions else ""
        out.print(f"Removed admin {found.name}{ended}.", markup=False)


def _user_doc(user: AdminUser) -> dict[str, Any]:
    return {
        "name": user.name,
        "created": user.created_at.isoformat(),
        "last_sign_in": user.last_sign_in_at.isoformat() if user.last_sign_in_at else None,
        "totp": user.totp_secret is not None,
        "sessions": user.sessions,
    }


@admin.command("list-users")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def list_users(ctx: Context, as_json: bool) -> None:
    """The admin accounts: created, last sign-in, TOTP on or off, open sessions."""
    with errors():
        with _store(ctx) as engine:
            found = users.list_users(engine)
        if as_json:
            emit_json({"users": [_user_doc(u) for u in found]})
            return
        if not found:
            out.print(
                "No admin accounts yet; add one with `syndicate admin add-user NAME`.",
                markup=False,
            )
            return
        rows = [
            (
                u.name,
                shown_time(u.created_at),
                shown_time(u.last_sign_in_at) if u.last_sign_in_at else "never",
                "on" if u.totp_secret else "off",
                str(u.sessions),
            )
            for u in found
        ]
        header = ("NAME", "CREATED", "LAST SIGN-IN", "TOTP", "SESSIONS")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            out.print(
                "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(),
                markup=False,
            )
        out.print(plural(len(found), "admin account"), markup=False)


@admin.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help=_STDIN_HELP)
@pass_ctx
def passwd(ctx: Context, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; every session of theirs ends."""
    with errors():
        with _store(ctx) as engine:
            known = [u.name for u in users.list_users(engine)]
            if name.strip().lower() not in known:
                raise users.AccountError(
                    f"there is no admin called {name.strip().lower()!r}; "
                    "`syndicate admin list-users` shows them"
                )
            password = _read_password(name.strip().lower(), password_stdin)
            ended = users.change_password(engine, name, password, now=wall_clock())
        tail = f"; ended {plural(ended, 'session')}" if ended else ""
        out.print(f"Changed the password of {name.strip().lower()}{tail}.", markup=False)


@admin.command("totp")
@click.argument("name")
@click.option("--off", is_flag=True, help="Turn two-step sign-in off for NAME.")
@pass_ctx
def totp(ctx: Context, name: str, off: bool) -> None:
    """Turn on two-step sign-in (TOTP) for NAME and print the provisioning URI once.

    Running it again makes a new key (the old one stops working)."""
    with errors():
        settings = ctx.settings
        if off:
            with _store(ctx) as engine:
                was_on = users.disable_totp(engine, name)
            shown = name.strip().lower()
            out.print(
                f"Turned two-step sign-in off for {shown}."
                if was_on
                else f"Two-step sign-in was already off for {shown}.",
                markup=False,
            )
            return
        keys = admin_keys(settings.secrets.secret)
        with _store(ctx) as engine:
            setup = users.enable_totp(engine, keys, name, issuer=settings.publication.title)
        out.print(setup.uri, markup=False)
        err.print(
            "Add this to an authenticator app (most read it as a QR code: e.g. "
            "`qrencode -t ansiutf8 'URI'`), or type the key "
            f"{setup.secret}. It is shown only now; it is a secret. From now on signing in "
            "asks for the app's 6-digit code.",
            markup=False,
        )
