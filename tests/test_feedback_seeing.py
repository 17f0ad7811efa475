"""What editors see of the feedback: per-send counts of distinct readers, a deliverability
alert only for copies we can match, ``report`` naming who bounced (also in JSON Lines), a
``bounces list`` that says what it left off, and ``--since`` that says what it means."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from syndicate.store import feedback_views as views
from syndicate.store.tables import feedback_events, sends
from tests.conftest import Site
from tests.test_feedback_intake import ADDRESS, cli, dsn, load, maildir, sent

__all__ = ["sent"]  # the fixture, used by name below

Sent = tuple[Site, dict[str, str], dict[str, int]]
SPAMHAUS = "554 5.7.1 blocked by Spamhaus"


def _import(site: Site, folder: Path, messages: list[bytes]) -> str:
    code, output = cli(site, "bounces", "import", str(maildir(folder, messages)))
    assert code == 0, output
    return output


def test_a_reader_bouncing_soft_then_hard_counts_once(sent: Sent, tmp_path: Path) -> None:
    site, senders, _ = sent
    r = [f"r{i}@example.org" for i in range(5)]
    _import(
        site,
        tmp_path / "a",
        [
            dsn(senders[r[0]], r[0], "4.2.2", "452 4.2.2 Mailbox full"),
            dsn(senders[r[0]], r[0], "5.1.1", "550 5.1.1 User unknown"),
            dsn(senders[r[1]], r[1], "5.1.1", "550 5.1.1 User unknown"),
            dsn(senders[r[2]], r[2], "5.1.1", "550 5.1.1 User unknown"),
            dsn(senders[r[3]], r[3], "4.2.2", "452 4.2.2 Mailbox full"),
        ],
    )
    [doc] = json.loads(cli(site, "status", "--json")[1])["sends"]
    feedback = doc["feedback"]
    # 4 readers of 5, not 5 events "(100%)": r0 once (as hard), r3 soft only
    assert feedback["bounces"] == 4 and feedback["bounce_rate"] == 0.8
    assert (feedback["hard_bounces"], feedback["soft_bounces"]) == (3, 1)
    _, shown = cli(site, "status")
    assert "feedback: 4 bounces (80.0%: 3 hard, 1 soft)" in shown


def test_the_deliverability_alert_counts_matched_copies_only(sent: Sent, tmp_path: Path) -> None:
    site, senders, _ = sent
    # Anyone can mail the bounce address: refusals naming strangers, or a reader never mailed
    forged = [dsn(ADDRESS, f"x{i}@example.net", "5.7.1", SPAMHAUS) for i in range(3)]
    forged.append(dsn(ADDRESS, "never@example.org", "5.7.1", SPAMHAUS))
    _import(site, tmp_path / "forged", forged)
    doc = json.loads(cli(site, "status", "--json")[1])
    assert doc["deliverability"] == {"days": 7, "ours": 0, "unmatched": 4}
    _, shown = cli(site, "status")
    assert "deliverability alert" not in shown and "copies refused" not in shown
    assert "4 unmatched reports of refusals for the sender" in shown

    _import(
        site,
        tmp_path / "ours",
        [dsn(senders["r4@example.org"], "r4@example.org", "5.7.1", SPAMHAUS)],
    )
    doc = json.loads(cli(site, "status", "--json")[1])
    assert doc["deliverability"] == {"days": 7, "ours": 1, "unmatched": 4}
    assert "deliverability alert: 1 copy refused" in cli(site, "status")[1]


def test_report_names_who_bounced_and_complained_in_text_and_json(
    sent: Sent, tmp_path: Path
) -> None:
    site, senders, _ = sent
    r0, r1 = "r0@example.org", "r1@example.org"
    _import(
        site,
        tmp_path / "a",
        [
            dsn(senders[r0], r0, "4.2.2", "452 4.2.2 Mailbox full"),
            dsn(senders[r0], r0, "5.1.1", "550 5.1.1 User unknown"),
            dsn(senders[r1], r1, "4.2.2", "452 4.2.2 Mailbox full"),
        ],
    )
    digest = json.loads(cli(site, "status", "--json")[1])["sends"][0]["digest"]
    code, output = cli(site, "report", digest, "--json")
    assert code == 0 and output.strip(), "report --json wrote nothing"
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["kind"] == "send" and lines[0]["digest"] == digest
    assert lines[0]["feedback"]["bounces"] == 2 and lines[0]["counts"]["sent"] == 5
    readers = {x["email"]: x for x in lines if x["kind"] == "feedback"}
    assert set(readers) == {r0, r1}  # one line per reader: r0's hard, not also its soft
    assert (readers[r0]["outcome"], readers[r0]["dsn_status"]) == ("hard", "5.1.1")
    assert readers[r1]["outcome"] == "soft" and readers[r1]["at"]
    assert readers[r0]["effect"].startswith("bounced on")

    code, text = cli(site, "report", digest)
    assert code == 0
    assert "every recipient got it" not in text  # not next to "2 bounces"
    assert "the mail server accepted every copy" in text
    assert "feedback: 2 bounces (40.0%: 1 hard, 1 soft)" in text
    assert f"bounced    {r0}: hard 5.1.1 at " in text
    assert f"bounced    {r1}: soft 4.2.2 at " in text


def _events(site: Site, count: int, *, at: datetime) -> None:
    rows = [
        {
            "event_id": f"made-{i}",
            "source": "dsn",
            "outcome": "hard",
            "recipient": f"x{i}@example.net",
            "diagnostic": "550 5.1.1",
            "matched_by": "",
            "counts": False,
            "note": "no subscriber has this address",
            "received_at": at,
            "effect": "unmatched",
        }
        for i in range(count)
    ]
    with site.engine.begin() as conn:
        conn.execute(insert(feedback_events), rows)


def test_bounces_list_says_what_it_left_off(site: Site) -> None:
    _events(site, 1005, at=datetime.now(UTC) - timedelta(hours=1))
    code, output = cli(site, "bounces", "list", "--since", "1d")
    assert code == 0
    assert len([x for x in output.splitlines() if " hard " in x]) == 1000
    assert "1,000 of 1,005 shown (newest first); narrow with --since" in output
    doc = json.loads(cli(site, "bounces", "list", "--json")[1])
    assert len(doc["events"]) == 1000 and doc["left_off"] == 5
    assert {e["matched_by"] for e in doc["events"]} == {"unmatched"}  # as the text says
    _, few = cli(site, "bounces", "list", "--since", "1d", "--json")
    assert json.loads(few)["left_off"] == 5


def test_bounces_list_since_says_the_time_and_refuses_0d(site: Site) -> None:
    _events(site, 1, at=datetime.now(UTC) - timedelta(hours=1))
    code, output = cli(site, "bounces", "list", "--since", "0d")
    assert code == 2 and "--since" in output and "'0d' is now" in output and "1d" in output
    assert "x0@example.net" in cli(site, "bounces", "list", "--since", "1d")[1]
    code, output = cli(site, "bounces", "list", "--since", "2999-01-01")
    assert code == 0 and "no bounces or complaints since 2999-01-01 00:00 UTC" in output


def test_the_counting_queries_agree_on_both_databases(any_site: Site) -> None:
    ids = load(any_site, ["a@example.org", "b@example.org", "c@example.org"])
    a, b, c = ids["a@example.org"], ids["b@example.org"], ids["c@example.org"]
    now = datetime.now(UTC)
    with any_site.engine.begin() as conn:
        send = conn.execute(
            insert(sends)
            .values(list_name="weekly", digest_id="weekly-1", status="done", created_at=now)
            .returning(sends.c.id)
        ).scalar_one()
        rows = [
            # (subscriber, send, outcome, counts)
            (a, send, "soft", True),
            (a, send, "hard", True),
            (a, send, "hard", True),  # the same bounce from another path
            (b, send, "soft", True),
            (c, send, "hard", False),  # not trusted: not counted
            (c, send, "complaint", True),
            (a, send, "ours", True),
            (b, None, "ours", True),  # a provider's signed event, no send named
            (None, None, "ours", False),  # anyone's mail
            (c, None, "ours", False),  # a reader never mailed in the window
        ]
        conn.execute(
            insert(feedback_events),
            [
                {
                    "event_id": f"q{i}",
                    "source": "dsn",
                    "outcome": outcome,
                    "diagnostic": "",
                    "subscriber_id": who,
                    "send_id": which,
                    "matched_by": "token" if who else "",
                    "counts": counts,
                    "note": "",
                    "received_at": now - timedelta(minutes=len(rows) - i),
                }
                for i, (who, which, outcome, counts) in enumerate(rows)
            ],
        )
    with any_site.engine.connect() as conn:
        found = views.per_send(conn, send)
        readers = views.readers_of_send(conn, send)
        refused = views.refusals(conn, since=now - timedelta(days=7))
        total = views.listed_total(conn, since=now - timedelta(days=7))
    assert (found.bounced, found.hard, found.soft) == (2, 1, 1)
    assert (found.complained, found.ours) == (1, 1)
    assert [(r.email, r.outcome) for r in readers] == [
        ("a@example.org", "hard"),
        ("a@example.org", "ours"),
        ("b@example.org", "soft"),
        ("c@example.org", "complaint"),
    ]
    assert (refused.copies, refused.unmatched) == (2, 2)
    assert total == len(rows)


def test_subscribers_show_lists_a_readers_feedback(sent: Sent, tmp_path: Path) -> None:
    site, senders, _ = sent
    r0, r1 = "r0@example.org", "r1@example.org"
    _import(
        site,
        tmp_path / "a",
        [
            dsn(senders[r0], r0, "4.2.2", "452 4.2.2 Mailbox full"),
            dsn(ADDRESS, r1, "5.1.1", "550 5.1.1 User unknown"),  # no token: by address
        ],
    )
    code, shown = cli(site, "subscribers", "show", r0)
    assert code == 0, shown
    assert "feedback: 1 report (newest first)" in shown
    [line] = [x for x in shown.splitlines() if "soft 4.2.2" in x]
    assert "[token]" in line and "soft bounce 1 of 3" in line and "Mailbox full" in line
    doc = json.loads(cli(site, "subscribers", "show", r0, "--json")[1])
    [event] = doc["feedback"]
    assert (event["outcome"], event["dsn_status"], event["matched_by"]) == (
        "soft",
        "4.2.2",
        "token",
    )
    assert event["trusted"] is True and event["send"]
    code, other = cli(site, "subscribers", "show", "r2@example.org")
    assert code == 0 and "feedback:" not in other  # none for a reader without any
