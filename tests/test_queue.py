"""Issue 16: approval before a scheduled send, and one-off scheduled sends (``send --at``).

Real parts: an aiosmtpd server that receives both the editors' previews (through the
outbox) and the readers' copies, the CLI, the service's job bodies (``Work``) with an
injected clock, SQLite and PostgreSQL. Nothing sleeps; time is moved by the clock.
"""

from __future__ import annotations

import asyncio
import email
import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from syndicate.cli import main
from syndicate.cli.queue import parse_at
from syndicate.config import parse_config
from syndicate.delivery.outbox import OutboxSender
from syndicate.delivery.setup import make_transport
from syndicate.errors import ConfigError, SyndicateError
from syndicate.service import scheduler as sched
from syndicate.service.work import Work
from syndicate.store import open_store
from syndicate.store import queued as queued_repo
from syndicate.store.queued import QueuedStatus
from syndicate.store.tables import digests, queued_sends
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp

SECRET = "test-secret-0123456789abcdef"
EDITORS = ("desk@news.example.org", "chief@news.example.org")
READERS = ("ada@example.org", "grace@example.org")
BERLIN = ZoneInfo("Europe/Berlin")


def config(port: int, *, approve: bool, extra: str = "") -> str:
    editors = ", ".join(f'"{e}"' for e in EDITORS)
    return (
        '\n[email]\nfrom_name = "Test Letter"\nfrom_address = "letters@news.example.org"\n'
        f"editors = [{editors}]\n\n"
        f'[lists.weekly]\ntitle = "Weekly"\napprove = {str(approve).lower()}\n'
        f'timezone = "Europe/Berlin"\n{extra}\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 5\n'
    )


