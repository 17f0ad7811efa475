"""Personalized digests and their RFC 5322 messages: every marker filled, nothing injectable."""

from __future__ import annotations

import copy
import dataclasses
import email
import email.policy
import html
import pickle
import re
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from syndicate.config import Settings, load_settings
from syndicate.digest import markers
from syndicate.digest.message import (
    HeaderError,
    build_message,
    mail_host,
    message_id,
    personal_headers,
)
from syndicate.digest.personalize import (
    DEFAULT_NAME,
    Personal,
    PersonalizeError,
    Personalizer,
    Recipient,
    ascii_url,
    clean_name,
    confirm_url,
    preferences_url,
    unsubscribe_url,
)
from syndicate.errors import ConfigError
from syndicate.models import Digest, RenderedDigest
from syndicate.subscribers.address import normalize_address
from syndicate.subscribers.tokens import Purpose, Signer, TokenError

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SIGNER = Signer("x" * 32)
URI = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")  # RFC 3986 characters only
HREF = re.compile(r'href="([^"]*)"')
ADA = Recipient(subscriber_id=7, email="ada@example.org", name="Ada Lovelace")
GRACE = Recipient(subscriber_id=8, email="grace@example.org", name="Grace")
# Shared headers first, then the copy's own (the order carries no meaning; the set does).
HEADERS = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "MIME-Version",
    "List-Id",
    "Precedence",
    "Auto-Submitted",
    "To",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Content-Type",
]
LONG_LINE = "<td>" + "Zoë’s long minified line " * 200 + "</td>"  # ~5 KB, one line
HTML = (
    "<html><body>\n"
    f'<p class="hi" title="For {markers.NAME}">Hello {markers.NAME},</p>\n'
    f"<p>Sent to {markers.EMAIL} ({markers.NAME}).</p>\n"
    f"{LONG_LINE}\n"
    "   trailing spaces   \n"
    ".\n"
    "From the editors\n"
    f'<a href="{markers.PREFERENCES_URL}">Preferences</a>\n'
    f'<a href="{markers.UNSUBSCRIBE_URL}">Unsubscribe</a> {markers.UNSUBSCRIBE_URL}\n'
    "</body></html>\n"
)
TEXT = (
    f"Hello {markers.NAME},\n\nThis copy is for {markers.EMAIL}.\n\n"
    f"Preferences: {markers.PREFERENCES_URL}\nUnsubscribe: {markers.UNSUBSCRIBE_URL}\n"
)
CONFIG = """\
[publication]
title = "Test Letter"
base_url = "https://news.example.org"
[email]
from_name = "{from_name}"
from_address = "news@example.org"
reply_to = "editor@example.org"
{mailto}
[lists.weekly]
title = "The Weekly"
{web}
"""


def make_settings(
    root: Path,
    *,
    from_name: str = "Zoë’s Letter",
    mailto: bool = True,
    web: str | None = None,
) -> Settings:
    text = CONFIG.format(
        from_name=from_name,
        mailto='unsubscribe_mailto = "unsubscribe@example.org"' if mailto else "",
        web=f'[web]\nbase_url = "{web}"' if web else "",
    )
    (root / "syndicate.toml").write_text(text, encoding="utf-8")
    return load_settings(root)


def rendered(*, subject: str = "The Weekly: café news", html_: str = HTML) -> RenderedDigest:
    digest = Digest(
        id="weekly-3",
        list_name="weekly",
        list_title="The Weekly",
        issue=3,
        created=NOW,
        lead=(),
        rest=(),
        also=(),
        more=0,
        more_url="https://news.example.org/",
        archive_url="https://news.example.org/archive/weekly/3.html",
    )
    return RenderedDigest(digest=digest, subject=subject, preheader="Pre", html=html_, text=TEXT)


def personalizer(
    r: RenderedDigest | None = None, web: str = "https://news.example.org"
) -> Personalizer:
    return Personalizer(r or rendered(), list_name="weekly", web_url=web, signer=SIGNER, now=NOW)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def build(
    settings: Settings,
    recipient: Recipient = ADA,
    r: RenderedDigest | None = None,
    personal: Personal | None = None,
) -> EmailMessage:
    r = r or rendered()
    return build_message(
        r,
        personal or personalizer(r).fill(recipient),
        recipient,
        settings=settings,
        list_name="weekly",
        message_id=message_id(r.digest, recipient.subscriber_id, mail_host(settings)),
        date=NOW,
    )


