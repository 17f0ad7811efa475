"""``syndicate admin add-user | remove-user | list-users | passwd | totp`` as an editor runs
them: passwords from stdin or from a hidden, confirmed prompt on a real terminal (a pty),
clear errors, and what list-users prints (text and --json)."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select as sql_select

from syndicate.accounts.keys import admin_keys
from syndicate.accounts.sealing import unseal
from syndicate.accounts.signin import Accounts
from syndicate.cli import main
from syndicate.store.tables import admin_users
from tests.admintools import ADMIN_SECRET, PASSWORD
from tests.conftest import Site

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(site: Site, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def stored(site: Site) -> list[dict[str, object]]:
    with site.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sql_select(admin_users))]


def test_add_user_from_stdin_hashes_with_argon2id(any_site: Site) -> None:
    code, out, err = cli(
        any_site, "admin", "add-user", "Ed", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0, err
    assert (
        out.splitlines()[0] == "Added admin ed. Sign in at https://news.example.org/admin/sign-in"
    )
    assert "syndicate admin totp ed" in out
    assert "SYNDICATE_SECRET is not set" in err
    [row] = stored(any_site)
    assert row["name"] == "ed"
    hashed = str(row["password_hash"])
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert PasswordHasher().verify(hashed, PASSWORD)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["ed"], "short\n", "at least 12 characters (it has 5)"),
        (["ed"], "\n", "no password on stdin"),
        (["ed"], "aaaaaaaaaaaaaaaa\n", "too few different characters"),
        (["ed"], "my name is ed, ok?\n", "must not contain the user name"),
        (["Bad Name"], PASSWORD + "\n", "'bad name' is not a valid user name"),
        (["-x"], PASSWORD + "\n", "No such option"),
    ],
)
def test_add_user_refuses_with_a_clear_error(
    site: Site, args: list[str], stdin: str, message: str
) -> None:
    code, out, err = cli(site, "admin", "add-user", *args, "--password-stdin", stdin=stdin)
    assert code != 0
    assert message in err
    assert "Traceback" not in err + out
    assert stored(site) == []


def test_add_user_twice_and_without_a_terminal(site: Site) -> None:
    assert cli(site, "admin", "add-user", "ed", "--password-stdin", stdin=PASSWORD)[0] == 0
    code, _, err = cli(site, "admin", "add-user", "ed", "--password-stdin", stdin=PASSWORD)
    assert code == 1
    assert "an admin called 'ed' exists already" in err and "syndicate admin passwd ed" in err
    code, _, err = cli(site, "admin", "add-user", "ann", stdin=PASSWORD + "\n" + PASSWORD + "\n")
    assert code == 1
    assert "no terminal to ask for a password; pipe it in with --password-stdin" in err


def _on_a_terminal(site: Site, args: list[str], typed: list[str]) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, typing each line when a prompt appears."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        env = {k: v for k, v in os.environ.items() if k != "SYNDICATE_SECRET"}
        os.chdir(REPO)
        os.execve(
            sys.executable,
            [sys.executable, "-m", "syndicate", "--site", str(site.root), *args],
            env,
        )
    seen = b""
    deadline = time.monotonic() + 60
    pending = list(typed)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            prompts = seen.count(b"New password for") + seen.count(b"Repeat the password:")
            if pending and prompts > len(typed) - len(pending):
                os.write(fd, pending.pop(0).encode() + b"\r")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode("utf-8", "replace")


def test_add_user_asks_twice_without_echo(site: Site) -> None:
    typed = [PASSWORD, "a different password", PASSWORD, PASSWORD]
    code, screen = _on_a_terminal(site, ["admin", "add-user", "ed"], typed)
    assert code == 0, screen
    assert screen.count("New password for ed (at least 12 characters):") == 2
    assert screen.count("Repeat the password:") == 2
    assert "do not match" in screen
    assert "Added admin ed." in screen
    assert PASSWORD not in screen and "a different password" not in screen
    assert PasswordHasher().verify(str(stored(site)[0]["password_hash"]), PASSWORD)


def test_list_users_text_and_json(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = cli(site, "admin", "list-users")
    assert (code, out) == (
        0,
        "No admin accounts yet; add one with `syndicate admin add-user NAME`.\n",
    )
    assert cli(site, "admin", "list-users", "--json")[1] == '{\n  "users": []\n}\n'
    for name in ("zoe", "ann"):
        assert cli(site, "admin", "add-user", name, "--password-stdin", stdin=PASSWORD)[0] == 0
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    assert cli(site, "admin", "totp", "zoe")[0] == 0
    outcome = Accounts(site.engine, admin_keys(ADMIN_SECRET)).sign_in(
        "ann", PASSWORD, "", client="192.0.2.1", now=datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    )
    assert outcome.session is not None
    code, out, _ = cli(site, "admin", "list-users")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "LAST", "SIGN-IN", "TOTP", "SESSIONS"]
    assert lines[1].startswith("ann ") and "2026-11-30 08:00:00 UTC" in lines[1]
    assert lines[1].split()[-2:] == ["off", "1"]
    assert lines[2].startswith("zoe ") and "never" in lines[2]
    assert lines[2].split()[-2:] == ["on", "0"]
    assert lines[3] == "2 admin accounts"
    doc = json.loads(cli(site, "admin", "list-users", "--json")[1])
    assert [u["name"] for u in doc["users"]] == ["ann", "zoe"]
    assert doc["users"][0]["last_sign_in"] == "2026-11-30T08:00:00+00:00"
    assert [u["totp"] for u in doc["users"]] == [False, True]
    assert [u["sessions"] for u in doc["users"]] == [1, 0]
    code, out, _ = cli(site, "admin", "remove-user", "ann")
    assert (code, out) == (0, "Removed admin ann and ended 1 session.\n")
    code, _, err = cli(site, "admin", "remove-user", "ann")
    assert code == 1 and "there is no admin called 'ann'" in err


def test_totp_prints_the_uri_once_and_stores_the_key_sealed(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(site, "admin", "add-user", "ed", "--password-stdin", stdin=PASSWORD)[0] == 0
    code, _, err = cli(site, "admin", "totp", "ed")
    assert code == 1 and "SYNDICATE_SECRET is not set" in err
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    code, out, err = cli(site, "admin", "totp", "ed")
    assert code == 0
    uri = out.strip()
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/Test%20Letter:ed")
    query = parse_qs(parts.query)
    assert query["issuer"] == ["Test Letter"]
    key = query["secret"][0]
    assert "shown only now" in err and key in err
    sealed = str(stored(site)[0]["totp_secret"])
    assert key not in sealed
    assert unseal(admin_keys(ADMIN_SECRET).seal, sealed, name="ed") == key
    assert pyotp.parse_uri(uri).now() == pyotp.TOTP(key).now()
    # Not shown again anywhere.
    assert key not in cli(site, "admin", "list-users", "--json")[1]
    code, out, _ = cli(site, "admin", "totp", "ed", "--off")
    assert (code, out) == (0, "Turned two-step sign-in off for ed.\n")
    assert stored(site)[0]["totp_secret"] is None
    code, out, _ = cli(site, "admin", "totp", "ed", "--off")
    assert out == "Two-step sign-in was already off for ed.\n"
    code, _, err = cli(site, "admin", "totp", "nobody")
    assert code == 1 and "there is no admin called 'nobody'" in err


def test_passwd_changes_the_password(site: Site) -> None:
    assert cli(site, "admin", "add-user", "ed", "--password-stdin", stdin=PASSWORD)[0] == 0
    code, out, _ = cli(
        site, "admin", "passwd", "ed", "--password-stdin", stdin="a brand new secret\n"
    )
    assert (code, out) == (0, "Changed the password of ed.\n")
    assert PasswordHasher().verify(str(stored(site)[0]["password_hash"]), "a brand new secret")
    code, _, err = cli(site, "admin", "passwd", "ed", "--password-stdin", stdin="tiny\n")
    assert code == 1 and "at least 12 characters" in err
    code, _, err = cli(site, "admin", "passwd", "nobody", "--password-stdin", stdin=PASSWORD)
    assert code == 1 and "there is no admin called 'nobody'" in err
