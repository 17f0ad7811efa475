"""CHUNKING (RFC 3030): MAIL, RCPT and ``BDAT <size> LAST`` with the message in one write,
against a real aiosmtpd server taught BDAT (tests/smtpserver.py).

As for PIPELINING, what matters: the same faults give the same ledger whether the message
went by BDAT, by pipelined DATA or one command at a time, every accepted copy reaches the
server exactly once, and the server gets the same bytes either way.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.delivery.smtp import SmtpSettings, SmtpTransport
from syndicate.delivery.transport import Kind, Outcome
from tests.smtpserver import FaultKind, SmtpServer, serve_smtp
from tests.test_smtp_pipelining import FAULTS, MESSAGE, RUNNERS, ledger

_names = itertools.count()
Mode = str  # "bdat", "data" (pipelined DATA) or "plain" (one command at a time)
MODES: dict[Mode, tuple[bool, bool]] = {  # (pipelining, chunking)
    "bdat": (True, True),
    "data": (True, False),
    "plain": (False, False),
}


def settings(port: int, mode: Mode, connections: int = 1) -> SmtpSettings:
    pipelining, chunking = MODES[mode]
    return SmtpSettings(
        host="127.0.0.1",
        port=port,
        security="none",
        username=None,
        password=None,
        timeout=5,
        connections=connections,
        pipelining=pipelining,
        chunking=chunking,
    )


async def send_all(
    server: SmtpServer,
    pairs: list[tuple[str, str]],
    mode: Mode,
    *,
    connections: int = 1,
    message: bytes = MESSAGE,
) -> list[Outcome]:
    transport = SmtpTransport(settings(server.port, mode, connections))
    try:
        return list(await asyncio.gather(*(transport.send(s, r, message) for s, r in pairs)))
    finally:
        await transport.close()


@pytest.fixture(params=sorted(RUNNERS))
def run(request: pytest.FixtureRequest) -> Callable[..., Any]:
    return RUNNERS[request.param]


@pytest.fixture(scope="module")
def server() -> Iterator[SmtpServer]:
    with serve_smtp(pipelining=True, chunking=True) as chunking:
        yield chunking


def test_the_message_goes_with_the_envelope_when_offered(run: Callable[..., Any]) -> None:
    with serve_smtp(pipelining=True, chunking=True) as server:
        pairs = [("news@example.org", f"r{n}@example.org") for n in range(5)]
        outcomes = run(send_all(server, pairs, "bdat"))
        assert [o.kind for o in outcomes] == [Kind.SENT] * 5
        assert server.chunked == 5  # every message came by BDAT ...
        assert server.pipelined == 5  # ... behind its MAIL and RCPT
        assert server.connections == 1
        assert [m.recipients for m in server.messages] == [[r] for _, r in pairs]


@pytest.mark.parametrize(
    "message",
    [
        MESSAGE,
        b"Subject: bare\n\n.dot first\nlast line without an end",
        b".starts with a dot\r\n\r\n..two dots\r\n.\r\nend\r\n",
    ],
)
def test_the_server_gets_the_same_bytes_as_by_data(run: Callable[..., Any], message: bytes) -> None:
    got = {}
    for mode in ("bdat", "data"):
        with serve_smtp(pipelining=True, chunking=True) as server:
            outcomes = run(send_all(server, [("a@x.test", "b@x.test")], mode, message=message))
            assert outcomes[0].kind is Kind.SENT
            assert server.chunked == (1 if mode == "bdat" else 0)
            got[mode] = server.messages[0].data
    assert got["bdat"] == got["data"]
    assert got["bdat"].endswith(b"\r\n") and b"\n" not in got["bdat"].replace(b"\r\n", b"")


def test_no_bdat_when_turned_off_or_without_pipelining(run: Callable[..., Any]) -> None:
    with serve_smtp(pipelining=True, chunking=True) as server:
        assert run(send_all(server, [("a@x.test", "b@x.test")], "data"))[0].kind is Kind.SENT
        assert server.chunked == 0 and len(server.messages) == 1
    # CHUNKING alone: BDAT would be one command at a time, no round trip saved
    with serve_smtp(pipelining=False, chunking=True) as server:
        assert run(send_all(server, [("a@x.test", "b@x.test")], "bdat"))[0].kind is Kind.SENT
        assert server.chunked == 0 and server.pipelined == 0 and len(server.messages) == 1


def test_refused_recipient_the_chunk_is_read_and_the_session_goes_on(
    run: Callable[..., Any],
) -> None:
    with serve_smtp(pipelining=True, chunking=True) as server:
        server.set_fault("gone@example.org", "rcpt-5xx")
        pairs = [("news@example.org", "gone@example.org"), ("news@example.org", "ann@example.org")]
        gone, ann = run(send_all(server, pairs, "bdat"))
        assert (gone.kind, gone.code) == (Kind.FAILED, 550)
        assert "No such user" in gone.reply
        assert ann.kind is Kind.SENT
        assert server.connections == 1  # the server read the refused chunk: still in step
        assert [m.recipients for m in server.messages] == [["ann@example.org"]]


@given(
    script=st.lists(st.sampled_from(FAULTS), min_size=1, max_size=8),
    connections=st.integers(min_value=1, max_value=3),
    loop=st.sampled_from(sorted(RUNNERS)),
)
def test_same_faults_same_ledger_by_bdat_data_or_one_at_a_time(
    server: SmtpServer, script: list[FaultKind | None], connections: int, loop: str
) -> None:
    results = {}
    for mode in MODES:
        before = server.chunked
        pairs = []
        for fault in script:
            n = next(_names)
            sender, recipient = f"s{n}@sender.test", f"r{n}@example.org"
            if fault is not None:
                server.set_fault(sender if "mail" in fault.split("-") else recipient, fault)
            pairs.append((sender, recipient))
        outcomes = RUNNERS[loop](send_all(server, pairs, mode, connections=connections))
        accepted = [m.recipients[0] for m in server.messages]
        for (_, recipient), outcome in zip(pairs, outcomes, strict=True):
            assert accepted.count(recipient) == (1 if outcome.kind is Kind.SENT else 0)
        if mode != "bdat":
            assert server.chunked == before
        results[mode] = ledger(outcomes)
    assert results["bdat"] == results["data"] == results["plain"]
    assert [kind is Kind.SENT for kind, _, _ in results["bdat"]] == [f is None for f in script]
