"""A remote feed's problems must not vanish behind a 304, against a real server on 127.0.0.1
(tests/httpserver.py, which answers 304 to a matching ``If-None-Match``). All three tests failed
before the fix.

Attacks defended:

- Hiding a hostile entry: a feed with an entry nested 50,000 ``<div>``s deep was reported
  once, then the next read sent the stored ETag, got 304 and said "0 problems". A fetch that
  yields problems now keeps no validators (ETag, Last-Modified): the next read fetches the
  feed in full and reports them again, every time, as a bad local file is. Clean fetches keep
  their validators and still read conditionally.
- A fake line number: an entry's problem printed ``URL:2: entry 2 …`` where 2 is the entry's
  number, not a line of the file (feedparser knows none). It now prints ``URL: entry 2 …``,
  and ``--json`` gives ``"line": null``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from tests.conftest import Site
from tests.httpserver import FeedServer, serve

ETAG = '"v1"'


def hostile_feed() -> bytes:
    deep = "<div>" * 50_000 + "x" + "</div>" * 50_000
    return (
        "<?xml version='1.0' encoding='utf-8'?>\n<rss version='2.0'><channel><title>F</title>\n"
        "<item><guid>one</guid><title>Fine</title><description>Text.</description></item>\n"
        f"<item><guid>two</guid><title>Deep</title><description><![CDATA[{deep}]]>"
        "</description></item>\n</channel></rss>\n"
    ).encode()


def clean_feed() -> bytes:
    return (
        b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>F</title>"
        b"<item><guid>one</guid><title>Fine</title><description>Text.</description></item>"
        b"</channel></rss>"
    )


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with serve() as running:
        yield running


def configure(site: Site, url: str) -> None:
    site.configure(f'\n[[content.sources]]\ntype = "feed"\nurl = "{url}"\nallow_private = true\n')


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    # Rich wraps long lines on stderr: compare words, not line breaks.
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_a_feeds_problem_is_reported_on_every_read(site: Site, server: FeedServer) -> None:
    server.route("/hostile.xml", body=hostile_feed(), etag=ETAG)
    configure(site, server.url("/hostile.xml"))
    expected = "entry 2 has HTML nested more than 256 elements deep"
    code, _, err = cli(site, "check")
    assert code == 1 and expected in err, err
    code, _, err = cli(site, "build")
    assert code == 1 and expected in err, err
    code, _, err = cli(site, "check")
    assert code == 1 and expected in err, err
    # Every read fetched in full: none was conditional, so none could be answered 304.
    gets = [r for r in server.requests if r.path == "/hostile.xml"]
    assert len(gets) == 3 and not any("if-none-match" in r.headers for r in gets)


def test_an_entrys_problem_claims_no_line(site: Site, server: FeedServer) -> None:
    server.route("/hostile.xml", body=hostile_feed())
    url = server.url("/hostile.xml")
    configure(site, url)
    expected = f"{url}: entry 2 has HTML nested more than 256 elements deep"
    code, _, err = cli(site, "check")
    assert code == 1 and expected in err, err
    code, out, _ = cli(site, "check", "--json")
    assert code == 1
    (problem,) = json.loads(out)["problems"]
    assert problem["path"] == url and problem["line"] is None
    assert problem["message"].startswith(expected)


def test_a_clean_feed_still_reads_conditionally(site: Site, server: FeedServer) -> None:
    server.route("/feed.xml", body=hostile_feed(), etag=ETAG)
    configure(site, server.url("/feed.xml"))
    assert cli(site, "check")[0] == 1
    server.route("/feed.xml", body=clean_feed(), etag=ETAG)
    assert cli(site, "check")[0] == 0  # fetched in full: the bad entry is gone
    assert cli(site, "build")[0] == 0
    gets = [r for r in server.requests if r.path == "/feed.xml"]
    assert [r.headers.get("if-none-match") for r in gets] == [None, None, ETAG]
