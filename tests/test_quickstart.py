"""The README's main command, run as written on a copy of the example publication."""

from __future__ import annotations

import email
import email.policy
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def main_command() -> list[list[str]]:
    """The syndicate invocations of Quickstart step 1 (the venv and pip parts are setup)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quickstart", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    line = next(ln for ln in block.splitlines() if ln.startswith("python3 -m venv"))
    steps = [shlex.split(part) for part in line.split("&&")]
    calls = [s[1:] for s in steps if s[0] == ".venv/bin/syndicate"]
    assert calls, f"no syndicate command in {line!r}"
    return calls


@pytest.fixture
def example(tmp_path: Path) -> Path:
    site = tmp_path / "example"
    site.mkdir()
    shutil.copy(REPO / "syndicate.toml", site)
    for folder in ("content", "subscribers"):
        shutil.copytree(REPO / folder, site / folder)
    return site


def run_main(site: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["PYTHONPATH"] = str(REPO)
    for args in main_command():
        done = subprocess.run(
            [sys.executable, "-m", "syndicate", *args],
            cwd=site,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)


def test_main_command_leaves_one_message_per_subscriber_in_the_maildir(example: Path) -> None:
    csv = (example / "subscribers" / "weekly.csv").read_text(encoding="utf-8")
    wanted = sorted(re.findall(r"^([^,@\s]+@[^,\s]+),", csv, re.M))
    assert wanted  # the example ships subscribers

    run_main(example)
    run_main(example)  # again: nothing new, nobody mailed twice

    files = sorted((example / "maildir" / "new").iterdir())
    got = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        got.append(message["To"].addresses[0].addr_spec)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sorted(got) == wanted
    assert (example / "feeds" / "atom.xml").is_file()
    secret = example / ".syndicate" / "secret"  # made on first use, private
    assert secret.stat().st_mode & 0o777 == 0o600
