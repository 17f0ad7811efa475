"""Markdown articles: YAML front matter plus a CommonMark body (markdown-it-py)."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from syndicate.content.html import MarkupError, absolute_http_url, plain_text
from syndicate.content.markup import HINT as MARKUP_HINT
from syndicate.content.markup import bounded_html
from syndicate.errors import ContentError
from syndicate.models import Entry

# Raw HTML is allowed in Markdown (authors embed figures and tables); it is sanitized later
# like every other HTML that reaches a feed or an email.
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_INLINE = RendererHTML()
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,120}$")
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]{0,60})\s*:(?:\s|$)")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
# Far from datetime's limits, so converting between time zones can never overflow.
MIN_YEAR, MAX_YEAR = 1000, 9000
MAX_TITLE = 300
# markdown-it-py costs up to ~10 µs a character on inline-heavy text, and ~60 µs for each
# `[` that opens no link (it looks for the label's end): bounded before it parses, so a
# hostile file cannot cost minutes (bench/markdown_worst.py measures the worst cases).
MAX_BODY = 500_000  # characters of Markdown after the front matter
MAX_BRACKETS = 10_000  # `[` in the body (each a possible link label)
_BOUND_HINT = "split the article, or move the bulk to a linked file"


class _Handler(frontmatter.YAMLHandler):  # type: ignore[misc,name-defined]
    """python-frontmatter's YAML handler, on libyaml's C loader when available (10x faster)."""

    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


_HANDLER = _Handler()


def read_markdown(path: str, text: str) -> Entry | None:
    """Parse one Markdown article (None for a draft); ContentError names the line at fault."""
    meta, body, body_line, fm = _split(path, text)
    if meta.get("draft") is not None and not isinstance(meta["draft"], bool):
        _field_error(path, fm, "draft", "must be true or false")
    if meta.get("draft") is True:
        return None
    try:
        return _entry(path, meta, body, body_line, fm)
    except MarkupError as exc:  # raw HTML nested or repeated beyond what is read
        raise ContentError(path, body_line, f"{exc}; {MARKUP_HINT}") from None


def _entry(path: str, meta: dict[str, Any], body: str, body_line: int, fm: list[str]) -> Entry:
    fields = _Fields(path, fm, meta)
    _bound(path, body, body_line)
    tokens = _MD.parse(body)
    title = fields.text("title")
    if title is None:
        title = _take_h1(tokens)
        if title is None:
            raise ContentError(
                path, 1, "no title: add `title: ...` to the front matter or start with `# Title`"
            )
    if len(title) > MAX_TITLE:
        raise ContentError(path, 1, f"title is {len(title)} characters; at most {MAX_TITLE}")
    html = _MD.renderer.render(tokens, _MD.options, {})
    bounded_html(html)  # refuses hostile HTML now; sanitizing later reuses the result
    lead = _lead(tokens)
    if not lead and not plain_text(html) and "<img" not in html:
        raise ContentError(path, body_line, "empty body: the article has a title but no text")
    return Entry(
        title=title,
        html=html,
        lead=lead,
        id=fields.pattern("id", _ID, "letters, digits and . _ : - (at most 64)"),
        slug=fields.pattern("slug", _SLUG, "lowercase letters, digits and hyphens"),
        url=fields.url("url", absolute=True),
        date=fields.when("date"),
        updated=fields.when("updated"),
        author=fields.text("author"),
        summary=fields.text("summary"),
        tags=fields.tags(),
        image=fields.url("image", absolute=False),
        image_credit=fields.text("image_credit"),
    )


def _bound(path: str, body: str, body_line: int) -> None:
    """Refuse a body whose parse would cost more than :data:`MAX_BODY` and
    :data:`MAX_BRACKETS` allow, naming the file, the line and the limit."""
    if len(body) > MAX_BODY:
        raise ContentError(
            path,
            body_line,
            f"the Markdown body is {len(body):,} characters; at most {MAX_BODY:,} ({_BOUND_HINT})",
        )
    brackets = body.count("[")
    if brackets > MAX_BRACKETS:
        over = -1
        for _ in range(MAX_BRACKETS + 1):  # the line of the first one over the limit
            over = body.find("[", over + 1)
        start = len(body) - len(body.lstrip("\n"))  # ``body_line`` is this character's
        line = body_line + body.count("\n", start, over)
        raise ContentError(
            path,
            line,
            f"{brackets:,} '[' in the Markdown body; at most {MAX_BRACKETS:,} ({_BOUND_HINT})",
        )


def front_matter(path: str, text: str) -> tuple[dict[str, Any], str, int, list[str]]:
    """Front matter mapping, body, the body's first line number and the front matter lines
    of a Markdown file (other Markdown files than articles: the welcome mail); ContentError
    names the line at fault."""
    return _split(path, text)


def front_matter_error(path: str, fm: list[str], key: str, expected: str) -> None:
    """Raise ContentError at the line of front matter field ``key``: ``field `key` …``."""
    _field_error(path, fm, key, expected)


def _split(path: str, text: str) -> tuple[dict[str, Any], str, int, list[str]]:
    """Front matter mapping, body, the body's first line number, and the front matter lines."""
    if not _HANDLER.detect(text):
        return {}, text, 1, []
    try:
        _, fm, body = _HANDLER.FM_BOUNDARY.split(text, 2)
    except ValueError:
        raise ContentError(
            path, 1, "front matter opened with `---` is never closed; add a `---` line after it"
        ) from None
    fm_lines = fm.split("\n")
    _no_repeated_keys(path, fm_lines)
    try:
        meta = _HANDLER.load(fm)
    except yaml.MarkedYAMLError as exc:
        line, reason = _yaml_problem(exc)
        raise ContentError(path, line, f"front matter is not valid YAML: {reason}") from None
    except Exception as exc:
        # PyYAML's constructors raise all sorts (ValueError for 2026-02-30, KeyError for
        # `!!bool maybe`, RecursionError...) without a position: find the line by loading
        # each top-level line alone. Hostile input must never escape as anything else.
        line, key = _culprit(fm_lines)
        where = f"field `{key}`: " if key else ""
        reason = f"front matter is not valid YAML: {where}{_failure(exc)}"
        raise ContentError(path, line, reason) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ContentError(
            path, 2, f"front matter must be a mapping of `key: value` lines, got a {_kind(meta)}"
        )
    body_line = text.count("\n", 0, len(text) - len(body.lstrip("\n"))) + 1
    return meta, body, body_line, fm_lines


