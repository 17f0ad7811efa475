"""The versions of one send's digest, each rendered once and kept as wire templates."""

from __future__ import annotations

import json

from syndicate.config import Settings
from syndicate.delivery.clicklinks import ClickBook
from syndicate.digest.assemble import EVERYTHING, assemble
from syndicate.digest.personalize import Personalizer
from syndicate.digest.post import post_version
from syndicate.digest.prepare import Prepared
from syndicate.digest.render import render_digest
from syndicate.digest.wire import WireTemplate
from syndicate.errors import SyndicateError
from syndicate.models import Digest, RenderedDigest
from syndicate.store.digests import POST
from syndicate.subscribers.tokens import Signer


def variant_key(topics: frozenset[str]) -> str:
    """How a topic set is stored in the ledger."""
    return json.dumps(sorted(topics))


class Copies:
    """Renders a version the first time a recipient of its topic set comes up.

    With ``clicks`` (a list with ``count_clicks``), each version's content links are
    recorded and rewritten once, here, not per copy; ``wire.rendered`` stays the mail as
    rendered (the archive copy is written from it, with its links as they are).
    """

    def __init__(
        self,
        settings: Settings,
        signer: Signer,
        prepared: Prepared,
        clicks: ClickBook | None = None,
    ) -> None:
        self.settings, self.signer, self.prepared = settings, signer, prepared
        self.clicks = clicks
        self._rendered: dict[str, tuple[Digest, RenderedDigest]] = {}
        self._made: dict[str, tuple[Digest, WireTemplate]] = {}
        self._failed: dict[str, SyndicateError | ValueError] = {}

    def attach_clicks(self, clicks: ClickBook | None) -> None:
        """Count clicks from now on (the send's id is known only once it is recorded):
        versions made before are made again from their kept rendering."""
        now, then = clicks, self.clicks
        if now is None and then is None:
            return
        if now is not None and then is not None and now.same_as(then):
            return
        self.clicks = clicks
        self._made.clear()
        self._failed.clear()

    def get(self, variant: str) -> tuple[Digest, WireTemplate]:
        """The digest and wire template for a ledger row's ``variant`` (a version that
        cannot be rendered raises the same error for each of its rows, rendered once)."""
        found = self._made.get(variant)
        if found is None:
            if variant in self._failed:
                raise self._failed[variant]
            try:
                found = self._made[variant] = self._make(frozenset(json.loads(variant)))
            except (SyndicateError, ValueError) as exc:
                self._failed[variant] = exc
                raise
        return found

    def _assemble(self, topics: frozenset[str]) -> Digest:
        prepared, settings = self.prepared, self.settings
        whole = prepared.digests[EVERYTHING]
        return assemble(
            whole.list_name,
            settings.mailing_list(whole.list_name),
            prepared.fresh,
            state=prepared.state,
            publication=settings.publication,
            topics=topics,
            now=whole.created,
        )

    def _render(self, topics: frozenset[str]) -> tuple[Digest, RenderedDigest]:
        key = variant_key(topics)
        found = self._rendered.get(key)
        if found is not None:
            return found
        prepared, settings = self.prepared, self.settings
        whole = prepared.digests[EVERYTHING]
        if whole.kind == POST:  # a topic set no reader had when it was prepared
            digest = prepared.digests.get(topics) or post_version(whole, topics)
        else:
            digest = prepared.digests.get(topics) or self._assemble(topics)
        found = self._rendered[key] = (digest, render_digest(digest, settings, note=prepared.note))
        return found

    def _make(self, topics: frozenset[str]) -> tuple[Digest, WireTemplate]:
        settings = self.settings
        digest, rendered = self._render(topics)
        mailed, ids = rendered, None
        if self.clicks is not None:
            mailed, ids = self.clicks.apply(rendered)
        filler = Personalizer(
            mailed,
            list_name=digest.list_name,
            web_url=settings.web_url,
            signer=self.signer,
            now=digest.created,
            clicks=ids,
        )
        wire = WireTemplate(
            rendered, filler, settings=settings, list_name=digest.list_name, date=digest.created
        )
        return digest, wire
