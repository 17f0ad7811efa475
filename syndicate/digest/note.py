"""The editor's note of an issue (``send --note FILE.md``): Markdown, sanitized like articles.

The note is kept as written (its Markdown source is stored with the digest, so a resumed
send shows the same note) and rendered here into sanitized HTML for the HTML part and plain
text for the text part: paragraphs, ``* `` list items, and links as ``text (url)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from syndicate.content.html import MarkupError, sanitize
from syndicate.errors import SyndicateError

MAX_NOTE = 20_000  # characters: a note, not an article
_BLOCKS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "hr"}
    | {"table", "tr"}
)


class NoteError(SyndicateError):
    """The note file cannot be used; the message names the file and says why."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {reason}")
        self.path, self.reason = str(path), reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """An editor's note: its Markdown source, sanitized HTML and plain text."""

    source: str
    html: str
    text: str


def load_note(path: Path, *, base_url: str) -> Note:
    """Read and render a note file (UTF-8 Markdown); NoteError names the file at fault."""
    try:
        # At most what the longest note can take (4 bytes a character), plus one byte to
        # tell a longer file: `--note /dev/zero` or a pipe that never ends is not read whole.
        with path.open("rb") as fh:
            data = fh.read(MAX_NOTE * 4 + 4)
    except OSError as exc:
        raise NoteError(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_NOTE * 4 + 3:
        raise NoteError(
            path, f"is over {MAX_NOTE * 4:,} bytes long; at most {MAX_NOTE:,} characters"
        )
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NoteError(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line) from None
    return parse_note(source, base_url=base_url, where=str(path))


def parse_note(source: str, *, base_url: str, where: str = "note") -> Note:
    """Render a note's Markdown; relative links resolve against ``base_url``."""
    from markdown_it import MarkdownIt  # only commands that take a note need the parser

    if "\x00" in source:
        line = source[: source.index("\x00")].count("\n") + 1
        raise NoteError(where, "holds a NUL character", line)
    if len(source) > MAX_NOTE:
        raise NoteError(where, f"is {len(source):,} characters long; at most {MAX_NOTE:,}")
    markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    try:
        clean = sanitize(markdown.render(source), base_url).strip()
    except MarkupError as exc:
        raise NoteError(where, f"holds {exc}") from None
    text = to_text(clean)
    if not text:
        raise NoteError(where, "is empty: write the note in Markdown, or leave out --note")
    return Note(source=source, html=clean, text=text)


class _Text(HTMLParser):
    """Sanitized HTML to plain text: blocks become paragraphs, links ``text (url)``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.links: list[tuple[str, int]] = []  # href, where its text starts

    def _flush(self) -> None:
        text = " ".join("".join(self.current).split())
        if text:
            self.blocks.append(text)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self._flush()
            if tag == "li":
                self.current.append("* ")
        elif tag == "br":
            self.current.append(" ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href, len("".join(self.current))))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(alt)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._flush()
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            shown = "".join(self.current)[start:].strip()
            if href and href != shown and not href.startswith("mailto:" + shown):
                self.current.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.current.append(data)


def to_text(fragment: str) -> str:
    """The plain text of a sanitized HTML fragment: paragraphs separated by blank lines."""
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    parser._flush()
    return "\n\n".join(parser.blocks)  # charrefs were converted by the parser
