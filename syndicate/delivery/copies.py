"""The versions of one send's digest, each rendered once and kept as wire templates."""

from __future__ import annotations

import json

from syndicate.config import Settings
from syndicate.digest.assemble import EVERYTHING, assemble
from syndicate.digest.personalize import Personalizer
from syndicate.digest.post import post_version
from syndicate.digest.prepare import Prepared
from syndicate.digest.render import render_digest
from syndicate.digest.wire import WireTemplate
from syndicate.errors import SyndicateError
from syndicate.models import Digest
from syndicate.store.digests import POST
from syndicate.subscribers.tokens import Signer


def variant_key(topics: frozenset[str]) -> str:
    """How a topic set is stored in the ledger."""
    return json.dumps(sorted(topics))


class Copies:
    """Renders a version the first time a recipient of its topic set comes up."""

    def __init__(self, settings: Settings, signer: Signer, prepared: Prepared) -> None:
        self.settings, self.signer, self.prepared = settings, signer, prepared
        self._made: dict[str, tuple[Digest, WireTemplate]] = {}
        self._failed: dict[str, SyndicateError | ValueError] = {}

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

    def _make(self, topics: frozenset[str]) -> tuple[Digest, WireTemplate]:
        prepared, settings = self.prepared, self.settings
        whole = prepared.digests[EVERYTHING]
        if whole.kind == POST:  # a topic set no reader had when it was prepared
            digest = prepared.digests.get(topics) or post_version(whole, topics)
        else:
            digest = prepared.digests.get(topics) or self._assemble(topics)
        rendered = render_digest(digest, settings, note=prepared.note)
        filler = Personalizer(
            rendered,
            list_name=digest.list_name,
            web_url=settings.web_url,
            signer=self.signer,
            now=digest.created,
        )
        wire = WireTemplate(
            rendered, filler, settings=settings, list_name=digest.list_name, date=digest.created
        )
        return digest, wire