# What the parser was inside of when it gave up: things that open on one line and must close.
_OPENED = {
    "flow sequence": "the list opened with `[` on this line is not closed",
    "flow mapping": "the mapping opened with `{` on this line is not closed",
    "quoted scalar": "the quoted text opened on this line is not closed",
}


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[int, str]:
    """Where the author must look, and why. Something opened and never closed (a ``[``, a
    ``{``, a quote) is found only lines later, where the parser gives up: point at the line
    that opened it, and say where the parser noticed."""
    problem, context = exc.problem_mark, exc.context_mark
    opened = next((v for k, v in _OPENED.items() if k in (exc.context or "")), None)
    if opened and context is not None and (problem is None or context.line < problem.line):
        noticed = f" on line {problem.line + 1}" if problem is not None else ""
        return context.line + 1, f"{opened} ({exc.problem}{noticed})"
    mark = problem or context
    return (mark.line + 1 if mark is not None else 1), str(exc.problem)


def _no_repeated_keys(path: str, fm_lines: list[str]) -> None:
    """YAML lets a later key silently win; an author who wrote `title:` twice meant one."""
    seen: dict[str, int] = {}
    for i, text in enumerate(fm_lines):
        match = _TOP_KEY.match(text)
        if match is None:
            continue
        key = match.group(1)
        if key in seen:
            raise ContentError(
                path, i + 1, f"front matter field `{key}` is repeated (first on line {seen[key]})"
            )
        seen[key] = i + 1


def _culprit(fm_lines: list[str]) -> tuple[int, str | None]:
    """Line number and key of the first top-level ``key: value`` line that fails alone."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for i, text in enumerate(fm_lines):
        key, sep, value = text.partition(":")
        if not sep or text[:1].isspace() or not value.strip():
            continue
        try:
            yaml.load(f"k:{value}", Loader=loader)
        except Exception:
            return i + 1, key.strip()
    return 2, None


def _failure(exc: Exception) -> str:
    """What a YAML constructor's exception says (``day is out of range for month``), bounded
    and on one line; the exception's kind when it says nothing useful."""
    said = " ".join(str(exc).split()) if isinstance(exc, ValueError) else ""
    if not said:
        return f"a value YAML cannot read ({type(exc).__name__})"
    return said if len(said) <= 120 else said[:119] + "…"