class Clock:
    """The injected clock: starts at the wall clock (as the CLI's), moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def article(site: Site, name: str, title: str, published: datetime) -> None:
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write(f"{name}.md", f"---\ntitle: {title}\ndate: {stamp}\n---\n\nText of {title}.\n")


def setup_site(
    site: Site,
    server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    *,
    approve: bool,
    extra: str = "",
) -> Clock:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(config(server.port, approve=approve, extra=extra))
    clock = Clock()
    csv = "email,name\n" + "".join(f"{e},\n" for e in READERS)
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=clock.now - timedelta(days=30)).problems
    article(site, "alpha", "Alpha", clock.now - timedelta(days=1))
    return clock


def work_for(site: Site, clock: Clock) -> Work:
    return Work(site.settings, site.engine, Signer(SECRET), clock=clock)


def run(work: Work, job: Callable[[], object]) -> None:
    async def go() -> None:
        sched.register(work)
        try:
            await job()  # type: ignore[misc]
        finally:
            sched.register(None)

    asyncio.run(go())


def outbox_round(site: Site, clock: Clock) -> None:
    async def go() -> None:
        transport = make_transport(site.settings)
        try:
            await OutboxSender(site.engine, transport, clock=clock).run_round()
        finally:
            await transport.close()

    asyncio.run(go())


def got(server: SmtpServer) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.recipients)


def mails_to(server: SmtpServer, who: str) -> list[Message]:
    return [email.message_from_bytes(m.data) for m in server.messages if who in m.recipients]


def body(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def cli(site: Site, *args: str) -> Result:
    return CliRunner().invoke(main, ["--site", str(site.root), *args])


def rows(site: Site) -> list[queued_repo.QueuedRow]:
    with site.engine.connect() as conn:
        return queued_repo.with_status(conn, list(QueuedStatus))


# --- approval -----------------------------------------------------------------------------


def test_editors_get_the_preview_and_readers_get_exactly_it_once_approved(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=True)
    work = work_for(site, clock)
    run(work, lambda: sched.run_digest("weekly"))  # the schedule fires
    outbox_round(site, clock)
    assert got(server) == Counter(EDITORS)  # the preview; nothing to readers
    preview = mails_to(server, EDITORS[0])[0]
    assert "Alpha" in preview["Subject"]
    assert "/test-copy/unsubscribe" in body(preview)  # inert links: a test copy
    assert preview["Message-ID"].startswith("<weekly-1.test-")  # never a reader's

    status = cli(site, "status")
    assert status.exit_code == 0, status.output
    assert "weekly-1 waits for approval until" in status.stdout
    assert "`syndicate approve weekly` sends it" in status.stdout
    doc = json.loads(cli(site, "status", "--json").stdout)
    (waiting,) = doc["queued"]
    assert waiting["status"] == "awaiting" and waiting["digest"] == "weekly-1"
    assert datetime.fromisoformat(waiting["waits_until"]) == clock.now + timedelta(hours=12)

    # While it waits: an article is edited, another one appears. Neither reaches the
    # approved digest: readers get what the editors saw.
    clock.now += timedelta(minutes=30)
    article(site, "alpha", "Alpha, edited", clock.now - timedelta(days=1))
    article(site, "beta", "Beta", clock.now - timedelta(minutes=1))
    run(work, sched.run_queued)  # nothing approved yet: nothing sent
    assert got(server) == Counter(EDITORS)
    refused = cli(site, "send", "weekly", "--yes")  # a send now would take its issue
    assert refused.exit_code == 1 and "weekly-1 of weekly waits for approval" in refused.output

    approved = cli(site, "approve", "weekly")
    assert approved.exit_code == 0, approved.output
    assert "weekly-1 approved" in approved.stdout
    run(work, sched.run_queued)
    assert got(server) == Counter(EDITORS) + Counter(READERS)
    copy = mails_to(server, READERS[0])[0]
    assert copy["Subject"] == preview["Subject"].removeprefix("[for approval] ")
    assert "Alpha" in body(copy) and "Alpha, edited" not in body(copy)
    assert "Beta" not in body(copy)
    run(work, sched.run_queued)  # once
    assert got(server) == Counter(EDITORS) + Counter(READERS)
    (row,) = rows(site)
    assert row.status is QueuedStatus.SENT and row.digest_id == "weekly-1"

    # What appeared while it waited is new for the next digest (the edit was mailed once).
    clock.now += timedelta(minutes=30)
    run(work, lambda: sched.run_digest("weekly"))
    outbox_round(site, clock)
    previews = mails_to(server, EDITORS[0])
    assert len(previews) == 2 and "Beta" in previews[1]["Subject"]
    assert "Alpha" not in body(previews[1])
    nothing = cli(site, "approve", "daily")
    assert nothing.exit_code == 2  # an undeclared list: a configuration error


def test_reject_sends_nothing_and_the_articles_stay_new(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=True)
    work = work_for(site, clock)
    run(work, lambda: sched.run_digest("weekly"))
    rejected = cli(site, "reject", "weekly")
    assert rejected.exit_code == 0, rejected.output
    assert "weekly-1 rejected: nothing was sent" in rejected.stdout
    clock.now += timedelta(minutes=1)
    run(work, sched.run_queued)
    outbox_round(site, clock)
    assert got(server) == Counter(EDITORS)  # the preview only
    with site.engine.connect() as conn:
        assert conn.execute(select(digests.c.id)).all() == []  # no issue number taken

    for command in ("approve", "reject"):
        again = cli(site, command, "weekly")
        assert again.exit_code == 1
        assert "nothing waits for approval on weekly" in again.stderr

    # The next time the schedule fires, the same articles are prepared again, as weekly-1.
    clock.now += timedelta(minutes=1)
    run(work, lambda: sched.run_digest("weekly"))
    (waiting,) = [r for r in rows(site) if r.status is QueuedStatus.AWAITING]
    assert waiting.digest_id == "weekly-1"
    listed = cli(site, "sends", "weekly")
    assert "rejected 1: weekly-1" in listed.stdout and "rejected by" in listed.stdout


@pytest.mark.parametrize("on_timeout", ["skip", "send", None])
def test_nobody_answers_the_timeout_decides(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch, on_timeout: str | None
) -> None:
    site = any_site
    extra = 'approve_timeout = "2h"\n' + (f'on_timeout = "{on_timeout}"\n' if on_timeout else "")
    clock = setup_site(site, server, monkeypatch, approve=True, extra=extra)
    work = work_for(site, clock)
    run(work, lambda: sched.run_digest("weekly"))
    clock.now += timedelta(hours=2) - timedelta(seconds=1)
    run(work, sched.run_queued)  # a second before the deadline: still waits
    assert rows(site)[0].status is QueuedStatus.AWAITING
    clock.now += timedelta(seconds=1)
    run(work, sched.run_queued)
    (row,) = rows(site)
    if on_timeout == "send":
        assert row.status is QueuedStatus.SENT
        assert got(server) == Counter(READERS)
    else:  # "skip", the documented default
        assert row.status is QueuedStatus.SKIPPED and "nobody approved it" in (row.detail or "")
        assert got(server) == Counter()
        late = cli(site, "approve", "weekly")
        assert late.exit_code == 1 and "nothing waits for approval" in late.stderr
        shown = cli(site, "sends", "weekly")
        assert "skipped 1: weekly-1" in shown.stdout and "on_timeout = skip" in shown.stdout
        # trial16 U5: the deadline in the list's zone, as the rest of the line (not UTC)
        deadline = clock.now.astimezone(BERLIN)
        assert f"nobody approved it by {deadline:%Y-%m-%d %H:%M:%S %Z}" in shown.stdout
        assert " UTC" not in shown.stdout


def test_approve_needs_editors() -> None:
    text = (
        '[publication]\ntitle = "T"\nbase_url = "https://x.example"\n'
        '[email]\nfrom_name = "T"\nfrom_address = "a@x.example"\n'
        '[lists.weekly]\ntitle = "W"\napprove = true\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.problems == [
        "syndicate.toml: lists.weekly.approve: true needs [email] editors, the addresses that "
        'get the preview to approve (e.g. editors = ["desk@example.org"]); add them or set '
        "approve = false"
    ]
    bad = text.replace("approve = true", 'approve = true\napprove_timeout = "soon"')
    with pytest.raises(ConfigError) as caught:
        parse_config(bad.replace("[lists", 'editors = ["d@x.example"]\n[lists'))
    assert (
        "lists.weekly.approve_timeout: must be a duration such as '12h'" in caught.value.problems[0]
    )


# --- one-off scheduled sends --------------------------------------------------------------


def test_at_parses_the_lists_zone_and_refuses_what_cannot_be_meant() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_at("2026-12-24 08:00", BERLIN, now=now) == datetime(2026, 12, 24, 7, tzinfo=UTC)
    assert parse_at("2026-12-24T08:00+00:00", BERLIN, now=now) == datetime(
        2026, 12, 24, 8, tzinfo=UTC
    )
    assert parse_at("2026-12-24T08:00Z", BERLIN, now=now) == datetime(2026, 12, 24, 8, tzinfo=UTC)
    cases = {
        "next tuesday": "not a date and time",
        "2026-12-24": "give a time of day as well",
        "2026-11-30 08:00": "that time has passed",
        "2027-03-28 02:30": "does not exist in Europe/Berlin",
        "2027-10-31 02:30": "happens twice in Europe/Berlin",
        "9" * 10_000: "not a date and time",
        "0001-01-01 00:30": "give a year between 2026 and 9000",
        "9999-12-31T23:59-05:00": "give a year between 2026 and 9000",
    }
    for text, said in cases.items():
        with pytest.raises(SyndicateError, match=said) as caught:
            parse_at(text, BERLIN, now=now)
        assert len(str(caught.value)) < 400  # a hostile value is not echoed whole


def test_send_at_goes_out_once_when_due_and_cancel_works(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=False)
    due = (clock.now + timedelta(hours=1)).astimezone(BERLIN)
    queued = cli(site, "send", "weekly", "--at", f"{due:%Y-%m-%d %H:%M}")
    assert queued.exit_code == 0, queued.output
    assert f"queued 1: the next digest of weekly at {due:%Y-%m-%d %H:%M} CET" in queued.stdout
    assert "`syndicate sends cancel 1` cancels it" in queued.stderr
    doc = json.loads(cli(site, "sends", "--json").stdout)
    assert doc["sends"] == [] and doc["queued"][0]["status"] == "queued"
    assert datetime.fromisoformat(doc["queued"][0]["due"]) == due.replace(second=0)

    apart = due + timedelta(minutes=2)  # the same time is refused: see below
    second = cli(site, "send", "weekly", "--at", f"{apart:%Y-%m-%d %H:%M}", "--json")
    assert json.loads(second.stdout)["id"] == 2
    cancelled = cli(site, "sends", "cancel", "2")
    assert cancelled.exit_code == 0 and "queued send 2 (the next digest" in cancelled.stdout
    assert cli(site, "sends", "cancel", "2").exit_code == 1  # nothing left to cancel

    work = work_for(site, clock)
    run(work, sched.run_queued)  # an hour early: nothing
    assert got(server) == Counter()
    clock.now = due.replace(second=0).astimezone(UTC)
    run(work, sched.run_queued)
    assert got(server) == Counter(READERS)
    run(work, sched.run_queued)
    assert got(server) == Counter(READERS)  # once
    shown = cli(site, "sends", "weekly")
    assert (
        "sent 1: the next digest of weekly, due" in shown.stdout
        and "went out as weekly-1" in shown.stdout
    )
    assert "cancelled 2:" in shown.stdout


@pytest.mark.parametrize(
    ("down_for", "sent"), [(timedelta(hours=2), True), (timedelta(hours=7), False)]
)
def test_a_restart_spanning_the_time_sends_it_within_grace_only(
    any_site: Site,
    server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    down_for: timedelta,
    sent: bool,
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=False)  # misfire_grace: 6 h
    due = clock.now + timedelta(minutes=5)
    assert cli(site, "send", "weekly", "--at", due.isoformat()).exit_code == 0
    run(work_for(site, clock), sched.run_queued)  # the first run stops before it is due
    # A new process (new engine, new Work) starts after the time passed.
    clock.now = due + down_for
    engine = open_store(site.settings.database_url)
    try:
        later = Work(site.settings, engine, Signer(SECRET), clock=clock)
        run(later, sched.run_queued)
        run(later, sched.run_queued)
    finally:
        engine.dispose()
    (row,) = rows(site)
    if sent:
        assert got(server) == Counter(READERS) and row.status is QueuedStatus.SENT
    else:
        assert got(server) == Counter()
        assert row.status is QueuedStatus.SKIPPED and row.detail is not None
        assert "missed: due" in row.detail and "misfire_grace" in row.detail
        shown = cli(site, "sends")
        assert "skipped 1:" in shown.stdout and "missed: due" in shown.stdout


def test_two_runs_racing_start_it_once(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=False)
    due = clock.now + timedelta(minutes=1)
    assert cli(site, "send", "weekly", "--at", due.isoformat()).exit_code == 0
    (row,) = rows(site)  # both runs saw it queued and due
    clock.now = due
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def one_run() -> None:
        engine = open_store(site.settings.database_url)
        try:
            work = Work(site.settings, engine, Signer(SECRET), clock=clock)
            barrier.wait()
            asyncio.run(work.sendqueue.start(row))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert got(server) == Counter(READERS)  # one copy each
    with site.engine.connect() as conn:
        assert conn.execute(select(digests.c.id)).scalars().all() == ["weekly-1"]
        assert conn.execute(select(queued_sends.c.status)).scalars().all() == ["sent"]


def test_a_claim_left_by_a_dead_process_is_taken_over(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=False)
    assert (
        cli(
            site, "send", "weekly", "--at", (clock.now + timedelta(minutes=1)).isoformat()
        ).exit_code
        == 0
    )
    clock.now += timedelta(minutes=2)
    dead = f"{__import__('socket').gethostname()}:999999999"
    with site.engine.begin() as conn:  # as if a run claimed it, then died before recording
        conn.execute(
            queued_sends.update().values(status="starting", claimed_by=dead, claimed_at=clock.now)
        )
    run(work_for(site, clock), sched.run_queued)
    assert got(server) == Counter(READERS)
    assert rows(site)[0].status is QueuedStatus.SENT


def test_a_queued_send_of_an_approval_list_waits_for_approval(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=True)
    due = clock.now + timedelta(minutes=10)
    queued = cli(site, "send", "weekly", "--at", due.isoformat())
    assert "waits for approval: at" in queued.stderr and "2 editors" in queued.stderr
    assert "sends it then" not in queued.stderr  # it is sent once approved, not then
    work = work_for(site, clock)
    clock.now = due
    run(work, sched.run_queued)
    outbox_round(site, clock)
    assert got(server) == Counter(EDITORS)
    (row,) = rows(site)
    assert row.status is QueuedStatus.AWAITING and row.digest_id == "weekly-1"
    assert cli(site, "approve", "weekly").exit_code == 0
    run(work, sched.run_queued)
    assert got(server) == Counter(EDITORS) + Counter(READERS)


def test_a_template_mistake_skips_the_queued_send_and_says_why(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=True)
    (site.root / "templates").mkdir()
    (site.root / "templates" / "digest.txt.j2").write_text("{% if %}\n", encoding="utf-8")
    due = clock.now + timedelta(minutes=1)
    assert cli(site, "send", "weekly", "--at", due.isoformat()).exit_code == 0
    clock.now = due
    work = work_for(site, clock)
    run(work, sched.run_queued)
    run(work, sched.run_queued)  # not tried again
    outbox_round(site, clock)
    assert got(server) == Counter()  # no preview of a digest that cannot be rendered
    (row,) = rows(site)
    assert row.status is QueuedStatus.SKIPPED
    assert row.detail is not None and "templates/digest.txt.j2:1" in row.detail


@given(st.text(max_size=120))
def test_at_never_fails_but_with_a_clear_error(text: str) -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    try:
        when = parse_at(text, BERLIN, now=now)
    except SyndicateError as exc:
        assert str(exc).startswith("--at ")
    else:
        assert when.tzinfo is not None and when > now


def test_send_at_with_article_mails_that_article_once_when_due(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=True)  # approval holds digests only
    article(site, "beta", "Beta", clock.now - timedelta(hours=2))
    due = (clock.now + timedelta(hours=1)).astimezone(BERLIN)
    at = f"{due:%Y-%m-%d %H:%M}"
    unknown = cli(site, "send", "weekly", "--at", at, "--article", "no-such-article")
    assert unknown.exit_code != 0 and "no-such-article" in unknown.output
    queued = cli(site, "send", "weekly", "--at", at, "--article", "alpha", "--json")
    assert queued.exit_code == 0, queued.output
    doc = json.loads(queued.stdout)
    assert doc["kind"] == "article" and doc["article"] and doc["status"] == "queued"

    work = work_for(site, clock)
    clock.now = due.replace(second=0).astimezone(UTC)
    run(work, sched.run_queued)
    assert got(server) == Counter(READERS)  # no preview: the editor picked the article
    subjects = {m["Subject"] for who in READERS for m in mails_to(server, who)}
    assert subjects == {"Alpha"}
    assert "Text of Alpha." in body(mails_to(server, READERS[0])[0])
    run(work, sched.run_queued)
    assert got(server) == Counter(READERS)  # once

    again = cli(site, "send", "weekly", "--at", at, "--article", "alpha")
    assert again.exit_code != 0 and "--again" in again.output  # the list had it
    later = (clock.now + timedelta(hours=1)).astimezone(BERLIN)
    queued = cli(site, "send", "weekly", "--at", f"{later:%Y-%m-%d %H:%M}", "--article",
                 "alpha", "--again")  # fmt: skip
    assert queued.exit_code == 0, queued.output
    clock.now = later.replace(second=0).astimezone(UTC)
    run(work, sched.run_queued)
    assert got(server) == Counter({r: 2 for r in READERS})


def test_reject_after_approve_refuses_and_the_digest_goes_out(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=True)
    work = work_for(site, clock)
    run(work, lambda: sched.run_digest("weekly"))
    assert cli(site, "approve", "weekly").exit_code == 0
    late = cli(site, "reject", "weekly")
    assert late.exit_code == 1
    assert "weekly-1 is approved already and about to go out" in late.stderr
    run(work, sched.run_queued)
    outbox_round(site, clock)
    assert got(server) == Counter(EDITORS) + Counter(READERS)
    assert rows(site)[0].status is QueuedStatus.SENT


def test_approve_with_post_mode_is_a_config_error() -> None:
    text = (
        '[publication]\ntitle = "T"\nbase_url = "https://x.example"\n'
        '[email]\nfrom_name = "T"\nfrom_address = "a@x.example"\neditors = ["d@x.example"]\n'
        '[lists.posts]\ntitle = "P"\napprove = true\nmode = "post"\n'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    (problem,) = caught.value.problems
    assert "lists.posts" in problem and 'mode = "post" mails no digests' in problem


def test_post_list_queue_says_articles_cancel_keeps_the_schedule_and_note_refused(
    site: Site,
    server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=False, extra='mode = "post"\n')
    due = (clock.now + timedelta(hours=1)).astimezone(BERLIN)
    at = f"{due:%Y-%m-%d %H:%M}"
    queued = cli(site, "send", "weekly", "--at", at)
    assert queued.exit_code == 0, queued.output
    assert "queued 1: the new articles of weekly at" in queued.stdout
    assert "digest" not in queued.output
    assert "the new articles of weekly, due" in cli(site, "sends").stdout
    note = site.root / "note.md"
    note.write_text("A note.\n", encoding="utf-8")
    later = f"{due + timedelta(hours=1):%Y-%m-%d %H:%M}"
    refused = cli(site, "send", "weekly", "--at", later, "--note", str(note))
    assert refused.exit_code == 1 and "--note goes with digests" in refused.stderr
    cancelled = cli(site, "sends", "cancel", "1")
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout.startswith(f"queued send 1 (the new articles of weekly, due {at} CET)")
    assert "the list's schedule is unchanged" in cancelled.stdout
    assert "will not be sent" not in cancelled.stdout
    # Due with nothing new: the skip says "post", not "digest".
    assert cli(site, "send", "weekly", "--at", later).exit_code == 0
    work = work_for(site, clock)
    clock.now = (due + timedelta(hours=1)).replace(second=0).astimezone(UTC)
    run(work, sched.run_queued)
    run(work, sched.run_queued)
    clock.now += timedelta(minutes=1)
    assert (
        cli(
            site, "send", "weekly", "--at", (clock.now + timedelta(minutes=5)).isoformat()
        ).exit_code
        == 0
    )
    clock.now += timedelta(minutes=5)
    caplog.set_level(logging.INFO)
    caplog.clear()
    run(work, sched.run_queued)
    skipped = [r for r in rows(site) if r.status is QueuedStatus.SKIPPED]
    assert [r.detail for r in skipped] == ["nothing new since the last post; nothing sent"]
    # trial16 U6: the skip is logged once, not by the send and again by the queue
    said = [r for r in caplog.records if "nothing new since the last post" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]


def test_a_second_send_queued_for_the_same_time_is_refused_naming_the_first(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=True)
    due = (clock.now + timedelta(hours=1)).astimezone(BERLIN)
    at = f"{due:%Y-%m-%d %H:%M}"
    assert cli(site, "send", "weekly", "--at", at).exit_code == 0
    second = cli(site, "send", "weekly", "--at", at, "--article", "alpha")
    assert second.exit_code == 1
    assert f"queued send 1 (the next digest of weekly at {at} CET)" in second.stderr
    assert "`syndicate sends cancel 1`" in second.stderr
    apart = f"{due + timedelta(minutes=1):%Y-%m-%d %H:%M}"
    # --again: the digest queued a minute before would carry Alpha too (refused without).
    third = cli(site, "send", "weekly", "--at", apart, "--article", "alpha", "--again")
    assert third.exit_code == 0, third.output
    assert f"not held for approval: an article queued on its own goes to readers at {apart}" in (
        third.stderr
    )
    assert [r.status for r in rows(site)] == [QueuedStatus.QUEUED, QueuedStatus.QUEUED]


def test_a_queued_article_waits_for_no_digest_held_for_approval(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=True)
    work = work_for(site, clock)
    at = clock.now + timedelta(minutes=5)
    queued = cli(site, "send", "weekly", "--at", at.isoformat(), "--article", "alpha")
    assert queued.exit_code == 0, queued.output
    run(work, lambda: sched.run_digest("weekly"))  # weekly-1 waits for approval
    clock.now = at
    run(work, sched.run_queued)
    outbox_round(site, clock)
    assert got(server) == Counter(EDITORS)  # the preview only: the article waited for it
    by_status = {r.status: r for r in rows(site)}
    assert by_status[QueuedStatus.AWAITING].digest_id == "weekly-1"  # not made stale
    detail = by_status[QueuedStatus.SKIPPED].detail or ""
    assert "weekly-1 of weekly waited for approval" in detail
    assert cli(site, "approve", "weekly").exit_code == 0
    run(work, sched.run_queued)
    assert got(server) == Counter(EDITORS) + Counter(READERS)


def test_approve_and_reject_on_a_list_without_approval_say_so(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_site(site, server, monkeypatch, approve=False)
    for command in ("approve", "reject"):
        said = cli(site, command, "weekly")
        assert said.exit_code == 1
        assert "weekly does not ask for approval (approve = true is not set" in said.stderr


def test_sends_lists_what_waits_first_and_shows_again(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=False)
    soon = clock.now + timedelta(minutes=5)
    assert cli(site, "send", "weekly", "--at", soon.isoformat()).exit_code == 0
    late = clock.now + timedelta(hours=3)
    assert cli(site, "send", "weekly", "--at", late.isoformat(), "--article", "alpha",
               "--again").exit_code == 0  # fmt: skip
    clock.now = soon
    run(work_for(site, clock), sched.run_queued)  # 1 is sent, 2 still queued
    lines = cli(site, "sends").stdout.splitlines()
    assert lines[0].startswith("queued 2: article ") and " (--again), due " in lines[0]
    assert lines[1].startswith("sent 1: the next digest of weekly, due ")
    assert lines[1].endswith(", went out as weekly-1")
    docs = json.loads(cli(site, "sends", "--json").stdout)["queued"]
    assert [(d["id"], d["again"]) for d in docs] == [(2, True), (1, False)]


def html_of(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def test_the_preview_says_it_waits_for_approval_and_has_no_archive_link(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=True, extra='approve_timeout = "2h"\n')
    work = work_for(site, clock)
    run(work, lambda: sched.run_digest("weekly"))
    outbox_round(site, clock)
    preview = mails_to(server, EDITORS[0])[0]
    assert preview["Subject"].startswith("[for approval] ")
    until = f"{(clock.now + timedelta(hours=2)).astimezone(BERLIN):%Y-%m-%d %H:%M} CET"
    text, page = body(preview), html_of(preview)
    first = text.split("\n\n")[0]
    assert f"waits until {until}, then it is skipped" in " ".join(first.split())
    for part in (" ".join(text.split()), page):
        assert "`syndicate approve weekly`" in part and "`syndicate reject weekly`" in part
        assert "/archive/weekly/1.html" not in part and "in your browser" not in part
    assert (
        page.index("<body") < page.index("For approval:") < page.index("Alpha", page.index("<body"))
    )
    assert cli(site, "approve", "weekly").exit_code == 0
    run(work, sched.run_queued)
    copy = mails_to(server, READERS[0])[0]  # the readers' copy is the digest as it was
    assert copy["Subject"] == preview["Subject"].removeprefix("[for approval] ")
    assert "/archive/weekly/1.html" in body(copy) and "For approval" not in body(copy)


def test_a_queued_article_mailed_meanwhile_says_to_queue_it_again(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=False)
    at = clock.now + timedelta(minutes=5)
    assert cli(site, "send", "weekly", "--at", at.isoformat(), "--article", "alpha").exit_code == 0
    now = cli(site, "send", "weekly", "--article", "alpha", "--yes")
    assert now.exit_code == 0, now.output
    clock.now = at
    run(work_for(site, clock), sched.run_queued)
    (row,) = [r for r in rows(site) if r.status is QueuedStatus.SKIPPED]
    assert row.detail is not None and "queue it again with --again" in row.detail
    assert "add --again" not in row.detail


def test_approve_or_reject_while_run_starts_the_approved_digest_says_it_is_being_sent(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # trial16 U0: while `run` had claimed the approved digest, approve/reject said "nothing
    # waits for approval", as if there had never been one.
    clock = setup_site(site, server, monkeypatch, approve=True)
    work = work_for(site, clock)
    run(work, lambda: sched.run_digest("weekly"))
    assert cli(site, "approve", "weekly").exit_code == 0
    (approved,) = rows(site)
    with site.engine.begin() as conn:  # another `run` claims it to start the send
        assert queued_repo.claim(conn, approved, "host:1:other", now=clock.now)
    for command in ("approve", "reject"):
        result = cli(site, command, "weekly")
        assert result.exit_code == 1
        assert "weekly-1 is being sent now (approved by " in result.stderr, result.stderr
        assert "`syndicate sends weekly` shows its progress" in result.stderr
    assert rows(site)[0].status is QueuedStatus.STARTING  # neither changed anything


@pytest.mark.parametrize("extra", [("--to", "me@example.org"), ("--dry-run",), ("--workers",)])
def test_at_with_to_dry_run_or_workers_is_a_usage_error(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...]
) -> None:
    # trial16 U9: exit 1 without click's usage banner, unlike every other --at mistake.
    clock = setup_site(site, server, monkeypatch, approve=False)
    due = (clock.now + timedelta(hours=1)).isoformat()
    result = cli(site, "send", "weekly", "--at", due, *extra)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr and "send --help' for help" in result.stderr
    assert "--at queues the send for later: it goes without --to" in result.stderr
    assert rows(site) == []  # nothing queued


@pytest.mark.parametrize("approve", [True, False])
def test_send_now_on_an_approval_list_says_it_skips_approval(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch, approve: bool
) -> None:
    """trial17 F6: `send LIST --yes` on an ``approve = true`` list mailed readers at once
    without a word; it says so first (as the prompt does), and how to hold it instead."""
    setup_site(site, server, monkeypatch, approve=approve)
    said = "weekly has approve = true: `send` sends now, without approval"
    asked = CliRunner().invoke(main, ["--site", str(site.root), "send", "weekly"], input="n\n")
    assert asked.exit_code == 1 and got(server) == Counter()
    if approve:
        assert said in asked.stderr
        assert asked.stderr.index(said) < asked.stderr.index("Send weekly-1 to")  # before asking
        assert "`syndicate send weekly --at TIME` to queue it" in asked.stderr
    else:
        assert "approve = true" not in asked.stderr
    sent = cli(site, "send", "weekly", "--yes")
    assert sent.exit_code == 0, sent.output
    assert (said in sent.stderr) is approve
    assert got(server) == Counter(READERS)
    again = cli(site, "send", "weekly", "--yes")  # nothing new: nothing sent, nothing said
    assert said not in again.stderr
