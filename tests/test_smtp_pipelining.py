"""PIPELINING (RFC 2920): MAIL, RCPT and DATA in one write, against a real aiosmtpd server.

The property that matters: the same faults give the same outcomes whether the envelope was
pipelined or not, and every accepted copy reaches the server exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import ssl
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from syndicate import aio
from syndicate.delivery.pipelining import PipeliningSMTP
from syndicate.delivery.smtp import SmtpSettings, SmtpTransport
from syndicate.delivery.transport import Kind, Outcome
from tests.smtpserver import FaultKind, SmtpServer, serve_smtp

MESSAGE = b"Subject: hello\r\n\r\n.a line with a leading dot\r\nbody\r\n"
FAULTS: list[FaultKind | None] = [
    None,
    "mail-4xx",
    "mail-5xx",
    "drop-mail",
    "rcpt-4xx",
    "rcpt-5xx",
    "drop-rcpt",
    "datacmd-4xx",
    "datacmd-5xx",
    "drop-datacmd",
    "data-4xx",
    "data-5xx",
    "drop-data",
]
_names = itertools.count()
# `syndicate send` runs on uvloop when it is installed: its transports differ from asyncio's
RUNNERS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {
    "asyncio": asyncio.run,
    "uvloop": aio.run,
}


def settings(port: int, *, pipelining: bool = True, connections: int = 1) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=port,
        security="none",
        username=None,
        password=None,
        timeout=5,
        connections=connections,
        pipelining=pipelining,
    )


async def send_all(
    server: SmtpServer, pairs: list[tuple[str, str]], *, pipelining: bool, connections: int = 1
) -> list[Outcome]:
    transport = SmtpTransport(settings(server.port, pipelining=pipelining, connections=connections))
    try:
        return list(await asyncio.gather(*(transport.send(s, r, MESSAGE) for s, r in pairs)))
    finally:
        await transport.close()


def ledger(outcomes: list[Outcome]) -> list[tuple[Kind, int | None, str | None]]:
    """What the ledger keeps; a lost connection's wording (EOF or reset) is the OS's."""
    return [(o.kind, o.code, o.reply if o.code is not None else None) for o in outcomes]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[bool, SmtpServer]]:
    """A pipelining server that answers DATA as RFC 2920 says, and one that says 354 anyway."""
    with (
        serve_smtp(pipelining=True) as strict,
        serve_smtp(pipelining=True, lenient_data=True) as lax,
    ):
        yield {False: strict, True: lax}


@pytest.fixture(params=sorted(RUNNERS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    return RUNNERS[request.param]


def test_envelope_is_pipelined_when_offered(run: Callable[..., Any]) -> None:
    with serve_smtp(pipelining=True) as server:
        pairs = [("news@example.org", f"r{n}@example.org") for n in range(5)]
        outcomes = run(send_all(server, pairs, pipelining=True))
        assert [o.kind for o in outcomes] == [Kind.SENT] * 5
        assert server.pipelined == 5  # every MAIL arrived with RCPT and DATA behind it
        assert server.connections == 1
        assert [m.recipients for m in server.messages] == [[r] for _, r in pairs]
        assert server.messages[0].data.endswith(b".a line with a leading dot\r\nbody\r\n")


def test_servers_without_pipelining_get_one_command_at_a_time(run: Callable[..., Any]) -> None:
    # The server refuses pipelined input (503) as Postfix's reject_unauth_pipelining does.
    with serve_smtp(pipelining=False) as server:
        pairs = [("news@example.org", f"r{n}@example.org") for n in range(5)]
        outcomes = run(send_all(server, pairs, pipelining=True))
        assert [o.kind for o in outcomes] == [Kind.SENT] * 5
        assert server.pipelined == 0
        assert len(server.messages) == 5


def test_pipelining_can_be_turned_off(run: Callable[..., Any]) -> None:
    with serve_smtp(pipelining=True) as server:
        outcomes = run(
            send_all(server, [("news@example.org", "ann@example.org")], pipelining=False)
        )
        assert outcomes[0].kind is Kind.SENT
        assert server.pipelined == 0


def test_refused_recipient_then_next_message_on_the_same_connection(
    run: Callable[..., Any],
) -> None:
    with serve_smtp(pipelining=True) as server:
        server.set_fault("gone@example.org", "rcpt-5xx")
        pairs = [("news@example.org", "gone@example.org"), ("news@example.org", "ann@example.org")]
        gone, ann = run(send_all(server, pairs, pipelining=True))
        assert (gone.kind, gone.code) == (Kind.FAILED, 550)
        assert "No such user" in gone.reply
        assert ann.kind is Kind.SENT
        assert server.connections == 1  # RSET, and the session went on
        assert [m.recipients for m in server.messages] == [["ann@example.org"]]


def test_354_despite_a_refused_recipient_closes_the_connection(run: Callable[..., Any]) -> None:
    with serve_smtp(pipelining=True, lenient_data=True) as server:
        server.set_fault("gone@example.org", "rcpt-4xx")
        pairs = [("news@example.org", "gone@example.org"), ("news@example.org", "ann@example.org")]
        gone, ann = run(send_all(server, pairs, pipelining=True))
        assert (gone.kind, gone.code) == (Kind.DEFERRED, 451)
        assert ann.kind is Kind.SENT
        assert server.connections == 2  # no empty message sent: a fresh connection instead
        assert [m.recipients for m in server.messages] == [["ann@example.org"]]


def test_disconnect_mid_group_defers_and_the_next_copy_gets_a_new_connection(
    run: Callable[..., Any],
) -> None:
    with serve_smtp(pipelining=True) as server:
        server.set_fault("cut@example.org", "drop-rcpt")
        pairs = [("news@example.org", "cut@example.org"), ("news@example.org", "ann@example.org")]
        cut, ann = run(send_all(server, pairs, pipelining=True))
        assert (cut.kind, cut.code) == (Kind.DEFERRED, None)
        assert "connection problem" in cut.reply
        assert ann.kind is Kind.SENT
        assert server.connections == 2


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_pipelining_inside_tls(
    run: Callable[..., Any], security: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The protocol is swapped under the TLS layer (implicit TLS) or before STARTTLS wraps it.
    cert, key = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate only
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with serve_smtp(pipelining=True, tls=context, implicit_tls=security == "tls") as server:
        config = SmtpSettings(
            host="127.0.0.1",
            port=server.port,
            security=security,  # type: ignore[arg-type]
            username=None,
            password=None,
            timeout=5,
            connections=1,
        )

        async def send() -> list[Outcome]:
            transport = SmtpTransport(config)
            try:
                return [
                    await transport.send("a@x.test", f"r{n}@example.org", MESSAGE) for n in range(3)
                ]
            finally:
                await transport.close()

        outcomes = run(send())
        assert [o.kind for o in outcomes] == [Kind.SENT] * 3, outcomes
        assert server.pipelined == 3
        assert len(server.messages) == 3


async def _scripted(replies: list[bytes]) -> tuple[list[int], list[bytes]]:
    """A bare server that sends each reply batch in one write when a line arrives; the
    pipelined client's reply codes, and what the server read."""
    seen: list[bytes] = []
    batches = iter(replies)
    ended = asyncio.Event()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted ready\r\n")
        while line := await reader.readline():
            seen.append(line)
            if line.startswith((b"RCPT", b"DATA")):
                continue  # answered with MAIL's batch
            writer.write(next(batches, b"221 bye\r\n"))
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        ended.set()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PipeliningSMTP(hostname="127.0.0.1", port=port, timeout=5)
    await client.connect()
    assert client.pipelining
    protocol = client.protocol
    assert protocol is not None
    lines = [b"MAIL FROM:<a@x.test>\r\n", b"RCPT TO:<b@x.test>\r\n", b"DATA\r\n"]
    got = await protocol.pipeline(lines, timeout=5)  # type: ignore[attr-defined]
    client.close()
    await ended.wait()
    server.close()
    await server.wait_closed()
    return [r.code for r in got], seen


