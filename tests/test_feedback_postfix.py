"""End to end with a real Postfix (Debian's package, its own config and queue folder):
syndicate sends through it with VERP return paths; the relay behind it refuses one reader;
Postfix mails its DSN to that copy's return path, handed over by SMTP or by LMTP to the
bounce listener of ``[bounces] listen``; that reader ends ``bounced`` and nobody else
changes."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicate.delivery.smtp import SmtpSettings, SmtpTransport
from syndicate.feedback.inbound import listen_protocol
from syndicate.feedback.inbound import start as start_listener
from syndicate.models import Status
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.tables import subscribers
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_send import CONFIG, SECRET, article, fast, run_send

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
pytestmark = pytest.mark.skipif(
    not Path(POSTFIX).exists() or os.geteuid() != 0,
    reason="needs Debian's postfix package and root (Postfix starts as root)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quiet(*args: str) -> subprocess.CompletedProcess[bytes]:
    # Postfix reports on a terminal or syslog only: `script` gives it a terminal.
    return subprocess.run(
        ["script", "-qc", " ".join(args), "/dev/null"], capture_output=True, timeout=60
    )


def master_cf(smtpd_port: int) -> str:
    """Debian's master.cf with no chroot and smtpd on our own port."""
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            if fields[:2] == ["smtp", "inet"]:
                fields[0] = f"127.0.0.1:{smtpd_port}"
            fields[4] = "n"
            line = " ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(params=["smtp", "lmtp"])
def postfix(request: pytest.FixtureRequest) -> Iterator[tuple[int, int, SmtpServer]]:
    """A Postfix relaying to an aiosmtpd sink, bounces for news.example.org handed over to a
    port by SMTP or LMTP (the param): (Postfix's port, the bounce port, the sink)."""
    # Postfix's own processes run as the postfix user: pytest's tmp_path (0700) is closed to it.
    root = Path(tempfile.mkdtemp(prefix="syndicate-postfix-"))
    root.chmod(0o755)
    etc, data = root / "etc", root / "data"
    for folder in (etc, data, root / "queue"):
        folder.mkdir(parents=True)
    shutil.chown(data, "postfix")
    smtpd, bounce_port = free_port(), free_port()
    handover = (
        f"lmtp:inet:[127.0.0.1]:{bounce_port}"
        if request.param == "lmtp"
        else f"smtp:[127.0.0.1]:{bounce_port}"
    )
    with serve_smtp() as sink:
        (etc / "master.cf").write_text(master_cf(smtpd))
        (etc / "main.cf").write_text(
            f"""compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {data}
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mx.postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{sink.port}
transport_maps = inline:{{ news.example.org={handover} }}
smtp_dns_support_level = disabled
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
alias_maps =
local_recipient_maps =
"""
        )
        started = _quiet(POSTFIX, "-c", str(etc), "start")
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", smtpd)) == 0:
                        break
                time.sleep(0.1)
            else:
                log = (root / "maillog").read_text() if (root / "maillog").exists() else ""
                pytest.fail(f"Postfix did not start: {started.stdout!r} {log}")
            yield smtpd, bounce_port, sink
        finally:
            _quiet(POSTFIX, "-c", str(etc), "stop")
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)


def test_postfix_bounces_an_unknown_recipient_and_the_reader_ends_bounced(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    postfix: tuple[int, int, SmtpServer],
    request: pytest.FixtureRequest,
) -> None:
    smtpd, bounce_port, sink = postfix
    protocol = request.node.callspec.params["postfix"]  # how Postfix hands bounces over
    sink.set_fault("gone@*", "rcpt-5xx")
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(
        CONFIG
        + '\n[bounces]\naddress = "bounces@news.example.org"\n'
        + f'listen = "{protocol}://127.0.0.1:{bounce_port}"\n'
    )
    article(site, "first", datetime.now(UTC) - timedelta(days=1))
    csv = "email\ngone@example.net\nada@example.org\ngrace@example.org\n"
    import_rows(
        site.engine,
        "weekly",
        read_rows(io.BytesIO(csv.encode()), "in.csv"),
        now=datetime.now(UTC) - timedelta(days=30),
    )
    settings = site.settings
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener = asyncio.run_coroutine_threadsafe(
        start_listener(
            site.engine, settings, "127.0.0.1", bounce_port, protocol=listen_protocol(settings)
        ),
        loop,
    ).result(10)
    try:
        postfix_relay = SmtpSettings(
            host="127.0.0.1",
            port=smtpd,
            security="none",
            username=None,
            password=None,
            timeout=10.0,
            connections=2,
        )
        report = run_send(site, lambda: SmtpTransport(postfix_relay), fast())
        assert report.counts.get("sent") == 3  # Postfix took all three

        def statuses() -> dict[str, Status]:
            with site.engine.connect() as conn:
                ids = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
                return {
                    email: subscriber_repo.subscriptions_of(conn, sid)["weekly"]
                    for email, sid in ids.items()
                }

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and statuses()["gone@example.net"] is Status.ACTIVE:
            time.sleep(0.2)
        assert statuses() == {
            "gone@example.net": Status.BOUNCED,
            "ada@example.org": Status.ACTIVE,
            "grace@example.org": Status.ACTIVE,
        }

        # Postfix relays the delivered copies on its own schedule: the bounce may come first.
        def relayed() -> set[str]:
            return {r for m in sink.messages for r in m.recipients}

        while time.monotonic() < deadline and len(relayed()) < 2:
            time.sleep(0.2)
        assert relayed() == {"ada@example.org", "grace@example.org"}
    finally:

        async def close() -> None:
            listener.close()
            await listener.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
