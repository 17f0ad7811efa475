"""Decoding content files: every encoding and line ending an editor writes gives the same text."""

from __future__ import annotations

import codecs

import pytest

from syndicate.content.decode import decode
from syndicate.content.registry import parse_file
from syndicate.errors import ContentError

# A realistic Western paragraph: accents, umlauts, curly quotes, dashes, apostrophes, euro.
TEXT = (
    "Le café près de la gare était plein. Müller, the über-critic, wrote: “It’s a naïve "
    "façade — nothing more.”\n"
    "The crème brûlée cost 5 €, and the jalapeño soufflé was “très chic” – or so they said.\n"
    "\n"
    "Second paragraph: Zoë’s résumé lists Señor Núñez, the Øresund bridge and Ångström’s café.\n"
)

ENCODINGS = [
    "utf-8",
    "utf-8 with BOM",
    "utf-16-le with BOM",
    "utf-16-be with BOM",
    "utf-32-le with BOM",
    "utf-32-be with BOM",
    "cp1252",
]
ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_and_line_ending_decodes_to_the_same_text(
    encoding: str, ending: str
) -> None:
    raw = _encode_like(encoding, TEXT.replace("\n", ENDINGS[ending]))
    assert decode("a.md", raw) == TEXT


def _encode_like(encoding: str, text: str) -> bytes:
    name, _, bom = encoding.partition(" with ")
    prefix = {
        "utf-8": codecs.BOM_UTF8,
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
        "utf-32-be": codecs.BOM_UTF32_BE,
    }
    return (prefix[name] if bom else b"") + text.encode(name)


def test_mixed_line_endings_all_become_lf() -> None:
    assert decode("a.md", b"one\r\ntwo\rthree\nfour\r\r\nfive") == "one\ntwo\nthree\nfour\n\nfive"


def test_the_bom_is_not_part_of_the_text() -> None:
    assert not decode("a.md", codecs.BOM_UTF8 + b"Title").startswith("\ufeff")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8 with BOM", "utf-16-le with BOM", "cp1252"])
def test_parsed_article_is_the_same_whatever_the_encoding(encoding: str) -> None:
    source = "---\ntitle: “Naïve” façade — it’s back\n---\n\n" + TEXT
    reference = parse_file("a.md", ".md", source.encode("utf-8"))
    for ending in ("\n", "\r\n", "\r"):
        entry = parse_file("a.md", ".md", _encode_like(encoding, source.replace("\n", ending)))
        assert entry == reference
    assert reference is not None
    assert reference.title == "“Naïve” façade — it’s back"
    assert reference.lead.startswith("Le café près de la gare était plein. Müller")


def test_a_few_stray_control_characters_are_dropped() -> None:
    assert (
        decode("a.txt", b"Title\n\nBody\x0b text\x1b here.\x08\n") == "Title\n\nBody text here.\n"
    )


def test_tab_and_form_feed_are_kept() -> None:
    assert decode("a.txt", b"a\tb\x0cc") == "a\tb\x0cc"


# --- errors name the line at fault ------------------------------------------------------


def _error(data: bytes) -> ContentError:
    with pytest.raises(ContentError) as info:
        decode("content/x.md", data)
    assert info.value.path == "content/x.md"
    return info.value


@pytest.mark.parametrize("ending", ENDINGS.values(), ids=ENDINGS.keys())
def test_utf8_bom_then_invalid_byte_names_its_line(ending: str) -> None:
    head = "---\ntitle: Caf\u00e9\n---\n\nFine line.\nBad here: ".replace("\n", ending)
    err = _error(codecs.BOM_UTF8 + head.encode() + b"\xff\xfe tail\n")
    assert err.line == 6
    assert "not valid UTF-8" in err.reason
    assert "byte-order mark" in err.reason
    # The offset points at the bad byte, counting the BOM.
    assert f"offset {len(codecs.BOM_UTF8) + len(head.encode())}" in err.reason


@pytest.mark.parametrize("line", [1, 2, 7])
def test_bad_byte_line_counts_only_lines_before_it(line: int) -> None:
    data = codecs.BOM_UTF8 + b"ok\n" * (line - 1) + b"x\xc3(" + b"\nmore\n" * 3
    assert _error(data).line == line


@pytest.mark.parametrize("bom,codec", [(codecs.BOM_UTF16_LE, "le"), (codecs.BOM_UTF16_BE, "be")])
def test_utf16_bom_then_lone_surrogate_names_its_line(bom: bytes, codec: str) -> None:
    head = "title\r\n\r\nbody\rstill body\n".encode(f"utf-16-{codec}")
    surrogate = b"\x00\xd8" if codec == "le" else b"\xd8\x00"
    err = _error(bom + head + surrogate + "x".encode(f"utf-16-{codec}"))
    assert err.line == 5
    assert f"not valid UTF-16-{codec.upper()}" in err.reason


def test_nul_byte_is_binary_and_names_its_line() -> None:
    err = _error(b"Title\n\nBody\nmore\x00\x00\x01")
    assert err.line == 4
    assert "binary file (contains NUL bytes)" in err.reason


def test_many_control_characters_are_binary() -> None:
    err = _error(b"Title\n\n" + bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15]) * 3)
    assert err.line == 1
    assert "binary file (30 control characters)" in err.reason


def test_nul_byte_line_with_cr_line_endings() -> None:
    assert _error(b"Title\r\rBody\rmore\x00\x00\x01").line == 4


@pytest.mark.parametrize("text", ["# Café\n\nShort.\n", "Über\n\nJa.\n", "“Quote”\n\nText.\n"])
def test_short_cp1252_files(text: str) -> None:
    assert decode("a.md", text.encode("cp1252")) == text
