"""Which reader handles which file, by extension; decoding happens once, here."""

from __future__ import annotations

from collections.abc import Callable

from syndicate.content.decode import decode
from syndicate.content.markdown import read_markdown
from syndicate.content.plaintext import read_plaintext
from syndicate.models import Entry

Reader = Callable[[str, str], Entry | None]

READERS: dict[str, Reader] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_plaintext,
}


def parse_file(path: str, suffix: str, data: bytes) -> Entry | None:
    """Decode and parse one file's bytes: an Entry, None for a draft, or ContentError."""
    return READERS[suffix](path, decode(path, data))
