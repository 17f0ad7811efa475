"""SmtpTransport against a real aiosmtpd server: reuse, rate limit, and RFC 5321 outcomes."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given
from hypothesis import strategies as st

from syndicate.delivery.smtp import SmtpSettings, SmtpTransport, wire_data
from syndicate.delivery.transport import Kind, Outcome, clean_reply
from tests.smtpserver import SmtpServer, serve_smtp

SENDER = "letters@news.example.org"


def message(recipient: str) -> bytes:
    """A minimal personalised message whose body names its recipient."""
    return (
        f"From: {SENDER}\r\nTo: {recipient}\r\nSubject: Hello\r\n\r\nFor {recipient}\r\n"
    ).encode()


def settings(port: int, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": None,
        "password": None,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpSettings(**values)  # type: ignore[arg-type]


async def send_all(transport: SmtpTransport, recipients: list[str]) -> list[Outcome]:
    """Send one message per recipient, all concurrently, then close the transport."""
    try:
        return await asyncio.gather(*(transport.send(SENDER, r, message(r)) for r in recipients))
    finally:
        await transport.close()


def run(server: SmtpServer, recipients: list[str], **overrides: object) -> list[Outcome]:
    return asyncio.run(send_all(SmtpTransport(settings(server.port, **overrides)), recipients))


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def test_many_messages_reuse_the_pool(server: SmtpServer) -> None:
    recipients = [f"reader{i}@example.org" for i in range(200)]
    outcomes = run(server, recipients, connections=4, max_messages_per_connection=1000)
    assert {o.kind for o in outcomes} == {Kind.SENT}
    assert all(o.code == 250 for o in outcomes)
    got = sorted(r for m in server.messages for r in m.recipients)
    assert got == sorted(recipients)  # every one exactly once
    assert all(m.sender == SENDER for m in server.messages)
    for m in server.messages:
        assert f"For {m.recipients[0]}".encode() in m.data
    assert server.connections <= 4


def test_connections_are_recycled_after_max_messages(server: SmtpServer) -> None:
    recipients = [f"reader{i}@example.org" for i in range(50)]
    outcomes = run(server, recipients, connections=2, max_messages_per_connection=10)
    assert {o.kind for o in outcomes} == {Kind.SENT}
    assert len(server.messages) == 50
    assert server.connections >= 5


def test_a_recycled_connection_still_ends_with_quit() -> None:
    # The QUIT of a connection that carried its share goes in the background (its round
    # trip overlaps the next connection's opening), but it goes: close() waits for it.
    with serve_smtp() as fresh:
        recipients = [f"reader{i}@example.org" for i in range(30)]
        outcomes = run(fresh, recipients, connections=1, max_messages_per_connection=10)
        assert {o.kind for o in outcomes} == {Kind.SENT}
        assert fresh.connections == 3
        assert fresh.quits == 3


@pytest.mark.parametrize(
    ("fault", "kind", "code", "text"),
    [
        ("rcpt-4xx", Kind.DEFERRED, 451, "Mailbox busy"),
        ("rcpt-5xx", Kind.FAILED, 550, "No such user"),
        ("data-4xx", Kind.DEFERRED, 451, "Queue full"),
        ("data-5xx", Kind.FAILED, 554, "rejected as spam"),
    ],
)
def test_negative_replies(server: SmtpServer, fault: str, kind: Kind, code: int, text: str) -> None:
    server.set_fault("bad@*", fault)  # type: ignore[arg-type]
    # One connection: the good message after the bad one proves the session was reset.
    outcomes = run(server, ["bad@example.org", "good@example.org"], connections=1)
    bad, good = outcomes
    assert (bad.kind, bad.code) == (kind, code)
    assert text in bad.reply
    assert good.kind is Kind.SENT
    assert [m.recipients for m in server.messages] == [["good@example.org"]]
    assert server.connections == 1


@pytest.mark.parametrize("fault", ["drop-rcpt", "drop-data"])
def test_dropped_connection_is_deferred_and_replaced(server: SmtpServer, fault: str) -> None:
    server.set_fault("bad@*", fault)  # type: ignore[arg-type]
    bad, good = run(server, ["bad@example.org", "good@example.org"], connections=1)
    assert bad.kind is Kind.DEFERRED
    assert bad.code is None
    assert good.kind is Kind.SENT
    assert [m.recipients for m in server.messages] == [["good@example.org"]]
    assert server.connections == 2


def test_slow_server_times_out_quickly(server: SmtpServer) -> None:
    server.set_fault("slow@*", "slow-rcpt", delay=3)
    started = time.monotonic()
    slow, good = run(server, ["slow@example.org", "good@example.org"], connections=1, timeout=0.5)
    assert time.monotonic() - started < 2.5  # well before the server would have answered
    assert slow.kind is Kind.DEFERRED
    assert good.kind is Kind.SENT


def test_rate_limit_is_a_lower_bound(server: SmtpServer) -> None:
    recipients = [f"reader{i}@example.org" for i in range(100)]
    started = time.monotonic()
    outcomes = run(server, recipients, connections=4, rate_limit=50)
    assert time.monotonic() - started >= 1.9
    assert {o.kind for o in outcomes} == {Kind.SENT}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_down_is_deferred_and_fatal_with_host_port_and_reason() -> None:
    port = unused_port()
    transport = SmtpTransport(settings(port))
    (outcome,) = asyncio.run(send_all(transport, ["reader@example.org"]))
    assert outcome.kind is Kind.DEFERRED  # never failed: the copy was not tried
    assert outcome.fatal == f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert transport.fatal == outcome.fatal


@pytest.mark.parametrize(
    ("sender", "recipient"),
    [
        (SENDER, "a@example.org\r\nRCPT TO:<victim@example.org>"),
        (SENDER, "a@example.org\n"),
        (SENDER, "a@exa\x00mple.org"),
        ("x@example.org\rDATA", "a@example.org"),
        (SENDER, "a@example.org> NOTIFY=NEVER"),
        (SENDER, "<a@example.org>"),
        (SENDER, "a@b@example.org"),
        (SENDER, "a @example.org"),
    ],
)
def test_unsafe_addresses_never_reach_the_network(sender: str, recipient: str) -> None:
    # Port 9 on a documentation address: any connection attempt would be noticed as DEFERRED.
    transport = SmtpTransport(settings(9, host="192.0.2.1", timeout=0.2))

    async def go() -> Outcome:
        return await transport.send(sender, recipient, message("a@example.org"))

    outcome = asyncio.run(go())
    assert outcome == Outcome(
        kind=Kind.FAILED, code=None, reply="refused: not a plain mailbox address"
    )


def test_one_bad_recipient_never_stops_the_others(server: SmtpServer) -> None:
    server.set_fault("r4*", "rcpt-4xx")
    server.set_fault("r5*", "rcpt-5xx")
    server.set_fault("d4*", "data-4xx")
    server.set_fault("d5*", "data-5xx")
    server.set_fault("xr*", "drop-rcpt")
    server.set_fault("xd*", "drop-data")
    bad = [f"{p}{i}@example.org" for p in ("r4", "r5", "d4", "d5", "xr", "xd") for i in range(3)]
    good = [f"good{i}@example.org" for i in range(60)]
    mixed = [a for i, g in enumerate(good) for a in ([g, bad[i]] if i < len(bad) else [g])]
    outcomes = dict(zip(mixed, run(server, mixed, connections=4), strict=True))
    assert all(outcomes[g].kind is Kind.SENT for g in good)
    assert all(outcomes[b].kind is not Kind.SENT for b in bad)
    assert sorted(r for m in server.messages for r in m.recipients) == sorted(good)


def test_non_ascii_recipient_uses_smtputf8(server: SmtpServer) -> None:
    (outcome,) = run(server, ["zoë@exämple.org"])
    assert outcome.kind is Kind.SENT
    assert server.messages[0].recipients == ["zoë@exämple.org"]


def test_clean_reply_is_one_short_line() -> None:
    assert (
        clean_reply("550-5.1.1 first\n550 5.1.1 sec\x00ond\r\n")
        == "550-5.1.1 first 550 5.1.1 sec ond"
    )
    assert len(clean_reply("x" * 2000)) == 500


def test_login_and_bad_credentials_set_fatal() -> None:
    with serve_smtp(credentials=("ann", "s3cret")) as server:
        good = SmtpTransport(settings(server.port, username="ann", password="s3cret"))
        (sent,) = asyncio.run(send_all(good, ["reader@example.org"]))
        assert sent.kind is Kind.SENT
        assert good.fatal is None

        bad = SmtpTransport(settings(server.port, username="ann", password="wrong"))
        (deferred,) = asyncio.run(send_all(bad, ["reader@example.org"]))
        assert deferred.kind is Kind.DEFERRED
        assert deferred.code == 535
        assert bad.fatal is not None and deferred.fatal == bad.fatal
        assert bad.fatal.startswith(f"authentication failed at 127.0.0.1:{server.port}: 535")
        assert len(server.messages) == 1


def test_tls_failure_sets_fatal(server: SmtpServer) -> None:
    # The test server speaks plain SMTP: a TLS handshake on connect cannot succeed.
    transport = SmtpTransport(settings(server.port, security="tls", timeout=2.0))
    (outcome,) = asyncio.run(send_all(transport, ["reader@example.org"]))
    assert outcome.kind is Kind.DEFERRED
    assert transport.fatal is not None and outcome.fatal == transport.fatal
    assert transport.fatal.startswith(f"cannot start TLS with 127.0.0.1:{server.port}: ")


def test_starttls_not_offered_sets_fatal(server: SmtpServer) -> None:
    transport = SmtpTransport(settings(server.port, security="starttls"))
    (outcome,) = asyncio.run(send_all(transport, ["reader@example.org"]))
    assert outcome.kind is Kind.DEFERRED
    assert outcome.fatal is not None and "STARTTLS" in outcome.fatal
    assert outcome.fatal.startswith(f"cannot start TLS with 127.0.0.1:{server.port}: ")
    assert server.messages == []


def test_cancelled_send_discards_its_connection(server: SmtpServer) -> None:
    server.set_fault("slow@*", "slow-rcpt", delay=3)
    transport = SmtpTransport(settings(server.port, connections=1))

    async def go() -> Outcome:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(transport.send(SENDER, "slow@example.org", b"x\r\n"), 0.3)
        return (await send_all(transport, ["good@example.org"]))[0]

    assert asyncio.run(go()).kind is Kind.SENT
    assert [m.recipients for m in server.messages] == [["good@example.org"]]
    assert server.connections == 2


@given(st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"")))
def test_wire_data_matches_what_rfc_5321_requires(message: bytes) -> None:
    # The fast path must give exactly what aiosmtplib's own normalisation gives.
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
    assert wire_data(message) == expected


def test_lines_starting_with_a_dot_arrive_intact(server: SmtpServer) -> None:
    body = b".hidden first line\r\n..two dots\r\n.\r\nlone LF\nlone CR\rend"
    data = f"From: {SENDER}\r\nTo: dot@example.org\r\nSubject: Dots\r\n\r\n".encode() + body

    async def go() -> Outcome:
        transport = SmtpTransport(settings(server.port))
        try:
            return await transport.send(SENDER, "dot@example.org", data)
        finally:
            await transport.close()

    assert asyncio.run(go()).kind is Kind.SENT
    (got,) = server.messages
    assert got.data.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n") == (
        b".hidden first line\r\n..two dots\r\n.\r\nlone LF\r\nlone CR\r\nend"
    )
