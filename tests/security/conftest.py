"""The web fixtures of tests/test_web.py, for the attacks on the pages."""

from tests.test_web import clock, web, web_site

__all__ = ["clock", "web", "web_site"]
