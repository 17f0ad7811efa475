"""The bounce mailbox ``syndicate run`` polls over IMAP: ``[bounces.imap]``.

imapclient (sync, well kept, complete: MOVE, UIDPLUS, modified UTF-7 folder names, socket
timeouts) runs in a worker thread, so the event loop never waits on the network. Each poll
logs in, reads the folder's messages in bounded batches (at most :data:`BATCH` messages and
:data:`BATCH_BYTES` bytes; a message over :data:`~syndicate.feedback.parse.MAX_BYTES` by its
``RFC822.SIZE`` is never fetched: it is flagged and left for a person), takes each batch in
one transaction, and only then moves the batch to ``move_to`` (``MOVE``, else ``COPY`` +
``\\Deleted`` + ``UID EXPUNGE``) or deletes it. A crash between the commit and the move only
means the next poll reads those messages again, and their event ids make that change
nothing. Every IMAP failure becomes one :class:`ImapProblem` naming the server and what to
check; the password is never part of a message.
"""

from __future__ import annotations

import imaplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import LoginError
from sqlalchemy import Engine

from syndicate.config import Imap, Settings
from syndicate.config.settings import ENV_IMAP_PASSWORD
from syndicate.errors import SyndicateError
from syndicate.feedback import intake
from syndicate.feedback.importer import BATCH, ImportReport, Row
from syndicate.feedback.parse import MAX_BYTES, parse
from syndicate.feedback.report import Feedback
from syndicate.text import one_line

BATCH_BYTES = 50_000_000  # bytes of messages held at once
MAX_PER_POLL = 10_000  # messages one poll reads; the rest wait for the next
# A partial fetch: a server that lied about RFC822.SIZE still sends at most this much.
BODY = f"BODY.PEEK[]<0.{MAX_BYTES + 1}>".encode()
SEEN, DELETED, FLAGGED = b"\\Seen", b"\\Deleted", b"\\Flagged"


class ImapProblem(SyndicateError):
    """The bounce mailbox could not be read this time: what failed and what to check."""


@dataclass(slots=True, kw_only=True)
class ImapState:
    """What one running service remembers between polls: oversized messages already
    flagged and reported (by UIDVALIDITY and UID), so each is reported once."""

    oversized: set[tuple[int, int]] = field(default_factory=set)


def config(settings: Settings) -> Imap | None:
    """The configured ``[bounces.imap]``, or None."""
    bounces = settings.config.bounces
    return bounces.imap if bounces is not None else None


def where(cfg: Imap) -> str:
    """``[bounces.imap] host:port``: how every problem starts."""
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    return f"[bounces.imap] {host}:{cfg.server_port}"


def _advice(cfg: Imap, exc: BaseException) -> str:
    port = cfg.server_port
    if isinstance(exc, LoginError):
        return f"login refused for {cfg.username!r}: check username and {ENV_IMAP_PASSWORD}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the server's TLS certificate is not trusted ({exc.verify_message}): check the "
            "host name, or name the CA that signed it in [bounces.imap] ca_file"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS failed ({exc.reason or exc}): check that tls = {cfg.tls!r} is what port "
            f"{port} speaks (usually 993: 'implicit', 143: 'starttls')"
        )
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: check host and port, and that the IMAP server runs"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {cfg.timeout:g} s: check host, port and any firewall"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror}): check host"
    if isinstance(exc, OSError):
        return f"network error ({one_line(str(exc), 200)}): check host and port"
    detail = one_line(str(exc), 200) or type(exc).__name__
    check = f"check that port {port} is an IMAP server's and speaks tls = {cfg.tls!r}"
    if isinstance(exc, imaplib.IMAP4.abort | EOFError):
        return f"the server broke off the conversation ({detail}): {check}"
    return f"unexpected answer from the server ({detail}): {check}"


@contextmanager
def _talking(cfg: Imap, doing: str) -> Iterator[None]:
    """Turn whatever the IMAP conversation raises into one :class:`ImapProblem`."""
    try:
        yield
    except ImapProblem:
        raise
    except Exception as exc:  # a broken server answers anything; run must go on
        raise ImapProblem(f"{where(cfg)}: {doing}: {_advice(cfg, exc)}") from None


def _context(cfg: Imap, settings: Settings) -> ssl.SSLContext:
    cafile = None
    if cfg.ca_file is not None:
        path = (settings.root / cfg.ca_file).resolve()
        if not path.is_file():
            raise ImapProblem(f"{where(cfg)}: ca_file {str(path)!r} is not a readable file")
        cafile = str(path)
    try:
        return ssl.create_default_context(cafile=cafile)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ImapProblem(
            f"{where(cfg)}: ca_file {cafile!r} holds no PEM certificate: {exc}"
        ) from None


def connect(cfg: Imap, settings: Settings) -> IMAPClient:
    """A logged-in client (TLS as configured, every socket operation timed out)."""
    password = settings.secrets.imap_password
    if password is None:
        raise ImapProblem(f"{where(cfg)}: {ENV_IMAP_PASSWORD} is not set; set it to the password")
    context = _context(cfg, settings) if cfg.tls != "none" else None
    timeout = SocketTimeout(connect=cfg.timeout, read=cfg.timeout)
    with _talking(cfg, "connecting"):
        client = IMAPClient(
            cfg.host,
            port=cfg.server_port,
            ssl=cfg.tls == "implicit",
            ssl_context=context,
            timeout=timeout,
        )
    try:
        if cfg.tls == "starttls":
            with _talking(cfg, "STARTTLS"):
                client.starttls(context)
        with _talking(cfg, "logging in"):
            client.login(cfg.username, password)
    except BaseException:
        close(client)
        raise
    return client


