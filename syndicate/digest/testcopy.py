"""Test copies and previews of a digest: the version a reader gets, with nothing of theirs.

A test copy (``send --to``) or a preview shows a real version of the digest — the topics and
even the name of a chosen subscriber — but its unsubscribe and preferences links lead to
the inert ``/test-copy/…`` pages and hold no token, and its Message-ID is its own (random),
never the one a reader's copy of the same issue gets. Nothing is recorded. Its "View this
email in your browser" line is left out (here, for every kind of copy: test copies, previews,
the approval preview): the issue's archive page exists only once the issue is sent, and a
test copy's issue number may go to a different issue later.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime

from syndicate.config import Settings
from syndicate.config.mailhost import mail_host
from syndicate.digest.archive import MAIL_ONLY
from syndicate.digest.message import test_message_id
from syndicate.digest.personalize import Personal, Personalizer, Recipient
from syndicate.digest.wire import WireTemplate
from syndicate.models import CrlfMessage, RenderedDigest

TEST_RECIPIENT_ID = 0  # no subscriber has it; the inert links do not use it anyway
SAMPLE_NAME = "Sample Reader"
_BLANK = re.compile(r"\n[ \t]*\n")


def without_browser_link(rendered: RenderedDigest) -> RenderedDigest:
    """``rendered`` without its "View this email in your browser" line: the HTML's mail-only
    stretch, and the text paragraph naming the issue's archive page (only an issue's own
    page, ``/archive/LIST/N.html``: a welcome's site link is not one)."""
    digest = rendered.digest
    url = digest.archive_url
    if not url.endswith(f"/archive/{digest.list_name}/{digest.issue}.html"):
        return rendered
    paragraphs = _BLANK.split(rendered.text)
    kept = [p for p in paragraphs if url not in "".join(p.split())]
    return dataclasses.replace(
        rendered, html=MAIL_ONLY.sub("", rendered.html), text="\n\n".join(kept)
    )


class TestCopies:
    """One rendered version, made into any number of test copies."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self,
        rendered: RenderedDigest,
        settings: Settings,
        *,
        date: datetime,
        templates: tuple[str, str] = ("digest.mjml.j2", "digest.txt.j2"),
    ) -> None:
        list_name = rendered.digest.list_name
        rendered = without_browser_link(rendered)
        self.rendered = rendered
        self.filler = Personalizer(
            rendered,
            list_name=list_name,
            web_url=settings.web_url,
            signer=None,
            now=date,
            templates=templates,
        )
        self.wire = WireTemplate(
            rendered, self.filler, settings=settings, list_name=list_name, date=date
        )
        self.host = mail_host(settings)

    def personal(self, email: str, name: str | None) -> Personal:
        """The body of a test copy for ``email`` (HTML and text, links inert)."""
        return self.filler.fill(_recipient(email, name))

    def message(self, email: str, name: str | None) -> CrlfMessage:
        """The whole RFC 5322 message of a test copy to ``email``, with its own Message-ID."""
        recipient = _recipient(email, name)
        return CrlfMessage(
            self.wire.message(recipient, test_message_id(self.rendered.digest, self.host))
        )


def _recipient(email: str, name: str | None) -> Recipient:
    return Recipient(subscriber_id=TEST_RECIPIENT_ID, email=email, name=name)
