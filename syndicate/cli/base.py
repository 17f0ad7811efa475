"""The ``syndicate`` group and what every command shares: settings, errors, output."""

from __future__ import annotations

import importlib
import json
import logging
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.segment import Segment

from syndicate import __version__
from syndicate.config import ENV_SITE, Settings, load_settings
from syndicate.errors import ConfigError, SyndicateError
from syndicate.redact import RedactTokens
from syndicate.text import printable

# What json.dumps(ensure_ascii=False) leaves raw but a terminal acts on (C1 controls such as
# CSI, line separators, bidi overrides) or cannot encode (lone surrogates).
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def one_line_each(text: str) -> str:
    """A message as printed: each is one line (blank lines before or after it aside), so a
    file name or title with a newline or an escape sequence in it is shown escaped."""
    body = text.strip("\n")
    if not body:
        return text
    start = text.index(body[0])
    return text[:start] + printable(body) + text[start + len(body) :]


class Terminal(Console):
    """A rich console that never writes a control character it was given: each string
    printed is one line (:func:`one_line_each`), and whatever else is rendered (a ``Text``, a
    table) has its control characters escaped too; rich's own styles are unaffected."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(one_line_each(o) if isinstance(o, str) else o for o in objects), **kwargs)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            seg if seg.control or seg.text == "\n" else seg._replace(text=_plain(seg.text))
            for seg in buffer
        )


def _plain(text: str) -> str:
    return "\n".join(printable(part) for part in text.split("\n"))


# emoji=False: names, subjects and server replies are printed as stored (":x:" stays text).
out = Terminal(highlight=False, soft_wrap=True, emoji=False)
err = Terminal(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class LogLines(logging.Formatter):
    """Log records as single lines: the message (which quotes paths, titles, replies) with
    its control characters escaped; a traceback, when there is one, follows as it is."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _plain(super().formatException(ei))  # its lines stay lines; ESC does not


def log_to_stderr(level: int = logging.INFO) -> None:
    """What ``run`` and ``worker`` log: timestamped single lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogLines("%(asctime)s %(levelname)s %(message)s"))
    # On the handler, so it sees every logger's records (aiosmtpd's, a library's): no
    # token, link or VERP return path reaches the log, whoever logs it.
    handler.addFilter(RedactTokens())
    logging.basicConfig(level=level, handlers=[handler])


EPILOG = """\b
Examples:
  syndicate init my-newsletter        create a new publication
  syndicate --site my-newsletter check
  syndicate build                     write feeds/ (RSS, Atom, JSON Feed)
  syndicate articles --json           what the content reader found, as JSON
  syndicate subscribers import weekly subscribers/weekly.csv
  SYNDICATE_SITE=/srv/news syndicate articles
"""


@contextmanager
def errors() -> Iterator[None]:
    """Turn our errors into a clear message and an exit status instead of a traceback."""
    try:
        yield
    except ConfigError as exc:
        for line in exc.problems:
            err.print(f"[red]error:[/red] {escape(line)}", markup=True)
        sys.exit(2)
    except SyndicateError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
        sys.exit(1)


def emit_json(doc: Mapping[str, Any]) -> None:
    """``--json`` output: exactly one JSON object on stdout (the convention of every command).

    Collections sit under a key named for them (``{"articles": [...]}``), so a field can be
    added later without breaking a script; times are ISO 8601 with their offset; text is
    UTF-8, not escaped. Progress, warnings and errors go to stderr, never into the document.
    """
    click.echo(_json_safe(json.dumps(doc, ensure_ascii=False, indent=2, default=str)))


def emit_jsonl(rows: Iterable[Mapping[str, Any]]) -> None:
    """``--json`` output of a stream (one record per subscriber or recipient, unbounded):
    JSON Lines, one compact object per line, written as it is read."""
    for row in rows:
        click.echo(
            _json_safe(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str))
        )


def _json_safe(doc: str) -> str:
    """The same JSON, with what a terminal would act on written as ``\\uXXXX`` escapes
    (json escapes C0 controls itself; these can only occur inside strings)."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", doc)


class Context:
    def __init__(self, site: str | None) -> None:
        self.site = site
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.site)
        return self._settings


def preview_output(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format html|text|eml``, ``--out FILE`` and ``--open``: the options of every
    command that shows a mail (``preview``, ``welcome``)."""
    options = (
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["html", "text", "eml"]),
            default="html",
            show_default=True,
            help="HTML part, text part, or the whole RFC 5322 message.",
        ),
        click.option(
            "--out",
            "out_file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Write to this file instead of stdout.",
        ),
        click.option(
            "--open", "open_it", is_flag=True, help="Open the result in a browser / mail app."
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def write_preview(
    data: bytes, fmt: str, out_file: Path | None, *, open_it: bool, prefix: str
) -> None:
    """Where :func:`preview_output`'s options send a mail shown: stdout, ``--out FILE``, or
    (``--open`` without ``--out``) a temporary file opened in a browser / mail app."""
    if out_file is None and open_it:
        suffix = {"html": ".html", "text": ".txt", "eml": ".eml"}[fmt]
        out_file = Path(tempfile.mkstemp(prefix=prefix, suffix=suffix)[1])
    if out_file is None:
        sys.stdout.buffer.write(data)
        return
    out_file.write_bytes(data)
    err.print(f"wrote {out_file}", markup=False)
    if open_it:
        click.launch(str(out_file))


def now() -> datetime:
    """The wall clock, to the second: first-seen dates end up in feeds and emails."""
    return datetime.now(UTC).replace(microsecond=0)


# Which module defines each command: a command's module (and what it needs: the web stack,
# the scheduler, the feed writer...) is imported only when that command runs.
COMMANDS = {
    "init": "content",
    "check": "content",
    "articles": "content",
    "build": "content",
    "subscribers": "subscribers",
    "bounces": "bounces",
    "preview": "digest",
    "welcome": "welcome",
    "send": "send",
    "status": "sends",
    "sends": "sends",
    "report": "report",
    "approve": "approval",
    "reject": "approval",
    "worker": "worker",
    "run": "run",
    "schedule": "run",
    "webhooks": "webhooks",
    "admin": "admin",
}


class LazyGroup(click.Group):
    """A group whose commands register themselves when their module is first imported."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"syndicate.cli.{module}")
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--site",
    type=click.Path(file_okay=False, path_type=str),
    envvar=ENV_SITE,
    help="The publication folder (holds syndicate.toml). Default: the current directory.",
)
@click.version_option(__version__, "--version", prog_name="syndicate")
@click.pass_context
def main(click_ctx: click.Context, site: str | None) -> None:
    """Publish a newsletter and its syndication feeds from a folder of articles."""
    click_ctx.obj = Context(site)
    click_ctx.call_on_close(_stop_helper_processes)


def _stop_helper_processes() -> None:
    """Whatever a command ran in other processes (the parse pool of a large read, the
    senders of a large send) has exited before the command does."""
    if "multiprocessing.forkserver" in sys.modules:  # nothing was started otherwise
        from syndicate import parallel

        parallel.shutdown()


pass_ctx: Callable[[Callable[..., Any]], Callable[..., Any]] = click.make_pass_decorator(Context)
