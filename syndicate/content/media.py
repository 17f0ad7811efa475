"""Images next to the articles: a relative ``image:`` or ``![](…)`` is a file of the content
folder, resolved against the article's file (not its URL) and published with the feeds.

Only files inside the content folder are taken (``../../etc/passwd`` and symlinks leading
out are refused), only real images (told by their first bytes, not their name: PNG, JPEG,
GIF, WebP, AVIF; SVG can carry scripts and is refused), only up to ``max_image_size``.
Each refusal is a ``path:line: reason`` problem of the article. A published copy is named
by its content hash, so its URL changes whenever the image does.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from syndicate.models import Media
from syndicate.text import slugify

FOLDER = "media"  # under the feeds folder
HASH_CHARS = 16
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def image_type(head: bytes) -> tuple[str, str] | None:
    """``(media type, extension)`` of an image told by its first bytes, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif", "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "image/avif", "avif"
    return None


def is_local(ref: str) -> bool:
    """Whether a reference names a file relative to the article (not a URL, not site-rooted).

    ``/images/x.png`` stays a path on the publication's website, as it always was.
    """
    ref = ref.strip()
    return bool(ref) and not ref.startswith(("/", "#", "\\")) and not _SCHEME.match(ref)


def media_name(digest: str, source: str, ext: str) -> str:
    """The published file name: hash prefix, a readable stem, the extension of its type."""
    stem = slugify(PurePosixPath(source).stem)[:60].strip("-") or "image"
    return f"{digest[:HASH_CHARS]}-{stem}.{ext}"


class MediaError(Exception):
    """An image reference that cannot be published; ``reason`` says why and what to do."""

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(reason)
        self.ref, self.reason = ref, reason


@dataclass(slots=True)
class MediaResolver:
    """Resolves the local image references of one article file (in a worker process).

    ``root``: the content folder; ``rel``: the article's path inside it; ``shown``: the
    content folder as the editor names it, for messages; ``base_url``: where the published
    copies are served (``{feeds_url}/media``).
    """

    root: str
    rel: str
    shown: str
    base_url: str
    max_size: int
    found: dict[str, Media] = field(default_factory=dict)  # by the source path
    errors: list[MediaError] = field(default_factory=list)

    def url(self, ref: str) -> str | None:
        """The published URL for a local image reference; None for a URL or a failed one."""
        if not is_local(ref):
            return None
        try:
            return self._resolve(ref).url
        except MediaError as exc:
            self.errors.append(exc)
            return None

    def _resolve(self, ref: str) -> Media:
        parts = urlsplit(ref.strip())
        path = unquote(parts.path)
        if not path or "\x00" in path or "\\" in path:
            raise MediaError(ref, f"image `{ref}` is not a file path")
        target = os.path.normpath(os.path.join(os.path.dirname(self.rel), path))
        if target == ".." or target.startswith(("../", "/")) or os.path.isabs(target):
            raise MediaError(
                ref,
                f"image `{ref}` is outside the content folder; put it under {self.shown}/",
            )
        source = target.replace(os.sep, "/")
        if source in self.found:
            return self.found[source]
        full = os.path.join(self.root, target)
        shown = f"{self.shown}/{source}"
        try:
            st = os.stat(full)
        except FileNotFoundError:
            raise MediaError(ref, f"image `{ref}` not found: there is no file {shown}") from None
        except OSError as exc:
            raise MediaError(ref, f"image `{ref}` cannot be read: {exc.strerror}") from None
        real_root = os.path.realpath(self.root)
        if not os.path.realpath(full).startswith(real_root + os.sep):
            raise MediaError(
                ref, f"image `{ref}` is a link to a file outside the content folder ({shown})"
            )
        if not stat.S_ISREG(st.st_mode):
            raise MediaError(ref, f"image `{ref}` is not a file ({shown})")
        if st.st_size > self.max_size:
            raise MediaError(
                ref,
                f"image {shown} is {st.st_size:,} bytes, over the {self.max_size:,}-byte cap; "
                "shrink it or raise [content] max_image_size",
            )
        data = read_image(os.path.realpath(full), self.max_size, ref)
        kind = image_type(data[:16])
        if kind is None:
            raise MediaError(
                ref, f"{shown} is not an image (PNG, JPEG, GIF, WebP or AVIF, by its content)"
            )
        digest = hashlib.sha256(data).hexdigest()
        name = media_name(digest, source, kind[1])
        media = Media(
            name=name,
            url=f"{self.base_url}/{name}",
            source=source,
            size=len(data),
            mtime_ns=st.st_mtime_ns,
            type=kind[0],
        )
        self.found[source] = media
        return media


def read_image(real: str, max_size: int, ref: str) -> bytes:
    """The bytes of an image file (its real path), never more than ``max_size``.

    ``O_NOFOLLOW``: a link swapped in after the checks is not followed out of the folder.
    """
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(max_size + 1)
    except OSError as exc:
        raise MediaError(ref, f"image `{ref}` cannot be read: {exc.strerror}") from None
    if len(data) > max_size:
        raise MediaError(ref, f"image `{ref}` is over the {max_size:,}-byte cap")
    return data


def media_payload(media: list[Media]) -> list[dict[str, Any]]:
    """Media as stored in an article's payload."""
    return [
        {"name": m.name, "url": m.url, "source": m.source, "size": m.size,
         "mtime_ns": m.mtime_ns, "type": m.type}
        for m in media
    ]  # fmt: skip


def media_from_payload(items: list[dict[str, Any]] | None) -> tuple[Media, ...]:
    """Media read back from a stored payload."""
    return tuple(Media(**item) for item in items or ())


def line_of(text: str, ref: str) -> int:
    """The line where a reference first appears in the file (1 if it cannot be found)."""
    at = text.find(ref)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1
