"""A site's own page template with a typo: the editor gets `templates/web/NAME:LINE: reason`
(in `check`, and one log line from `run`), the visitor a plain 500 page, nobody a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from tests.conftest import Site
from tests.test_web import WEB_CONFIG, Clock, Web, make_app


def override_page(site: Site, name: str, text: str) -> Path:
    folder = site.root / "templates" / "web"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_broken_page_is_a_plain_500_and_one_log_line(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site.configure(WEB_CONFIG)
    override_page(site, "subscribe.html.j2", "<p>line one</p>\n<p>{{ no_such_variable.x }}</p>\n")
    client = Web(make_app(site, Clock()))
    try:
        with caplog.at_level(logging.ERROR, logger="syndicate.web.render"):
            response = client.get("/subscribe")
    finally:
        client.close()
    assert response.status_code == 500
    assert "Temporarily unavailable" in response.text
    assert "no_such_variable" not in response.text  # visitors learn nothing of the template
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    messages = [r.getMessage() for r in caplog.records]
    assert any("templates/web/subscribe.html.j2:2:" in m for m in messages), messages
    assert not any(r.exc_info for r in caplog.records)  # no traceback in the log


def test_check_reports_a_page_template_syntax_error(site: Site) -> None:
    site.configure(WEB_CONFIG)
    override_page(site, "unsubscribe.html.j2", "<p>ok</p>\n<p>ok</p>\n{% if x %}never closed\n")
    result = CliRunner().invoke(main, ["--site", str(site.root), "check", "--offline"])
    assert result.exit_code == 1
    assert "templates/web/unsubscribe.html.j2:3: syntax error" in result.stderr
    assert "Traceback" not in result.stderr
