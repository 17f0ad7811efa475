"""The public copy of a digest, behind its "view in browser" link.

It is the digest as sent, minus everything personal: the markers get neutral values and the
links lead to the generic subscription pages instead of carrying anyone's token. What the
template marks as mail-only (between ``<!-- syndicate:mail-only -->`` and ``<!--
/syndicate:mail-only -->``: the "View this email in your browser" line) is left out, since
the archive copy is that browser version.
"""

from __future__ import annotations

import re
from pathlib import Path

from syndicate.config import Settings
from syndicate.config.paths import ARCHIVE_FOLDER as ARCHIVE_FOLDER
from syndicate.digest import markers
from syndicate.files import write_atomic
from syndicate.models import RenderedDigest

MAIL_ONLY = re.compile(r"<!-- syndicate:mail-only -->.*?<!-- /syndicate:mail-only -->", re.S)


def public_html(rendered: RenderedDigest, settings: Settings) -> str:
    """The digest's HTML with no personal data and no tokens in it."""
    web = settings.web_url
    values = {
        markers.NAME: "reader",
        markers.EMAIL: "",
        markers.UNSUBSCRIBE_URL: f"{web}/unsubscribe",
        markers.PREFERENCES_URL: f"{web}/preferences",
    }
    html = MAIL_ONLY.sub("", rendered.html)
    for marker, value in values.items():
        html = html.replace(marker, value)
    return html


def archive_path(settings: Settings, list_name: str, issue: int) -> Path:
    """Where the archived copy of an issue lives in the site folder."""
    return settings.root / ARCHIVE_FOLDER / list_name / f"{issue}.html"


def write_archive(rendered: RenderedDigest, settings: Settings) -> Path:
    """Write (atomically) the public copy of a digest about to be sent."""
    digest = rendered.digest
    path = archive_path(settings, digest.list_name, digest.issue)
    write_atomic(path, public_html(rendered, settings).encode("utf-8"))
    return path
