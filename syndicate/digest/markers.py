"""Per-recipient markers: rendered once into a digest, filled in per recipient.

Plain ASCII words, so that neither Jinja2's escaping, MJML, URL handling nor text wrapping
can alter them, and unlikely enough never to occur in real content.
"""

from __future__ import annotations

NAME = "SYNDICATEx9NAME"
EMAIL = "SYNDICATEx9EMAIL"
UNSUBSCRIBE_URL = "https://SYNDICATEx9UNSUBSCRIBE"
PREFERENCES_URL = "https://SYNDICATEx9PREFERENCES"

ALL = (NAME, EMAIL, UNSUBSCRIBE_URL, PREFERENCES_URL)
