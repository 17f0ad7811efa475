"""Click counting for one send: its links recorded, its mail rewritten once per version.

Used by :class:`~syndicate.delivery.copies.Copies` when the list has ``count_clicks =
true``: each version's content links get a row in ``click_links`` (the only URLs
``/c/<id>`` will ever redirect to) and the mail's links lead to ``{web}/c/<signed id>``.
Without ``[analytics] per_subscriber`` the id names the send and link only, the same in
every copy; with it, each copy's ids also name its reader (the per-copy part is one short
HMAC per link, filled in with the other per-recipient values).
"""

from __future__ import annotations

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.digest.links import (
    CLICK_PATH,
    ClickFiller,
    content_links,
    link_marker,
    rewrite,
)
from syndicate.digest.personalize import ascii_url
from syndicate.models import RenderedDigest
from syndicate.store.clicks import register_links
from syndicate.subscribers.clickids import ClickIds
from syndicate.subscribers.tokens import Signer


class ClickBook:
    """The click links of one send (build with :func:`clicks_for`)."""

    def __init__(
        self, engine: Engine, ids: ClickIds, *, send_id: int, web_url: str, per_subscriber: bool
    ) -> None:
        self.engine, self.ids, self.send_id = engine, ids, send_id
        self.base = f"{ascii_url(web_url).rstrip('/')}/{CLICK_PATH}/"
        self.web_url = web_url
        self.per_subscriber = per_subscriber

    def same_as(self, other: ClickBook) -> bool:
        """Whether both make the same links (one send, one kind of id)."""
        return (self.send_id, self.per_subscriber) == (other.send_id, other.per_subscriber)

    def apply(self, rendered: RenderedDigest) -> tuple[RenderedDigest, ClickFiller | None]:
        """``rendered`` with its content links led through ``/c/`` (recorded first), and
        what fills in the per-reader ids (None without ``per_subscriber``)."""
        urls = content_links(rendered, web_url=self.web_url)
        if not urls:
            return rendered, None
        with self.engine.begin() as conn:
            link_ids = register_links(conn, self.send_id, urls)
        if not self.per_subscriber:
            made = {u: self.base + self.ids.make(self.send_id, link_ids[u]) for u in urls}
            return rewrite(rendered, made), None
        marked = {u: self.base + link_marker(i) for i, u in enumerate(urls)}
        prefixes = tuple(self.ids.prefix(self.send_id, link_ids[u]) for u in urls)
        return rewrite(rendered, marked), ClickFiller(self.ids, prefixes)


def clicks_for(
    settings: Settings, engine: Engine, signer: Signer, list_name: str, send_id: int
) -> ClickBook | None:
    """The send's click book when its list counts clicks, else None (links unchanged)."""
    cfg = settings.config.lists.get(list_name)
    if cfg is None or not cfg.count_clicks or send_id <= 0:
        return None
    return ClickBook(
        engine,
        ClickIds(signer),
        send_id=send_id,
        web_url=settings.web_url,
        per_subscriber=settings.config.analytics.per_subscriber,
    )
