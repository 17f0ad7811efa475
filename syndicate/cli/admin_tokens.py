"""``syndicate admin token create | list | revoke``: bearer tokens of the HTTP API."""

from __future__ import annotations

from typing import Any

import click

from syndicate.cli.admin import admin
from syndicate.cli.base import Context, emit_json, err, errors, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.store import api_tokens as repo
from syndicate.store import open_store
from syndicate.text import plural


def _when(moment: Any) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


@admin.group()
def token() -> None:
    """Bearer tokens for the HTTP API at /api/v1/ (stored hashed; shown once)."""


@token.command()
@click.option("--name", required=True, help="What the token is for, e.g. website-signup.")
@click.option(
    "--scopes",
    required=True,
    help=f"Comma-separated, from: {', '.join(repo.SCOPES)}.",
)
@pass_ctx
def create(ctx: Context, name: str, scopes: str) -> None:
    """Make a token: printed once on stdout; only its hash is stored."""
    with errors():
        chosen = repo.parse_scopes(scopes)
        engine = open_store(ctx.settings.database_url)
        try:
            with engine.begin() as conn:
                row, secret = repo.create_token(conn, name, chosen, now=wall_clock())
        finally:
            engine.dispose()
    click.echo(secret)
    err.print(
        f"token {row.name!r} (id {row.id}) made with {', '.join(row.scopes)}. It is shown only "
        "now: keep it in your secret store. Send it as `Authorization: Bearer <token>`; "
        f"`syndicate admin token revoke {row.name}` ends it.",
        markup=False,
    )


def _doc(t: repo.ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "scopes": list(t.scopes),
        "created_at": t.created_at.isoformat(),
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
    }


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help='One JSON object: {"tokens": [...]}.')
@pass_ctx
def list_(ctx: Context, as_json: bool) -> None:
    """Every token: name, scopes, when made, last used and revoked (never the token)."""
    with errors():
        engine = open_store(ctx.settings.database_url)
        try:
            with engine.connect() as conn:
                rows = repo.list_tokens(conn)
        finally:
            engine.dispose()
    if as_json:
        emit_json({"tokens": [_doc(t) for t in rows]})
        return
    if not rows:
        err.print(
            "no API tokens yet; `syndicate admin token create --name NAME --scopes "
            "subscribers:read` makes one",
            markup=False,
        )
        return
    for t in rows:
        state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
        out.print(
            f"{t.id:>4}  {t.name}  [{', '.join(t.scopes)}]  made {_when(t.created_at)}, "
            f"last used {_when(t.last_used_at)}, {state}",
            markup=False,
        )
    active = sum(1 for t in rows if t.revoked_at is None)
    err.print(f"{plural(len(rows), 'token')}, {active} active", markup=False)


@token.command()
@click.argument("name_or_id", metavar="NAME|ID")
@pass_ctx
def revoke(ctx: Context, name_or_id: str) -> None:
    """Revoke a token at once: requests with it get 401 from now on."""
    with errors():
        engine = open_store(ctx.settings.database_url)
        try:
            with engine.begin() as conn:
                row = repo.revoke_token(conn, name_or_id, now=wall_clock())
        finally:
            engine.dispose()
    out.print(f"token {row.name!r} (id {row.id}) revoked {_when(row.revoked_at)}", markup=False)
