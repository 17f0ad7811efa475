"""Subscriber CSV files: a streaming reader that explains every row it skips, and a writer.

Header ``email,name,topics[,status][,attribute…]`` (any order, any case); topics are
separated by ``;``; other named columns are free-form attributes. Files whose header only
makes sense split on ``;`` or tabs (spreadsheet exports in many locales) are read that way;
in them a topics cell may also separate its topics with commas. ``read_rows`` holds one
line (≤ 64 KiB) and one record at a time, plus the keys seen, so any file reads in bounded
memory. ``write_rows`` writes what ``read_rows`` reads back unchanged.

The writer is in ``csvexport``: it guards formula cells with a leading ``'``, which
``read_rows`` drops again (unless ``raw``), so an export reads back exactly.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from syndicate.models import Problem
from syndicate.subscribers.address import (
    Address,
    AddressError,
    control_character,
    normalize_address,
    show,
)
from syndicate.subscribers.csvexport import COLUMNS, ExportRow, unguard, write_rows
from syndicate.subscribers.names import refused_character

MAX_LINE_BYTES = 64 * 1024  # one physical line, without its line ending
MAX_RECORD_LINES = 100  # a quoted field open longer than this is taken for a stray quote
MAX_RECORD_CHARS = 64 * 1024
MAX_COLUMNS = 1000
MAX_NAME = 200
MAX_TOPIC = 100
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
HINT = "expected a header line like email,name,topics"
_BOM = b"\xef\xbb\xbf"
# The writer lives in csvexport; these names are also reachable from here.
__all__ = ["COLUMNS", "ExportRow", "Row", "read_rows", "write_rows"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One valid subscriber row; ``line`` is where its record starts."""

    line: int
    address: Address
    name: str | None
    topics: tuple[str, ...]
    status: str | None  # one of STATUSES, lower-case; None when the cell is empty
    attributes: dict[str, str]  # the other named columns, sorted by key; empty cells left out


def read_rows(
    stream: BinaryIO, path: str, *, check_dns: bool = False, raw: bool = False
) -> Iterator[Row | Problem]:
    """Yield each valid row of the CSV in ``stream``, and a ``Problem`` for each rejected one.

    In file order. The first occurrence of an address (case-insensitively) wins. Blank lines
    and rows of empty cells are skipped silently. An empty file, or one without a usable
    header, yields one problem. Only ``OSError`` from ``stream`` escapes. ``raw``: cells are
    taken as they are (a file from ``export --raw``), not unguarded.
    """
    lines = _Lines(stream, path)
    reader = csv.reader(lines)
    header: _Header | None = None
    seen: dict[str, int] = {}
    while True:
        fields: list[str] | None = None
        try:
            fields = next(reader)
        except StopIteration:
            if header is None and not lines.problems:
                yield Problem(path=path, line=1, reason=f"empty file: {HINT}")
            yield from lines.flush()
            return
        except _Unclosed as exc:
            error = f"unclosed quote: a quoted field starts on this line and {exc}; line skipped"
        except csv.Error as exc:
            error = _csv_reason(exc)
        yield from lines.flush()
        text = lines.text() if header is None else ""
        first, last = lines.take()
        if fields is None:
            yield Problem(path=path, line=first, reason=error)
            if header is None:
                return
            continue
        if not any(f and not f.isspace() for f in fields):
            continue
        if header is None:
            parsed = _parse_header(fields if raw else [unguard(f) for f in fields])
            other = _other_delimiter(text, len(fields), raw) if isinstance(parsed, str) else None
            if isinstance(other, _Header):  # a spreadsheet export: read the rest the same way
                parsed, reader = other, csv.reader(lines, delimiter=other.delimiter)
            elif other is not None:  # split that way, it names its columns properly
                parsed = other
            if isinstance(parsed, str):
                yield Problem(path=path, line=first, reason=parsed)
                return
            header, lines.strict = parsed, False
            continue
        row = _row(fields if raw else [unguard(f) for f in fields], header, first, check_dns)
        if isinstance(row, str):
            if last > first:
                row += f" (the record spans lines {first}-{last}: check for a stray quote)"
            yield Problem(path=path, line=first, reason=row)
            continue
        earlier = seen.setdefault(row.address.key, first)
        if earlier != first:
            yield Problem(path=path, line=first, reason=f"duplicate of line {earlier}; skipped")
            continue
        yield row


class _Unclosed(Exception):
    """Raised through ``csv.reader`` when a record cannot end; the lines are rewound."""


_Item = tuple[int, str | None, str]  # line number, text (None when rejected), why rejected


