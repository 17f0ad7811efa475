"""The bounded decoder of response bodies: every split of the stream, the exact limit."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.content.inflate import BoundedDecoder, TooLarge, coding_of

TEXT = b"<rss version='2.0'>" + b"".join(b"<item>%d</item>" % n for n in range(300)) + b"</rss>"


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


WIRES = {
    "identity": (None, TEXT),
    "gzip": ("gzip", gzip.compress(TEXT)),
    "gzip-members": ("gzip", gzip.compress(TEXT[:100]) + gzip.compress(TEXT[100:])),
    "deflate-zlib": ("deflate", zlib.compress(TEXT)),
    "deflate-raw": ("deflate", raw_deflate(TEXT)),
}


def decode(coding: str | None, wire: bytes, sizes: list[int], limit: int) -> bytes:
    decoder = BoundedDecoder(coding, limit)
    start = 0
    for size in sizes:
        decoder.feed(wire[start : start + size])
        start += size
    decoder.feed(wire[start:])
    return decoder.finish()


@pytest.mark.parametrize("name", sorted(WIRES))
@given(sizes=st.lists(st.integers(min_value=0, max_value=40), max_size=30))
def test_any_split_decodes_the_same(name: str, sizes: list[int]) -> None:
    coding, wire = WIRES[name]
    assert decode(coding, wire, sizes, len(TEXT)) == TEXT


@pytest.mark.parametrize("name", sorted(WIRES))
def test_one_byte_over_the_limit_is_too_large(name: str) -> None:
    coding, wire = WIRES[name]
    assert decode(coding, wire, [1] * 5, len(TEXT)) == TEXT  # exactly the limit fits
    with pytest.raises(TooLarge):
        decode(coding, wire, [1] * 5, len(TEXT) - 1)


def test_an_empty_body_is_empty_in_any_coding() -> None:
    for coding in (None, "gzip", "deflate"):
        assert BoundedDecoder(coding, 10).finish() == b""


@pytest.mark.parametrize(
    ("header", "coding"),
    [("", None), ("identity", None), ("GZIP", "gzip"), ("x-gzip", "gzip"), ("deflate", "deflate")],
)
def test_codings_named(header: str, coding: str | None) -> None:
    assert coding_of(header) == coding


@pytest.mark.parametrize("header", ["gzip, gzip", "deflate,gzip", "gzip, identity, gzip"])
def test_stacked_codings_are_refused(header: str) -> None:
    with pytest.raises(ValueError, match="stacked codings"):
        coding_of(header)


@pytest.mark.parametrize("header", ["br", "zstd", "compress", "gzip\x1b[31m"])
def test_other_codings_are_refused(header: str) -> None:
    with pytest.raises(ValueError, match="not decoded here") as caught:
        coding_of(header)
    assert "\x1b" not in str(caught.value)
