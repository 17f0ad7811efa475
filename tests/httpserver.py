"""A small real HTTP server for tests: routes set per test, requests recorded.

Use ``serve()`` as a context manager (or ``FeedServer`` directly with ``start``/``stop``)::

    with serve() as server:
        server.route("/feed.xml", body=b"<rss ...>", content_type="application/rss+xml")
        fetch(server.url("/feed.xml"))
        assert server.requests[-1].headers["user-agent"].startswith("syndicate/")

It listens on 127.0.0.1 on a free port, in a daemon thread, and answers each request in its
own thread, so a slow route never blocks the next test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal


@dataclass(kw_only=True)
class Route:
    """What the server answers on one path.

    ``content_length`` is ``"auto"`` for the true length, an int to lie about it, or ``None``
    to send none (the body is then delimited by closing the connection). ``chunked`` sends the
    body with ``Transfer-Encoding: chunked`` instead. With ``etag`` set, a request whose
    ``If-None-Match`` matches gets ``304 Not Modified``. ``delay`` seconds pass before the
    status line is sent.
    """

    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    content_length: int | Literal["auto"] | None = "auto"
    chunked: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def do_GET(self) -> None:
        self._answer("GET", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer("POST", self.rfile.read(min(length, 1 << 20)))

    def _answer(self, method: str, body_in: bytes) -> None:
        owner = self.server.owner
        owner.record(
            Request(
                method=method,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body_in,
            )
        )
        route = owner.routes.get(self.path.split("?")[0])
        if route is None:
            route = Route(body=b"not found", content_type="text/plain", status=404)
        if route.delay and owner.stopping.wait(route.delay):
            return
        etag_matches = route.etag is not None and self.headers.get("If-None-Match") == route.etag
        status = 304 if etag_matches else route.status
        body = b"" if status == 304 else route.body
        self.send_response(status)
        self.send_header("Content-Type", route.content_type)
        if route.etag is not None:
            self.send_header("ETag", route.etag)
        if route.last_modified is not None:
            self.send_header("Last-Modified", route.last_modified)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if status == 304:
            self.end_headers()
        elif route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 4096):
                piece = body[start : start + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            if route.content_length is None:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                length = len(body) if route.content_length == "auto" else route.content_length
                self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)
            if route.content_length not in (None, "auto"):
                self.close_connection = True  # the framing is broken; do not reuse it

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: FeedServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out hang up mid-answer; that is expected here


class FeedServer:
    """A threaded HTTP server on 127.0.0.1 whose routes and recorded requests tests can use."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def route(self, path: str, **options: Any) -> Route:
        """Answer ``path`` as described by ``Route`` options; replaces an earlier route."""
        route = Route(**options)
        self.routes[path] = route
        return route

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        if self._server is None:
            raise RuntimeError("the server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_for(self, path: str) -> list[Request]:
        """The requests made so far to ``path`` (ignoring any query string)."""
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] == path]

    def start(self) -> FeedServer:
        self.stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes delayed handlers so they finish at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve() -> Iterator[FeedServer]:
    """Run a ``FeedServer`` for the duration of the ``with`` block."""
    with FeedServer() as server:
        yield server