class _Lines:
    """The physical lines fed to ``csv.reader``: capped, decoded, bad ones set aside.

    ``record`` is the lines fed since the last record ended. A quoted field that runs on too
    long (or to the end, or into a bad line) is undone: its first line is reported and the
    rest read again, so a stray quote costs one row. Before the header, a bad line ends all.
    """

    def __init__(self, stream: BinaryIO, path: str) -> None:
        self.stream, self.path = stream, path
        self.lineno = 0
        self.again: deque[_Item] = deque()
        self.record: list[tuple[int, str]] = []
        self.chars = 0
        self.problems: list[Problem] = []
        self.strict = True

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        while True:
            item = self.again.popleft() if self.again else self._read()
            if item is None:
                if self.record:
                    self._rewind(None)
                    raise _Unclosed("never ends")
                raise StopIteration
            line, text, reason = item
            if text is None:
                if self.record:
                    self._rewind(item)
                    raise _Unclosed(f"runs into line {line}, which cannot be read")
                self.problems.append(Problem(path=self.path, line=line, reason=reason))
                if self.strict:
                    raise StopIteration
                continue
            if not self.record:
                self.chars = 0
            elif len(self.record) >= MAX_RECORD_LINES:
                self._rewind(item)
                raise _Unclosed(f"is still open after {MAX_RECORD_LINES} lines")
            elif self.chars + len(text) > MAX_RECORD_CHARS:
                self._rewind(item)
                raise _Unclosed("is still open after 64 KiB")
            self.chars += len(text)
            self.record.append((line, text))
            return text

    def text(self) -> str:
        """The physical lines of the record just parsed, as read."""
        return "".join(text for _, text in self.record)

    def take(self) -> tuple[int, int]:
        """The first and last line of the record just parsed; the next record starts afresh."""
        first, last = self.record[0][0], self.record[-1][0]
        self.record.clear()
        return first, last

    def flush(self) -> Iterator[Problem]:
        """The rejected lines met since the last call, in file order."""
        if self.problems:
            yield from self.problems
            self.problems.clear()

    def _rewind(self, current: _Item | None) -> None:
        again: list[_Item] = [(n, t, "") for n, t in self.record[1:]]
        if current is not None:
            again.append(current)
        self.again.extendleft(reversed(again))
        del self.record[1:]

    def _read(self) -> _Item | None:
        raw = self.stream.readline(MAX_LINE_BYTES + 2)
        if not raw:
            return None
        self.lineno += 1
        size = len(raw) - (2 if raw.endswith(b"\r\n") else 1 if raw.endswith(b"\n") else 0)
        if size == len(raw) == MAX_LINE_BYTES + 2:
            size += self._discard()
        if size > MAX_LINE_BYTES:
            return self.lineno, None, f"line too long ({size:,} bytes; the limit is 64 KiB)"
        if self.lineno == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        nul = raw.find(b"\x00")
        if nul >= 0:
            at = _column(raw, nul)
            return self.lineno, None, f"NUL byte at column {at}; is this a CSV text file?"
        try:
            return self.lineno, raw.decode("utf-8"), ""
        except UnicodeDecodeError as exc:
            byte, at = raw[exc.start], _column(raw, exc.start)
            reason = f"not valid UTF-8 (byte 0x{byte:02x} at column {at}); save the file as UTF-8"
            return self.lineno, None, reason

    def _discard(self) -> int:
        """Skip the rest of an oversized line, a chunk at a time; return its length."""
        total = 0
        while chunk := self.stream.readline(MAX_LINE_BYTES):
            if chunk.endswith(b"\n"):
                return total + len(chunk.rstrip(b"\r\n"))
            total += len(chunk)
        return total


@dataclass(frozen=True, slots=True)
class _Header:
    width: int
    email: int
    name: int  # -1 when the column is absent
    topics: int
    status: int
    attributes: tuple[tuple[str, int], ...]  # (key, column), sorted by key
    unnamed: tuple[int, ...]  # columns with an empty header cell: they must stay empty
    delimiter: str = ","


