"""Bytes to text: UTF-8 (with or without BOM), UTF-16/32 with BOM, legacy single-byte files.

The fast path is strict UTF-8, which nearly every file is; charset-normalizer is asked only
when that fails. Line endings (CRLF, CR) become ``\\n``.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from syndicate.errors import ContentError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls other than tab, LF, FF and CR mark a binary file (or a corrupt one).
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 12, 13))
_CONTROL_RE = re.compile("[" + re.escape(_CONTROL.decode("ascii")) + "]")
_BINARY_CONTROL_RATIO = 0.01
# Legacy encodings a publication's files are plausibly in; without this list the detector
# also considers UTF-16 without BOM and rare code pages, and turns short files into mojibake.
_LEGACY = [
    "cp1252",
    "cp1250",
    "cp1251",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "iso8859_15",
    "koi8_r",
    "mac_roman",
    "shift_jis",
    "euc_jp",
    "gb18030",
    "big5",
    "euc_kr",
]
_LATIN = {"cp1252", "cp1250", "cp1254", "cp1257", "iso8859_15", "mac_roman"}


def _line_of(data: bytes, offset: int) -> int:
    """1-based line of a byte offset, whether lines end in LF, CRLF or CR."""
    head = data[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _normalize(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _decode_with_bom(path: str, data: bytes, bom: bytes, encoding: str) -> str:
    body = data[len(bom) :]
    try:
        return _normalize(body.decode(encoding))
    except UnicodeDecodeError as exc:
        good = _normalize(body[: exc.start].decode(encoding, errors="replace"))
        raise ContentError(
            path,
            good.count("\n") + 1,
            f"not valid {encoding.upper()} although the file starts with a {encoding.upper()} "
            f"byte-order mark (bad byte at offset {exc.start + len(bom)}); "
            "re-save the file as UTF-8",
        ) from None


def decode(path: str, data: bytes) -> str:
    """Decode a content file, or raise ContentError saying why it cannot be read as text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _decode_with_bom(path, data, bom, encoding)
            break
    else:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise ContentError(
                path,
                _line_of(data, nul),
                "binary file (contains NUL bytes); content files must be text "
                "(UTF-8 Markdown or plain text)",
            )
        try:
            text = _normalize(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            text = _decode_legacy(path, data, exc)
    if _CONTROL_RE.search(text) is None:
        return text
    controls = len(_CONTROL_RE.findall(text))
    if controls > max(8, len(text) * _BINARY_CONTROL_RATIO):
        raise ContentError(
            path, 1, f"binary file ({controls} control characters); content files must be text"
        )
    return _CONTROL_RE.sub("", text)


def _decode_legacy(path: str, data: bytes, utf8_error: UnicodeDecodeError) -> str:
    matches = list(from_bytes(data, cp_isolation=_LEGACY))
    if not matches:
        raise ContentError(
            path,
            _line_of(data, utf8_error.start),
            f"undecodable bytes: not UTF-8 (bad byte 0x{data[utf8_error.start]:02x} at "
            f"offset {utf8_error.start}) and no other text encoding fits; "
            "re-save the file as UTF-8",
        )
    least = min(m.chaos for m in matches)
    tied = {m.encoding for m in matches if m.chaos == least}
    if tied & _LATIN:
        # Short Western texts fit cp1250, cp1252, Big5 and more equally well; among such
        # ties the detector's pick is arbitrary, and cp1252 is what legacy editors wrote.
        try:
            return _normalize(data.decode("cp1252"))
        except UnicodeDecodeError:
            pass
    best = min(matches, key=lambda m: m.chaos)
    return _normalize(str(best))
