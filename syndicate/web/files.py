"""Serving the built feeds and the digest archive: fast conditional GETs, gzip, no escapes.

Feed readers poll, so the common request is a revalidation of an unchanged file. Per
request this costs one ``os.stat``: a file whose device, inode, size and mtime are those
of the cached entry is answered from memory (prebuilt headers, body and gzipped body),
without a thread hop or a read. Only a changed or new file is read (in a worker thread),
hashed for a strong ETag and compressed once.

Paths come from the URL (already percent-decoded): empty, ``.``/``..`` and hidden segments
(``.rss.xml.123.tmp`` temp files of the atomic writer), backslashes and NUL are refused
before the file system is touched, and a file is only read when its real path (symlinks
resolved) lies inside the served folder.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import stat
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path

import anyio.to_thread
from starlette.types import Receive, Scope, Send

Headers = list[tuple[bytes, bytes]]
MAX_CACHED_FILE = 8 * 1024 * 1024  # larger files are read per request, uncompressed
MIN_GZIP = 256  # smaller bodies do not gain from compression
IMMUTABLE = b"public, max-age=31536000, immutable"
RSS, ATOM = "application/rss+xml; charset=utf-8", "application/atom+xml; charset=utf-8"
JSON_FEED = "application/feed+json; charset=utf-8"
_BY_NAME = {"rss.xml": RSS, "atom.xml": ATOM, "feed.json": JSON_FEED}  # feeds/pages.py
# The images ``build`` publishes (content/media.py), whatever this system's mime.types says;
# served with the feeds' nosniff, so a browser never takes one for anything else.
_IMAGES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
}


def content_type(name: str, head: bytes) -> str:
    """The media type of a file by the feed builder's names, else by sniffing its start."""
    known = _BY_NAME.get(name) or _IMAGES.get(os.path.splitext(name)[1][1:].lower())
    if known is not None:
        return known
    if name.endswith(".xml"):
        if b"<rss" in head or b"<rdf:RDF" in head:
            return RSS
        return ATOM if b"<feed" in head else "application/xml; charset=utf-8"
    if name.endswith(".json"):
        return JSON_FEED if b"jsonfeed.org/version/" in head else "application/json"
    if name.endswith((".html", ".htm")):
        return "text/html; charset=utf-8"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def _compressible(media_type: str) -> bool:
    return media_type.startswith("text/") or "xml" in media_type or "json" in media_type


def safe_relative(path: str) -> bool:
    """Whether a URL path names a file below the folder and nothing else."""
    if not path or len(path) > 1024 or "\\" in path or "\x00" in path:
        return False
    return all(part and part[0] != "." and len(part) <= 255 for part in path.split("/"))


@lru_cache(maxsize=256)
def accepts_gzip(value: bytes) -> bool:
    """Whether an Accept-Encoding value allows gzip (``gzip;q=0`` and ``*;q=0`` refuse it)."""
    gzip_q: float | None = None
    star_q: float | None = None
    for item in value.split(b","):
        token, _, params = item.partition(b";")
        q = 1.0
        for param in params.split(b";"):
            key, _, number = param.partition(b"=")
            if key.strip().lower() == b"q":
                try:
                    q = float(number.strip())
                except ValueError:
                    q = 0.0
        coding = token.strip().lower()
        if coding in (b"gzip", b"x-gzip"):
            gzip_q = q
        elif coding == b"*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


@lru_cache(maxsize=256)
def _http_date(value: bytes) -> float | None:
    try:
        return parsedate_to_datetime(value.decode("latin-1")).timestamp()
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class _Variant:
    """One representation (plain or gzipped): its body and prebuilt headers."""

    body: bytes
    etag: bytes
    headers: Headers  # for 200
    not_modified: Headers  # for 304


@dataclass(frozen=True, slots=True)
class _Entry:
    key: tuple[int, int, int, int]  # device, inode, size, mtime_ns
    mtime: int  # whole seconds, as Last-Modified says
    tags: frozenset[bytes]  # the opaque tags of both variants
    plain: _Variant
    gzipped: _Variant | None
    size: int  # bytes held


