"""store/search.py: prefix search over address and name, list/status filters, keyset pages."""

from __future__ import annotations

import pytest

from syndicate.models import Source, Status
from syndicate.store import open_store
from syndicate.store import subscribers as repo
from syndicate.store.search import Cursor, CursorError, address_keys, search_subscribers
from syndicate.subscribers.address import normalize_address
from tests.conftest import NOW, Site


def _seed(site: Site) -> dict[str, int]:
    people = [
        ("ann@example.org", "Ann Lee"),
        ("bob@example.org", "Émile Zola"),
        ("carol@other.test", None),
        ("ANNA@other.test", "Anna Karenina"),
        ("dave@example.org", "Dave"),
    ] + [(f"user{i:02d}@bulk.test", f"Bulk {i}") for i in range(23)]
    with site.engine.begin() as conn:
        ids = repo.insert_subscribers(
            conn,
            [
                repo.NewSubscriber(email=e, key=e.casefold(), name=n, attributes=())
                for e, n in people
            ],
            now=NOW,
        )
        changes = [
            repo.Change(
                subscriber_id=ids[key],
                list_name="news",
                status=Status.ACTIVE if i % 3 else Status.UNSUBSCRIBED,
                previous=None,
                source=Source.CLI,
            )
            for i, key in enumerate(sorted(ids))
        ]
        changes.append(
            repo.Change(
                subscriber_id=ids["carol@other.test"],
                list_name="weekly",
                status=Status.PENDING,
                previous=None,
                source=Source.CLI,
            )
        )
        repo.apply_changes(conn, changes, now=NOW)
    return ids


def _emails(site: Site, **kw: object) -> list[str]:
    with site.engine.connect() as conn:
        page = search_subscribers(
            conn,
            text=kw.get("text"),  # type: ignore[arg-type]
            list_name=kw.get("list_name"),  # type: ignore[arg-type]
            status=kw.get("status"),  # type: ignore[arg-type]
            after=None,
            limit=100,
        )
    return [r.email for r in page.items]


def test_prefix_of_address_or_name_case_insensitive(any_site: Site) -> None:
    _seed(any_site)
    assert _emails(any_site, text="ANN") == ["ann@example.org", "ANNA@other.test"]
    assert _emails(any_site, text="émile") == ["bob@example.org"]
    assert _emails(any_site, text="  Anna K") == ["ANNA@other.test"]
    assert _emails(any_site, text="nobody") == []
    assert _emails(any_site, text="%") == []  # no LIKE wildcards
    assert _emails(any_site, text="example") == []  # a prefix, not a substring


def test_filters_by_list_and_status(any_site: Site) -> None:
    ids = _seed(any_site)
    assert _emails(any_site, list_name="weekly") == ["carol@other.test"]
    assert _emails(any_site, status="pending") == ["carol@other.test"]
    active = _emails(any_site, list_name="news", status="active")
    with any_site.engine.connect() as conn:
        stored = dict(repo.iter_list(conn, "news"))
    assert sorted(active) == sorted(s.email for s, st in stored.items() if st is Status.ACTIVE)
    assert active == sorted(active, key=lambda e: ids[e.casefold()])  # id order
    assert _emails(any_site, list_name="news", status="active", text="carol") == []
    assert _emails(any_site, list_name="nope") == []


def test_pages_walk_every_row_once(any_site: Site) -> None:
    ids = _seed(any_site)
    seen: list[int] = []
    after = None
    with any_site.engine.connect() as conn:
        while True:
            page = search_subscribers(
                conn, text=None, list_name=None, status=None, after=after, limit=4
            )
            seen += [r.id for r in page.items]
            if page.next is None:
                break
            after = Cursor.decode(page.next.encode())
    assert seen == sorted(ids.values())
    assert len(page.items) == len(ids) % 4 or len(page.items) == 4


def test_page_rows_carry_their_lists(site: Site) -> None:
    _seed(site)
    with site.engine.connect() as conn:
        page = search_subscribers(
            conn, text="carol", list_name=None, status=None, after=None, limit=1
        )
    assert page.next is None
    assert page.items[0].lists == (("news", Status.ACTIVE), ("weekly", Status.PENDING)) or (
        page.items[0].lists == (("news", Status.UNSUBSCRIBED), ("weekly", Status.PENDING))
    )


@pytest.mark.parametrize("bad", ["", "s1.", "s1.@@", "x1.12", "s1.1F", "s1." + "1" * 16, "s1.-1"])
def test_foreign_cursors_are_refused(bad: str) -> None:
    with pytest.raises(CursorError):
        Cursor.decode(bad)


def test_limit_is_bounded(site: Site) -> None:
    with site.engine.connect() as conn, pytest.raises(ValueError, match="limit"):
        search_subscribers(conn, text=None, list_name=None, status=None, after=None, limit=101)