def parse(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(part: object) -> str:
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


# Personalization ------------------------------------------------------------------------


def test_every_marker_is_filled_and_none_is_left() -> None:
    p = personalizer().fill(ADA)
    for out in (p.html, p.text):
        assert "syndicatex9" not in out.casefold()
        assert "Ada Lovelace" in out and "ada@example.org" in out
        assert p.unsubscribe_url in out and p.preferences_url in out
    assert p.text.startswith("Hello Ada Lovelace,\n")
    assert '<p class="hi" title="For Ada Lovelace">Hello Ada Lovelace,</p>' in p.html
    assert HREF.findall(p.html) == [p.preferences_url, p.unsubscribe_url]
    assert LONG_LINE in p.html  # the rest is left alone


@pytest.mark.parametrize("name", [None, "", "   ", "\r\n\t", "\u202e"])
def test_a_missing_name_reads_naturally(name: str | None) -> None:
    p = personalizer().fill(Recipient(subscriber_id=9, email="x@example.org", name=name))
    assert p.text.startswith(f"Hello {DEFAULT_NAME},\n")
    assert f"Hello {DEFAULT_NAME},</p>" in p.html


def test_recipients_get_their_own_verifiable_links() -> None:
    filler = personalizer()
    ada, grace = filler.fill(ADA), filler.fill(GRACE)
    assert ada.unsubscribe_url != grace.unsubscribe_url
    assert ada.preferences_url != grace.preferences_url
    for who, p in ((ADA, ada), (GRACE, grace)):
        assert p.subscriber_id == who.subscriber_id
        for url, purpose, path in (
            (p.unsubscribe_url, Purpose.UNSUBSCRIBE, "/unsubscribe/"),
            (p.preferences_url, Purpose.PREFERENCES, "/preferences/"),
        ):
            assert URI.fullmatch(url), url
            prefix = f"https://news.example.org{path}"
            assert url.startswith(prefix)
            claims = SIGNER.verify(url.removeprefix(prefix), purpose, now=NOW + timedelta(days=1))
            assert (claims.subscriber_id, claims.list_name) == (who.subscriber_id, "weekly")
    with pytest.raises(TokenError):  # a link only does what it says
        SIGNER.verify(ada.unsubscribe_url.rpartition("/")[2], Purpose.PREFERENCES, now=NOW)


def test_names_and_addresses_are_escaped_in_html_only() -> None:
    who = Recipient(subscriber_id=5, email="o'neil&co@example.org", name='<b>Eve</b> & "x"')
    p = personalizer().fill(who)
    assert "<b>Eve" not in p.html
    assert "Hello &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;x&quot;,</p>" in p.html
    assert 'title="For &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;x&quot;"' in p.html
    assert "Sent to o&#x27;neil&amp;co@example.org" in p.html
    assert p.text.startswith('Hello <b>Eve</b> & "x",\n')
    assert "for o'neil&co@example.org." in p.text


def test_control_and_bidi_characters_leave_names() -> None:
    who = Recipient(subscriber_id=5, email="eve@example.org", name="Eve\r\nBcc: x@y.z\u202e\x00")
    p = personalizer().fill(who)
    assert p.text.startswith("Hello Eve Bcc: x@y.z,\n")
    assert "Hello Eve Bcc: x@y.z,</p>" in p.html


def test_url_helpers() -> None:
    web = "https://news.example.org"
    assert unsubscribe_url(web, "a.b") == "https://news.example.org/unsubscribe/a.b"
    assert preferences_url(web, "a.b") == "https://news.example.org/preferences/a.b"
    assert confirm_url(web, "a.b") == "https://news.example.org/confirm/a.b"
    assert ascii_url(web) == web
    assert ascii_url("https://bücher.example/neue Seite") == (
        "https://xn--bcher-kva.example/neue%20Seite"
    )


def test_web_urls_are_made_ascii_and_escaped_in_html() -> None:
    p = personalizer(web="https://bücher.example/news?a=1&b=2/").fill(ADA)
    assert URI.fullmatch(p.unsubscribe_url)
    assert p.unsubscribe_url.startswith("https://xn--bcher-kva.example/news?a=1&b=2/unsubscribe/")
    assert f'href="{html.escape(p.unsubscribe_url)}"' in p.html
    assert p.unsubscribe_url in p.text


@pytest.mark.parametrize(
    "broken",
    [
        HTML.replace(markers.UNSUBSCRIBE_URL, markers.UNSUBSCRIBE_URL.lower()),
        HTML.replace(markers.NAME, "syndicatex9name"),
        HTML.replace(markers.UNSUBSCRIBE_URL, "https://news.example.org/unsubscribe"),
    ],
)
def test_altered_or_missing_markers_are_refused(broken: str) -> None:
    with pytest.raises(PersonalizeError):
        personalizer(rendered(html_=broken))


# Messages -------------------------------------------------------------------------------


def test_message_structure_and_headers(settings: Settings) -> None:
    msg = build(settings)
    parsed = parse(msg)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["quoted-printable"] * 2
    personal = personalizer().fill(ADA)
    assert body(parts[0]) == personal.text
    assert body(parts[1]) == personal.html

    assert parsed["From"].addresses[0].display_name == "Zoë’s Letter"
    assert parsed["From"].addresses[0].addr_spec == "news@example.org"
    assert parsed["To"].addresses[0].display_name == "Ada Lovelace"
    assert parsed["To"].addresses[0].addr_spec == "ada@example.org"
    assert str(parsed["Reply-To"]) == "editor@example.org"
    assert str(parsed["Subject"]) == "The Weekly: café news"
    assert parsed["Date"].datetime == NOW
    assert str(parsed["Message-ID"]) == "<weekly-3.7@news.example.org>"
    assert str(parsed["MIME-Version"]) == "1.0"
    assert str(parsed["List-Id"]) == "The Weekly <weekly.news.example.org>"
    assert str(parsed["List-Unsubscribe"]) == (
        f"<{personal.unsubscribe_url}>, <mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert str(parsed["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(parsed["Precedence"]) == "bulk"
    assert str(parsed["Auto-Submitted"]) == "auto-generated"
    for name, value in parsed.items():
        assert "\r" not in str(value) and "\n" not in str(value), name
    # The header's one-click link is the body's unsubscribe link.
    header_url = str(parsed["List-Unsubscribe"]).split(">")[0].removeprefix("<")
    assert html.unescape(HREF.findall(body(parts[1]))[-1]) == header_url


def test_every_line_ends_in_crlf_and_fits(settings: Settings) -> None:
    raw = build(settings).as_bytes()
    assert raw.endswith(b"\r\n")
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    rest = raw.partition(b"\r\n\r\n")[2]
    assert all(len(line) <= 78 for line in rest.split(b"\r\n"))  # QP bodies: 76
    assert raw.isascii()  # 7-bit clean: no 8BITMIME needed anywhere


def test_messages_are_deterministic_and_survive_copies(settings: Settings) -> None:
    msg = build(settings)
    assert build(settings).as_bytes() == msg.as_bytes()
    assert copy.deepcopy(msg).as_bytes() == msg.as_bytes()
    assert pickle.loads(pickle.dumps(msg)).as_bytes() == msg.as_bytes()
    other = build(settings, GRACE)
    assert other["Message-ID"] != msg["Message-ID"]


def test_delivery_reflattening_keeps_every_header(settings: Settings) -> None:
    """aiosmtplib's send_message writes the message again with its own policy."""
    msg = build(settings)
    for cte in ("7bit", "8bit"):
        assert flatten_message(msg, utf8=False, cte_type=cte) == msg.as_bytes()
    utf8 = email.message_from_bytes(flatten_message(msg, utf8=True), policy=email.policy.default)
    assert str(utf8["List-Unsubscribe"]) == str(parse(msg)["List-Unsubscribe"])


def test_header_injection_through_a_name_does_nothing(settings: Settings) -> None:
    for name in ("Eve\r\nBcc: x@y.z", "=?utf-8?q?Eve=0D=0ABcc:_x@y.z?=", 'Eve "\\" <x@y.z>'):
        who = Recipient(subscriber_id=9, email="eve@example.org", name=name)
        raw = build(settings, who).as_bytes()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert "Bcc" not in parsed, name
        assert len(parsed.get_all("To") or []) == 1
        (address,) = parsed["To"].addresses
        assert address.addr_spec == "eve@example.org"
        if name.startswith("Eve\r\n"):
            assert address.display_name == "Eve Bcc: x@y.z"
        for value in parsed.values():
            assert "\r" not in str(value) and "\n" not in str(value)
        head = raw.partition(b"\r\n\r\n")[0].decode("ascii").split("\r\n")
        assert [h.split(":")[0] for h in head if not h.startswith(" ")] == HEADERS


@pytest.mark.parametrize(
    "subject",
    [
        "News\r\nBcc: x@y.z",
        "News\nX: y",
        "Tab\there",
        "Nul\x00",
        "Sep\u2028arated",
        f"Hello {markers.NAME}",
        "   ",
    ],
)
def test_unsafe_subjects_are_refused(settings: Settings, subject: str) -> None:
    with pytest.raises(HeaderError):
        build(settings, r=rendered(subject=subject))


@pytest.mark.parametrize(
    "subject", ["=?utf-8?q?News=0D=0ABcc:_x@y.z?=", "T =?utf-8?b?U3Bvb2Y=?=", "Zoë =?x?= " * 20]
)
def test_encoded_words_in_a_subject_are_shown_as_written(settings: Settings, subject: str) -> None:
    raw = build(settings, r=rendered(subject=subject.strip())).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]) == subject.strip() and parsed["Bcc"] is None


