"""The bounded HTTP GET of a remote source: one deadline, capped bytes, checked addresses.

- ``timeout`` bounds the whole fetch (resolving, connecting, TLS, headers, every redirect and
  the body) with one ``asyncio.timeout``: a server trickling its headers a line a second is
  cut off when the time is up, not when it stops sending.
- Redirects are followed here (at most ``MAX_REDIRECTS``), never reading a redirect's body:
  the response is closed as soon as its headers are in.
- The body is read raw and decoded by ``inflate.BoundedDecoder``: ``max_bytes`` bounds both
  the bytes received and the bytes they decode to, and a stacked content coding is refused.
- Every host (the source's and each redirect's) is resolved and checked by ``addresses``;
  the request goes to the checked IP address itself, with the URL's name in ``Host`` and as
  the TLS server name (so certificates are verified for the name), over a connection used
  for that one request only. No proxy from the environment is used: it would connect in
  our place, to addresses nobody checked.

Sync on the outside (``download``) for the reader's threads; async inside only for the deadline.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from syndicate import __version__
from syndicate.config import FeedSource
from syndicate.content.addresses import AddressError, addresses_for
from syndicate.content.inflate import ACCEPT_ENCODING, BoundedDecoder, TooLarge, coding_of
from syndicate.errors import SourceError
from syndicate.text import one_line

USER_AGENT = f"syndicate/{__version__} (+https://github.com/syndicate)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True, kw_only=True)
class Download:
    """One final response: its status, where it came from, its headers and decoded body."""

    status: int
    url: str  # after redirects: relative links in the feed resolve against it
    headers: Mapping[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes


def download(source: FeedSource, headers: Mapping[str, str]) -> Download:
    """GET ``source.url`` within ``source.timeout`` and ``source.max_bytes``.

    Returns 2xx and 304 answers; raises ``SourceError`` for everything else: other statuses,
    network and TLS errors, refused addresses, too many redirects, a body too large or
    undecodable, the deadline. Call it from a thread without a running event loop.
    """
    return asyncio.run(_download(source, {**headers, "Accept-Encoding": ACCEPT_ENCODING}))


async def _download(source: FeedSource, headers: dict[str, str]) -> Download:
    timed_out = f"timed out after {source.timeout:g}s"
    try:
        async with asyncio.timeout(source.timeout):
            return await _follow(source, headers)
    except (TimeoutError, httpx.TimeoutException):
        raise SourceError(source.url, timed_out) from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
        raise SourceError(source.url, _network_reason(exc)) from exc


async def _follow(source: FeedSource, headers: dict[str, str]) -> Download:
    url = httpx.URL(source.url)
    async with httpx.AsyncClient(
        verify=_tls_context(),
        timeout=source.timeout,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            response = await _send(client, source, url, headers, redirected=hop > 0)
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECTS and location:
                    url = _redirect_target(source, url, location)
                    continue  # closed below, its body unread: it may be endless
                return await _read(source, url, response)
            finally:
                await response.aclose()
    raise SourceError(source.url, f"more than {MAX_REDIRECTS} redirects")


async def _send(
    client: httpx.AsyncClient,
    source: FeedSource,
    url: httpx.URL,
    headers: dict[str, str],
    *,
    redirected: bool,
) -> httpx.Response:
    """Send the GET to a checked address of ``url``'s host; the response body is not read."""
    host = url.raw_host.decode("ascii")
    try:
        addresses = await addresses_for(
            host, url.port or PORTS[url.scheme], allow_private=source.allow_private
        )
    except AddressError as exc:
        where = f"redirect to {_shown(url)}: " if redirected else ""
        raise SourceError(source.url, f"{where}{exc}") from None
    # The name, not the address, is what the server and its certificate answer for.
    pinned = {**headers, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    failure: httpx.ConnectError | None = None
    for address in addresses:
        request = client.build_request(
            "GET", url.copy_with(host=address), headers=pinned, extensions=extensions
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc  # the host's next address may answer
    assert failure is not None  # addresses_for never returns an empty list
    raise failure


def _redirect_target(source: FeedSource, url: httpx.URL, location: str) -> httpx.URL:
    try:
        target = url.join(location.strip())
    except httpx.InvalidURL as exc:
        shown = one_line(location, 200)
        raise SourceError(source.url, f"redirect to an invalid URL {shown!r}: {exc}") from None
    if target.scheme not in PORTS or not target.raw_host:
        raise SourceError(
            source.url, f"redirect to {_shown(target)}: only http and https URLs are followed"
        )
    return target


async def _read(source: FeedSource, url: httpx.URL, response: httpx.Response) -> Download:
    status = response.status_code
    if status == 304:
        body = b""
    elif 200 <= status < 300:
        body = await _body(source, response)
    else:
        raise SourceError(source.url, _status_reason(status))
    return Download(
        status=status,
        url=str(url),
        headers={name.lower(): value for name, value in response.headers.items()},
        body=body,
    )


async def _body(source: FeedSource, response: httpx.Response) -> bytes:
    limit = source.max_bytes
    too_large = f"response is larger than the {limit:,}-byte limit (max_bytes)"
    declared = response.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared[:20]) > limit:
        raise SourceError(source.url, too_large)
    try:
        decoder = BoundedDecoder(coding_of(response.headers.get("content-encoding", "")), limit)
    except ValueError as exc:
        raise SourceError(source.url, str(exc)) from None
    received = 0
    try:
        async for chunk in response.aiter_raw():  # as sent: httpx decodes nothing here
            received += len(chunk)
            if received > limit:
                raise TooLarge
            decoder.feed(chunk)
        return decoder.finish()
    except TooLarge:
        raise SourceError(source.url, too_large) from None
    except (zlib.error, ValueError) as exc:
        raise SourceError(source.url, f"could not decode the response body: {exc}") from None


def _shown(url: httpx.URL) -> str:
    return one_line(str(url), 200)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds; one context serves every read.
    return httpx.create_ssl_context()


def _status_reason(status: int) -> str:
    if status == 429 or status >= 500:
        return f"HTTP {status} from server; will retry on the next read"
    if status in (404, 410):
        return f"HTTP {status}: there is no feed at this URL; check the source url"
    if status in (401, 403):
        return f"HTTP {status}: the server refused access to the feed"
    return f"HTTP {status}: expected 200 or 304"


def _network_reason(exc: BaseException) -> str:
    inner: BaseException | None = exc
    for _ in range(10):  # the chain is short; the bound only guards against a cycle
        if inner is None or isinstance(inner, ssl.SSLError):
            break
        inner = inner.__cause__ or inner.__context__
    if isinstance(inner, ssl.SSLError):
        return f"TLS error: {inner}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc}"
    return f"network error: {exc or type(exc).__name__}"
