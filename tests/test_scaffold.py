"""``syndicate init``: a new publication whose printed next steps work exactly as printed."""

from __future__ import annotations

import email
import email.policy
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syndicate.config import parse_config

REPO = Path(__file__).resolve().parents[1]


def syndicate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def printed_commands(stdout: str) -> list[list[str]]:
    """The shell commands ``init`` printed (indented lines), without their comments."""
    commands = []
    for line in stdout.splitlines():
        if line.startswith("  ") and line.split()[0] in ("cd", "syndicate"):
            commands.append(shlex.split(line, comments=True))
    return commands


@pytest.fixture
def scaffolded(tmp_path: Path) -> tuple[Path, str]:
    done = syndicate(tmp_path, "init", "my letter", "--base-url", "https://letter.example.org")
    assert done.returncode == 0, done.stderr
    return tmp_path / "my letter", done.stdout


def test_the_printed_next_steps_work_as_printed(scaffolded: tuple[Path, str]) -> None:
    target, stdout = scaffolded
    commands = printed_commands(stdout)
    assert [c[0] for c in commands][:1] == ["cd"], stdout
    names = [c[1] for c in commands if c[0] == "syndicate"]
    assert {"build", "subscribers", "send"} <= set(names), stdout
    cwd = target.parent
    for command in commands:
        if command[0] == "cd":
            cwd = (cwd / command[1]).resolve()
            continue
        done = syndicate(cwd, *command[1:])
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert cwd == target.resolve()
    assert (target / "feeds" / "atom.xml").is_file()
    csv = (target / "subscribers" / "news.csv").read_text(encoding="utf-8")
    wanted = [line.split(",")[0] for line in csv.splitlines()[1:] if line.strip()]
    assert wanted  # a sample reader to send to
    mails = sorted((target / "maildir" / "new").iterdir())
    got = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["To"] for p in mails
    ]
    assert [str(t).split("<")[-1].rstrip(">") for t in got] == wanted
    assert any("Hello, world" in p.read_text(encoding="utf-8") for p in mails)


def test_the_list_and_its_csv_are_visibly_connected(scaffolded: tuple[Path, str]) -> None:
    target, stdout = scaffolded
    config = (target / "syndicate.toml").read_text(encoding="utf-8")
    section = config.split("[lists.news]", 1)
    assert len(section) == 2
    before = section[0].rstrip().splitlines()[-3:]  # the comment just above the list
    assert any("subscribers/news.csv" in line and line.startswith("#") for line in before)
    assert "syndicate subscribers import news subscribers/news.csv" in stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_keeps_state_secret_and_mail_out_of_the_repository(
    scaffolded: tuple[Path, str],
) -> None:
    target, stdout = scaffolded
    for command in printed_commands(stdout)[1:]:  # build, import, send: state appears
        assert syndicate(target, *command[1:]).returncode == 0
    assert (target / ".syndicate" / "secret").is_file()
    assert (target / "archive" / "news" / "1.html").is_file()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=target, check=True)
    subprocess.run([*git, "add", "-A"], cwd=target, check=True)
    listed = subprocess.run(
        [*git, "ls-files"], cwd=target, check=True, capture_output=True, text=True
    ).stdout.split()
    assert not [f for f in listed if f.startswith((".syndicate/", "maildir/", "archive/"))]
    assert {"syndicate.toml", ".gitignore", "subscribers/news.csv"} <= set(listed)
    assert "content/hello-world.md" in listed


def test_the_commented_bounces_example_works_once_uncommented(
    scaffolded: tuple[Path, str],
) -> None:
    """What `init` writes of [bounces] is a working section, on the site's own domain."""
    target, _ = scaffolded
    path = target / "syndicate.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("# [bounces]")
    end = start + 1
    while end < len(lines) and lines[end].startswith("# ") and " = " in lines[end]:
        end += 1
    example = [line.removeprefix("# ") for line in lines[start:end]]
    assert [line.split(" = ")[0] for line in example[1:]] == ["address", "maildir", "listen"]
    path.write_text("\n".join([*lines[:start], *example, *lines[end:]]) + "\n", encoding="utf-8")
    for sub in ("new", "cur", "tmp"):  # as the comment above it says
        (target / "bounces" / sub).mkdir(parents=True)
    done = syndicate(target, "check", "--offline")
    assert done.returncode == 0, (done.stdout, done.stderr)
    config = parse_config(path.read_text(encoding="utf-8"))
    assert config.bounces is not None
    assert config.bounces.address == "bounces@letter.example.org"
    assert config.bounces.maildir == "bounces" and config.bounces.listen == "127.0.0.1:2525"
    assert "/bounces/" in (target / ".gitignore").read_text(encoding="utf-8").splitlines()
