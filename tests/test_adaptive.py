"""Issue 15, adaptive concurrency: the controller alone (properties), what counts as
pushback, and real sends against an aiosmtpd relay that allows only N sessions at once.

Real parts: aiosmtpd behind a session-counting gatekeeper (tests/smtplimit.py), the
site's store (SQLite, and PostgreSQL when configured), the sending engine as `send` runs it.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.content.reader import read_site
from syndicate.delivery.adaptive import Gate
from syndicate.delivery.concurrency import Controller, reply_pushback
from syndicate.delivery.engine import Sender, SendReport
from syndicate.delivery.setup import make_policy, make_transport
from syndicate.store import relays
from syndicate.store.deliveries import DeliveryStatus
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtplimit import LimitedServer, serve_limited_smtp
from tests.smtpserver import weekly_site_config

SECRET = "test-secret-0123456789abcdef"
READERS = 240

# --- the controller ---------------------------------------------------------------------

events = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(0, 5000), st.floats(0.01, 2.0), st.booleans()),
        st.tuples(st.just("pushback"), st.integers(0, 300), st.just(0.0), st.just(False)),
    ),
    max_size=200,
)


@given(start=st.integers(-3, 40), ceiling=st.integers(1, 64), known=st.none() | st.integers(1, 64))
def test_the_start_is_within_bounds(start: int, ceiling: int, known: int | None) -> None:
    controller = Controller(start=start, ceiling=ceiling, known=known)
    assert 1 <= controller.limit <= ceiling


@given(start=st.integers(1, 40), ceiling=st.integers(1, 64), script=events)
def test_the_target_never_leaves_its_bounds(
    start: int, ceiling: int, script: list[tuple[str, int, float, bool]]
) -> None:
    controller = Controller(start=start, ceiling=ceiling)
    for kind, n, seconds, saturated in script:
        before = controller.limit
        if kind == "tick":
            change = controller.tick(completed=n, seconds=seconds, saturated=saturated)
            if controller.limit < before:  # a tick lowers it only to undo a useless step
                assert change is not None and change.settled
        else:
            proven = controller.proven
            change = controller.pushback("421 too many connections", n)
            if change is not None:  # it never grows, and cuts below what was open then
                assert change.after <= before  # (or what the relay carried just before)
                seen = max(n, proven + 1) if proven is not None else n
                assert change.after < max(2, seen) or change.after == 1
        assert 1 <= controller.limit <= ceiling
        assert change is None or change.after == controller.limit
        assert controller.tolerated is None or 1 <= controller.tolerated <= ceiling


@given(start=st.integers(1, 16), ceiling=st.integers(1, 64))
def test_without_pushback_it_grows_to_the_ceiling_while_throughput_follows(
    start: int, ceiling: int
) -> None:
    controller = Controller(start=start, ceiling=ceiling)
    for _ in range(4 * ceiling + 10):  # each connection carries 40 messages an interval
        controller.tick(completed=40 * controller.limit, seconds=1.0, saturated=True)
    assert controller.limit == ceiling
    assert controller.tolerated == ceiling


def test_growth_that_clearly_pays_doubles() -> None:
    controller = Controller(start=8, ceiling=64)
    changes = [controller.tick(completed=40 * controller.limit, seconds=1.0, saturated=True)]
    for _ in range(12):  # every connection carries its share: 8, 12, then doubling
        changes.append(
            controller.tick(completed=40 * controller.limit, seconds=1.0, saturated=True)
        )
    assert [c.after for c in changes if c is not None][:4] == [12, 24, 48, 64]


def test_growth_that_pays_only_partly_keeps_to_half_steps() -> None:
    controller = Controller(start=8, ceiling=64)
    afters = []
    for _ in range(12):  # each step brings 60 % of its proportional gain: paid, not clearly
        completed = 400 * (1 + 0.6 * (controller.limit / 8 - 1))
        change = controller.tick(completed=int(completed), seconds=1.0, saturated=True)
        if change is not None:
            afters.append(change.after)
    assert afters[:3] == [12, 18, 27]


def test_it_holds_when_more_connections_do_not_send_faster() -> None:
    controller = Controller(start=4, ceiling=16, reprobe=1000)
    changes = [controller.tick(completed=2000, seconds=1.0, saturated=True) for _ in range(30)]
    assert controller.limit == 4  # tried one step (4 -> 6), saw no gain, went back, holds
    assert [(c.after, c.settled) for c in changes if c is not None] == [(6, False), (4, True)]


def test_it_does_not_grow_while_no_work_waits() -> None:
    controller = Controller(start=4, ceiling=16)
    for _ in range(30):
        controller.tick(completed=100, seconds=1.0, saturated=False)
    assert controller.limit == 4


def test_a_pushback_cuts_to_seven_tenths_of_what_was_open_and_caps_growth() -> None:
    controller = Controller(start=12, ceiling=16, reprobe=5)
    change = controller.pushback("421 too many connections", 12)
    assert change is not None and (change.before, change.after) == (12, 8)
    assert controller.pushback("421 too many connections", 9) is None  # an echo
    echo = controller.pushback("421 too many connections", 8)  # but 8 were too many
    assert echo is not None and echo.after == 7
    for _ in range(4):
        controller.tick(completed=40 * controller.limit, seconds=1.0, saturated=True)
    assert controller.limit == 7  # what the relay tolerated, until it probes again
    assert controller.tolerated == 7
    for _ in range(3):
        controller.tick(completed=40 * controller.limit, seconds=1.0, saturated=True)
    assert controller.limit == 8  # `reprobe` quiet intervals later: one more is tried
    later = controller.pushback("421 too many connections", 8)
    assert later is not None and later.after == 5


def test_a_known_ceiling_is_where_growth_waits() -> None:
    controller = Controller(start=3, ceiling=16, known=3, reprobe=10)
    for _ in range(9):
        controller.tick(completed=40 * controller.limit, seconds=1.0, saturated=True)
    assert controller.limit == 3


def test_never_below_one() -> None:
    controller = Controller(start=1, ceiling=4, cooldown=0)
    for _ in range(5):
        controller.pushback("connection refused", 1)
        controller.tick(completed=0, seconds=1.0, saturated=True)
    assert controller.limit == 1


@pytest.mark.parametrize(
    ("code", "reply", "pushed"),
    [
        (421, "4.7.0 Too many connections, try again later", "421 Too many connections,"),
        (421, "4.7.28 rate limited", "421 rate limited"),
        (421, "Service not available, closing transmission channel", "421 Service"),
        (451, "4.7.0 Try again later", "451 Try again later"),
        (450, "Too many concurrent SMTP connections from this IP", "450 Too many"),
        (452, "Rate limit exceeded for this account", "452 Rate limit"),
        (451, "4.3.0 Mailbox busy, try again later", None),  # about one mailbox
        (451, "4.7.1 Greylisted, please try again in 5 minutes", None),  # per recipient
        (550, "5.7.1 Too many connections", None),  # 5xx: about the message
        (250, "2.0.0 OK", None),
        (None, "connection problem: TimeoutError", None),
    ],
)
def test_what_counts_as_pushback(code: int | None, reply: str, pushed: str | None) -> None:
    found = reply_pushback(code, reply)
    if pushed is None:
        assert found is None
    else:
        assert found is not None and found.startswith(pushed)


def test_which_network_errors_count_as_pushback() -> None:
    import aiosmtplib

    from syndicate.delivery.concurrency import connection_pushback

    refused = aiosmtplib.SMTPConnectError("cannot connect")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert connection_pushback(refused) == "connection refused"
    assert connection_pushback(ConnectionResetError()) == "connection reset"
    greeting = aiosmtplib.SMTPConnectResponseError(421, "4.7.0 Too many connections")
    assert connection_pushback(greeting) == "421 Too many connections"
    assert connection_pushback(aiosmtplib.SMTPServerDisconnected("gone")) is not None
    assert connection_pushback(TimeoutError()) is None  # slow is not "fewer, please"
    assert connection_pushback(aiosmtplib.SMTPAuthenticationError(535, "no")) is None


def test_the_gate_follows_its_limit() -> None:
    async def go() -> tuple[int, int]:
        gate, inside, most = Gate(3), 0, 0
        release = asyncio.Event()

        async def one() -> None:
            nonlocal inside, most
            async with gate:
                inside += 1
                most = max(most, inside)
                await release.wait()
                inside -= 1

        tasks = [asyncio.create_task(one()) for _ in range(10)]
        await asyncio.sleep(0.01)
        first = most
        gate.resize(6)
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*tasks)
        assert gate.inside == 0 and gate.waited
        return first, most

    assert asyncio.run(go()) == (3, 6)


# --- real sends -------------------------------------------------------------------------


def wall() -> datetime:
    return datetime.now(UTC)


def received(server: LimitedServer) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.recipients)


def letter(site: Site, port: int, readers: int = READERS, **smtp: int) -> None:
    site.configure(weekly_site_config(port, timeout=5, **smtp))
    stamp = (wall() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write("alpha.md", f"---\ntitle: Alpha\ndate: {stamp}\n---\n\nText.\n")
    csv = "email,name\n" + "".join(f"r{i}@example.org,R{i}\n" for i in range(readers))
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=30)).problems


def send(site: Site) -> SendReport:
    """One `send weekly` through the engine; deferred copies are retried within seconds."""
    settings = site.settings
    articles = read_site(settings, site.engine, now=wall(), offline=True).articles
    policy = replace(
        make_policy(settings),
        retry_base=timedelta(milliseconds=20),
        retry_max_delay=timedelta(milliseconds=200),
        wait_for_retries=timedelta(seconds=60),
    )

    async def go() -> SendReport:
        transport = make_transport(settings)
        sender = Sender(settings, site.engine, transport, Signer(SECRET), clock=wall, policy=policy)
        try:
            return await sender.run("weekly", articles)
        finally:
            await transport.close()

    return asyncio.run(go())


def stored_ceiling(site: Site) -> int | None:
    policy = make_policy(site.settings)
    assert policy.relay is not None
    with site.engine.connect() as conn:
        return relays.ceiling(conn, policy.relay)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)


@pytest.fixture
def greeting_limit() -> Iterator[LimitedServer]:
    with serve_limited_smtp(3, at="greeting") as server:
        yield server


@pytest.mark.usefixtures("secret")
def test_a_relay_refusing_sessions_beyond_three_at_the_greeting(
    any_site: Site, greeting_limit: LimitedServer
) -> None:
    server = greeting_limit
    letter(any_site, server.port, connections=6, max_connections=8)
    report = send(any_site)
    assert report.error is None, report.error  # a refused 4th session is no fatal problem
    assert report.finished and report.counts == {DeliveryStatus.SENT.value: READERS}
    assert received(server) == {f"r{i}@example.org": 1 for i in range(READERS)}
    assert server.refused > 0  # it did push back: six were tried
    assert server.max_open <= 3
    assert 1 <= report.connections <= 3  # what it settled at
    learned = stored_ceiling(any_site)
    assert learned is not None and learned <= 3

    # The next send starts from what the relay tolerated: no session is refused.
    server.reset_counts()
    any_site.write("beta.md", f"---\ntitle: Beta\ndate: {wall():%Y-%m-%dT%H:%M:%SZ}\n---\n\nB.\n")
    _made_earlier(any_site)
    again = send(any_site)
    assert again.finished and again.counts == {DeliveryStatus.SENT.value: READERS}
    assert received(server) == {f"r{i}@example.org": 2 for i in range(READERS)}
    assert server.refused == 0 and server.max_open <= learned
    assert stored_ceiling(any_site) == learned


@pytest.mark.usefixtures("secret")
def test_a_relay_refusing_mail_beyond_two_sessions(site: Site) -> None:
    with serve_limited_smtp(2, at="mail") as server:
        letter(site, server.port, connections=5, max_connections=8)
        report = send(site)
        assert report.finished and report.counts == {DeliveryStatus.SENT.value: READERS}
        # the copies refused with 421 were deferred and sent later, each exactly once
        assert received(server) == {f"r{i}@example.org": 1 for i in range(READERS)}
        assert server.refused > 0 and server.max_open <= 2
        learned = stored_ceiling(site)
        assert learned is not None and learned <= 2


@pytest.mark.usefixtures("secret")
def test_a_relay_without_a_limit(site: Site) -> None:
    with serve_limited_smtp(None) as server:
        letter(site, server.port, connections=2, max_connections=6)
        report = send(site)
        assert report.finished and report.counts == {DeliveryStatus.SENT.value: READERS}
        assert received(server) == {f"r{i}@example.org": 1 for i in range(READERS)}
        assert server.refused == 0
        assert 2 <= report.connections <= 6  # grows only while it sends faster for it
        assert server.max_open <= 6
        learned = stored_ceiling(site)
        assert learned is None or 2 <= learned <= 6


class _Pool:
    """The smallest Adjustable: remembers the size it was given."""

    def __init__(self) -> None:
        self.on_pushback: object = None
        self.size = 0

    def resize(self, connections: int) -> None:
        self.size = connections


def test_a_step_that_sent_no_faster_is_not_where_the_next_send_starts(site: Site) -> None:
    from syndicate.delivery.adaptive import Adapter

    controller = Controller(start=4, ceiling=16)
    pool = _Pool()
    adapter = Adapter(controller, pool, relay="relay.example:587 ann", parts=2)  # type: ignore[arg-type]
    assert pool.size == 4 and pool.on_pushback is not None
    for _ in range(3):  # 4 -> 6 is tried, sends no faster, and is undone
        controller.tick(completed=2000, seconds=1.0, saturated=True)
    assert controller.limit == 4 and controller.tolerated == 6
    with site.engine.begin() as conn:
        adapter.remember(conn, now=wall())
    with site.engine.connect() as conn:
        assert relays.ceiling(conn, "relay.example:587 ann") == 8  # 4 a process, 2 processes
    adapter.detach()
    assert pool.on_pushback is None


def _made_earlier(site: Site) -> None:
    """Date the digests an hour back, so an article of a minute ago is new."""
    from sqlalchemy import select, update

    from syndicate.store.tables import digests

    with site.engine.begin() as conn:
        for digest_id, created in conn.execute(select(digests.c.id, digests.c.created_at)).all():
            conn.execute(
                update(digests)
                .where(digests.c.id == digest_id)
                .values(created_at=created - timedelta(hours=1))
            )


@pytest.mark.usefixtures("secret")
def test_send_says_once_when_the_relay_pushed_back(
    site: Site, greeting_limit: LimitedServer
) -> None:
    from click.testing import CliRunner

    from syndicate.cli import main

    letter(site, greeting_limit.port, connections=6, max_connections=8)
    result = CliRunner().invoke(main, ["--site", str(site.root), "send", "weekly", "--yes"])
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "pushed back" in line]
    assert lines and lines[0].startswith("relay pushed back (421 Too many connections")
    # Cut where it started (6), or, on a loaded machine whose first refusal came late,
    # after a growth step (8 at most): always below where it was refused.
    cut = re.search(r"at (\d+) connections; using (\d+)", lines[0])
    assert cut is not None, lines[0]
    assert 6 <= int(cut[1]) <= 8 and int(cut[2]) < int(cut[1]), lines[0]
    assert len(lines) <= 3  # once per change of the target, not once per refusal
    assert received(greeting_limit) == {f"r{i}@example.org": 1 for i in range(READERS)}


def test_max_connections_below_connections_is_refused(site: Site) -> None:
    from syndicate.config import load_settings
    from syndicate.errors import ConfigError

    site.configure(weekly_site_config(2525, connections=8, max_connections=4))
    with pytest.raises(ConfigError) as caught:
        load_settings(site.root)
    assert "max_connections: 4 is below connections (8)" in str(caught.value)


@pytest.mark.usefixtures("secret")
def test_a_burst_of_refusals_is_said_once_and_where_it_settled(site: Site) -> None:
    """Retrial B6: 8 -> 5 -> 4 -> 3 -> 2 was four warnings; the cut is said once, and the
    level the refusals right after it settled at once more."""
    from click.testing import CliRunner

    from syndicate.cli import main

    with serve_limited_smtp(2, at="greeting") as server:
        letter(site, server.port, connections=8, max_connections=8)
        result = CliRunner().invoke(main, ["--site", str(site.root), "send", "weekly", "--yes"])
        assert result.exit_code == 0, result.stderr
        cuts = [line for line in result.stderr.splitlines() if "relay pushed back" in line]
        echoes = [line for line in result.stderr.splitlines() if "kept pushing back" in line]
        assert len(cuts) == 1 and "at 8 connections; using 5" in cuts[0], result.stderr
        assert len(echoes) <= 1, result.stderr
        if echoes:  # at or below what the relay allows (2); 1 seen once in CI (B7, open)
            assert echoes[0].endswith(("; using 2", "; using 1")), echoes
        assert received(server) == {f"r{i}@example.org": 1 for i in range(READERS)}
        assert server.max_open <= 2


def test_a_cut_is_no_echo_and_the_refusals_right_after_are() -> None:
    controller = Controller(start=8, ceiling=8)
    first = controller.pushback("421", at=8)
    assert first is not None and not first.echo and first.after == 5
    assert controller.echoing
    echo = controller.pushback("421", at=5)
    assert echo is not None and echo.echo and echo.after == 4
    for _ in range(2):  # this interval and the cooldown
        controller.tick(completed=10, seconds=1.0, saturated=True)
    assert not controller.echoing


def test_a_refusal_counted_below_what_the_relay_just_carried_is_no_lower_limit() -> None:
    """Retrial B7: a relay allowing two sessions stored a ceiling of one. The sequence: five
    open, refused at MAIL down to two (a cut, then echoes), two carried a whole busy interval,
    then a 421 counted at two open (the relay still counted a connection of ours that was
    closing). Before: cut to int(2 x 0.7) = 1, and 1 stored."""
    controller = Controller(start=5, ceiling=8)
    cut = controller.pushback("421 Too many connections", at=5)
    assert cut is not None and cut.after == 3
    assert controller.pushback("421 Too many connections", at=4) is None  # an echo: 3 is <= 3
    echo = controller.pushback("421 Too many connections", at=3)
    assert echo is not None and echo.echo and echo.after == 2
    for _ in range(4):  # the echo window ends; then whole busy intervals at two
        controller.tick(completed=100, seconds=0.5, saturated=True)
    assert controller.limit == 2
    controller.pushback("421 Too many connections", at=2)
    assert controller.limit == 2 and controller.tolerated == 2  # was 1, and 1 stored
    assert controller.proven is None  # the proof lapses with the refusal


def test_a_relay_that_lowers_its_limit_is_followed_down() -> None:
    """What the relay carried is no floor for ever: after a cut it must be shown again."""
    controller = Controller(start=6, ceiling=6)
    for _ in range(3):
        controller.tick(completed=300, seconds=0.5, saturated=True)
    assert controller.proven == 6
    seen = [controller.limit]
    for at in (6, 4, 3, 2, 2):  # the relay now takes one: every new session is refused
        controller.pushback("421 4.7.0 Too many connections", at=at)
        seen.append(controller.limit)
    assert seen[1] == 4  # counted at six open, read as seven: int(7 x 0.7)
    assert controller.limit == 1 and controller.tolerated == 1


def test_only_host_port_and_username_give_a_pool_that_adapts(site: Site) -> None:
    """Issue 15, defaults that serve a relay far away: nothing tuned, yet the pool starts at
    eight, may grow to 32, pipelines, and remembers the relay under host, port and user."""
    from syndicate.config.sections import DEFAULT_MAX_CONNECTIONS

    site.configure(
        '\n[email]\nfrom_name = "Test Letter"\nfrom_address = "letters@news.example.org"\n'
        '\n[lists.weekly]\ntitle = "Weekly"\n'
        '\n[smtp]\nhost = "Relay.Example.net"\nport = 587\nusername = "ann"\n'
    )
    smtp = site.settings.config.smtp
    assert smtp is not None and smtp.security == "starttls" and smtp.pipelining
    policy = make_policy(site.settings)
    assert (policy.connections, policy.max_connections) == (8, DEFAULT_MAX_CONNECTIONS)
    assert DEFAULT_MAX_CONNECTIONS >= 32  # 32 pipelined over 50 ms: the bound is 320 msg/s
    assert policy.relay == "relay.example.net:587 ann"
    assert policy.quota is None and policy.max_connections > policy.connections


@pytest.mark.usefixtures("secret")
def test_a_send_spread_over_processes_stores_what_they_learned_together(site: Site) -> None:
    """Two processes of four connections each against a relay of two: each cuts within its
    share; what is stored is the sum of what each learned (it was the sending process's
    share times two: four, refused again at the next send's start)."""
    with serve_limited_smtp(2, at="greeting") as server:
        # A large send to a near relay: helpers start (the EHLO is timed: 64 connections
        # spread while it takes under 32 ms).
        letter(site, server.port, 3000, connections=8, max_connections=64, processes=2)
        report = send(site)
        if report.processes < 2:
            pytest.skip("the machine is so loaded that the relay seemed far: one process")
        assert report.finished and report.counts == {DeliveryStatus.SENT.value: 3000}
        assert server.max_open <= 2
        learned = stored_ceiling(site)
        assert learned is not None and learned <= 3, (report.processes, learned)
        assert report.connections <= 3


def test_a_probe_refused_again_and_again_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """A long send to a relay of two probes a third connection every 10 s; each refusal
    was a warning of its own ('at 3 connections; using 2', a line per 10 s)."""
    import logging

    from syndicate.delivery.adaptive import Adapter

    controller = Controller(start=2, ceiling=8, known=2, reprobe=3)
    pool = _Pool()
    adapter = Adapter(controller, pool, relay=None)  # type: ignore[arg-type]
    hook = pool.on_pushback
    assert callable(hook)  # what the transport calls
    with caplog.at_level(logging.DEBUG, logger="syndicate.delivery"):
        for _ in range(3):  # held at two, it probes three, and three is refused
            while controller.limit == 2:
                change = controller.tick(completed=100, seconds=0.5, saturated=True)
                if change is not None:
                    adapter._apply(change)
            hook("421 Too many connections", 3)
    said = [r for r in caplog.records if "pushed back" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert said[0].getMessage().endswith("at 3 connections; using 2")
    assert controller.limit == 2
