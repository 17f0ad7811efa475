"""Parsing bounces, complaints and automatic replies: a real-world corpus, made shapes of the
big providers, and arbitrary bytes that never raise."""

from __future__ import annotations

import email.message
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.feedback.classify import classify
from syndicate.feedback.parse import MAX_BYTES, parse
from syndicate.feedback.report import Outcome as O
from syndicate.subscribers.tokens import Signer
from syndicate.subscribers.verp import Delivery, Verp

DATA = Path(__file__).parent / "data" / "bounces"
ADDRESS = "bounces@news.example.org"
VERP = Verp(Signer("x" * 20), ADDRESS)  # the made_*.eml files carry its token of (12, 3456)

# file, the recipients it names (original recipient where given), the outcome of each.
CORPUS = [
    ("aol_01.txt", ["screenname@aol.com"], O.HARD),
    ("bounce_02.txt", ["userx@example.com"], O.HARD),
    ("dsn_01.txt", ["userx@example.com"], O.SOFT),
    ("dsn_02.txt", ["zzzzz@example.uk"], O.SOFT),
    ("dsn_03.txt", ["userx@example.be"], O.OURS),  # "Exceeded maximum inbound message size"
    ("dsn_04.txt", ["userx@example.ch"], O.SOFT),
    ("dsn_05.txt", ["userx@example.cz"], O.DELAYED),
    ("dsn_06.txt", ["userx@example.com"], O.DELAYED),
    ("dsn_07.txt", ["userx@example.nz"], O.DELAYED),
    ("dsn_08.txt", ["userx@example.de"], O.DELAYED),
    ("dsn_09.txt", ["userx@example.com"], O.SOFT),
    ("dsn_10.txt", ["anne.person@dom.ain"], O.HARD),
    ("dsn_11.txt", ["joem@example.com"], O.HARD),
    ("dsn_12.txt", ["userx@example.jp"], O.HARD),
    ("dsn_13.txt", ["userx@example.com"], O.HARD),
    ("dsn_14.txt", ["userx@example.com.dk"], O.HARD),
    ("dsn_15.txt", ["userx@example.com"], O.HARD),
    ("dsn_16.txt", ["userx@example.com"], O.HARD),
    ("dsn_17.txt", ["userx@example.fi"], O.DELAYED),
    ("dsn_18.txt", ["email@replaced.net"], O.SOFT),  # "Action: error", 5.0.0, no reason
    ("dumbass_01.txt", [], None),
    ("exim_01.txt", ["userx@its.example.nl"], O.HARD),
    ("groupwise_01.txt", ["userx@example.edu"], O.HARD),
    ("groupwise_02.txt", ["userx@example.com"], O.HARD),
    ("groupwise_03.txt", [], None),
    ("hotpop_01.txt", ["userx@example.com"], O.SOFT),
    ("llnl_01.txt", ["user1@example.gov"], O.HARD),
    ("made_arf_aol.eml", ["aolreader@aol.com"], O.COMPLAINT),
    ("made_arf_jmrp.eml", [], O.COMPLAINT),
    ("made_arf_yahoo.eml", ["reader@yahoo.com"], O.COMPLAINT),
    ("made_exim_expired.eml", ["late@far.example"], O.SOFT),
    ("made_gmail_full.eml", ["full.box@gmail.com"], O.SOFT),
    ("made_gmail_nouser.eml", ["ann.nobody@gmail.com"], O.HARD),
    ("made_gmail_ratelimited.eml", ["reader2@gmail.com"], O.OURS),
    ("made_gmail_unauthenticated.eml", ["reader@gmail.com"], O.OURS),
    ("made_not_autoreply_header.eml", [], O.AUTOREPLY),
    ("made_not_challenge.eml", [], O.AUTOREPLY),
    ("made_not_german_vacation.eml", [], O.AUTOREPLY),
    ("made_not_ooo_subject.eml", [], O.AUTOREPLY),
    ("made_not_ordinary.eml", [], None),
    ("made_outlook_blocklist.eml", ["someone@hotmail.com"], O.OURS),
    ("made_outlook_nouser.eml", ["nobody@outlook.com"], O.HARD),
    ("made_outlook_recipient_not_found.eml", ["gone@contoso.example"], O.HARD),
    ("made_postfix_delayed.eml", ["reader@slow.example"], O.DELAYED),
    ("made_ses_bounce.eml", ["bounce@simulator.amazonses.com"], O.HARD),
    ("microsoft_01.txt", ["userx@example.com"], O.HARD),
    ("microsoft_02.txt", ["userx@example.com"], O.HARD),
    ("microsoft_03.txt", ["userx@example.com"], O.HARD),
    ("microsoft_04.txt", ["userx@example.com"], O.HARD),
    ("netscape_01.txt", ["aaaaa@corel.com", "bbbbb@corel.com"], O.HARD),
    ("postfix_01.txt", ["xxxxx@local.ie"], O.HARD),
    ("postfix_02.txt", ["yyyyy@digicool.com"], O.HARD),
    ("postfix_03.txt", ["ttttt@ggggg.com"], O.HARD),
    ("postfix_04.txt", ["userx@mail1.example.com"], O.HARD),
    ("postfix_05.txt", ["userx@example.net"], O.HARD),
    ("qmail_01.txt", ["userx@example.de"], O.HARD),
    ("qmail_02.txt", ["userx@example.com"], O.HARD),
    ("qmail_03.txt", ["userx@example.jp"], O.HARD),
    ("qmail_04.txt", ["userx@example.au"], O.HARD),
    ("qmail_05.txt", ["userx@example.com"], O.HARD),
    ("qmail_06.txt", ["ntl@xxx.com"], O.SOFT),
    ("qmail_07.txt", ["user@example.net"], O.HARD),
    ("qmail_08.txt", [], O.AUTOREPLY),
    ("sendmail_01.txt", ["zzzzz@nfg.nl", "zzzzz@shaft.coal.nl"], O.HARD),
    ("simple_01.txt", ["bbbsss@example.com"], O.HARD),
    ("simple_02.txt", ["userx@example.net"], O.HARD),
    ("simple_03.txt", ["userx@example.za"], O.DELAYED),
    ("simple_04.txt", ["userx@example.com"], O.HARD),
    ("simple_05.txt", ["userx@example.net"], O.HARD),
    ("simple_06.txt", ["userx@example.com"], O.HARD),
    ("simple_07.txt", ["userx@example.net"], O.SOFT),
    ("simple_08.txt", ["userx@example.de"], O.HARD),
    ("simple_09.txt", ["userx@example.de"], O.SOFT),
    ("simple_10.txt", ["userx@example.com"], O.HARD),
    ("simple_11.txt", ["userx@example.com"], O.HARD),
    ("simple_12.txt", ["userx@example.ac.jp"], O.HARD),
    ("simple_13.txt", ["userx@example.fr"], O.HARD),
    ("simple_14.txt", ["userx@example.com", "usery@example.com"], O.HARD),
    ("simple_15.txt", ["userx@example.be"], O.HARD),
    ("simple_16.txt", ["userx@example.com"], O.HARD),
    ("simple_17.txt", ["userx@example.com"], O.HARD),
    ("simple_18.txt", ["userx@example.com"], O.HARD),
    ("simple_19.txt", ["userx@example.com.ar"], O.HARD),
    ("simple_20.txt", ["userx@example.com"], O.HARD),
    ("simple_21.txt", ["userx@example.com"], O.DELAYED),
    ("simple_22.txt", ["user@example.org"], O.DELAYED),
    ("simple_23.txt", ["userx@example.it"], O.HARD),
    ("simple_24.txt", ["userx@example.com"], O.HARD),
    ("simple_25.txt", ["userx@example.com"], O.HARD),
    ("simple_26.txt", ["userx@example.it"], O.HARD),
    ("simple_27.txt", ["userx@example.net.py"], O.HARD),
    ("simple_28.txt", ["userx@example.com"], O.DELAYED),
    ("simple_29.txt", ["userx@example.com"], O.HARD),
    ("simple_30.txt", ["userx@example.com"], O.HARD),
    ("simple_31.txt", ["userx@example.fr"], O.HARD),
    ("simple_32.txt", ["userx@example.com"], O.HARD),
    ("simple_33.txt", ["userx@example.com"], O.HARD),
    ("simple_34.txt", ["roland@example.com"], O.HARD),
    ("simple_35.txt", ["calvin@example.com"], O.DELAYED),
    ("simple_36.txt", ["userx@example.com"], O.HARD),
    ("simple_37.txt", ["user@example.edu"], O.HARD),
    ("simple_38.txt", ["userx@example.com"], O.SOFT),
    ("simple_39.txt", ["userx@example.ru"], O.HARD),
    ("simple_40.txt", ["user@example.com"], O.DELAYED),
    ("simple_41.txt", ["userx@example.com"], O.HARD),
    ("simple_42.txt", ["david...@gmail.com"], O.OURS),
    ("simple_43.txt", [], None),
    ("simple_44.txt", ["user@example.com"], O.SOFT),
    ("simple_45.txt", ["subscriber@earthlink.net"], O.SOFT),
    ("smtp32_01.txt", ["userx@example.ph"], O.HARD),
    ("yahoo_01.txt", ["userx@example.com"], O.SOFT),
    ("yahoo_02.txt", ["userx@example.es"], O.SOFT),
    ("yahoo_03.txt", ["userx@example.com"], O.HARD),
    ("yahoo_04.txt", ["userx@example.es", "usery@example.uk"], O.SOFT),
    ("yahoo_05.txt", ["userx@example.com", "usery@example.com"], O.HARD),
    (
        "yahoo_06.txt",
        ["usera@example.com", "userx@example.com", "usery@example.com", "userz@example.com"],
        O.HARD,
    ),
    (
        "yahoo_07.txt",
        ["userw@example.com", "userx@example.com", "usery@example.com", "userz@example.com"],
        O.HARD,
    ),
    (
        "yahoo_08.txt",
        [
            "usera@example.com",
            "userb@example.com",
            "userc@example.com",
            "userd@example.com",
            "usere@example.com",
            "userf@example.com",
        ],
        O.HARD,
    ),
    ("yahoo_09.txt", ["userx@example.com", "usery@example.com"], O.HARD),
    ("yahoo_10.txt", ["userx@example.com", "usery@example.com", "userz@example.com"], O.HARD),
    ("yahoo_11.txt", ["bad_user@aol.com"], O.HARD),
    ("yahoo_12.txt", ["user@yahoo.com"], O.HARD),
    ("yahoo_13.txt", ["bogus-address@example.net"], O.HARD),
    ("yale_01.txt", ["userx@cs.yale.edu", "userx@yale.edu"], O.HARD),
]


