"""The welcome mail of a list (``[lists.NAME] welcome = "welcome.md"``): read, then rendered
once in the publication's email layout, with the same per-recipient markers as a digest.

The file is Markdown with front matter: ``subject:`` (required), ``preheader:`` and
``latest_issue: true`` (follow the welcome with the list's latest issue). The body goes
through the content pipeline's sanitizer (nh3) like articles and editor's notes: no
scripts, styles or event attributes; relative links made absolute. Anything wrong with the
file is a :class:`WelcomeError` naming the file and line.

The rendered result is a :class:`~syndicate.models.RenderedDigest` of a digest with no
articles whose id is ``<list>-welcome``: personalizing, message building and test copies are
the digest's own, so a welcome has the same headers (List-Unsubscribe with one-click,
List-Id…), the same footer and the same safety checks as every issue.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from sqlalchemy import Connection

from syndicate.config import CONFIG_NAME, Settings
from syndicate.content.html import MarkupError, sanitize
from syndicate.content.markdown import front_matter, front_matter_error
from syndicate.content.reader import stored_article
from syndicate.digest import markers, templating
from syndicate.digest.note import to_text
from syndicate.digest.render import brand, install_helpers, template_env, to_html
from syndicate.digest.text import LinkRefs, shorten, single_line, tidy
from syndicate.errors import ContentError, SyndicateError
from syndicate.models import Article, Digest, RenderedDigest
from syndicate.store import digests as digest_repo
from syndicate.store.articles import articles_by_id

HTML_TEMPLATE = "welcome.mjml.j2"
TEXT_TEMPLATE = "welcome.txt.j2"
WELCOME_TEMPLATES = (HTML_TEMPLATE, TEXT_TEMPLATE)
MAX_WELCOME = 20_000  # characters of the file: a welcome, not an article
SUBJECT_LIMIT = 200
LATEST_ARTICLES = 10  # of the latest issue, at most
_FIELDS = ("subject", "preheader", "latest_issue")
_BREAKS = frozenset({"Cc", "Zl", "Zp"})  # CR, LF, NUL, tab, U+0085, U+2028, U+2029…


class WelcomeError(SyndicateError):
    """The welcome file cannot be used: ``path:line: reason``."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")
        self.path, self.line, self.reason = path, line, reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """A welcome file, read: its subject, options and the body as sanitized HTML and text."""

    path: str  # as configured (relative to the site)
    subject: str
    preheader: str | None
    latest_issue: bool
    html: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Latest:
    """The list's latest issue, as the welcome shows it: its number, date, archive page and
    the articles it carried (newest first)."""

    issue: int
    created: datetime
    url: str
    articles: tuple[Article, ...]


def welcome_lists(settings: Settings) -> frozenset[str]:
    """The lists that send a welcome mail."""
    return frozenset(n for n, cfg in settings.config.lists.items() if cfg.welcome)


