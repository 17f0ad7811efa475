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
_LATIN_SINGLE_BYTE = {"cp1250", "cp1252", "cp1257", "cp775", "cp850", "cp437", "latin_1"}


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


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
    best = from_bytes(data, cp_isolation=None).best()
    if best is None or best.encoding is None:
        raise ContentError(
            path,
            _line_of(data, utf8_error.start),
            f"undecodable bytes: not UTF-8 (bad byte 0x{data[utf8_error.start]:02x} at "
            f"offset {utf8_error.start}) and no other text encoding fits; "
            "re-save the file as UTF-8",
        )
    encoding = best.encoding
    if encoding in _LATIN_SINGLE_BYTE or encoding.startswith(("iso8859_", "mac_")):
        # Short Western texts fit cp1250, cp1252, cp1257 and Mac Roman equally well; the
        # detector's pick among those ties is arbitrary, and cp1252 is what legacy editors wrote.
        try:
            return _normalize(data.decode("cp1252"))
        except UnicodeDecodeError:
            pass
    return _normalize(str(best))
