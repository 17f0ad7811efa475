"""Clicks per link of a send, as ``report`` (and its ``--json``) shows them.

Only for a list with ``count_clicks = true``, or a send that has counted links (the list
may have stopped counting since). Per-subscriber rows only where ``[analytics]
per_subscriber`` recorded them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from syndicate.config import Settings
from syndicate.service.clickrate import figures
from syndicate.store import clicks as click_repo
from syndicate.store.sends import SendRow
from syndicate.subscribers.address import display_address
from syndicate.text import one_line, plural


def _links(settings: Settings, conn: Connection, sent: SendRow) -> list[click_repo.LinkClicks]:
    links = click_repo.click_counts(conn, sent.id)
    cfg = settings.config.lists.get(sent.list_name)
    if not links and (cfg is None or not cfg.count_clicks):
        return []
    return links


def click_docs(settings: Settings, conn: Connection, sent: SendRow) -> list[dict[str, Any]]:
    """JSON Lines objects: one ``"kind": "click"`` per counted link (with ``readers`` when
    per-subscriber clicks were recorded)."""
    readers: dict[int, list[dict[str, Any]]] = {}
    for row in click_repo.subscriber_clicks_of(conn, sent.id):
        readers.setdefault(row.link_id, []).append(
            {"email": row.email, "clicks": row.clicks, "first_at": row.first_at.isoformat()}
        )
    docs = []
    for link in _links(settings, conn, sent):
        doc: dict[str, Any] = {"kind": "click", "url": link.url, "clicks": link.clicks}
        if link.link_id in readers:
            doc["readers"] = readers[link.link_id]
        docs.append(doc)
    return docs


def click_lines(
    settings: Settings, conn: Connection, sent: SendRow, *, delivered: int
) -> list[str]:
    """What the text report prints about clicks (nothing for a list that counts none): the
    count, and the readers who clicked over ``delivered`` copies with ``per_subscriber``,
    told as the desk tells them (:mod:`syndicate.service.clickrate`)."""
    cfg = settings.config.lists.get(sent.list_name)
    links = _links(settings, conn, sent)
    if not links:
        if cfg is not None and cfg.count_clicks:
            return ["clicks: no counted links in this send"]
        return []
    per_subscriber = settings.config.analytics.per_subscriber
    told = figures(conn, [(sent.id, delivered)], per_subscriber=per_subscriber).get(sent.id)
    lines = [f"clicks: {told.words}"] if told is not None else []
    width = max(len(f"{link.clicks:,}") for link in links)
    lines += [f"  {link.clicks:>{width},}  {one_line(link.url, 300)}" for link in links]
    by_reader = click_repo.subscriber_clicks_of(conn, sent.id)
    if by_reader:
        people = len({row.subscriber_id for row in by_reader})
        lines.append(f"  by {plural(people, 'reader')} ([analytics] per_subscriber):")
        lines += [
            f"    {display_address(row.email)}: {plural(row.clicks, 'click')} on "
            f"{one_line(row.url, 300)}"
            for row in by_reader
        ]
    return lines