def load_welcome(settings: Settings, list_name: str) -> Welcome:
    """Read and render the list's welcome file; WelcomeError names the file (and line)."""
    configured = settings.mailing_list(list_name).welcome
    if not configured:
        raise SyndicateError(f"{CONFIG_NAME}: lists.{list_name}.welcome: not set")
    try:
        data = _read_contained(settings.root, configured, list_name)
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror or exc})"
        raise WelcomeError(
            configured,
            None,
            f"{reason}; set lists.{list_name}.welcome in {CONFIG_NAME} to the "
            "Markdown file of the welcome mail (relative to the site folder)",
        ) from None
    if len(data) > MAX_WELCOME * 4 + 3:
        raise WelcomeError(configured, None, f"is over {MAX_WELCOME * 4:,} bytes long")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise WelcomeError(
            configured, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from None
    return parse_welcome(text, where=configured, base_url=settings.publication.base_url)


def _read_contained(root: Path, configured: str, list_name: str) -> bytes:
    """The welcome file's bytes (at most the longest welcome and one byte more): a regular
    file inside the site folder, its symlinks resolved; opened without blocking (a FIFO
    or device is refused, never waited on)."""
    field = f"lists.{list_name}.welcome in {CONFIG_NAME}"
    site = root.resolve()
    path = (root / configured).resolve()  # OSError: a symlink loop
    if not path.is_relative_to(site):
        raise WelcomeError(
            configured, None, f"is outside the site folder ({site}); set {field} to a "
            "Markdown file inside it (relative to the site folder)",
        )  # fmt: skip
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)  # resolved: no symlink left to follow
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise WelcomeError(configured, None, f"is {kind}; set {field} to a Markdown file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(MAX_WELCOME * 4 + 4)
    finally:
        os.close(fd)


def parse_welcome(source: str, *, where: str, base_url: str) -> Welcome:
    """A welcome file's text, read; relative links resolve against ``base_url``."""
    from markdown_it import MarkdownIt  # only the welcome and notes need it here

    if "\x00" in source:
        raise WelcomeError(where, source[: source.index("\x00")].count("\n") + 1, "holds NUL")
    if len(source) > MAX_WELCOME:
        raise WelcomeError(where, 1, f"is {len(source):,} characters long; at most {MAX_WELCOME:,}")
    try:
        meta, body, body_line, fm = front_matter(where, source)
        subject = _subject(where, fm, meta)
        preheader = meta.get("preheader")
        if preheader is not None and not isinstance(preheader, str):
            front_matter_error(where, fm, "preheader", "must be text")
        latest = meta.get("latest_issue", False)
        if not isinstance(latest, bool):
            front_matter_error(where, fm, "latest_issue", "must be true or false")
    except ContentError as exc:
        raise WelcomeError(where, exc.line, exc.reason) from None
    markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    try:
        clean = sanitize(markdown.render(body), base_url).strip()
    except MarkupError as exc:
        raise WelcomeError(where, body_line, f"holds {exc}") from None
    text = to_text(clean)
    if not text:
        body_line = min(body_line, source.count("\n") or 1)  # not past the end of the file
        raise WelcomeError(
            where, body_line, "has no text: write the welcome under the front matter"
        )
    return Welcome(
        path=where,
        subject=subject,
        preheader=shorten(single_line(preheader), 150) if preheader else None,
        latest_issue=latest,
        html=clean,
        text=text,
    )


def _subject(where: str, fm: list[str], meta: dict[str, Any]) -> str:
    for key in meta:
        if key not in _FIELDS:
            line = next((i + 1 for i, t in enumerate(fm) if t.split(":")[0].strip() == key), 1)
            raise WelcomeError(
                where,
                line,
                f"unknown front matter field `{key}`; a welcome takes "
                + ", ".join(f"`{k}`" for k in _FIELDS),
            )
    if "subject" not in meta:
        raise WelcomeError(
            where,
            1,
            "no subject: add `subject: Welcome to …` to the front matter "
            "(between two `---` lines at the top)",
        )
    value = meta["subject"]
    if not isinstance(value, str) or not value.strip():
        front_matter_error(where, fm, "subject", "must be a line of text")
    assert isinstance(value, str)
    broken = next((c for c in value if unicodedata.category(c) in _BREAKS), None)
    if broken is not None:  # a header is one line: say so, rather than mend it in silence
        front_matter_error(
            where, fm, "subject",
            f"must be a single line (it holds {broken!r}: no line breaks or control characters)",
        )  # fmt: skip
    subject = single_line(value)
    if len(subject) > SUBJECT_LIMIT:
        front_matter_error(where, fm, "subject", f"must be at most {SUBJECT_LIMIT} characters")
    return subject


def latest_issue(conn: Connection, settings: Settings, list_name: str) -> Latest | None:
    """The list's newest recorded issue (a send started; previews and test copies record
    none) with the articles it carried that are still stored; None before the first."""
    found = digest_repo.latest_digest(conn, list_name)
    if found is None:
        return None
    issue, created, ids = found
    shown = sorted(
        (stored_article(r) for r in articles_by_id(conn, ids[:1000])),
        key=lambda a: (a.published, a.id),
        reverse=True,
    )
    base = settings.publication.base_url
    return Latest(
        issue=issue,
        created=created,
        url=f"{base}/archive/{list_name}/{issue}.html",
        articles=tuple(shown[:LATEST_ARTICLES]),
    )


def welcome_digest(settings: Settings, list_name: str, *, now: datetime) -> Digest:
    """The article-less digest a welcome is rendered as (id ``<list>-welcome``)."""
    cfg = settings.mailing_list(list_name)
    base = settings.publication.base_url
    return Digest(
        id=f"{list_name}-welcome",
        list_name=list_name,
        list_title=cfg.title,
        issue=0,
        created=now,
        lead=(),
        rest=(),
        also=(),
        more=0,
        more_url=f"{base}/",
        archive_url=f"{base}/",
    )


def render_welcome(
    settings: Settings,
    list_name: str,
    welcome: Welcome,
    latest: Latest | None,
    *,
    now: datetime,
    env: jinja2.Environment | None = None,
) -> RenderedDigest:
    """The welcome rendered once (markers left in), followed by ``latest`` when the file
    asks for it (``latest_issue: true``) and there is one."""
    env = env or template_env(settings.root)
    install_helpers(env)
    cfg = settings.mailing_list(list_name)
    digest = welcome_digest(settings, list_name, now=now)
    p = settings.publication
    shown = latest if welcome.latest_issue and latest is not None else None
    summary = welcome.preheader or shorten(single_line(welcome.text), 150)
    context: dict[str, Any] = {
        "subject": welcome.subject,
        "preheader": summary,
        "publication": {
            k: getattr(p, k) for k in ("title", "base_url", "language", "description", "author")
        },
        "list": {"name": list_name, "title": cfg.title, "description": cfg.description},
        "email": settings.email,
        "timezone": cfg.timezone or p.timezone,
        "recipient_name": markers.NAME,
        "unsubscribe_url": markers.UNSUBSCRIBE_URL,
        "preferences_url": markers.PREFERENCES_URL,
        "brand": brand(settings),
        "welcome": {"html": markupsafe.Markup(welcome.html), "text": welcome.text},
        "latest": shown,
        "digest": digest,
    }
    root = settings.root
    html_template = templating.load(env, HTML_TEMPLATE, root)
    text_template = templating.load(env, TEXT_TEMPLATE, root)
    mjml = templating.render(html_template, context, root)
    try:
        html = to_html(mjml, p.language)
    except ValueError as exc:
        raise templating.mjml_error(html_template, exc, root) from None
    text = templating.render(text_template, {**context, "ref": LinkRefs()}, root)
    return RenderedDigest(
        digest=digest, subject=welcome.subject, preheader=summary, html=html, text=tidy(text)
    )
