"""Template errors as an editor can act on them: ``templates/digest.mjml.j2:12: reason``.

A site overrides the digest templates with its own files; a typo there (a Jinja2 syntax
error, an undefined variable, an MJML tag left open) must name the file and line, not end
in a traceback. Paths are shown relative to the site when the template is the site's own.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from syndicate.errors import SyndicateError

HINT = "see the README's 'Template variables' for what each template gets"
# What rendering a template may raise because of the template (a filter given the wrong
# type, an index out of range...): reported at the template's line, like Jinja2's own.
_RENDER_ERRORS = (
    jinja2.TemplateError,
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
    ArithmeticError,
)
_MJ_TAG = re.compile(r"<(/?)(mjml|mj-[a-z-]+)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*?(/?)>")
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)


class TemplateError(SyndicateError):
    """A template cannot be rendered; the message is ``path:line: reason``."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


def shown_path(filename: str | None, name: str, site_root: Path | None) -> str:
    """A template's file as the editor knows it: relative to the site when it is the site's."""
    if not filename:
        return f"templates/{name}"
    path = Path(filename)
    if site_root is not None:
        try:
            return path.resolve().relative_to(site_root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def load(env: jinja2.Environment, name: str, site_root: Path | None) -> jinja2.Template:
    """``env.get_template(name)``, with a syntax error reported as ``path:line: reason``."""
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        where = shown_path(exc.filename, exc.name or name, site_root)
        raise TemplateError(where, exc.lineno, f"syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"templates/{name}", 1, f"template not found: {exc}") from None


def render(template: jinja2.Template, context: Mapping[str, Any], site_root: Path | None) -> str:
    """``template`` rendered with ``context``; any error raised by the template is reported
    at its line (undefined variables name the README section that lists them)."""
    try:
        return template.render(context)
    except jinja2.TemplateSyntaxError as exc:  # in an included or imported template
        where = shown_path(exc.filename, exc.name or template.name or "", site_root)
        raise TemplateError(where, exc.lineno, f"syntax error: {exc.message}") from None
    except _RENDER_ERRORS as exc:
        filename, line = _template_frame(exc, template)
        where = shown_path(filename, template.name or "", site_root)
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, jinja2.UndefinedError):
            reason = f"{reason} ({HINT})"
        elif not isinstance(exc, jinja2.TemplateError):
            reason = f"{type(exc).__name__}: {reason}"
        raise TemplateError(where, line, reason) from None


def _template_frame(exc: BaseException, template: jinja2.Template) -> tuple[str | None, int]:
    """The innermost template frame of a rendering error (Jinja2 rewrites tracebacks so
    template frames carry the template's file and line)."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.filename == template.filename:
            return frame.filename, frame.lineno or 1
    for frame in reversed(frames):
        if frame.filename.endswith(".j2"):
            return frame.filename, frame.lineno or 1
    return template.filename, 1


def mjml_error(template: jinja2.Template, exc: Exception, site_root: Path | None) -> TemplateError:
    """An MJML error of a rendered template, located in the template's source: the first
    ``<mj-…>`` tag left open or closed out of turn (MJML itself gives no position)."""
    where = shown_path(template.filename, template.name or "", site_root)
    source = ""
    if template.filename:
        try:
            source = Path(template.filename).read_text(encoding="utf-8")
        except OSError:
            source = ""
    found = unbalanced_tag(source)
    if found is None:
        return TemplateError(where, 1, f"MJML: {exc}")
    line, problem = found
    return TemplateError(where, line, f"MJML: {problem} ({exc})")


def unbalanced_tag(source: str) -> tuple[int, str] | None:
    """The line and a description of the first MJML tag that is not properly closed."""
    text = _JINJA_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), source)
    stack: list[tuple[str, int]] = []
    for match in _MJ_TAG.finditer(text):
        closing, name, self_closing = match.groups()
        line = text.count("\n", 0, match.start()) + 1
        if self_closing:
            continue
        if not closing:
            stack.append((name, line))
            continue
        if stack and stack[-1][0] == name:
            stack.pop()
            continue
        if any(open_name == name for open_name, _ in stack):
            open_name, open_line = stack[-1]
            at = f" (line {line})" if line != open_line else ""  # else it is said in front
            return open_line, f"<{open_name}> is not closed before </{name}>{at}"
        return line, f"</{name}> closes no open <{name}>"
    if stack:
        open_name, open_line = stack[-1]
        return open_line, f"<{open_name}> is never closed"
    return None
