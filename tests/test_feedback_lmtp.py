"""``[bounces] listen = "lmtp://…"``: the bounce listener speaks LMTP (RFC 2033) with a
real LMTP client: LHLO, and after DATA one reply per accepted recipient."""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from syndicate.config import parse_config
from syndicate.errors import ConfigError
from syndicate.feedback.inbound import listen_address, listen_protocol
from syndicate.feedback.inbound import start as start_listener
from syndicate.models import Status
from tests import test_feedback_intake
from tests.conftest import Site
from tests.test_feedback_intake import BOUNCES, TWO_LISTS, dsn, status
from tests.test_send import CONFIG

Sent = tuple[Site, dict[str, str], dict[str, int]]
sent = test_feedback_intake.sent  # the fixture: a site whose weekly went to five readers
Replies = tuple[tuple[int, bytes], tuple[int, bytes], list[tuple[int, bytes]]]


def test_the_lmtp_listener_replies_per_recipient_and_takes_each_bounce(sent: Sent) -> None:
    site, senders, ids = sent
    site.configure(CONFIG + TWO_LISTS + BOUNCES + 'listen = "lmtp://127.0.0.1:0"\n')
    settings = site.settings
    assert listen_address(settings) == ("127.0.0.1", 0)
    assert listen_protocol(settings) == "lmtp"
    first, second = senders["r0@example.org"], senders["r1@example.org"]
    # One DSN naming two readers, handed over once for both return paths (as an MTA may).
    data = dsn("someone-else@example.org", "r0@example.org", "5.1.1", "550 5.1.1 unknown")

    def client(port: int) -> Replies:
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as lmtp:
            helo = lmtp.ehlo()  # smtplib.LMTP sends LHLO
            lmtp.mail("")
            refused = lmtp.rcpt("r2@example.org")
            for rcpt in (first, second):
                assert lmtp.rcpt(rcpt)[0] == 250
            replies = [lmtp.data(data)]
            replies.append(lmtp.getreply())  # the second recipient's own reply
            return helo, refused, replies

    async def go() -> Replies:
        server = await start_listener(site.engine, settings, "127.0.0.1", 0, protocol="lmtp")
        try:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.to_thread(client, port)
        finally:
            server.close()
            await server.wait_closed()

    helo, refused, replies = asyncio.run(go())
    assert helo[0] == 250
    assert refused[0] == 550
    assert [code for code, _ in replies] == [250, 250]
    # The token of each return path names its reader: both end bounced, nobody else.
    assert status(site, ids["r0@example.org"])["weekly"] is Status.BOUNCED
    assert status(site, ids["r1@example.org"])["weekly"] is Status.BOUNCED
    assert status(site, ids["r2@example.org"])["weekly"] is Status.ACTIVE


def test_the_smtp_listener_refuses_lhlo_and_the_lmtp_one_refuses_ehlo(sent: Sent) -> None:
    site, _, _ = sent
    settings = site.settings

    def hello(port: int, lmtp: bool) -> int:
        kind = smtplib.LMTP if lmtp else smtplib.SMTP
        with kind("127.0.0.1", port, timeout=10) as client:
            return client.docmd("EHLO" if lmtp else "LHLO", "x")[0]

    async def go(protocol: str) -> int:
        server = await start_listener(
            site.engine, settings, "127.0.0.1", 0, protocol="lmtp" if protocol == "lmtp" else "smtp"
        )
        try:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.to_thread(hello, port, protocol == "lmtp")
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(go("lmtp")) == 500
    assert asyncio.run(go("smtp")) == 500


BASE = '[publication]\ntitle = "T"\nbase_url = "https://x.test"\n'


@pytest.mark.parametrize(
    ("listen", "protocol", "where"),
    [
        ("127.0.0.1:2525", "smtp", ("127.0.0.1", 2525)),
        ("smtp://127.0.0.1:2525", "smtp", ("127.0.0.1", 2525)),
        ("lmtp://[::1]:2424", "lmtp", ("::1", 2424)),
    ],
)
def test_listen_takes_smtp_and_lmtp_forms(
    site: Site, listen: str, protocol: str, where: tuple[str, int]
) -> None:
    site.configure(CONFIG + BOUNCES + f'listen = "{listen}"\n')
    assert listen_protocol(site.settings) == protocol
    assert listen_address(site.settings) == where


@pytest.mark.parametrize("listen", ["lmtp://127.0.0.1", "http://127.0.0.1:25", "lmtp://:25"])
def test_a_bad_listen_names_the_field_and_the_forms(listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + f'[bounces]\naddress = "b@example.org"\nlisten = "{listen}"\n')
    assert "bounces.listen: must be host:port (SMTP), smtp://host:port or lmtp://" in str(
        caught.value
    )