def _other_delimiter(raw: str, comma_fields: int, keep: bool) -> _Header | str | None:
    """The header read with ``;`` or a tab, when that (and not a comma) gives an email
    column: what spreadsheets write where the comma is the decimal separator. When the
    line splits on one of them but still has no email column, why (naming its columns)."""
    reason = None
    for delimiter in (";", "\t"):
        if delimiter not in raw:
            continue
        try:
            fields = next(csv.reader([raw.rstrip("\r\n")], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        parsed = _parse_header(fields if keep else [unguard(f) for f in fields])
        if not isinstance(parsed, str):
            return replace(parsed, delimiter=delimiter)
        if len(fields) > comma_fields and reason is None:
            reason = parsed
    return reason


def _parse_header(fields: list[str]) -> _Header | str:
    names = [f.strip() for f in fields]
    while names and not names[-1]:  # spreadsheets pad headers with empty cells
        names.pop()
    if len(names) > MAX_COLUMNS:
        return f"the header has {len(names):,} columns; the limit is {MAX_COLUMNS:,}"
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        folded = name.casefold()
        if folded in index:
            return f"duplicate column {show(name)} (columns {index[folded] + 1} and {i + 1})"
        if name:
            index[folded] = i
        if control := control_character(name):  # export could never write such a column
            return f"column {i + 1} ({show(name)}) has a control character ({control}) in its name"
    if "email" not in index:
        found = ", ".join(show(n) for n in names[:10] if n)
        reason = f"the header has no email column (found {found}); {HINT}"
        alias = next((n for n in names if "mail" in n.casefold() and "@" not in n), None)
        return reason + (f"; rename {show(alias)} to email" if alias else "")
    return _Header(
        width=len(names),
        email=index["email"],
        name=index.get("name", -1),
        topics=index.get("topics", -1),
        status=index.get("status", -1),
        attributes=tuple(sorted((names[i], i) for k, i in index.items() if k not in COLUMNS)),
        unnamed=tuple(i for i, n in enumerate(names) if not n),
    )


def _row(fields: list[str], h: _Header, line: int, check_dns: bool) -> Row | str:
    """The row, or why it is rejected (every reason, joined by "; ")."""
    n = len(fields)
    errors: list[str] = []
    extras = [(i + 1, f) for i, f in enumerate(fields) if i >= h.width and f and not f.isspace()]
    if extras:
        listed = ", ".join(f"{show(f)} in column {i}" for i, f in extras[:10])
        more = f" and {len(extras) - 10} more" if len(extras) > 10 else ""
        errors.append(f"{n} fields, but the header has {h.width} columns (extra: {listed}{more})")
    unnamed = [i + 1 for i in h.unnamed if i < n and fields[i] and not fields[i].isspace()]
    if len(unnamed) == 1:
        errors.append(f"a value in column {unnamed[0]}, which has no name in the header")
    elif unnamed:
        columns = ", ".join(str(i) for i in unnamed)
        errors.append(f"values in columns {columns}, which have no name in the header")
    address: Address | None = None
    try:
        address = normalize_address(fields[h.email] if h.email < n else "", check_dns=check_dns)
    except AddressError as exc:
        errors.append(exc.reason)
    name = fields[h.name].strip() if 0 <= h.name < n else ""
    if name and len(name) > MAX_NAME:
        errors.append(f"name is longer than {MAX_NAME} characters ({len(name)})")
    elif name and (why := refused_character(name)):  # the rule of the form and the API
        errors.append(f"name contains {why}")
    cell = fields[h.topics] if 0 <= h.topics < n else ""
    if h.delimiter != ",":  # "trade, energy" in a spreadsheet cell
        cell = cell.replace(",", ";")
    topics = _topics(cell, errors) if cell else ()
    given = fields[h.status].strip() if 0 <= h.status < n else ""
    status = given.lower()
    if status and status not in STATUSES:
        errors.append(f"unknown status {show(given)}: expected one of {', '.join(STATUSES)}")
    if errors or address is None:
        return "; ".join(errors)
    return Row(
        line=line,
        address=address,
        name=name or None,
        topics=topics,
        status=status or None,
        attributes={key: fields[i] for key, i in h.attributes if i < n and fields[i]},
    )


def _topics(value: str, errors: list[str]) -> tuple[str, ...]:
    """Split on ';', strip, drop empty ones and case-insensitive repeats (first spelling wins)."""
    kept: dict[str, str] = {}
    for part in value.split(";"):
        topic = part.strip()
        if not topic or topic.casefold() in kept:
            continue
        if len(topic) > MAX_TOPIC:
            errors.append(f"topic {show(topic)} is longer than {MAX_TOPIC} characters")
        elif control := control_character(topic):
            errors.append(f"topic {show(topic)} contains a control character ({control})")
        kept[topic.casefold()] = topic
    return tuple(kept.values())


def _column(raw: bytes, offset: int) -> int:
    """The 1-based character column of byte ``offset`` (the bytes before it decode cleanly)."""
    return len(raw[:offset].decode("utf-8", "replace")) + 1


def _csv_reason(exc: csv.Error) -> str:
    if "new-line character" not in str(exc):
        return f"not readable as CSV: {exc}"
    return "a carriage return (CR) inside the line; save the file with LF or CRLF line endings"