def test_unsafe_addresses_and_sender_names_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    bad = Recipient(subscriber_id=7, email="ada@example.org\r\nBcc: x@y.z", name="Ada")
    with pytest.raises(HeaderError):
        build(settings, bad, personal=personalizer().fill(ADA))
    # An encoded word smuggling CR/LF into From is refused by the config already.
    with pytest.raises(ConfigError, match="encoded words"):
        make_settings(tmp_path, from_name="=?utf-8?q?News=0D=0ABcc:_x@y.z?=")


def test_long_and_international_values_fold_and_parse_back(settings: Settings) -> None:
    subject = "Zoë’s “weekly” news: " + "ünïcode and plain words " * 12
    who = Recipient(subscriber_id=11, email="zoë@example.org", name="Zoë, the “Editor”")
    msg = build(settings, who, r=rendered(subject=subject.strip()))
    raw = msg.as_bytes()
    assert "zoë@example.org".encode() in raw  # SMTPUTF8: the address as it is
    parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.SMTPUTF8)
    assert isinstance(parsed, EmailMessage)
    assert str(parsed["Subject"]) == subject.strip()
    assert parsed["To"].addresses[0].addr_spec == "zoë@example.org"
    assert parsed["To"].addresses[0].display_name == "Zoë, the “Editor”"


