"""``syndicate check`` for templates: a site's overrides are rendered once, before any send.

Each list's digest is rendered empty (no articles, the sample reader) and personalized, so a
syntax error, an undefined variable, an MJML tag left open or a template without an
unsubscribe link is reported as ``path:line: reason`` by ``check``, not by the send.
"""

from __future__ import annotations

from datetime import datetime

from syndicate.config import Settings
from syndicate.digest import templating
from syndicate.digest.assemble import ListState, assemble
from syndicate.digest.post import post_digest
from syndicate.digest.render import render_digest, template_env
from syndicate.digest.testcopy import TestCopies
from syndicate.digest.welcome import (
    WELCOME_TEMPLATES,
    Latest,
    load_welcome,
    render_welcome,
    welcome_lists,
)
from syndicate.errors import ConfigError, SyndicateError
from syndicate.models import Article, Teaser


def check_templates(settings: Settings, *, now: datetime) -> list[str]:
    """The problems of the site's digest templates, one line each (empty: all render).

    Sites without an ``[email]`` section or lists send no digest and are not checked; the
    site's own page templates (``templates/web/``) are always parsed.
    """
    problems = check_page_templates(settings)
    if settings.config.email is None:
        return problems
    for name, cfg in settings.config.lists.items():
        digest = assemble(
            name,
            cfg,
            (),
            state=ListState(issue=1, last_sent=None, sent_ids=frozenset()),
            publication=settings.publication,
            now=now,
        )
        # Any list may mail an article on its own (`send --article`): its post is checked too.
        post = post_digest(
            name, cfg, _sample(settings, now), issue=1, publication=settings.publication, now=now
        )
        try:
            for mail in (digest, post):
                rendered = render_digest(mail, settings)
                TestCopies(rendered, settings, date=now).message("reader@example.org", "Reader")
        except ConfigError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
        except SyndicateError as exc:
            if str(exc) not in problems:
                problems.append(str(exc))
    return problems + check_welcomes(settings, now=now)


def check_welcomes(settings: Settings, *, now: datetime) -> list[str]:
    """The problems of each list's welcome mail (its file, front matter and templates),
    rendered with a latest issue when the file asks for one, and personalized once."""
    problems: list[str] = []
    if settings.config.email is None:
        return problems
    for name in sorted(welcome_lists(settings)):
        try:
            welcome = load_welcome(settings, name)
            latest = None
            if welcome.latest_issue:
                latest = Latest(
                    issue=1, created=now, url=settings.publication.base_url, articles=()
                )
            rendered = render_welcome(settings, name, welcome, latest, now=now)
            TestCopies(rendered, settings, date=now, templates=WELCOME_TEMPLATES).message(
                "reader@example.org", "Reader"
            )
        except SyndicateError as exc:
            if str(exc) not in problems:
                problems.append(str(exc))
    return problems


def _sample(settings: Settings, now: datetime) -> Article:
    """An article with every field a post template may print, for :func:`check_templates`."""
    base = settings.publication.base_url
    return Article(
        id="sample",
        source="content",
        key="sample.md",
        slug="sample",
        title="A sample article",
        url=f"{base}/sample/",
        published=now,
        updated=None,
        first_seen=now,
        author="A. Writer",
        author_bio="A. Writer writes about everything.",
        teaser="What the article is about.",
        tags=("sample",),
        image=f"{base}/sample.png",
        image_credit="Photo by A. Photographer",
        html=f'<p>The body, with <a href="{base}/">a link</a>.</p>',
        related=(Teaser(title="Another article", excerpt="What it is about…", url=f"{base}/"),),
        content_hash="0" * 64,
    )


def check_page_templates(settings: Settings) -> list[str]:
    """Syntax problems of the site's own page templates (``templates/web/*.j2``)."""
    folder = settings.root / "templates" / "web"
    if not folder.is_dir():
        return []
    env = template_env(settings.root)
    problems = []
    for path in sorted(folder.glob("*.j2")):
        try:
            templating.load(env, f"web/{path.name}", settings.root)
        except templating.TemplateError as exc:
            problems.append(str(exc))
    return problems