def test_three_replies_in_one_segment_are_all_read(run: Callable[..., Any]) -> None:
    # aiosmtplib's own protocol parses one reply per arrival of data: the second and third
    # would wait in its buffer until the timeout.
    ehlo = b"250-scripted\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n"
    batch = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
    codes, seen = run(_scripted([ehlo, batch]))
    assert codes == [250, 250, 354]
    assert seen[1:] == [b"MAIL FROM:<a@x.test>\r\n", b"RCPT TO:<b@x.test>\r\n", b"DATA\r\n"]


def test_extra_replies_are_not_paired_with_later_commands(run: Callable[..., Any]) -> None:
    ehlo = b"250-scripted\r\n250 PIPELINING\r\n"
    batch = b"250 ok\r\n250 ok\r\n354 go\r\n250 extra\r\n250 extra\r\n"
    codes, _ = run(_scripted([ehlo, batch]))
    assert codes == [250, 250, 354]


@given(
    script=st.lists(st.sampled_from(FAULTS), min_size=1, max_size=8),
    lenient=st.booleans(),
    connections=st.integers(min_value=1, max_value=3),
    loop=st.sampled_from(sorted(RUNNERS)),
)
def test_same_faults_same_ledger_pipelined_or_not(
    servers: dict[bool, SmtpServer],
    script: list[FaultKind | None],
    lenient: bool,
    connections: int,
    loop: str,
) -> None:
    server = servers[lenient]
    run = RUNNERS[loop]
    results = {}
    for pipelining in (True, False):
        pairs = []
        for fault in script:
            n = next(_names)
            sender, recipient = f"s{n}@sender.test", f"r{n}@example.org"
            if fault is not None:
                server.set_fault(sender if "mail" in fault.split("-") else recipient, fault)
            pairs.append((sender, recipient))
        outcomes = run(send_all(server, pairs, pipelining=pipelining, connections=connections))
        accepted = [m.recipients[0] for m in server.messages]
        for (_, recipient), outcome in zip(pairs, outcomes, strict=True):
            assert accepted.count(recipient) == (1 if outcome.kind is Kind.SENT else 0)
        results[pipelining] = ledger(outcomes)
    assert results[True] == results[False]
    expected_sent = [fault is None for fault in script]
    assert [kind is Kind.SENT for kind, _, _ in results[True]] == expected_sent