def test_list_headers_without_mailto_or_https(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mailto=False, web="http://localhost:8000")
    r = rendered()
    personal = personalizer(r, web=settings.web_url).fill(ADA)
    msg = build(settings, personal=personal)
    parsed = parse(msg)
    assert str(parsed["List-Unsubscribe"]) == f"<{personal.unsubscribe_url}>"
    assert personal.unsubscribe_url.startswith("http://localhost:8000/unsubscribe/")
    assert "List-Unsubscribe-Post" not in parsed  # RFC 8058 one-click needs https


def test_mismatches_and_naive_dates_are_refused(settings: Settings) -> None:
    r = rendered()
    with pytest.raises(ValueError, match="different subscribers"):
        build(settings, GRACE, personal=personalizer(r).fill(ADA))
    with pytest.raises(ValueError, match="timezone-aware"):
        build_message(
            r,
            personalizer(r).fill(ADA),
            ADA,
            settings=settings,
            list_name="weekly",
            message_id="<a.1@news.example.org>",
            date=NOW.replace(tzinfo=None),
        )
    with pytest.raises(ValueError):
        Personalizer(r, list_name="daily", web_url="https://x.org", signer=SIGNER, now=NOW)


def test_message_ids_and_hosts(tmp_path: Path, settings: Settings) -> None:
    digest = rendered().digest
    assert message_id(digest, 42, "news.example.org") == "<weekly-3.42@news.example.org>"
    assert message_id(digest, 42, "news.example.org") == message_id(digest, 42, "news.example.org")
    with pytest.raises(ValueError):
        message_id(digest, 42, "bad host")
    assert mail_host(settings) == "news.example.org"
    other = tmp_path / "ip"
    other.mkdir()
    (other / "syndicate.toml").write_text(
        '[publication]\ntitle = "T"\nbase_url = "http://127.0.0.1:8000"\n', encoding="utf-8"
    )
    assert mail_host(load_settings(other)) == "localhost"


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8000", "http://[::1]:8000", "http://localhost:8000", "http://10.1"],
)
def test_a_site_at_an_ip_address_gets_its_list_id_from_the_from_address_domain(
    tmp_path: Path, base_url: str
) -> None:
    # RFC 2919: <list.host> under a domain name; the IP or bare host name is none.
    settings = make_settings(tmp_path)
    text = (tmp_path / "syndicate.toml").read_text(encoding="utf-8")
    (tmp_path / "syndicate.toml").write_text(
        text.replace('"https://news.example.org"', f'"{base_url}"'), encoding="utf-8"
    )
    settings = load_settings(tmp_path)
    assert mail_host(settings) == "example.org"  # of news@example.org
    msg = parse(build(settings))
    assert msg["List-Id"] == "The Weekly <weekly.example.org>"
    assert msg["Message-ID"] == "<weekly-3.7@example.org>"


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("The Weekly", "The Weekly"),
        ('Ada\'s "best" list.', '"Ada\'s \\"best\\" list."'),
        ("=?utf-8?q?x?=", '"=?utf-8?q?x?="'),
        ("Wöchentliche Übersicht — " + "sehr lang " * 8, "Wöchentliche Übersicht — "),
    ],
)
def test_list_id_phrases(settings: Settings, title: str, shown: str) -> None:
    r = rendered()
    r = dataclasses.replace(r, digest=dataclasses.replace(r.digest, list_title=title))
    raw = build(settings, r=r).as_bytes()
    head = raw.partition(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"unsubscribe/" not in line)
    value = str(parse(build(settings, r=r))["List-Id"])
    assert value.endswith(" <weekly.news.example.org>")
    if "=?" in title:  # Python decodes even quoted encoded words; mail clients do not
        assert f"List-Id: {shown} <weekly.news.example.org>".encode() in head
    else:
        assert value.startswith(shown)


