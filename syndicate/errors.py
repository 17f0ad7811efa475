"""The one error family: every error carries what the user needs to act on it."""

from __future__ import annotations

from pathlib import Path


class SyndicateError(Exception):
    """Base of every error syndicate raises on purpose."""


class ConfigError(SyndicateError):
    """The site configuration is missing or invalid; the message names file and key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RenderError(SyndicateError):
    """A setting that validated cannot be rendered (a list's ``subject`` template dividing by
    zero, naming no such filter): a problem, as ``check`` lists it (exit 1), not an invalid
    configuration (exit 2). The message names the file and key."""


class ContentError(SyndicateError):
    """One content item could not be read; reported as ``path:line: reason`` and skipped."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        super().__init__(f"{path}:{line or 1}: {reason}")
        self.path, self.line, self.reason = str(path), line or 1, reason


class SourceError(SyndicateError):
    """A remote content source could not be fetched or parsed as a whole."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url, self.reason = url, reason


class StoreError(SyndicateError):
    """The state store could not be opened or migrated."""
