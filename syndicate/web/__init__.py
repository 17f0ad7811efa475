"""The web side of ``syndicate run``: feeds and archive files, and the subscriber pages."""

from syndicate.web.app import create_app

__all__ = ["create_app"]
