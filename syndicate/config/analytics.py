"""``[analytics]``: what click counting (``[lists.NAME] count_clicks``) may record.

Off by default everywhere: a list counts clicks only with ``count_clicks = true``, and even
then no subscriber is named unless ``per_subscriber = true`` here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SCANNER_WINDOW = 60  # seconds: link scanners follow links within seconds of delivery


class Analytics(BaseModel):
    """``[analytics]``: the privacy settings of click counting."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # record which subscriber clicked (a row per subscriber and link); off: counts only
    per_subscriber: bool = False
    # seconds: a click this soon after the send began (or, per subscriber, after that
    # copy was delivered) is a link scanner's, answered but not counted
    scanner_window: Annotated[int, Field(ge=0, le=86_400)] = DEFAULT_SCANNER_WINDOW
