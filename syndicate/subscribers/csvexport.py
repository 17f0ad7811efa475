"""Writing subscriber CSV files: what ``read_rows`` reads back, and nothing a spreadsheet runs.

Formula cells: a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a CR is run as a
formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(…)``, ``=cmd|…``), and names and
attributes come from strangers (the subscribe form). ``write_rows`` writes such a cell, header
cells included, with a leading ``'`` (what those programs show as "text"; OWASP's advice). A
cell of ``'`` characters followed by one of them gets one more, so that ``read_rows`` can
drop exactly the ``'`` that was added: every text reads back as it was, also one that
really starts with ``'``. ``raw=True`` (``export --raw``, ``import --raw``) writes and reads
cells as they are.

Stored data that no file could hold as it is, or that import would refuse (rows stored
before import refused it: an attribute named with a control character, a NUL, control
characters in a name or topic, a topic holding ``;``) is made writable by
:func:`writable_keys` and :func:`writable_row`, which say what they changed; ``write_rows``
itself refuses it with ``ValueError``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TextIO

from syndicate.subscribers.address import control_character, escaped, show
from syndicate.subscribers.names import escape_refused, refused_character

COLUMNS = ("email", "name", "topics", "status")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportRow:
    """One subscriber to write; ``attributes`` not named in ``attribute_keys`` are not written."""

    email: str
    name: str | None = None
    topics: tuple[str, ...] = ()
    status: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def _formula_like(cell: str) -> bool:
    """Whether a cell is ``'``* then a character that starts a spreadsheet formula."""
    return cell.lstrip("'").startswith(FORMULA_START)


def guard(cell: str) -> str:
    """A cell as exported: ``'`` first when a spreadsheet would take it for a formula."""
    return "'" + cell if _formula_like(cell) else cell


def unguard(cell: str) -> str:
    """A cell as read: the ``'`` that :func:`guard` adds is dropped (the inverse of guard)."""
    return cell[1:] if cell.startswith("'") and _formula_like(cell[1:]) else cell


def key_problem(key: str, taken: Iterable[str] = ()) -> str | None:
    """Why ``key`` cannot be a column of the file (``taken``: the keys before it), or None."""
    if not key or key != key.strip():
        return "an empty or padded name"
    if control := control_character(key):
        return f"a control character ({control}) in its name"
    if key.casefold() in COLUMNS:
        return "a reserved name"
    if key.casefold() in (k.casefold() for k in taken):
        return "the name of another column"
    return None


def write_rows(
    out: TextIO,
    rows: Iterable[ExportRow],
    attribute_keys: Sequence[str] = (),
    *,
    raw: bool = False,
) -> None:
    """Write a header ``email,name,topics,status,<attribute_keys…>`` and one record per row.

    Formula cells are guarded (see the module) unless ``raw``; either way the file reads back
    exactly with the same ``raw``. Open ``out`` with ``newline=""``. ``ValueError`` for what
    would not read back: keys that are empty, padded, repeated or reserved or hold control
    characters; ``;`` in topics; NUL.
    """
    keys = list(attribute_keys)
    for i, key in enumerate(keys):
        if (why := key_problem(key, keys[:i])) is not None:
            raise ValueError(f"attribute key {key!r} cannot be a column: {why}")
    cell = (lambda c: c) if raw else guard
    plain = csv.writer(out, lineterminator="\n")
    # csv quotes fields holding the line terminator only, so a lone CR needs quoting forced.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    plain.writerow([cell(c) for c in (*COLUMNS, *keys)])
    for row in rows:
        if any(";" in topic for topic in row.topics):
            raise ValueError(f"{row.email}: a topic cannot contain ';': {row.topics!r}")
        cells = [row.email, row.name or "", ";".join(row.topics), row.status or ""]
        cells += [row.attributes.get(key, "") for key in keys]
        text = "".join(cells)
        if "\x00" in text:
            raise ValueError(f"{row.email}: NUL characters cannot be written")
        (quoted if "\r" in text else plain).writerow([cell(c) for c in cells])


def writable_keys(stored: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The column each stored attribute key is written as, and what was changed and why.

    A key with control characters is written with them escaped (``\\u001b``), a padded one
    stripped; one that still cannot be a column (empty, reserved, taken) is left out.
    """
    columns: dict[str, str] = {}
    notes: list[str] = []
    for key in sorted(stored):
        if key_problem(key, columns.values()) is None:
            columns[key] = key
            continue
        column = escaped(key).strip()
        why = key_problem(column, columns.values())
        if why is None:
            columns[key] = column
            notes.append(f"attribute {show(key)} is written as column {show(column)}")
        else:
            notes.append(f"attribute {show(key)} is left out: as a column it would have {why}")
    return columns, notes


def writable_row(row: ExportRow, columns: Mapping[str, str]) -> tuple[ExportRow, list[str]]:
    """``row`` with attributes renamed to ``columns`` and what no file can hold (a NUL), or
    import would refuse (control characters in a name or topic, format characters in a name,
    ``;`` in a topic), escaped."""
    notes: list[str] = []

    def clean(what: str, value: str, strict: bool = False, name: bool = False) -> str:
        if name and refused_character(value):
            notes.append(
                f"{row.email}: the name holds control or format characters, written escaped"
            )
            return escape_refused(value)
        if strict and control_character(value):
            notes.append(f"{row.email}: {what} holds control characters, written escaped")
            return escaped(value)
        if "\x00" not in value:
            return value
        notes.append(f"{row.email}: {what} holds a NUL character, written as \\u0000")
        return value.replace("\x00", "\\u0000")

    topics = tuple(clean("a topic", t, strict=True) for t in row.topics)
    if any(";" in t for t in topics):
        notes.append(f"{row.email}: a topic holds ';', written as ','")
        topics = tuple(t.replace(";", ",") for t in topics)
    attributes = {
        columns[k]: clean(f"attribute {show(k)}", v)
        for k, v in row.attributes.items()
        if k in columns
    }
    name = clean("the name", row.name, strict=True, name=True) if row.name is not None else None
    return replace(row, name=name, topics=topics, attributes=attributes), notes
