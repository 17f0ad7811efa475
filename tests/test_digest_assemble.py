"""Digest assembly: what is new for a list, per topic set, and what the store remembers."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from syndicate.config import MailingList, parse_config
from syndicate.content.reader import read_site
from syndicate.digest.assemble import EVERYTHING, ListState, assemble, new_articles, versions
from syndicate.digest.prepare import prepare
from syndicate.models import Article, Teaser
from syndicate.store import digests as repo
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import NOW, Site

PUBLICATION = parse_config(
    '[publication]\ntitle = "Letter"\nbase_url = "https://news.example.org"\n'
).publication


def article(n: int, *, tags: tuple[str, ...] = (), related: tuple[Teaser, ...] = ()) -> Article:
    when = NOW - timedelta(days=n)
    return Article(
        id=f"a{n}",
        source="content",
        key=f"a{n}.md",
        slug=f"a{n}",
        title=f"Article {n}",
        url=f"https://news.example.org/a{n}/",
        published=when,
        updated=None,
        first_seen=when,
        author=None,
        author_bio=None,
        teaser=f"Teaser {n}",
        tags=tags,
        image=None,
        image_credit=None,
        html="<p>x</p>",
        related=related,
        content_hash=f"h{n}",
    )


FRESH = ListState(issue=1, last_sent=None, sent_ids=frozenset())


def test_new_means_after_the_last_send_and_never_sent() -> None:
    arts = [article(n) for n in range(1, 6)]
    state = ListState(
        issue=3, last_sent=NOW - timedelta(days=4, hours=12), sent_ids=frozenset({"a2"})
    )
    found = new_articles(arts, MailingList(title="W"), state)
    assert [a.id for a in found] == ["a1", "a3", "a4"]  # newest first; a2 sent; a5 too old


def test_list_tags_filter_case_insensitively() -> None:
    arts = [article(1, tags=("Trade",)), article(2, tags=("culture",)), article(3)]
    found = new_articles(arts, MailingList(title="B", tags=["trade"]), FRESH)
    assert [a.id for a in found] == ["a1"]


def test_cap_lead_more_and_ids() -> None:
    arts = new_articles([article(n) for n in range(1, 16)], MailingList(title="W"), FRESH)
    cfg = MailingList(title="W", max_articles=4, lead_articles=2)
    d = assemble(
        "weekly",
        cfg,
        arts,
        state=ListState(issue=7, last_sent=None, sent_ids=frozenset()),
        publication=PUBLICATION,
        now=NOW,
    )
    assert [a.id for a in d.lead] == ["a1", "a2"]
    assert [a.id for a in d.rest] == ["a3", "a4"]
    assert d.more == 11
    assert (d.id, d.issue) == ("weekly-7", 7)
    assert d.archive_url == "https://news.example.org/archive/weekly/7.html"
    assert d.more_url == "https://news.example.org/"


def test_also_block_dedupes_against_the_digest_and_itself() -> None:
    inside = Teaser(title="Article 2", excerpt="…", url="https://news.example.org/a2/")
    other = Teaser(title="Elsewhere", excerpt="e…", url="https://news.example.org/old/")
    dead = Teaser(title="Gone", excerpt="g…", url="https://news.example.org/gone/")
    unlinked = Teaser(title="Unknown", excerpt="u…")
    arts = [article(1, related=(inside, other, dead, unlinked)), article(2, related=(other,))]
    d = assemble(
        "weekly",
        MailingList(title="W"),
        arts,
        state=FRESH,
        publication=PUBLICATION,
        known_urls=frozenset({a.url for a in arts} | {other.url}),
        now=NOW,
    )
    assert [(t.title, t.url) for t in d.also] == [
        ("Elsewhere", "https://news.example.org/old/"),
        ("Gone", None),  # a page the site does not have: shown, not linked
        ("Unknown", None),
    ]


def test_one_version_per_topic_set() -> None:
    arts = [article(1, tags=("trade",)), article(2, tags=("energy",)), article(3)]
    sets = [frozenset({"trade"}), frozenset({"energy", "trade"}), frozenset({"trade"}), EVERYTHING]
    out = versions(
        "weekly", MailingList(title="W"), arts, sets, state=FRESH, publication=PUBLICATION, now=NOW
    )
    assert len(out) == 3
    assert [a.id for a in out[frozenset({"trade"})].articles] == ["a1"]
    assert [a.id for a in out[frozenset({"energy", "trade"})].articles] == ["a1", "a2"]
    assert [a.id for a in out[EVERYTHING].articles] == ["a1", "a2", "a3"]
    assert out[EVERYTHING].topics is None


@pytest.fixture
def digest_site(site: Site) -> Site:
    site.configure('\n[lists.weekly]\ntitle = "Weekly"\n')
    for n, tags in ((1, "[trade]"), (2, "[energy]"), (3, "[]")):
        site.write(f"a{n}.md", f"---\ntitle: A{n}\ndate: 2026-11-0{n}\ntags: {tags}\n---\n\nx\n")
    return site


def test_prepare_reads_topics_and_remembers_sends(digest_site: Site) -> None:
    rows = read_rows(
        io.BytesIO(
            b"email,topics\nt@example.org,Trade\nu@example.org,trade\ne@example.org,energy\n"
            b"all@example.org,\n"
        ),
        "s.csv",
    )
    import_rows(digest_site.engine, "weekly", rows, now=NOW)
    arts = read_site(digest_site.settings, digest_site.engine, now=NOW, offline=True).articles
    first = prepare(digest_site.settings, digest_site.engine, "weekly", arts, now=NOW)
    assert first.audience == {frozenset({"trade"}): 2, frozenset({"energy"}): 1, EVERYTHING: 1}
    assert len(first.digests) == 3
    assert first.state.issue == 1
    whole = first.digests[EVERYTHING]
    with digest_site.engine.begin() as conn:
        repo.record_digest(
            conn,
            digest_id=whole.id,
            list_name="weekly",
            issue=1,
            created=NOW,
            article_ids=[a.id for a in whole.articles],
        )
        repo.mark_sent(conn, whole.id, NOW)
    again = prepare(
        digest_site.settings, digest_site.engine, "weekly", arts, now=NOW + timedelta(days=1)
    )
    assert again.state.issue == 2
    assert again.fresh == ()  # everything was sent already
    digest_site.write("a4.md", "---\ntitle: A4\ndate: 2026-11-28\n---\n\nx\n")
    later = NOW + timedelta(days=2)
    arts = read_site(digest_site.settings, digest_site.engine, now=later, offline=True).articles
    third = prepare(digest_site.settings, digest_site.engine, "weekly", arts, now=later)
    assert [a.title for a in third.fresh] == ["A4"]


def test_issue_numbers_are_per_list(digest_site: Site) -> None:
    with digest_site.engine.begin() as conn:
        repo.record_digest(
            conn, digest_id="weekly-1", list_name="weekly", issue=1, created=NOW, article_ids=[]
        )
        assert repo.next_issue(conn, "weekly") == 2
        assert repo.next_issue(conn, "other") == 1
        # A digest counts from when it was made, sent or still being sent: what is published
        # while its retries run belongs in the next one.
        assert repo.last_sent(conn, "weekly") == NOW
        assert repo.last_sent(conn, "other") is None


def _send(site: Site, digest_id: str, issue: int, ids: list[str], at: datetime) -> None:
    with site.engine.begin() as conn:
        repo.record_digest(
            conn, digest_id=digest_id, list_name="weekly", issue=issue, created=at, article_ids=ids
        )
        repo.mark_sent(conn, digest_id, at)


def test_an_article_added_after_a_send_but_dated_before_it_is_new(digest_site: Site) -> None:
    """Backdated: written earlier (or already on the website), added after last night's send."""
    settings, engine = digest_site.settings, digest_site.engine
    arts = read_site(settings, engine, now=NOW, offline=True).articles
    first = prepare(settings, engine, "weekly", arts, now=NOW)
    _send(digest_site, "weekly-1", 1, [a.id for a in first.fresh], NOW)
    later = NOW + timedelta(hours=12)
    digest_site.write("late.md", "---\ntitle: Late\ndate: 2026-11-26T18:00:00Z\n---\n\nx\n")
    arts = read_site(settings, engine, now=later, offline=True).articles
    nxt = prepare(settings, engine, "weekly", arts, now=later)
    assert [a.title for a in nxt.fresh] == ["Late"]
    # Once mailed, never again; and the old articles, first seen long ago, are not re-mailed.
    _send(digest_site, "weekly-2", 2, [a.id for a in nxt.fresh], later)
    arts = read_site(settings, engine, now=later + timedelta(days=1), offline=True).articles
    assert prepare(settings, engine, "weekly", arts, now=later + timedelta(days=1)).fresh == ()


