"""Content commands: init, check, articles, build."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.markup import escape

from syndicate.cli.base import Context, err, errors, main, now, out, pass_ctx
from syndicate.content.reader import read_site
from syndicate.feeds.build import build_feeds
from syndicate.models import Article, ReadReport
from syndicate.scaffold import init_site, next_steps
from syndicate.store import open_store


def _read(ctx: Context, *, offline: bool) -> ReadReport:
    engine = open_store(ctx.settings.database_url)
    try:
        return read_site(ctx.settings, engine, now=now(), offline=offline)
    finally:
        engine.dispose()


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
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
@pass_ctx
def check(ctx: Context, offline: bool) -> None:
    """Validate the configuration and all content; exit 1 if anything is wrong.

    \b
    Example:
      syndicate check --offline
    """
    with errors():
        report = _read(ctx, offline=offline)
        from syndicate.digest.selfcheck import check_templates  # only `check` renders

        broken = check_templates(ctx.settings, now=now())
    for problem in (*report.problems, *broken):
        err.print(str(problem), markup=False)
    count = len(report.problems) + len(broken)
    summary = f"{len(report.articles)} articles read, {count} problems"
    if count:
        err.print(summary)
        sys.exit(1)
    out.print(f"ok: {summary} ({ctx.settings.root / 'syndicate.toml'})")


def _article_json(a: Article) -> dict[str, Any]:
    return {
        "id": a.id,
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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
@pass_ctx
def articles(ctx: Context, as_json: bool, offline: bool) -> None:
    """List what the content reader found, newest first. Problems go to stderr.

    \b
    Examples:
      syndicate articles
      syndicate articles --json | jq '.[].title'
    """
    with errors():
        report = _read(ctx, offline=offline)
    _report_problems(report)
    if as_json:
        click.echo(
            json.dumps([_article_json(a) for a in report.articles], ensure_ascii=False, indent=2)
        )
        return
    tz = ZoneInfo(ctx.settings.publication.timezone)
    for a in report.articles:
        out.print(f"[bold]{escape(a.title)}[/bold]  [dim]{a.id}[/dim]")
        when = a.published.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
        byline = ", ".join(x for x in (a.author, when) if x)
        out.print(
            f"  {escape(byline)}  tags: {escape(', '.join(a.tags) or '-')}  "
            f"related teasers: {len(a.related)}"
        )
        out.print(f"  {escape(a.url)}")
        out.print(f"  [italic]{escape(a.teaser)}[/italic]\n")
    out.print(f"{len(report.articles)} articles")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
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
            built = build_feeds(settings, engine, report.articles)
        finally:
            engine.dispose()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "articles": len(report.articles),
                    "written": list(built.written),
                    "unchanged": built.unchanged,
                    "removed": list(built.removed),
                    "problems": [str(p) for p in report.problems],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        _report_problems(report)
        folder = settings.config.feeds.folder
        for rel in built.written:
            out.print(f"wrote {folder}/{rel}", markup=False)
        for rel in built.removed:
            out.print(f"removed {folder}/{rel}", markup=False)
        out.print(
            f"{len(report.articles)} articles: {len(built.written)} files written, "
            f"{built.unchanged} unchanged, {len(built.removed)} removed, "
            f"{len(report.problems)} problems"
        )
    if report.problems:
        sys.exit(1)
