"""Fixtures of other test modules, for the attacks here."""

from tests.test_digest_testcopy import letter
from tests.test_web import clock, web, web_site

__all__ = ["clock", "letter", "web", "web_site"]
