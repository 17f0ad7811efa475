"""``syndicate subscribers``: what each command says about the people it touched.

Runs on SQLite, and on PostgreSQL when SYNDICATE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.store import subscribers as repo
from syndicate.store.tables import deliveries, sends
from tests.conftest import NOW, Site

LISTS = '\n[lists.weekly]\ntitle = "Weekly"\n\n[lists.briefing]\ntitle = "Briefing"\n'


@pytest.fixture
def lists_site(any_site: Site) -> Site:
    any_site.configure(LISTS)
    return any_site


def cli(site: Site, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def write_csv(site: Site, name: str, text: str) -> str:
    path = site.root / "subscribers" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path.relative_to(site.root))


def test_import_keeps_stored_values_and_says_so_per_row(
    lists_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(lists_site.root)
    first = write_csv(lists_site, "weekly.csv", "email,name,city\nada@example.org,Ada,London\n")
    assert cli(lists_site, "subscribers", "import", "weekly", first)[0] == 0
    again = write_csv(
        lists_site,
        "weekly2.csv",
        "email,name,city,topics\ngrace@example.org,Grace,,\nada@example.org,Ada L.,Paris,trade\n",
    )
    code, out, err = cli(lists_site, "subscribers", "import", "weekly", again)
    assert code == 0
    assert err.splitlines() == [
        "subscribers/weekly2.csv:3: ada@example.org: name 'Ada' kept (file says 'Ada L.'); "
        "use --update to overwrite; city 'London' kept (file says 'Paris'); use --update to "
        "overwrite; topics set to trade"
    ]
    # Not one more count beside "unchanged"/"updated" (which would add up to more rows than
    # the file has): a remark on rows already counted.
    assert out.strip().endswith(
        "; 0 rows rejected; in 1 row the stored values were kept (see above; --update "
        "overwrites them)"
    ), out
    assert "kept their stored values" not in out and "1 new subscriber," in out
    with lists_site.engine.connect() as conn:
        ada = repo.subscriber_by_key(conn, "ada@example.org", "weekly")
    assert ada is not None and ada.name == "Ada" and dict(ada.attributes) == {"city": "London"}
    assert ada.topics == ("trade",)
    code, out, err = cli(lists_site, "subscribers", "import", "weekly", again, "--update")
    assert code == 0
    assert err.splitlines() == [
        "subscribers/weekly2.csv:3: ada@example.org: name 'Ada' → 'Ada L.'; city 'London' → 'Paris'"
    ]
    with lists_site.engine.connect() as conn:
        ada = repo.subscriber_by_key(conn, "ada@example.org", "weekly")
    assert ada is not None and ada.name == "Ada L." and dict(ada.attributes) == {"city": "Paris"}


def test_import_says_which_status_changed_and_which_stayed(lists_site: Site) -> None:
    cli(lists_site, "subscribers", "import", "weekly", "-", stdin="email\nada@example.org\n")
    cli(lists_site, "subscribers", "remove", "weekly", "ada@example.org")
    csv_text = "email,status\nada@example.org,active\n"
    code, _, err = cli(lists_site, "subscribers", "import", "weekly", "-", stdin=csv_text)
    assert code == 0
    assert err.splitlines() == [
        "<stdin>:2: ada@example.org: stays unsubscribed on weekly (file says active); "
        "use --resubscribe if they asked to come back"
    ]
    _, _, err = cli(
        lists_site, "subscribers", "import", "weekly", "-", "--resubscribe", stdin=csv_text
    )
    assert err.splitlines() == ["<stdin>:2: ada@example.org: unsubscribed → active on weekly"]


def test_plurals_in_the_import_summary(lists_site: Site) -> None:
    code, out, _ = cli(
        lists_site, "subscribers", "import", "weekly", "-", stdin="email\nada@example.org\n"
    )
    assert code == 0
    assert out.strip() == (
        "1 of 1 row stored: 1 new subscriber, 1 subscribed, 0 resubscribed, 0 updated, "
        "0 unchanged, 0 kept unsubscribed; 0 rows rejected"
    )


def test_a_file_with_nothing_importable_says_nothing_was_imported(lists_site: Site) -> None:
    # "0 of 0 rows stored: …; 1 row rejected" for a bad header read as if a row were bad.
    csv_text = "Email Address;First Name\nada@example.org;Ada\n"
    code, out, err = cli(lists_site, "subscribers", "import", "weekly", "-", stdin=csv_text)
    assert code == 1
    assert 'rename "Email Address" to email' in err
    assert out.strip() == "nothing imported from <stdin>: 1 problem (above)"
    code, out, _ = cli(lists_site, "subscribers", "import", "weekly", "-", stdin="email\nx\ny\n")
    assert code == 1
    assert out.strip() == "nothing imported from <stdin>: 2 problems (above)"


def test_add_answers_about_that_subscriber(lists_site: Site) -> None:
    add = ("subscribers", "add")
    code, out, _ = cli(lists_site, *add, "weekly", "Ada@Example.org", "--name", "Ada")
    assert (code, out.strip()) == (0, "added Ada@example.org to weekly (active)")
    code, out, _ = cli(lists_site, *add, "weekly", "ada@example.org")
    assert (code, out.strip()) == (
        0,
        "Ada@example.org is already active on weekly; nothing changed",
    )
    code, out, _ = cli(lists_site, *add, "weekly", "ada@example.org", "--name", "Ada L.")
    assert (code, out.strip()) == (0, "Ada@example.org is active on weekly; name 'Ada' → 'Ada L.'")
    code, out, _ = cli(lists_site, *add, "briefing", "ada@example.org", "--pending")
    assert (code, out.strip()) == (0, "added Ada@example.org to briefing (pending)")
    code, out, _ = cli(lists_site, *add, "briefing", "ada@example.org")
    assert (code, out.strip()) == (0, "Ada@example.org: pending → active on briefing")
    cli(lists_site, "subscribers", "remove", "briefing", "ada@example.org")
    code, _, err = cli(lists_site, *add, "briefing", "ada@example.org")
    assert code == 1 and "stays so; nothing changed; pass --resubscribe" in err
    code, out, _ = cli(lists_site, *add, "briefing", "ada@example.org", "--resubscribe")
    assert (code, out.strip()) == (0, "Ada@example.org: unsubscribed → active on briefing")


def test_international_addresses_are_shown_in_unicode(lists_site: Site) -> None:
    code, out, _ = cli(lists_site, "subscribers", "add", "weekly", "alan@Bücher.example")
    assert (code, out.strip()) == (0, "added alan@bücher.example to weekly (active)")
    code, out, _ = cli(lists_site, "subscribers", "list", "weekly")
    assert out.startswith("alan@bücher.example\tactive")
    code, out, _ = cli(lists_site, "subscribers", "show", "alan@bücher.example")
    assert out.startswith("alan@bücher.example") and "sent as alan@xn--bcher-kva.example" in out
    code, _, err = cli(
        lists_site,
        "subscribers",
        "import",
        "weekly",
        "-",
        stdin="email,name\nalan@xn--bcher-kva.example,Alan\nalan@bücher.example,Al\n",
    )
    assert "<stdin>:2: alan@bücher.example: name set to 'Alan'" in err
    assert "<stdin>:3: duplicate of line 2; skipped" in err
    code, out, _ = cli(lists_site, "subscribers", "remove", "weekly", "alan@bücher.example")
    assert out.strip() == "alan@bücher.example: active → unsubscribed on weekly"
    # Scripts get the stored form, which is what mail carries.
    code, out, _ = cli(lists_site, "subscribers", "list", "weekly", "--json")
    assert json.loads(out)["email"] == "alan@xn--bcher-kva.example"


def test_json_is_one_object_or_json_lines(lists_site: Site) -> None:
    cli(
        lists_site,
        "subscribers",
        "import",
        "weekly",
        "-",
        stdin="email,topics\nada@example.org,trade\nbob@example.org,\n",
    )
    code, out, _ = cli(lists_site, "subscribers", "list", "weekly", "--json")
    assert code == 0
    lines = out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"email": "ada@example.org", "name": None, "status": "active", "topics": ["trade"]},
        {"email": "bob@example.org", "name": None, "status": "active", "topics": []},
    ]
    assert all(": " not in line for line in lines)  # compact: one record per line
    code, out, _ = cli(lists_site, "subscribers", "count", "--json")
    doc = json.loads(out)
    assert doc["lists"]["weekly"]["active"] == 2 and doc["lists"]["briefing"]["active"] == 0
    code, out, _ = cli(lists_site, "subscribers", "show", "ada@example.org", "--json")
    doc = json.loads(out)
    assert (
        isinstance(doc, dict) and doc["deliveries"] == [] and doc["lists"] == {"weekly": "active"}
    )


def test_show_includes_the_delivery_history(lists_site: Site) -> None:
    cli(lists_site, "subscribers", "add", "weekly", "ada@example.org")
    with lists_site.engine.begin() as conn:
        ada = repo.subscriber_by_key(conn, "ada@example.org")
        assert ada is not None
        for n, (status, code, reply) in enumerate(
            [("sent", 250, "2.0.0 Ok: queued as 4F2A"), ("failed", 550, "5.1.1 No such user")],
            start=1,
        ):
            at = NOW + timedelta(days=7 * n)
            send_id = conn.execute(
                sends.insert().returning(sends.c.id),
                {
                    "list_name": "weekly",
                    "digest_id": f"weekly-{n}",
                    "status": "done",
                    "created_at": at,
                },
            ).scalar_one()
            conn.execute(
                deliveries.insert(),
                {
                    "send_id": send_id,
                    "subscriber_id": ada.id,
                    "variant": "[]",
                    "status": status,
                    "attempts": n,
                    "next_attempt_at": at,
                    "last_code": code,
                    "last_reply": reply,
                    "updated_at": at,
                },
            )
    code, out, _ = cli(lists_site, "subscribers", "show", "ada@example.org")
    assert code == 0
    assert "deliveries: 2 copies" in out
    assert "2026-12-11 09:00 weekly-2: failed after 2 attempts 550 5.1.1 No such user" in out
    assert "2026-12-04 09:00 weekly-1: sent 250 2.0.0 Ok: queued as 4F2A" in out
    assert out.index("weekly-2") < out.index("weekly-1")  # newest first
    code, out, _ = cli(lists_site, "subscribers", "show", "ada@example.org", "--json")
    doc = json.loads(out)
    assert doc["deliveries"][0] == {
        "list": "weekly",
        "digest": "weekly-2",
        "at": "2026-12-11T09:00:00+00:00",
        "status": "failed",
        "attempts": 2,
        "code": 550,
        "reply": "5.1.1 No such user",
    }
