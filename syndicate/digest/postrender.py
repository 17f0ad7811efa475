"""Rendering a post once: one article in full (``templates/post.mjml.j2`` and its text twin).

The article's HTML was sanitized by the content reader when it was read; it is sanitized
again here with the same nh3 rules (no script, style, event attributes or ``javascript:``
URLs; relative links made absolute), because what reaches a mail is decided where the mail
is made, not trusted from the store. Per-recipient parts are markers, as in a digest.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jinja2
import markupsafe

from syndicate.config import CONFIG_NAME, Settings
from syndicate.content.html import MarkupError, sanitize
from syndicate.digest import templating
from syndicate.digest.note import to_text
from syndicate.digest.render import (
    GMAIL_CLIP_BYTES,
    PREHEADER_LIMIT,
    SUBJECT_LIMIT,
    base_context,
    clean_http,
    install_helpers,
    publication_info,
    template_env,
    to_html,
)
from syndicate.digest.subject import render_bounded
from syndicate.digest.text import LinkRefs, shorten, single_line, tidy
from syndicate.errors import RenderError, SyndicateError
from syndicate.models import Article, Digest, RenderedDigest

HTML_TEMPLATE = "post.mjml.j2"
TEXT_TEMPLATE = "post.txt.j2"
DEFAULT_POST_SUBJECT = "{{ article.title }}"


def post_subject(digest: Digest, article: Article, settings: Settings) -> str:
    """The post's subject: the article's title, or the list's ``post_subject`` template
    (sandboxed: ``article``, ``list``, ``publication``), as one line of ≤ 200 characters."""
    cfg = settings.config.lists.get(digest.list_name)
    template = (cfg.post_subject if cfg else None) or DEFAULT_POST_SUBJECT
    where = f"{CONFIG_NAME}: lists.{digest.list_name}.post_subject"
    context = {
        "article": article,
        "list": {
            "name": digest.list_name,
            "title": digest.list_title,
            "description": cfg.description if cfg else "",
        },
        "publication": publication_info(settings),
    }
    try:
        raw = render_bounded(template, context)
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise RenderError(f"{where}: cannot be rendered: {exc}") from None
    except RecursionError:
        raise RenderError(f"{where}: cannot be rendered: nested too deep") from None
    subject = shorten(single_line(raw), SUBJECT_LIMIT)
    if not subject.strip():
        raise RenderError(
            f"{where}: renders as an empty subject; give it text, such as '{{{{ article.title }}}}'"
        )
    return subject


def _body(article: Article, base_url: str, where: str) -> tuple[markupsafe.Markup, str]:
    try:
        html = sanitize(article.html, base_url).strip()
    except MarkupError as exc:
        raise SyndicateError(f"{where}: the article's HTML cannot be mailed: {exc}") from None
    return markupsafe.Markup(html), to_text(html)


def _article_view(article: Article) -> Article:
    """``article`` without image and teaser URLs that are not clean http(s) URLs."""
    related = tuple(
        t if clean_http(t.url) == t.url else dataclasses.replace(t, url=None)
        for t in article.related
    )
    image = article.image if clean_http(article.image) == article.image else None
    return dataclasses.replace(article, image=image, related=related)


def render_post(
    digest: Digest, settings: Settings, *, env: jinja2.Environment | None = None
) -> RenderedDigest:
    """Render a post (a digest of kind ``post``) once: subject, preheader, HTML and text."""
    if not digest.lead:
        raise SyndicateError(
            f"{digest.id}: its article is no longer among the site's articles (removed, or "
            "now a draft); it cannot be mailed"
        )
    env = env or template_env(settings.root)
    install_helpers(env)
    article = _article_view(digest.lead[0])
    subject = post_subject(digest, article, settings)
    summary = shorten(single_line(article.teaser) or subject, PREHEADER_LIMIT)
    html_body, text_body = _body(article, settings.publication.base_url, digest.id)
    context: dict[str, Any] = {
        **base_context(digest, settings, subject=subject, preheader=summary, note=None),
        "digest": digest,
        "article": article,
        "body": {"html": html_body, "text": text_body},
    }
    root = settings.root
    html_template = templating.load(env, HTML_TEMPLATE, root)
    text_template = templating.load(env, TEXT_TEMPLATE, root)
    mjml = templating.render(html_template, context, root)
    try:
        html = to_html(mjml, settings.publication.language)
    except ValueError as exc:  # mjml-python's parse errors
        raise templating.mjml_error(html_template, exc, root) from None
    text = templating.render(text_template, {**context, "ref": LinkRefs()}, root)
    warnings: tuple[str, ...] = ()
    size = len(html.encode())
    if size > GMAIL_CLIP_BYTES:
        warnings = (
            f"{digest.id}: the post's HTML is {size / 1024:.1f} KB, over Gmail's "
            f"{GMAIL_CLIP_BYTES / 1024:.1f} KB clipping limit: Gmail shows the rest behind "
            "'[Message clipped]'",
        )
    return RenderedDigest(
        digest=digest,
        subject=subject,
        preheader=summary,
        html=html,
        text=tidy(text),
        warnings=warnings,
    )
