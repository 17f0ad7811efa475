"""The editors' preview of a digest that waits for approval (``approve = true``).

It is the readers' version with three changes, so that nobody takes it for an issue that
went out: the subject starts with ``[for approval]``; a short note at the top of both parts
says until when it waits, what happens then, and the two commands that decide it; and the
"View this email in your browser" line is left out (its archive page exists only once the
digest is sent, and never if it is rejected), as in every test copy
(:class:`syndicate.digest.testcopy.TestCopies`, which makes the preview's mail, leaves it
out). The links stay the inert test-copy ones.
"""

from __future__ import annotations

import dataclasses
import html
import re

from syndicate.digest.testcopy import without_browser_link
from syndicate.models import RenderedDigest

SUBJECT_PREFIX = "[for approval] "
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.I)


def preview_note(list_name: str, *, until: str, on_timeout: str, desk: bool = False) -> str:
    """The note at the top of a preview, in one paragraph (``desk``: the admin desk's
    preview, decided with the buttons on the Sends page it was opened from. No link: the
    preview is a sandboxed page of its own origin, so a link from it would arrive without
    the desk's SameSite=Strict session cookie, at the sign-in form)."""
    then = "sent to the readers" if on_timeout == "send" else "skipped (not sent)"
    head = f"For approval: this digest has not been sent. It waits until {until}, then it is "
    if desk:
        return f"{head}{then}. Approve or reject it on the Sends page of the admin desk."
    return (
        f"{head}{then}. `syndicate approve {list_name}` sends it to the readers exactly as "
        f"shown here; `syndicate reject {list_name}` drops it."
    )


def _html(page: str, note: str) -> str:
    """The HTML part: the note after <body>."""
    banner = (
        '<div style="margin:0;padding:12px 16px;background:#fff4d6;color:#3d3000;'
        'font:14px/1.4 sans-serif;border-bottom:2px solid #e0b000">'
        f"{html.escape(note)}</div>"
    )
    found = _BODY_OPEN.search(page)
    if found is None:
        return banner + page
    return page[: found.end()] + banner + page[found.end() :]


def for_approval(
    rendered: RenderedDigest, list_name: str, *, until: str, on_timeout: str, desk: bool = False
) -> RenderedDigest:
    """The preview version of ``rendered`` (the readers' version is left as it is);
    ``desk``: the admin desk's own preview (its note points at the Sends page)."""
    note = preview_note(list_name, until=until, on_timeout=on_timeout, desk=desk)
    rendered = without_browser_link(rendered)
    return dataclasses.replace(
        rendered,
        subject=SUBJECT_PREFIX + rendered.subject,
        html=_html(rendered.html, note),
        text=f"{note}\n\n{rendered.text}",
    )
