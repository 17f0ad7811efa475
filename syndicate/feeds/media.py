"""Publishing the articles' local images into ``<feeds folder>/media/``.

Copies are named by content hash, so a file whose name is recorded and whose size and mtime
are unchanged is never read again; a copy no article uses any more is removed with the other
stale feed files. The source is checked once more as it is copied (inside the content
folder, a regular file, the bytes the name promises): a file swapped since it was read is
not published under the old name.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from syndicate.content.media import FOLDER, HASH_CHARS, MediaError, read_image
from syndicate.models import Article, Media

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaPlan:
    """The media files a build produces: by path under the feeds folder."""

    files: dict[str, Media]


def plan_media(articles: Iterable[Article]) -> MediaPlan:
    """Every published image of the given (published) articles."""
    files: dict[str, Media] = {}
    for article in articles:
        for media in article.media:
            files.setdefault(f"{FOLDER}/{media.name}", media)
    return MediaPlan(files=files)


def fingerprint(media: Media) -> str:
    """What a media file's record says it holds: its hash prefix and size."""
    return f"{media.name[:HASH_CHARS]}:{media.size}"


def copy_media(content_dir: Path, media: Media, max_size: int) -> bytes | None:
    """The bytes to publish for ``media``, or None (logged) if the source changed or left."""
    real_root = os.path.realpath(content_dir)
    real = os.path.realpath(content_dir / media.source)
    if not real.startswith(real_root + os.sep):
        log.warning("image %s now leads out of the content folder; not published", media.source)
        return None
    try:
        data = read_image(real, max_size, media.source)
    except MediaError as exc:
        log.warning("%s; not published", exc.reason)
        return None
    if hashlib.sha256(data).hexdigest()[:HASH_CHARS] != media.name[:HASH_CHARS]:
        # Changed since the content was read: the next read gives it a new name.
        log.warning("image %s changed while building; published on the next build", media.source)
        return None
    return data