def test_any_line_breaks_become_crlf(settings: Settings) -> None:
    r = rendered(html_=HTML.replace("\n", "\r\n").replace("From the", "From\rthe").rstrip())
    personal = personalizer(r).fill(ADA)
    raw = build(settings, r=r, personal=personal).as_bytes()
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    html_part = list(parse(build(settings, r=r, personal=personal)).iter_parts())[1]
    expected = personal.html.replace("\r\n", "\n").replace("\r", "\n") + "\n"
    assert body(html_part) == expected


def test_whitespace_in_configured_names_is_collapsed(tmp_path: Path) -> None:
    tabbed = make_settings(tmp_path, from_name="Zoë\\tLetter")  # TOML "\t": a real tab
    assert "\t" in tabbed.email.from_name
    parsed = parse(build(tabbed))
    assert parsed["From"].addresses[0].display_name == "Zoë Letter"


@hsettings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
    # Addresses as normalize_address lets them through: dot-atom local parts (no leading,
    # trailing or doubled dots: "0..0@0.aa" is no address, and the email package refuses it).
    st.from_regex(
        r"[a-z0-9+_-]{1,10}(\.[a-z0-9+_-]{1,10}){0,2}@[a-z0-9]{1,12}\.[a-z]{2,6}", fullmatch=True
    ),
)
def test_to_header_fast_path_reads_back_as_the_policy_would_write_it(
    tmp_path_factory: pytest.TempPathFactory, name: str, address: str
) -> None:
    fast = EmailMessage(policy=email.policy.SMTP)
    personal_headers(
        fast,
        Recipient(subscriber_id=1, email=address, name=name),
        "https://news.example.org/unsubscribe/t",
        settings=make_settings(tmp_path_factory.mktemp("to")),
        message_id="<a.1@news.example.org>",
    )
    assert normalize_address(address).email == address  # the strategy makes real addresses
    raw = fast.as_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    got = email.message_from_bytes(raw, policy=email.policy.default)["To"].addresses
    clean = clean_name(name)
    expected = EmailMessage(policy=email.policy.SMTP)
    expected["To"] = Address(display_name=clean or "", addr_spec=address)
    want = email.message_from_bytes(expected.as_bytes(), policy=email.policy.default)["To"]
    assert [(a.display_name, a.addr_spec) for a in got] == [
        (a.display_name, a.addr_spec) for a in want.addresses
    ]