def check(settings: Settings, *, offline: bool) -> list[str]:
    """What ``syndicate check`` says of ``[bounces.imap]``: the password and ``ca_file``
    (always), and unless ``offline`` whether the server lets us in and has the folder."""
    cfg = config(settings)
    if cfg is None:
        return []
    try:
        if cfg.tls != "none":
            _context(cfg, settings)
        if settings.secrets.imap_password is None:
            raise ImapProblem(f"{where(cfg)}: {ENV_IMAP_PASSWORD} is not set; set it")
        if offline:
            return []
        client = connect(cfg, settings)
        try:
            with _talking(cfg, f"opening folder {cfg.folder!r}"):
                client.select_folder(cfg.folder, readonly=True)
        finally:
            close(client)
    except ImapProblem as exc:
        return [f"syndicate.toml: {exc}"]
    return []


def close(client: IMAPClient) -> None:
    """Log out, or at least drop the connection; never raises."""
    with suppress(Exception):
        client.logout()
        return
    with suppress(Exception):
        client.shutdown()


def _finish(client: IMAPClient, cfg: Imap, uids: list[int]) -> None:
    """Move (or delete) messages whose feedback is committed."""
    client.add_flags(uids, [SEEN], silent=True)
    if not cfg.delete and client.has_capability("MOVE"):
        client.move(uids, cfg.move_to)
        return
    if not cfg.delete:
        client.copy(uids, cfg.move_to)
    client.add_flags(uids, [DELETED], silent=True)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:  # also expunges what others marked \Deleted here: what any client's EXPUNGE does
        client.expunge()


def _batches(sizes: dict[int, int]) -> Iterator[list[int]]:
    batch: list[int] = []
    held = 0
    for uid in sorted(sizes):
        if batch and (len(batch) >= BATCH or held + sizes[uid] > BATCH_BYTES):
            yield batch
            batch, held = [], 0
        batch.append(uid)
        held += sizes[uid]
    if batch:
        yield batch


def _body(entry: dict[bytes, Any]) -> bytes:
    for key, value in entry.items():
        if key.startswith(b"BODY[") and isinstance(value, bytes):
            return value
    return b""


def poll(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    state: ImapState | None = None,
    warn: Callable[[str], None] | None = None,
) -> ImportReport:
    """Take the feedback in ``[bounces.imap] folder``; move what was taken. ``warn`` hears
    of each oversized message once (per ``state``)."""
    cfg = config(settings)
    report = ImportReport()
    if cfg is None:
        return report
    state = state or ImapState()
    bounces = settings.config.bounces
    address = bounces.address if bounces is not None else None
    matching = intake.matcher(settings, now=now)
    client = connect(cfg, settings)
    try:
        if not cfg.delete:
            with _talking(cfg, f"creating folder {cfg.move_to!r}"):
                if not client.folder_exists(cfg.move_to):
                    client.create_folder(cfg.move_to)
                    with suppress(imaplib.IMAP4.error):
                        client.subscribe_folder(cfg.move_to)
        with _talking(cfg, f"opening folder {cfg.folder!r}"):
            selected = client.select_folder(cfg.folder)
            validity = int(selected.get(b"UIDVALIDITY", 0))
            found = [int(u) for u in client.search(["NOT", "DELETED"])]
        fresh = [u for u in found if (validity, u) not in state.oversized][:MAX_PER_POLL]
        if not fresh:
            return report
        with _talking(cfg, "reading message sizes"):
            listed = client.fetch(fresh, [b"RFC822.SIZE"])
        with _talking(cfg, "reading message sizes"):
            sizes = {int(uid): int(entry.get(b"RFC822.SIZE", 0)) for uid, entry in listed.items()}
        for uid, size in list(sizes.items()):
            if size <= MAX_BYTES:
                continue
            del sizes[uid]
            state.oversized.add((validity, uid))
            with _talking(cfg, "flagging an oversized message"):
                client.add_flags([uid], [FLAGGED], silent=True)
            report.messages += 1
            report.counts["too_large"] += 1
            why = f"{size:,} bytes, over {MAX_BYTES:,}: left in {cfg.folder!r}, flagged"
            report._row(Row(name=f"uid {uid}", reason=why))
            if warn is not None:
                warn(f"{where(cfg)}: message uid {uid} ({why})")
        for uids in _batches(sizes):
            with _talking(cfg, "fetching messages"):
                fetched = client.fetch(uids, [BODY])
            items: list[Feedback] = []
            labels: dict[str, str] = {}
            done: list[int] = []
            for uid in uids:
                body = _body(fetched.get(uid) or {})
                if not body:  # expunged by another client meanwhile, or NIL: not now
                    continue
                name = f"uid {uid}"
                done.append(uid)
                parsed = parse(body[: MAX_BYTES + 1], bounce_address=address)
                report.read(name, parsed, items, labels)
            if items:  # committed before anything moves: a crash here re-reads, harmlessly
                taken = intake.take(
                    engine, settings, items, trusted=False, now=now, matching=matching
                )
                report.add(labels, taken)
            if done:
                doing = "deleting" if cfg.delete else f"moving messages to {cfg.move_to!r}"
                with _talking(cfg, doing):
                    _finish(client, cfg, done)
    finally:
        close(client)
    return report