def _short(value: object, limit: int = 60) -> str:
    """A bounded description of a value: never walks a huge or deeply nested structure."""
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} keys"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return repr(text)
    if isinstance(value, int | float | date):
        return f"{_kind(value)} {value}"
    return f"a {type(value).__name__}"


def _kind(value: object) -> str:
    kinds = {
        list: "list",
        dict: "mapping",
        str: "string",
        int: "number",
        float: "number",
        date: "date",
        datetime: "date",
    }
    return "boolean" if isinstance(value, bool) else kinds.get(type(value), type(value).__name__)


def _field_error(path: str, fm: list[str], key: str, expected: str) -> None:
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    line = next((i + 1 for i, text in enumerate(fm) if pattern.match(text)), 1)
    raise ContentError(path, line, f"front matter field `{key}` {expected}")


class _Fields:
    """Typed access to front matter fields; a wrong type is an error naming the field's line."""

    def __init__(self, path: str, fm: list[str], meta: dict[str, Any]) -> None:
        self.path, self.fm, self.meta = path, fm, meta

    def fail(self, key: str, expected: str) -> None:
        got = self.meta.get(key)
        _field_error(self.path, self.fm, key, f"{expected}, got {_short(got)}")

    def text(self, key: str) -> str | None:
        value = self.meta.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.fail(key, "must be text")
        clean = " ".join(str(value).split())
        if not clean:
            self.fail(key, "must not be empty (remove it instead)")
        return clean

    def pattern(self, key: str, regex: re.Pattern[str], allowed: str) -> str | None:
        value = self.text(key)
        if value is not None and not regex.match(value):
            self.fail(key, f"may only contain {allowed}")
        return value

    def url(self, key: str, *, absolute: bool) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        base = "https://relative.invalid/"
        resolved = absolute_http_url(value, base)
        if resolved is None or (absolute and resolved.startswith(base)):
            kind = "an absolute http(s) URL" if absolute else "an http(s) URL or a relative path"
            self.fail(key, f"must be {kind}")
        return value

    def when(self, key: str) -> datetime | None:
        """A date or datetime; naive values are in the publication's time zone (applied later)."""
        value = self.meta.get(key)
        if value is None:
            return None
        when: datetime | None = None
        if isinstance(value, datetime):
            when = value
        elif isinstance(value, date):
            when = datetime.combine(value, time())
        elif isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.strip())
            except ValueError:
                pass
        if when is None:
            self.fail(key, "must be a date like 2026-11-27 or 2026-11-27T09:30:00+01:00")
        elif not MIN_YEAR <= when.year <= MAX_YEAR:
            self.fail(key, f"must be a date between the years {MIN_YEAR} and {MAX_YEAR}")
        return when

    def tags(self) -> tuple[str, ...]:
        value = self.meta.get("tags")
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(t, str | int) for t in value):
            self.fail("tags", "must be a list of words, like [politics, asia]")
        seen: dict[str, str] = {}
        for tag in value:
            clean = " ".join(str(tag).split())
            if len(clean) > 100:
                self.fail("tags", "must hold tags of at most 100 characters")
            if clean and clean.casefold() not in seen:
                seen[clean.casefold()] = clean
        return tuple(seen.values())


def _take_h1(tokens: list[Token]) -> str | None:
    """A leading ``# Title`` becomes the title and leaves the body."""
    if len(tokens) >= 3 and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
        title = _inline_text(tokens[1])
        del tokens[:3]
        return title or None
    return None


def _inline_text(inline: Token) -> str:
    """The visible text of an inline token: markup, links and raw HTML dropped."""
    html = _INLINE.renderInline(inline.children or [], _MD.options, {})
    return plain_text(html)


def _lead(tokens: list[Token]) -> str:
    for i, token in enumerate(tokens):
        if token.type == "paragraph_open" and i + 1 < len(tokens):
            text = _inline_text(tokens[i + 1])
            if text:
                return text
    return ""