def test_new_uses_first_seen_or_published_whichever_is_later() -> None:
    sent = NOW - timedelta(days=1)
    backdated = replace(article(3), first_seen=NOW)  # dated 3 days ago, first seen now
    old = article(5)  # dated and first seen 5 days ago: mailed to nobody, but not new
    scheduled = replace(article(9), published=NOW)  # seen 9 days ago, published now
    state = ListState(issue=2, last_sent=sent, sent_ids=frozenset())
    found = new_articles([backdated, old, scheduled], MailingList(title="W"), state)
    assert [a.id for a in found] == ["a9", "a3"]
    # The first digest of a new list: everything not yet mailed, within the cap.
    assert len(new_articles([backdated, old, scheduled], MailingList(title="W"), FRESH)) == 3


def test_an_imported_archive_does_not_flood_the_next_digest() -> None:
    """First seen today but dated long before the last send (an old archive imported, a new
    remote source): not news. Within `backdated_within` it is; the setting moves the line."""
    sent = NOW - timedelta(days=1)
    yesterday = replace(article(2), first_seen=NOW)
    last_year = replace(article(400), first_seen=NOW)
    state = ListState(issue=2, last_sent=sent, sent_ids=frozenset())
    found = new_articles([yesterday, last_year], MailingList(title="W"), state)
    assert [a.id for a in found] == ["a2"]
    wide = MailingList(title="W", backdated_within=500 * 86_400)
    assert [a.id for a in new_articles([yesterday, last_year], wide, state)] == ["a2", "a400"]
    strict = MailingList(title="W", backdated_within=0)
    assert new_articles([yesterday, last_year], strict, state) == []


def test_an_article_first_seen_in_the_second_of_a_send_is_in_the_next_digest(
    any_site: Site,
) -> None:
    """Times are kept to the second: an article first seen in the same second a digest was
    made, but not in it, is new for the next one (and what that digest carried is not)."""
    any_site.configure('\n[lists.weekly]\ntitle = "Weekly"\n')
    any_site.write("a1.md", "---\ntitle: A1\ndate: 2026-11-26\n---\n\nx\n")
    settings, engine = any_site.settings, any_site.engine
    arts = read_site(settings, engine, now=NOW, offline=True).articles
    first = prepare(settings, engine, "weekly", arts, now=NOW)
    assert [a.title for a in first.fresh] == ["A1"]
    _send(any_site, "weekly-1", 1, [a.id for a in first.fresh], NOW)
    any_site.write("same.md", "---\ntitle: Same second\ndate: 2026-11-27T08:00:00Z\n---\n\nx\n")
    arts = read_site(settings, engine, now=NOW, offline=True).articles  # still that second
    later = NOW + timedelta(hours=1)
    nxt = prepare(settings, engine, "weekly", arts, now=later)
    assert [a.title for a in nxt.fresh] == ["Same second"]