@pytest.mark.parametrize(("name", "recipients", "outcome"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name: str, recipients: list[str], outcome: O | None) -> None:
    parsed = parse((DATA / name).read_bytes(), bounce_address=ADDRESS)
    got = {(f.original_recipient or f.recipient or "").lower() for f in parsed.feedback}
    assert got - {""} == set(recipients)
    assert {f.outcome for f in parsed.feedback} == ({outcome} if outcome else set())
    assert (parsed.reason is None) == bool(parsed.feedback)
    ids = [f.event_id for f in parsed.feedback]
    assert len(set(ids)) == len(ids) and all(i.startswith("mail:") for i in ids)
    assert parse((DATA / name).read_bytes(), bounce_address=ADDRESS) == parsed  # stable ids
    if name.startswith("made_") and outcome not in (O.AUTOREPLY, None):
        [first, *_] = parsed.feedback
        assert first.token is not None
        assert VERP.verify(first.token) == Delivery(send_id=12, subscriber_id=3456)
        assert first.message_id == "<weekly-7.3456@news.example.org>"


def test_corpus_covers_the_big_servers() -> None:
    names = {c[0].split("_")[0] for c in CORPUS} | {c[0].split("_")[1] for c in CORPUS}
    for server in ("postfix", "exim", "sendmail", "qmail", "microsoft", "yahoo", "aol"):
        assert server in names
    for made in ("gmail", "outlook", "ses", "arf"):
        assert made in names


@pytest.mark.parametrize(
    ("status", "text", "outcome"),
    [
        ("5.1.1", "550 5.1.1 user unknown", O.HARD),
        ("5.1.10", "RecipientNotFound", O.HARD),
        ("5.2.1", "mailbox disabled", O.HARD),
        ("5.2.2", "mailbox full", O.SOFT),
        ("4.2.2", "over quota", O.SOFT),
        ("4.4.7", "expired in queue", O.SOFT),
        (
            "5.7.1",
            "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
            O.OURS,
        ),
        ("5.7.26", "unauthenticated: SPF or DKIM required", O.OURS),
        ("5.7.9", "Message not accepted for policy reasons", O.OURS),
        ("4.7.0", "rate limited, try again later", O.OURS),
        (None, "550 Message rejected as spam", O.OURS),
        ("5.7.1", "delivery not authorized", O.SOFT),
        ("5.0.0", "", O.SOFT),
        ("5.0.0", "No such user", O.HARD),
    ],
)
def test_classify(status: str | None, text: str, outcome: O) -> None:
    assert classify(status, text) is outcome


def test_a_tampered_token_is_found_but_does_not_verify() -> None:
    data = (DATA / "made_gmail_nouser.eml").read_bytes().replace(b"f9d4bb48", b"f9d4bb49")
    [item] = parse(data, bounce_address=ADDRESS).feedback
    assert item.token is not None and VERP.verify(item.token) is None


def test_bounds() -> None:
    assert parse(b"x" * (MAX_BYTES + 1)).reason == f"larger than {MAX_BYTES:,} bytes"
    many = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 300
    )
    assert "MIME parts" in (parse(many).reason or "")
    deep = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
        for i in range(150)
    )
    assert parse(deep).feedback == ()


