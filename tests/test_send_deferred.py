"""Issue 12, item 3: one deferred address never blocks the list.

While a recipient keeps answering 451, the next digest is prepared and sent at once; the old
send's deferred copies are retried in the background (here: by the next `send`, without
waiting). Only a send interrupted before every copy was tried is resumed first. `sends`
lists sends by digest id, `sends abandon` stops one, `report` lists who did not get it.
Real parts: the CLI, an aiosmtpd server with injected faults, the site's store."""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Policy, Sender, SendReport
from syndicate.delivery.setup import make_transport
from syndicate.store.tables import digests
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"


def config(port: int) -> str:
    return weekly_site_config(port, timeout=5, wait_for_retries=0)


def wall() -> datetime:
    return datetime.now(UTC)


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def article(site: Site, name: str, title: str, published: datetime) -> None:
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write(f"{name}.md", f"---\ntitle: {title}\ndate: {stamp}\n---\n\nText.\n")


def received(server: SmtpServer) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.recipients)


def subjects(server: SmtpServer, address: str) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for m in server.messages
        if address in m.recipients
        for line in m.data.decode().split("\r\n")
        if line.startswith("Subject:")
    ]


def made_earlier(site: Site) -> None:
    """Date the digests made so far an hour back, so an article of a minute ago is new."""
    with site.engine.begin() as conn:
        for digest_id, created in conn.execute(select(digests.c.id, digests.c.created_at)).all():
            conn.execute(
                update(digests)
                .where(digests.c.id == digest_id)
                .values(created_at=created - timedelta(hours=1))
            )


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


@pytest.fixture
def letter(any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Site:
    site = any_site
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(config(server.port))
    article(site, "alpha", "Alpha story", wall() - timedelta(days=1))
    csv = "email,name\nada@example.org,Ada\nbusy@example.org,Busy\n"
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=30)).problems
    return site


def test_the_next_digest_goes_out_while_an_old_send_still_retries(
    letter: Site, server: SmtpServer
) -> None:
    server.set_fault("busy@example.org", "rcpt-4xx")
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 3, stderr  # sent, one copy deferred: retried in the background
    assert "retried in the background" in stdout
    assert received(server) == {"ada@example.org": 1}

    made_earlier(letter)
    article(letter, "beta", "Beta story", wall() - timedelta(minutes=1))
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline", "--json")
    assert code == 3, stderr + stdout
    doc = json.loads(stdout)
    assert doc["digest"] == "weekly-2" and not doc["resumed"]  # not held back by weekly-1
    assert doc["counts"] == {"sent": 1, "deferred": 1}
    assert "resuming" not in stderr
    # the new issue carries only the new article: nothing is mailed twice
    assert subjects(server, "ada@example.org") == ["Weekly: Alpha story", "Weekly: Beta story"]

    code, stdout, stderr = cli(letter, "sends", "weekly", "--json")
    assert code == 0, stderr
    listed = {s["digest"]: s for s in json.loads(stdout)["sends"]}
    assert listed["weekly-1"]["status"] == "retrying"
    assert listed["weekly-1"]["counts"] == {"deferred": 1, "sent": 1}
    assert listed["weekly-2"]["status"] == "retrying"

    code, stdout, stderr = cli(letter, "sends", "abandon", "weekly-1")
    assert code == 0, stderr
    assert "weekly-1 abandoned: 1 copy will not be sent" in stdout
    code, stdout, stderr = cli(letter, "report", "weekly-1", "--json")
    assert code == 0, stderr
    [row] = [r for r in map(json.loads, stdout.splitlines()) if r["kind"] == "delivery"]
    assert row["email"] == "busy@example.org" and row["status"] == "abandoned"
    assert row["code"] == 451 and "Mailbox busy" in row["reply"]
    code, _, stderr = cli(letter, "sends", "abandon", "weekly-1")
    assert code == 1 and "weekly-1 is abandoned: nothing to stop" in stderr
    code, _, stderr = cli(letter, "sends", "abandon", "weekly-9")
    assert code == 1 and "no send of 'weekly-9'" in stderr

    # busy's server recovers: the next send retries weekly-2's copy (due: backoff is
    # measured from the answer) — abandoned weekly-1's is never sent.
    with server.handler._lock:
        server.handler._faults.clear()
    report = run_engine(letter, clock=lambda: wall() + timedelta(hours=2))
    assert report.nothing_new and report.retried == {"weekly-2": {"sent": 2}}
    assert received(server) == {"ada@example.org": 2, "busy@example.org": 1}
    assert subjects(server, "busy@example.org") == ["Weekly: Beta story"]
    code, stdout, _ = cli(letter, "sends", "--json")
    assert {s["digest"]: s["status"] for s in json.loads(stdout)["sends"]} == {
        "weekly-1": "abandoned",
        "weekly-2": "done",
    }


def run_engine(site: Site, *, clock: object, deliver: bool = True) -> SendReport:
    settings = site.settings
    articles = read_site(settings, site.engine, now=wall(), offline=True).articles

    async def go() -> SendReport:
        transport = make_transport(settings)
        sender = Sender(
            settings,
            site.engine,
            transport,
            Signer(SECRET),
            clock=clock,  # type: ignore[arg-type]
            policy=Policy(wait_for_retries=timedelta(0)),
        )
        try:
            return await sender.run("weekly", articles, deliver=deliver)
        finally:
            await transport.close()

    return asyncio.run(go())


def test_a_send_interrupted_before_every_copy_was_tried_is_resumed_first(
    letter: Site, server: SmtpServer
) -> None:
    queued = run_engine(letter, clock=wall, deliver=False)  # as if killed before delivering
    assert queued.counts == {"queued": 2} and received(server) == {}
    made_earlier(letter)
    article(letter, "beta", "Beta story", wall() - timedelta(minutes=1))
    code, stdout, stderr = cli(letter, "send", "weekly", "--dry-run", "--offline")
    assert code == 0, stderr
    assert "would resume weekly-1 (interrupted): 2 copies not tried yet" in stdout

    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stderr
    assert "resuming weekly-1, interrupted while sending" in stderr
    assert "send 1" not in stderr + stdout  # the internal id is nobody's business
    assert "resumed weekly-1: 2 sent (finished)" in stdout
    assert subjects(server, "ada@example.org") == ["Weekly: Alpha story"]

    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stderr  # now the next issue, with the article that came meanwhile
    assert subjects(server, "ada@example.org") == ["Weekly: Alpha story", "Weekly: Beta story"]
