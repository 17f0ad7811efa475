"""A real webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that checks every
Standard Webhooks signature with its own implementation, written here from the
specification (not syndicate's signing code, nor the ``standardwebhooks`` package it uses):

    signature = base64(HMAC-SHA256(base64decode(secret without "whsec_"),
                                   "{webhook-id}.{webhook-timestamp}.{body}"))
    webhook-signature: "v1,<signature>" (space-separated list; any v1 entry may match)

``mode`` decides the answer: ``"ok"`` (204), ``"fail"`` (500), ``"fail-for"`` (500 only for
bodies that contain ``fail_for``, 200 otherwise), ``"slow"`` (answers after ``delay``
seconds), ``"huge"`` (a 500 with a huge body), ``"redirect"`` (302 to ``/elsewhere``).
With ``hang_after = N``, every event taken after the first N is taken (it counts as
arrived) but answered only after ``delay`` seconds (or on ``release``): a sender killed
meanwhile never learns it arrived. ``down()`` stops listening (connections are refused)
and ``up()`` listens again on the same port. ``accepted`` holds what was taken (2xx), in
arrival order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify(secret: str, headers: dict[str, str], body: bytes) -> int:
    """The signed timestamp, or AssertionError when the signature does not match."""
    assert secret.startswith("whsec_"), secret
    key = base64.b64decode(secret[len("whsec_") :])
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert stamp.isdigit(), stamp
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [
        part.split(",", 1)[1]
        for part in headers["webhook-signature"].split(" ")
        if part.startswith("v1,")
    ]
    assert any(hmac.compare_digest(expected, g) for g in given), (expected, given)
    return int(stamp)


@dataclass(frozen=True)
class Delivery:
    """One request the receiver took, signature checked."""

    message_id: str
    timestamp: int
    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        owner = self.server.owner
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if len(body) < length:  # the sender went away mid-request: nothing arrived
            owner.cut.append(headers.get("webhook-id", ""))
            self.close_connection = True
            return
        owner.seen(headers, body)
        mode = owner.mode
        if mode == "slow":
            owner.release.wait(owner.delay)
        if mode == "redirect":
            self._answer(302, b"", {"Location": f"http://127.0.0.1:{owner.port}/elsewhere"})
            return
        if mode == "huge":
            self._answer_huge()
            return
        failing = mode == "fail" or (mode == "fail-for" and owner.fail_for.encode() in body)
        if failing:
            self._answer(500, b"receiver is not well")
            return
        try:
            stamp = verify(owner.secret, headers, body)
        except (AssertionError, KeyError, ValueError) as exc:
            owner.bad.append(repr(exc))
            self._answer(401, b"bad signature")
            return
        taken = owner.take(Delivery(headers["webhook-id"], stamp, body, headers))
        if owner.hang_after is not None and taken > owner.hang_after:
            owner.release.wait(owner.delay)
        self._answer(204, b"")

    def _answer(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer_huge(self) -> None:
        self.send_response(500)
        self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(HUGE // len(chunk)):
                self.wfile.write(chunk)
        except OSError:  # the sender hung up after what it wanted: that is the point
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


HUGE = 64 << 20  # 64 MiB offered; a sender that read it all would notice


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: Receiver, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.owner = owner

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class Receiver:
    """See the module docstring. Use as a context manager."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.mode = "ok"
        self.fail_for = ""
        self.delay = 0.0
        self.hang_after: int | None = None
        self.release = threading.Event()  # ends a "slow" wait early (on stop)
        self.accepted: list[Delivery] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.bad: list[str] = []
        self.cut: list[str] = []  # requests whose body never fully arrived
        self.port = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/syndicate"

    def seen(self, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.requests.append((headers, body))

    def take(self, delivery: Delivery) -> int:
        """Keep ``delivery``; how many are kept now."""
        with self._lock:
            self.accepted.append(delivery)
            return len(self.accepted)

    def up(self) -> Receiver:
        self._server = _Server(self, self.port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Delivery]:
        """The accepted deliveries once there are ``count`` (a bounded wait, no timing
        assertion: a test that needs fewer never waits for the limit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.accepted) >= count:
                    return list(self.accepted)
            time.sleep(0.05)
        with self._lock:
            return list(self.accepted)

    def __enter__(self) -> Receiver:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.down()
