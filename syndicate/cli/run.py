"""``syndicate run`` and ``syndicate schedule``: the service, and when it will send."""

from __future__ import annotations

import logging
import sys

import click

from syndicate import aio
from syndicate.cli.base import Context, emit_json, errors, log_to_stderr, main, now, out, pass_ctx
from syndicate.service.scheduler import list_timezone, next_run


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port; the start line names it).",
)
@pass_ctx
def run(ctx: Context, host: str, port: int) -> None:
    """Serve the web app and send each list's digest on its schedule.

    One process: the web app, the scheduler (digests, content polling, retries of deferred
    copies) and the outbox. Only one `run` per store schedules; another one serves the web app
    and takes the scheduler over when the first stops. SIGTERM or Ctrl-C stop it cleanly:
    messages in flight are finished (up to 30 s).

    \b
    Examples:
      syndicate run
      syndicate run --host 0.0.0.0 --port 8080
    """
    from syndicate.service.run import serve  # uvicorn and the web app only load here

    log_to_stderr()
    for noisy in ("apscheduler", "alembic", "httpx"):  # httpx: one INFO line per request
        logging.getLogger(noisy).setLevel(logging.WARNING)
    with errors():
        settings = ctx.settings
        code = aio.run(serve(settings, host=host, port=port, announce=click.echo))
    sys.exit(code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def schedule(ctx: Context, as_json: bool) -> None:
    """Each list's schedule, time zone and next run (computed; `run` need not be running).

    \b
    Examples:
      syndicate schedule
      syndicate schedule --json
    """
    with errors():
        settings = ctx.settings
        when = now()
        rows = []
        lines = []  # for people, in the list's zone, as `run`'s start line writes it
        for name, cfg in settings.config.lists.items():
            zone = list_timezone(settings, name)
            fire = next_run(settings, name, now=when)
            nxt = f"{fire.astimezone(zone):%Y-%m-%d %H:%M %Z}" if fire else "never"
            if cfg.schedule == "on-publish":
                nxt = "after each content poll that finds a new article"
            lines.append(f"{name}: {cfg.schedule} ({zone.key}), next {nxt}")
            rows.append(
                {
                    "list": name,
                    "schedule": cfg.schedule,
                    "timezone": zone.key,
                    "next_run": fire.isoformat() if fire else None,
                }
            )
    if as_json:
        emit_json({"lists": rows})
        return
    if not rows:
        out.print("no lists declared", markup=False)
    for line in lines:
        out.print(line, markup=False)
