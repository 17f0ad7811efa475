"""How a send's clicks are told, the same on the desk, in ``syndicate report`` and in the
HTTP API.

Without ``[analytics] per_subscriber`` a click names nobody, and one reader following a link
eight times is eight clicks: clicks over delivered copies is no rate (it can pass 100 %), so
only the count is given ("3 clicks on 2 links"). With it, the distinct readers who clicked
are known, and *that* over the copies delivered is the rate ("1 reader of 1,493 (0.07 %)").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection

from syndicate.store.clicks import clicker_totals, link_totals
from syndicate.text import plural


@dataclass(frozen=True, slots=True, kw_only=True)
class ClickFigure:
    """A send's clicks: the count, and the readers who clicked when they are known."""

    clicks: int  # every counted click (a reader may click many times)
    links: int  # counted links in the send's mail
    clickers: int | None  # distinct readers who clicked; None: nobody is named
    delivered: int  # copies the server took

    @property
    def rate(self) -> float | None:
        """Readers who clicked over copies delivered (None when readers are not known)."""
        if self.clickers is None or self.delivered <= 0:
            return None
        return self.clickers / self.delivered

    @property
    def counted(self) -> str:
        """ "3 clicks on 2 links"."""
        return f"{plural(self.clicks, 'click')} on {plural(self.links, 'link')}"

    @property
    def readers(self) -> str | None:
        """ "1 reader of 1,493 (0.07 %)", or None without ``per_subscriber``."""
        if self.clickers is None:
            return None
        rate = f" ({rate_text(self.rate)})" if self.rate is not None else ""
        return f"{plural(self.clickers, 'reader')} of {self.delivered:,}{rate}"

    @property
    def words(self) -> str:
        """The whole figure in one line: the count, then the readers when known."""
        who = self.readers
        return self.counted if who is None else f"{self.counted}; {who} clicked"


def rate_text(rate: float) -> str:
    """0.00067 → "0.07 %" (two digits below 1 %, one above; "< 0.01 %" rather than 0)."""
    digits = 2 if round(rate * 100, 2) < 1 else 1  # 0.999 % is "1.0 %" (as the desk's percent)
    shown = f"{rate * 100:.{digits}f}"
    if rate > 0 and float(shown) == 0:
        return "< 0.01 %"
    return f"{shown} %"


def figure(
    clicks: int, links: int, *, clickers: int | None, delivered: int, per_subscriber: bool
) -> ClickFigure:
    """The figure of a send whose mail carried ``links`` counted links. ``clickers``: the
    distinct readers recorded (None or 0: none). Readers are known when some were recorded,
    or when ``per_subscriber`` is on and nothing was clicked yet; clicks with no reader
    recorded (counted while ``per_subscriber`` was off) name nobody."""
    known = bool(clickers) or (per_subscriber and clicks == 0)
    return ClickFigure(
        clicks=clicks,
        links=links,
        clickers=(clickers or 0) if known else None,
        delivered=delivered,
    )


def figures(
    conn: Connection, delivered: Iterable[tuple[int, int]], *, per_subscriber: bool
) -> dict[int, ClickFigure]:
    """The figure of each send (``delivered``: (send id, copies delivered)) whose mail carried
    counted links, in two queries; a send missing from the answer counted no clicks."""
    copies = dict(delivered)
    totals = link_totals(conn, list(copies))
    readers = clicker_totals(conn, list(totals))
    return {
        send_id: figure(
            clicks,
            links,
            clickers=readers.get(send_id),
            delivered=copies[send_id],
            per_subscriber=per_subscriber,
        )
        for send_id, (clicks, links) in totals.items()
    }
