"""Content commands: init, check, articles, build."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.markup import escape

from syndicate import parallel
from syndicate.cli.base import Context, emit_json, err, errors, main, now, out, pass_ctx
from syndicate.config.webhooks import secret_problems
from syndicate.content.reader import read_site
from syndicate.events import announce_articles
from syndicate.feeds.build import build_feeds
from syndicate.feeds.websub import PingReport, queue_pings, send_pings
from syndicate.models import Article, Problem, ReadReport
from syndicate.scaffold import init_site, next_steps
from syndicate.store import open_store
from syndicate.store.pings import pending as pending_pings
from syndicate.text import plural


def _read(ctx: Context, *, offline: bool) -> ReadReport:
    engine = open_store(ctx.settings.database_url)
    try:
        return read_site(ctx.settings, engine, now=now(), offline=offline)
    finally:
        engine.dispose()
        parallel.shutdown()  # the parse pool's processes end before the command does


def _orphaned_webhooks(ctx: Context) -> list[str]:
    """Events the outbox holds for a [[webhooks]] endpoint no longer configured."""
    from syndicate.events.orphans import orphan_problems

    engine = open_store(ctx.settings.database_url)
    try:
        with engine.connect() as conn:
            return orphan_problems(conn, ctx.settings.config.webhooks)
    finally:
        engine.dispose()


def _problem_json(p: Problem | str) -> dict[str, Any]:
    if isinstance(p, str):  # a template problem, already "path:line: reason" (or free text)
        path, line, reason = [*p.split(":", 2), "", ""][:3]
        if not line.strip().isdigit():
            return {"path": None, "line": None, "reason": p, "message": p}
        return {"path": path, "line": int(line), "reason": reason.strip(), "message": p}
    return {"path": p.path, "line": p.line, "reason": p.reason, "message": str(p)}


def _report_problems(report: ReadReport) -> None:
    for problem in report.problems:
        err.print(f"skipped {problem}", markup=False)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--title", default=None, help="Publication title. Default: from the folder name.")
@click.option(
    "--base-url",
    default="https://example.org",
    show_default=True,
    help="Where the publication lives on the web.",
)
def init(directory: Path, title: str | None, base_url: str) -> None:
    """Create a working publication in DIRECTORY.

    \b
    Example:
      syndicate init my-newsletter --title "My Newsletter" --base-url https://news.example.org
    """
    with errors():
        name = title or directory.resolve().name.replace("-", " ").replace("_", " ").title()
        created = init_site(directory, title=name, base_url=base_url)
    for path in created:
        out.print(f"created {path}", markup=False)
    out.print("\nNext steps (edit subscribers/news.csv first: it holds a sample reader):")
    steps = next_steps(directory)
    width = max(len(command) for command, _ in steps)
    for command, what in steps:
        out.print(f"  {command:<{width}}  # {what}" if what else f"  {command}", markup=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
@pass_ctx
def check(ctx: Context, as_json: bool, offline: bool) -> None:
    """Validate the configuration and all content; exit 1 if anything is wrong.

    \b
    Examples:
      syndicate check --offline
      syndicate check --json | jq -r '.problems[].message'
    """
    with errors():
        report = _read(ctx, offline=offline)
        from syndicate.digest.selfcheck import check_templates  # only `check` renders

        broken = check_templates(ctx.settings, now=now())
        from syndicate.feedback.imap import check as check_imap  # only `check` asks IMAP

        broken += check_imap(ctx.settings, offline=offline)
        from syndicate.feedback.maildir import problem as maildir_problem

        if found := maildir_problem(ctx.settings):
            broken.append(found)
        broken += secret_problems(ctx.settings.config.webhooks)
        broken += _orphaned_webhooks(ctx)
    problems: tuple[Problem | str, ...] = (*report.problems, *broken)
    if as_json:
        emit_json(
            {
                "ok": not problems,
                "config": str(ctx.settings.root / "syndicate.toml"),
                "articles": len(report.articles),
                "scheduled": len(report.scheduled),
                "problems": [_problem_json(p) for p in problems],
            }
        )
        if problems:
            sys.exit(1)
        return
    for problem in problems:
        err.print(str(problem), markup=False)
    summary = f"{plural(len(report.articles), 'article')} read"
    if report.scheduled:  # read besides those: "and", so nobody counts them in
        summary += f" and {len(report.scheduled)} scheduled"
    summary += f", {plural(len(problems), 'problem')}"
    if problems:
        err.print(summary)
        sys.exit(1)
    out.print(f"ok: {summary} ({ctx.settings.root / 'syndicate.toml'})")


def _article_json(a: Article, *, scheduled: bool = False) -> dict[str, Any]:
    return {
        "id": a.id,
        "scheduled": scheduled,
        "source": a.source,
        "title": a.title,
        "author": a.author,
        "published": a.published.isoformat(),
        "updated": a.updated.isoformat() if a.updated else None,
        "first_seen": a.first_seen.isoformat(),
        "tags": list(a.tags),
        "url": a.url,
        "teaser": a.teaser,
        "image": a.image,
        "image_credit": a.image_credit,
        "related": [{"title": t.title, "excerpt": t.excerpt, "url": t.url} for t in a.related],
    }


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
@pass_ctx
def articles(ctx: Context, as_json: bool, offline: bool) -> None:
    """List what the content reader found, newest first. Problems go to stderr.

    Articles dated in the future are listed as "scheduled for DATE": no feed, digest or
    archive shows them before that time.

    \b
    Examples:
      syndicate articles
      syndicate articles --json | jq '.articles[].title'
    """
    with errors():
        report = _read(ctx, offline=offline)
    listed = sorted(
        [(a, True) for a in report.scheduled] + [(a, False) for a in report.articles],
        key=lambda pair: (pair[0].published, pair[0].id),
        reverse=True,
    )
    if as_json:
        emit_json(
            {
                "articles": [_article_json(a, scheduled=s) for a, s in listed],
                "problems": [_problem_json(p) for p in report.problems],
            }
        )
        return
    _report_problems(report)
    tz = ZoneInfo(ctx.settings.publication.timezone)
    for a, scheduled in listed:
        out.print(f"[bold]{escape(a.title)}[/bold]  [dim]{a.id}[/dim]")
        when = a.published.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        if scheduled:
            when = f"scheduled for {when}"
        byline = ", ".join(x for x in (a.author, when) if x)
        out.print(
            f"  {escape(byline)}  tags: {escape(', '.join(a.tags) or '-')}  "
            f"related teasers: {len(a.related)}"
        )
        out.print(f"  {escape(a.url)}")
        out.print(f"  [italic]{escape(a.teaser)}[/italic]\n")
    summary = plural(len(report.articles), "article")
    if report.scheduled:  # as many as listed above, then how they split
        summary = (
            f"{plural(len(listed), 'article')}: {len(report.articles)} published, "
            f"{len(report.scheduled)} scheduled"
        )
    out.print(summary)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--offline",
    is_flag=True,
    help="Do not fetch remote sources (use what is stored) nor ping the WebSub hub yet.",
)
@pass_ctx
def build(ctx: Context, as_json: bool, offline: bool) -> None:
    """Read the content and write the feeds (RSS, Atom, JSON Feed, archives, tags).

    Only files whose content changed are written, each atomically. Exit status 1 when a
    content file was invalid (the valid articles are still published).

    \b
    Examples:
      syndicate build
      syndicate build --json | jq .written
    """
    with errors():
        settings = ctx.settings
        engine = open_store(settings.database_url)
        try:
            report = read_site(settings, engine, now=now(), offline=offline)
            announce_articles(engine, settings.config.webhooks, report.articles, now=now())
            built = build_feeds(settings, engine, report.articles)
            pinged = None
            if settings.config.feeds.hub:
                queue_pings(settings, engine, built.written, now=now())
                # Offline: the pings wait in the store for the next build or `run`.
                pinged = PingReport() if offline else send_pings(settings, engine, now=now())
                if offline:
                    with engine.connect() as conn:
                        pinged.pending = len(pending_pings(conn))
        finally:
            engine.dispose()
            parallel.shutdown()  # the parse pool's processes end before the command does
    if pinged is not None:
        for failure in pinged.failed:  # a warning: the feeds are written all the same
            err.print(f"warning: {failure}", markup=False)
        if pinged.pending:
            err.print(
                f"{plural(pinged.pending, 'WebSub ping')} still to send: the next build or "
                "`syndicate run` retries"
            )
    if as_json:
        emit_json(
            {
                "articles": len(report.articles),
                "scheduled": len(report.scheduled),
                "written": list(built.written),
                "unchanged": built.unchanged,
                "removed": list(built.removed),
                "problems": [_problem_json(p) for p in report.problems],
                "websub": None
                if pinged is None
                else {"sent": pinged.sent, "failed": pinged.failed, "pending": pinged.pending},
            }
        )
    else:
        _report_problems(report)
        folder = settings.config.feeds.folder
        for rel in built.written:
            out.print(f"wrote {folder}/{rel}", markup=False)
        for rel in built.removed:
            out.print(f"removed {folder}/{rel}", markup=False)
        out.print(
            f"{plural(len(report.articles), 'article')}: "
            f"{plural(len(built.written), 'file')} written, "
            f"{built.unchanged} unchanged, {len(built.removed)} removed, "
            f"{plural(len(report.problems), 'problem')}"
        )
    if report.problems:
        sys.exit(1)