def test_migration_fills_name_keys_of_a_store_with_data(tmp_path: object) -> None:
    from pathlib import Path

    from alembic import command
    from sqlalchemy import text

    from syndicate.store.engine import _alembic_config

    assert isinstance(tmp_path, Path)
    engine = open_store(f"sqlite:///{tmp_path / 'old.db'}", migrate=False)
    cfg = _alembic_config(engine)
    command.upgrade(cfg, "0021")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, created_at, attributes)"
                " VALUES ('x@y.test', 'x@y.test', 'ÅSA Berg', '2026-01-01 00:00:00', '[]')"
            )
        )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        page = search_subscribers(
            conn, text="åsa", list_name=None, status=None, after=None, limit=5
        )
    assert [r.email for r in page.items] == ["x@y.test"]
    engine.dispose()


def test_a_cursor_past_every_id_is_the_empty_last_page(any_site: Site) -> None:
    _seed(any_site)
    for after in (2**31 - 2, 2**31, 2**59):
        with any_site.engine.connect() as conn:
            page = search_subscribers(
                conn,
                text="a",
                list_name=None,
                status="active",
                after=Cursor(after_id=after),
                limit=10,
            )
        assert page.items == () and page.next is None


def test_a_common_prefix_filters_rows_in_order_and_finds_the_same(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(any_site)
    cases = [
        {"text": "user"},
        {"text": "bulk 1"},
        {"text": "user", "list_name": "news", "status": "active"},
        {"text": "ANN"},
    ]
    looked_up = [_emails(any_site, **kw) for kw in cases]
    assert all(looked_up[:3])
    monkeypatch.setattr("syndicate.store.search.DENSE", 2)  # every prefix is "common" now
    assert [_emails(any_site, **kw) for kw in cases] == looked_up


def test_the_migration_down_and_up_keeps_every_subscription(db_url: str) -> None:
    from alembic import command

    from syndicate.store.engine import _alembic_config

    engine = open_store(db_url)
    try:
        with engine.begin() as conn:
            ids = repo.insert_subscribers(
                conn,
                [repo.NewSubscriber(email="k@y.test", key="k@y.test", name="Kay", attributes=())],
                now=NOW,
            )
            change = repo.Change(
                subscriber_id=ids["k@y.test"],
                list_name="news",
                status=Status.ACTIVE,
                previous=None,
                source=Source.CLI,
            )
            repo.apply_changes(conn, [change], now=NOW)
        cfg = _alembic_config(engine)
        command.downgrade(cfg, "0021")
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert repo.subscriptions_of(conn, ids["k@y.test"]) == {"news": Status.ACTIVE}
            page = search_subscribers(
                conn, text="kay", list_name=None, status=None, after=None, limit=5
            )
        assert [r.email for r in page.items] == ["k@y.test"]
    finally:
        engine.dispose()


IDN = ["zoë@exämple.de", "ada@bücher.example", "ann@example.org", "ann@exé.org"]


def _seed_idn(site: Site) -> None:
    with site.engine.begin() as conn:
        repo.insert_subscribers(
            conn,
            [
                repo.NewSubscriber(email=a.email, key=a.key, name=None, attributes=())
                for a in map(normalize_address, IDN)
            ],
            now=NOW,
        )


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("zoë@exämple.de", ["zoë@xn--exmple-cua.de"]),
        ("Zoë@EXÄMPLE.de", ["zoë@xn--exmple-cua.de"]),
        ("zoë@exämple.", ["zoë@xn--exmple-cua.de"]),
        ("zoë@exä", ["zoë@xn--exmple-cua.de"]),  # a part of a label: its Punycode is no prefix
        ("zoë@xn--exmple", ["zoë@xn--exmple-cua.de"]),
        ("ada@bücher", ["ada@xn--bcher-kva.example"]),
        ("ada@bücher.ex", ["ada@xn--bcher-kva.example"]),
        ("ada@büch.", []),  # a whole label that is not theirs
        ("ann@ex", ["ann@example.org", "ann@xn--ex-cja.org"]),
        ("ann@exa", ["ann@example.org"]),
        ("ann@exé", ["ann@xn--ex-cja.org"]),
        ("ann@exé.org", ["ann@xn--ex-cja.org"]),
        ("ann@", ["ann@example.org", "ann@xn--ex-cja.org"]),
        ("zoë@exb", []),
        ("@exä", []),
    ],
)
def test_an_address_prefix_finds_idn_domains_in_either_form(
    any_site: Site, monkeypatch: pytest.MonkeyPatch, text: str, found: list[str]
) -> None:
    _seed_idn(any_site)
    assert sorted(_emails(any_site, text=text)) == found
    monkeypatch.setattr("syndicate.store.search.DENSE", 1)  # filtered rows: the same answer
    assert sorted(_emails(any_site, text=text)) == found


def test_address_keys_encode_whole_labels_and_keep_text_without_an_at() -> None:
    stored = normalize_address("Zoë@Exämple.DE").key
    keys = address_keys("ZOË@EXÄMPLE.DE")
    assert any(stored.startswith(k) for k in keys)
    assert address_keys("Zoë Lee") == ("zoë lee",)
    assert address_keys("a@" + "ä" * 300) == ("a@" + "ä" * 300,)  # too long: matches nothing
