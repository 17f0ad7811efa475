"""DKIM end to end: every copy a send delivers carries a signature that verifies."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.delivery.setup import dkim_key
from syndicate.errors import ConfigError
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import NOW, Site

DOMAIN, SELECTOR = "news.example.org", "s2026"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _key(folder: Path) -> bytes:
    pem = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(pem), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def _configure(site: Site, dkim_lines: str) -> None:
    site.configure(
        '\n[email]\nfrom_name = "Letter"\nfrom_address = "letter@news.example.org"\n'
        f'{dkim_lines}\n[lists.weekly]\ntitle = "Weekly"\n'
    )


def test_every_delivered_copy_verifies(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", "dkim-test-secret-0123456789")
    txt = _key(site.root)
    _configure(
        site,
        f'dkim_domain = "{DOMAIN}"\ndkim_selector = "{SELECTOR}"\ndkim_key_file = "dkim.pem"\n',
    )
    site.write("a.md", "---\ntitle: Signed news\ndate: 2026-11-20\n---\n\nBody.\n")
    rows = "email,name\n" + "".join(f"r{i}@example.org,Reader {i}\n" for i in range(3))
    import_rows(site.engine, "weekly", read_rows(io.BytesIO(rows.encode()), "s.csv"), now=NOW)
    result = CliRunner().invoke(
        main, ["--site", str(site.root), "send", "weekly", "--yes", "--offline", "--json"]
    )
    assert result.exit_code == 0, result.output

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    files = sorted((site.root / "maildir" / "new").iterdir())
    assert len(files) == 3
    for path in files:
        raw = path.read_bytes().split(b"\r\n", 1)[1]  # drop the Maildir Delivered-To line
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=dnsfunc)
        tampered = raw.replace(b"Subject: Weekly", b"Subject: Xeekly", 1)
        assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_partial_dkim_settings_are_a_config_error(site: Site) -> None:
    _configure(site, f'dkim_domain = "{DOMAIN}"\n')
    with pytest.raises(ConfigError, match="go together"):
        dkim_key(site.settings)