class FileCache:
    """A small LRU of file entries, bounded by count and bytes; used on the event loop only."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0

    def get(self, path: str, key: tuple[int, int, int, int]) -> _Entry | None:
        entry = self._items.get(path)
        if entry is None or entry.key != key:
            return None
        self._items.move_to_end(path)
        return entry

    def put(self, path: str, entry: _Entry) -> None:
        old = self._items.pop(path, None)
        if old is not None:
            self._bytes -= old.size
        self._items[path] = entry
        self._bytes += entry.size
        while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.size


class FileApp:
    """An ASGI app serving files below ``root`` (route parameter ``path``), GET and HEAD.

    ``accept`` says which relative paths exist at all (e.g. ``<list>/<issue>.html``);
    ``headers`` are added to every file response; ``not_found`` is the 404 page. Paths for
    which ``immutable`` is true (content-hashed names, never rewritten) may be cached for a
    year.
    """

    def __init__(
        self,
        root: Path,
        *,
        cache: FileCache,
        not_found: bytes,
        accept: Callable[[str], object] = lambda _: True,
        cache_control: str = "public, max-age=300",
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
        immutable: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.root = str(root.resolve())
        self.cache, self.accept, self.media_type = cache, accept, media_type
        self.immutable = immutable
        self._common = [(b"cache-control", cache_control.encode("latin-1"))] + [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ]
        self._not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            allow = [(b"allow", b"GET, HEAD"), *self._common]
            await self._plain(send, 405, b"Method Not Allowed", allow)
            return
        relative: str = scope["path_params"]["path"]
        if not safe_relative(relative) or not self.accept(relative):
            await self._missing(send, method)
            return
        path = f"{self.root}/{relative}"
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            await self._missing(send, method)
            return
        if not stat.S_ISREG(st.st_mode):
            await self._missing(send, method)
            return
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        entry = self.cache.get(path, key)
        if entry is None:
            entry = await anyio.to_thread.run_sync(self._load, path, relative)
            if entry is None:
                await self._missing(send, method)
                return
            if entry.size <= MAX_CACHED_FILE:
                self.cache.put(path, entry)
        await self._answer(scope, send, entry)

    async def _answer(self, scope: Scope, send: Send, entry: _Entry) -> None:
        match, since, encodings = None, None, None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                match = value
            elif name == b"if-modified-since":
                since = value
            elif name == b"accept-encoding":
                encodings = value
        variant = entry.plain
        if entry.gzipped is not None and encodings is not None and accepts_gzip(encodings):
            variant = entry.gzipped
        if match is not None:
            fresh = _matches(match, entry.tags)
        elif since is not None:
            when = _http_date(since)
            fresh = when is not None and entry.mtime <= when
        else:
            fresh = False
        if fresh:
            await send(
                {"type": "http.response.start", "status": 304, "headers": variant.not_modified}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": variant.headers})
        body = variant.body if scope["method"] == "GET" else b""
        await send({"type": "http.response.body", "body": body})

    def _load(self, path: str, relative: str) -> _Entry | None:
        """Read a file (in a worker thread) into an entry; None if it is not ours to serve."""
        real = os.path.realpath(path)
        if not real.startswith(self.root + os.sep):
            return None  # a symlink leading out of the folder
        try:
            with open(real, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return None
                data = fh.read()
        except OSError:
            return None
        media_type = self.media_type or content_type(relative.rsplit("/", 1)[-1], data[:512])
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        common = [
            *(h for h in self._common if h[0] != b"cache-control" or not self.immutable(relative)),
            (b"last-modified", formatdate(st.st_mtime, usegmt=True).encode("ascii")),
        ]
        if self.immutable(relative):
            common.insert(0, (b"cache-control", IMMUTABLE))
        vary = _compressible(media_type)
        if vary:
            common.append((b"vary", b"Accept-Encoding"))
        typed = [(b"content-type", media_type.encode("latin-1"))]
        plain = _variant(data, f'"{digest}"'.encode(), common, typed)
        gzipped = None
        if vary and MIN_GZIP <= len(data) <= MAX_CACHED_FILE:
            packed = gzip.compress(data, compresslevel=6, mtime=0)
            if len(packed) < len(data):
                typed_gz = [*typed, (b"content-encoding", b"gzip")]
                gzipped = _variant(packed, f'"{digest}-gz"'.encode(), common, typed_gz)
        return _Entry(
            key=(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns),
            mtime=int(st.st_mtime),
            tags=frozenset({plain.etag, gzipped.etag if gzipped else plain.etag}),
            plain=plain,
            gzipped=gzipped,
            size=len(data) + (len(gzipped.body) if gzipped else 0),
        )

    async def _missing(self, send: Send, method: str) -> None:
        body = self._not_found if method == "GET" else b""
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(self._not_found)).encode("ascii")),
            (b"cache-control", b"no-cache"),
            *[h for h in self._common if h[0] != b"cache-control"],
        ]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _plain(self, send: Send, status: int, text: bytes, extra: Headers) -> None:
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(text)).encode("ascii")),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": text})


def _variant(body: bytes, etag: bytes, common: Headers, typed: Headers) -> _Variant:
    validators = [(b"etag", etag), *common]
    length = [(b"content-length", str(len(body)).encode("ascii"))]
    return _Variant(
        body=body, etag=etag, headers=typed + length + validators, not_modified=validators
    )


def _matches(value: bytes, tags: frozenset[bytes]) -> bool:
    """If-None-Match: ``*``, or any listed tag (weak comparison: ``W/`` ignored)."""
    if value in tags:
        return True
    for item in value.split(b","):
        tag = item.strip()
        if tag == b"*":
            return True
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag in tags:
            return True
    return False
