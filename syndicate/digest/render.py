"""Rendering a digest once: subject, preheader, HTML (Jinja2 → MJML → HTML) and plain text.

The output holds per-recipient markers (:mod:`syndicate.digest.markers`) that are filled in
later by plain string replacement. Article data is untrusted: the HTML templates autoescape
it, the text template prints it as plain text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jinja2
import markupsafe
from mjml import mjml2html

from syndicate.config import CONFIG_NAME, DEFAULT_SUBJECT, Settings
from syndicate.config.sections import DEFAULT_ACCENT, DEFAULT_LOGO_WIDTH
from syndicate.content.html import absolute_http_url
from syndicate.content.teaser import make_teaser
from syndicate.digest import markers, templating
from syndicate.digest.note import Note
from syndicate.digest.subject import render_bounded
from syndicate.digest.text import LinkRefs, format_date, shorten, single_line, tidy, wrap
from syndicate.errors import RenderError
from syndicate.models import Article, Digest, RenderedDigest, Teaser
from syndicate.resources import templates_dir

HTML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
GMAIL_CLIP_BYTES = 102 * 1024  # Gmail hides everything past this behind "[Message clipped]"
SUBJECT_LIMIT = 200
PREHEADER_LIMIT = 150
SHORT = 120  # teasers, then titles, are cut to this many characters when the HTML is too big
_HTML_LANG = re.compile(r"<html\b[^>]*\blang=", re.IGNORECASE)
_Result = tuple[int, Digest, str]  # HTML size in bytes, the version rendered, its HTML


def template_env(site_root: Path | None) -> jinja2.Environment:
    """The Jinja2 environment of a site: ``<site>/templates`` first, then the defaults.

    A site overrides any template by placing a file of the same name in its own folder.
    HTML and MJML templates are autoescaped, ``.txt.j2`` ones are not. Cached per site.
    """
    return _env(site_root.resolve() if site_root is not None else None)


@lru_cache(maxsize=16)
def _env(root: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if root is not None:
        loaders.append(jinja2.FileSystemLoader(root / "templates"))
    loaders.append(jinja2.FileSystemLoader(templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml.j2", "html.j2", "html", "mjml"),
            disabled_extensions=("txt.j2", "txt"),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_helpers(env)
    return env


def install_helpers(env: jinja2.Environment) -> None:
    """Add the filters the digest templates use (``wrap``, ``date``) to ``env``."""
    env.filters.setdefault("wrap", wrap)
    env.filters.setdefault("date", format_date)


def publication_info(settings: Settings) -> dict[str, Any]:
    p = settings.publication
    keys = ("title", "base_url", "language", "description", "author")
    return {key: getattr(p, key) for key in keys}


def _list_info(digest: Digest, settings: Settings) -> dict[str, str]:
    declared = settings.config.lists.get(digest.list_name)
    return {
        "name": digest.list_name,
        "title": digest.list_title,
        "description": declared.description if declared else "",
    }


def render_subject(template: str, digest: Digest, settings: Settings) -> str:
    """The list's subject template rendered (sandboxed) into one line of ≤ 200 characters.

    The template sees ``list`` (title, description, name), ``lead`` (the first article),
    ``count``, ``issue`` and ``publication``. Whatever the data holds, no CR, LF or other
    control character comes out: the result becomes a mail header.
    """
    articles = digest.articles
    lead: Article | dict[str, Any] = (
        articles[0] if articles else {"title": "", "teaser": "", "url": "", "author": None}
    )
    context = {
        "list": _list_info(digest, settings),
        "lead": lead,
        "count": len(articles),
        "issue": digest.issue,
        "publication": publication_info(settings),
    }
    try:
        raw = render_bounded(template, context)
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise RenderError(
            f"{CONFIG_NAME}: lists.{digest.list_name}.subject: cannot be rendered: {exc}"
        ) from None
    except RecursionError:  # nested beyond what Python's parser stack takes
        where = f"{CONFIG_NAME}: lists.{digest.list_name}.subject"
        raise RenderError(f"{where}: cannot be rendered: nested too deep") from None
    subject = shorten(single_line(raw), SUBJECT_LIMIT)
    if not subject.strip():
        what = "with no new article" if not articles else f"for issue {digest.issue}"
        raise RenderError(
            f"{CONFIG_NAME}: lists.{digest.list_name}.subject: renders as an empty subject "
            f"{what}; give it text or a fallback, such as "
            "'{{ lead.title or list.title }}'"
        )
    return subject


def preheader(digest: Digest, settings: Settings) -> str:
    """The hidden inbox summary: the lead teaser, else the titles, else a description."""
    articles = digest.articles
    candidates = (
        articles[0].teaser if articles else "",
        " · ".join(a.title for a in articles[:5]),
        _list_info(digest, settings)["description"],
        settings.publication.description,
    )
    return shorten(next((c for c in map(single_line, candidates) if c), ""), PREHEADER_LIMIT)


def render_digest(
    digest: Digest,
    settings: Settings,
    *,
    env: jinja2.Environment | None = None,
    note: Note | None = None,
) -> RenderedDigest:
    """Render ``digest`` once into subject, preheader, HTML and text (markers left in).

    If Gmail would clip the HTML (over 102 KB), it is rendered again with shorter teasers,
    then titles only, then fewer articles (linked as "N more on …") until it fits;
    ``warnings`` says what was shortened. The text part shows the version the HTML shows.
    ``note``: the editor's note of this issue, shown at the top of both parts.
    """
    if digest.kind == "post":  # one article in full: postrender builds on this module
        from syndicate.digest.postrender import render_post

        return render_post(digest, settings, env=env)
    env = env or template_env(settings.root)
    install_helpers(env)
    declared = settings.config.lists.get(digest.list_name)
    subject = render_subject(declared.subject if declared else DEFAULT_SUBJECT, digest, settings)
    summary = preheader(digest, settings)
    base = base_context(digest, settings, subject=subject, preheader=summary, note=note)
    root = settings.root
    html_template = templating.load(env, HTML_TEMPLATE, root)
    text_template = templating.load(env, TEXT_TEMPLATE, root)

    def html_of(view: Digest) -> str:
        mjml = templating.render(html_template, {**base, "digest": view}, root)
        try:
            return to_html(mjml, settings.publication.language)
        except ValueError as exc:  # mjml-python's parse errors
            raise templating.mjml_error(html_template, exc, root) from None

    view, html, warnings = _fit(_clean_urls(digest), html_of, GMAIL_CLIP_BYTES)
    text = templating.render(text_template, {**base, "digest": view, "ref": LinkRefs()}, root)
    return RenderedDigest(
        digest=digest,
        subject=subject,
        preheader=summary,
        html=html,
        text=tidy(text),
        warnings=tuple(warnings),
    )


def base_context(
    digest: Digest, settings: Settings, *, subject: str, preheader: str, note: Note | None
) -> dict[str, Any]:
    """What every mail template of a list gets besides its own content: subject, preheader,
    publication, list, email, timezone, brand, note and the per-recipient markers."""
    declared = settings.config.lists.get(digest.list_name)
    return {
        "subject": subject,
        "preheader": preheader,
        "publication": publication_info(settings),
        "list": _list_info(digest, settings),
        "email": settings.email,
        "timezone": (declared.timezone if declared else None) or settings.publication.timezone,
        "recipient_name": markers.NAME,
        "unsubscribe_url": markers.UNSUBSCRIBE_URL,
        "preferences_url": markers.PREFERENCES_URL,
        "note": _note(note),
        "brand": brand(settings),
    }


def brand(settings: Settings) -> dict[str, Any]:
    """The branding the templates get: ``logo_url`` (absolute, or None), ``logo_width``
    (pixels) and ``accent_color`` (``#rrggbb``), from ``[email]``."""
    email = settings.config.email
    logo = email.logo_url if email else None
    if logo is not None:
        logo = clean_http(urljoin(settings.publication.base_url + "/", logo))
    return {
        "logo_url": logo,
        "logo_width": email.logo_width if email else DEFAULT_LOGO_WIDTH,
        "accent_color": email.accent_color if email else DEFAULT_ACCENT,
    }


def _note(note: Note | None) -> dict[str, Any] | None:
    """The note as the templates see it: ``note.html`` (sanitized, safe) and ``note.text``."""
    if note is None:
        return None
    return {"html": markupsafe.Markup(note.html), "text": note.text}


def to_html(mjml_source: str, language: str) -> str:
    """MJML to HTML, without web fonts, with ``lang`` on the ``<html>`` element."""
    html = mjml2html(mjml_source, fonts={})
    if not _HTML_LANG.search(html[:1000]):
        html = html.replace("<html", f'<html lang="{language}"', 1)
    return html


def clean_http(url: str | None) -> str | None:
    """``url`` if it is a clean absolute http(s) URL, else None."""
    return url if url and absolute_http_url(url, url) == url else None


def _clean_urls(digest: Digest) -> Digest:
    """``digest`` without image and teaser URLs that are not clean http(s) URLs."""

    def article(a: Article) -> Article:
        return a if clean_http(a.image) == a.image else dataclasses.replace(a, image=None)

    def teaser(t: Teaser) -> Teaser:
        return t if clean_http(t.url) == t.url else dataclasses.replace(t, url=None)

    return _edit(digest, {"lead": article, "rest": article, "also": teaser})


_Edit = Callable[[Any], Any]  # Article -> Article, or Teaser -> Teaser


def _edit(view: Digest, edits: dict[str, _Edit]) -> Digest:
    """``view`` with ``edits[part]`` applied to each item of its parts lead, rest and also."""
    parts: dict[str, Any] = {p: tuple(map(edit, getattr(view, p))) for p, edit in edits.items()}
    return dataclasses.replace(view, **parts)


def _with(**fields: Callable[[str], str]) -> _Edit:
    """An edit setting each named text field of an article or teaser to ``f(old value)``."""
    return lambda item: dataclasses.replace(
        item, **{name: f(getattr(item, name)) for name, f in fields.items()}
    )


def _cut(text: str) -> str:
    return make_teaser(text, SHORT) if len(text) > SHORT else text


def _drop(text: str) -> str:
    return ""


# What to shorten, in order, when the HTML is too big; {n} counts the items changed.
_STEPS: tuple[tuple[str, dict[str, _Edit]], ...] = (
    (
        f"cut {{n}} non-lead teasers to {SHORT} characters",
        {"rest": _with(teaser=_cut), "also": _with(excerpt=_cut)},
    ),
    (
        "showed titles only for {n} non-lead articles and 'Also on' teasers",
        {"rest": _with(teaser=_drop), "also": _with(excerpt=_drop)},
    ),
    (
        f"cut lead teasers and all titles to {SHORT} characters ({{n}} items)",
        {
            "lead": _with(teaser=_cut, title=_cut),
            "rest": _with(title=_cut),
            "also": _with(title=_cut),
        },
    ),
)


def _smaller(view: Digest) -> Iterator[tuple[Digest, str]]:
    """Ever smaller versions of ``view``, each with a note of what it shortened."""
    for note, edits in _STEPS:
        smaller = _edit(view, edits)
        pairs = zip((*view.articles, *view.also), (*smaller.articles, *smaller.also), strict=True)
        if changed := sum(a != b for a, b in pairs):
            view = smaller
            yield view, note.format(n=changed)
    if view.also:
        yield dataclasses.replace(view, also=()), f"left out the {len(view.also)} 'Also on' teasers"


def _keep(view: Digest, count: int) -> Digest:
    """``view`` with only its first ``count`` articles; the others join the "more" link."""
    return dataclasses.replace(
        view,
        lead=view.lead[:count],
        rest=view.rest[: max(0, count - len(view.lead))],
        more=view.more + len(view.articles) - count,
    )


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


def _fit(
    view: Digest, html_of: Callable[[Digest], str], limit: int
) -> tuple[Digest, str, list[str]]:
    """The first version of ``view`` whose HTML fits in ``limit`` bytes, else the smallest.

    Shortens step by step (:func:`_smaller`), then keeps the most articles that still fit.
    """
    html = html_of(view)
    full = len(html.encode())
    if full <= limit:
        return view, html, []
    smallest: _Result = (full, view, html)

    def attempt(candidate: Digest) -> _Result:
        nonlocal smallest
        out = html_of(candidate)
        result = (len(out.encode()), candidate, out)
        smallest = min(smallest, result, key=lambda r: r[0])
        return result

    notes: list[str] = []
    fit: _Result | None = None
    for smaller, note in _smaller(view):
        notes.append(note)
        view = smaller
        if (result := attempt(view))[0] <= limit:
            fit = result
            break
    total = len(view.articles)
    if fit is None and total > 1:
        lo, hi = 1, total - 1  # bisect for the most articles that still fit
        while lo <= hi:
            mid = (lo + hi) // 2
            if (result := attempt(_keep(view, mid)))[0] <= limit:
                fit, lo = result, mid + 1
            else:
                hi = mid - 1
    size, chosen, html = fit or smallest
    if dropped := total - len(chosen.articles):
        notes.append(f"left out {dropped} articles, linked as '{chosen.more} more on …'")
    warnings = [
        f"digest HTML was {_kb(full)}, over Gmail's {_kb(limit)} clipping limit: "
        + ("; ".join(notes) or "there was nothing to shorten")
        + f" (now {_kb(size)})"
    ]
    if fit is None:
        warnings.append(f"digest HTML is still {_kb(size)} after shortening: Gmail will clip it")
    return chosen, html, warnings
