"""The next copy's envelope overlaps the previous answer's commit; its end of data does not
(``SmtpTransport.send_overlapped``), against a real aiosmtpd server, pipelined or not, and
by BDAT (the envelope and the chunk go at once; ``BDAT 0 LAST`` waits).

What must hold: the server takes no message on a connection while the previous answer on
that connection is not recorded, so a crash loses at most one answer per connection.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from syndicate.delivery.smtp import SmtpTransport
from syndicate.delivery.transport import Kind, Overlapping
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_smtp_pipelining import MESSAGE, RUNNERS, settings

SENDER = "letters@news.example.org"
MODES = ["plain", "pipelined", "bdat"]


def _transport(server: SmtpServer, mode: str) -> SmtpTransport:
    config = settings(server.port, pipelining=mode != "plain", connections=1)
    return SmtpTransport(dataclasses.replace(config, chunking=mode == "bdat"))


async def _until_rcpt(server: SmtpServer, address: str) -> None:
    for _ in range(500):  # the envelope got there (at most 5 s)
        with server.handler._lock:
            if address in server.handler.accepted_rcpts:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"RCPT {address} never reached the server")


def _delivered(server: SmtpServer) -> list[str]:
    return [r for m in server.messages for r in m.recipients]


async def _second_waits_for_the_first(server: SmtpServer, mode: str) -> None:
    transport = _transport(server, mode)
    assert isinstance(transport, Overlapping)
    loop = asyncio.get_running_loop()
    try:
        first: asyncio.Future[None] = loop.create_future()
        one = await transport.send_overlapped(SENDER, "a@example.org", MESSAGE, recorded=first)
        assert one.kind is Kind.SENT
        second = asyncio.create_task(
            transport.send_overlapped(
                SENDER, "b@example.org", MESSAGE, recorded=loop.create_future()
            )
        )
        await _until_rcpt(server, "b@example.org")  # the envelope went at once...
        await asyncio.sleep(0.2)  # ...and the message would have had time to follow
        assert not second.done()
        assert _delivered(server) == ["a@example.org"]
        first.set_result(None)  # a's answer is durable: b may end its data
        two = await second
        assert two.kind is Kind.SENT
        assert _delivered(server) == ["a@example.org", "b@example.org"]
        assert server.connections == 1  # the same connection carried both
        assert server.chunked == (2 if mode == "bdat" else 0)
    finally:
        await transport.close()


async def _nothing_after_a_failed_record(server: SmtpServer, mode: str) -> None:
    transport = _transport(server, mode)
    loop = asyncio.get_running_loop()
    try:
        first: asyncio.Future[None] = loop.create_future()
        await transport.send_overlapped(SENDER, "c@example.org", MESSAGE, recorded=first)
        recorded: asyncio.Future[None] = loop.create_future()
        second = asyncio.create_task(
            transport.send_overlapped(SENDER, "d@example.org", MESSAGE, recorded=recorded)
        )
        await _until_rcpt(server, "d@example.org")
        first.set_exception(RuntimeError("database is locked"))
        two = await second
        assert two.kind is Kind.DEFERRED and "not sent" in two.reply
        assert _delivered(server) == ["c@example.org"]  # d never ended its data
        recorded.set_result(None)  # d's deferral is recorded
        three = await transport.send(SENDER, "e@example.org", MESSAGE)  # a new connection
        assert three.kind is Kind.SENT
        assert _delivered(server) == ["c@example.org", "e@example.org"]
    finally:
        await transport.close()


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("mode", MODES)
def test_next_envelope_overlaps_the_commit_but_not_its_end_of_data(runner: str, mode: str) -> None:
    with serve_smtp(pipelining=mode != "plain", chunking=mode == "bdat") as server:
        RUNNERS[runner](_second_waits_for_the_first(server, mode))


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("mode", MODES)
def test_an_answer_that_could_not_be_recorded_stops_the_next_message(
    runner: str, mode: str
) -> None:
    with serve_smtp(pipelining=mode != "plain", chunking=mode == "bdat") as server:
        RUNNERS[runner](_nothing_after_a_failed_record(server, mode))
