"""Wire bytes per recipient: the same message as build_message, without one EmailMessage each."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

import pytest

from syndicate.digest.message import HeaderError, build_message, message_id
from syndicate.digest.personalize import Recipient
from syndicate.digest.wire import WireTemplate
from syndicate.models import CrlfMessage
from tests.test_digest_message import HTML, NOW, make_settings, personalizer, rendered

PEOPLE = [
    Recipient(subscriber_id=7, email="ada@example.org", name="Ada Lovelace"),
    Recipient(subscriber_id=8, email="zoe@example.org", name="Zoë “the Editor”, Jr."),
    Recipient(subscriber_id=9, email="eve@example.org", name="Eve\r\nBcc: x@y.z"),
    Recipient(subscriber_id=10, email="nobody@example.org", name=None),
    Recipient(subscriber_id=11, email="zoë@example.org", name="Zoë"),
]


def parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


@pytest.mark.parametrize("who", PEOPLE, ids=lambda r: str(r.subscriber_id))
def test_wire_bytes_parse_to_the_same_message(tmp_path: Path, who: Recipient) -> None:
    settings = make_settings(tmp_path)
    r = rendered()
    filler = personalizer(r)
    mid = message_id(r.digest, who.subscriber_id, "news.example.org")
    wire = WireTemplate(r, filler, settings=settings, list_name="weekly", date=NOW)
    ours = parse(wire.message(who, mid))
    reference = parse(
        build_message(
            r,
            filler.fill(who),
            who,
            settings=settings,
            list_name="weekly",
            message_id=mid,
            date=NOW,
        ).as_bytes()
    )
    assert sorted(ours.keys()) == sorted(reference.keys())
    for name in reference.keys():
        if name != "Content-Type":  # the boundary differs; the type is compared below
            assert str(ours[name]) == str(reference[name]), name
    assert ours.get_content_type() == "multipart/alternative"
    mine = [(p.get_content_type(), p.get_content()) for p in ours.iter_parts()]
    theirs = [(p.get_content_type(), p.get_content()) for p in reference.iter_parts()]
    assert mine == theirs
    assert "SYNDICATEx9" not in mine[0][1] + mine[1][1]


@pytest.mark.parametrize("who", PEOPLE, ids=lambda r: str(r.subscriber_id))
def test_wire_lines_are_short_and_crlf(tmp_path: Path, who: Recipient) -> None:
    settings = make_settings(tmp_path)
    r = rendered(html_="<p>one\rtwo\nthree\r\nfour</p>\r" + HTML)
    wire = WireTemplate(r, personalizer(r), settings=settings, list_name="weekly", date=NOW)
    raw = wire.message(who, "<weekly-3.7@news.example.org>")
    # The transport trusts this type to hold CRLF line ends only.
    assert isinstance(raw, CrlfMessage)
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert all(len(line) <= 76 for line in body.split(b"\r\n") if not line.startswith(b"--"))


def test_every_copy_has_its_own_links(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    r = rendered()
    wire = WireTemplate(r, personalizer(r), settings=settings, list_name="weekly", date=NOW)
    a = parse(wire.message(PEOPLE[0], "<weekly-3.7@news.example.org>"))
    b = parse(wire.message(PEOPLE[1], "<weekly-3.8@news.example.org>"))
    assert a["List-Unsubscribe"] != b["List-Unsubscribe"]
    assert str(a["To"]) != str(b["To"])


def test_unsafe_values_are_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    r = rendered()
    wire = WireTemplate(r, personalizer(r), settings=settings, list_name="weekly", date=NOW)
    bad = Recipient(subscriber_id=12, email="a@example.org\r\nBcc: x@y.z", name="A")
    with pytest.raises(HeaderError):
        wire.message(bad, "<weekly-3.12@news.example.org>")
    with pytest.raises(HeaderError):
        wire.message(PEOPLE[0], "<not a message id>")
    with pytest.raises(ValueError):
        WireTemplate(
            r,
            personalizer(r),
            settings=settings,
            list_name="weekly",
            date=NOW.replace(tzinfo=None) + timedelta(0),
        )