@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    parse(data, bounce_address=ADDRESS)


_FIELDS = st.sampled_from(
    [
        "Final-Recipient: rfc822; a@b.example",
        "Action: failed",
        "Action: delayed",
        "Status: 5.1.1",
        "Status: 9.9",
        "Diagnostic-Code: smtp; 550 spam",
        "Feedback-Type: abuse",
        "Original-Rcpt-To: x",
        "Message-ID: <x@y>",
        "Subject: Out of office",
        "Auto-Submitted: auto-replied",
        "\udcff",
        "",
    ]
)
_TYPES = st.sampled_from(
    [
        "text/plain",
        "message/delivery-status",
        "message/feedback-report",
        "message/rfc822",
        "text/rfc822-headers",
        "multipart/report",
        "application/octet-stream",
    ]
)


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> email.message.Message:
    msg = email.message.Message()
    for line in draw(st.lists(_FIELDS, max_size=4)):
        name, _, value = line.partition(": ")
        if name and value:
            msg[name] = value
    if depth < 4 and draw(st.booleans()):
        msg["Content-Type"] = "multipart/" + draw(st.sampled_from(["report", "mixed"]))
        for _ in range(draw(st.integers(0, 3))):
            msg.attach(draw(trees(depth + 1)))
    else:
        msg["Content-Type"] = draw(_TYPES)
        msg.set_payload("\n".join(draw(st.lists(_FIELDS, max_size=6))))
    return msg


@given(trees())
def test_arbitrary_mime_trees_never_raise(msg: email.message.Message) -> None:
    try:
        data = msg.as_bytes()
    except Exception:  # the tree cannot even be written: nothing to parse
        return
    parse(data, bounce_address=ADDRESS)


def test_a_success_dsn_is_a_delivery_and_a_relayed_one_is_not_feedback() -> None:
    original = (DATA / "made_ses_bounce.eml").read_bytes()
    data = original.replace(b"Action: failed", b"Action: delivered")
    [item] = parse(data, bounce_address=ADDRESS).feedback
    assert item.outcome is O.DELIVERED and item.source == "dsn"
    assert item.token is not None and item.message_id == "<weekly-7.3456@news.example.org>"
    parsed = parse(original.replace(b"Action: failed", b"Action: relayed"), bounce_address=ADDRESS)
    assert parsed.feedback == () and "without a failure" in (parsed.reason or "")
