"""``syndicate init``: a new, working publication from the default templates."""

from __future__ import annotations

import ipaddress
import shlex
import shutil
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from syndicate.config import CONFIG_NAME, parse_config
from syndicate.errors import SyndicateError
from syndicate.resources import templates_dir

FIRST_LIST = "news"  # the scaffold's list; its subscribers start in subscribers/news.csv
# Template files whose name differs in the new site (a dotfile in the package would be
# hidden, and would act as a .gitignore on syndicate's own templates folder).
RENAMED = {"gitignore": ".gitignore"}
SKIPPED = {"syndicate.toml.tmpl"}


def sender_address(base_url: str) -> str:
    """``newsletter@<host of base_url>``: a sender on the publication's own domain, or
    ``newsletter@example.org`` when the host is no domain name (an IP address, localhost)."""
    host = (urlsplit(base_url).hostname or "").lower()
    try:
        ipaddress.ip_address(host)
        return "newsletter@example.org"
    except ValueError:
        pass
    return f"newsletter@{host}" if "." in host else "newsletter@example.org"


def init_site(target: Path, *, title: str, base_url: str) -> list[Path]:
    """Create a publication in ``target``; refuses to touch a folder that already has one.

    Files the folder already has (a ``.gitignore`` of its own, say) are kept as they are.
    """
    if (target / CONFIG_NAME).exists():
        raise SyndicateError(f"{target / CONFIG_NAME}: already exists; nothing was changed")
    source = templates_dir() / "site"
    config = Template((source / "syndicate.toml.tmpl").read_text(encoding="utf-8")).substitute(
        title=title.replace("\\", "\\\\").replace('"', '\\"'),
        base_url=base_url,
        from_address=sender_address(base_url),
        bounce_address=sender_address(base_url).replace("newsletter@", "bounces@", 1),
    )
    parse_config(config)  # the title and URL the user gave must make a valid config
    created: list[Path] = []
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or rel.name in SKIPPED:
            continue
        dest = target / rel.parent / RENAMED.get(rel.name, rel.name)
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        created.append(dest)
    (target / CONFIG_NAME).write_text(config, encoding="utf-8")
    created.insert(0, target / CONFIG_NAME)
    return created


def next_steps(target: Path) -> list[tuple[str, str]]:
    """The commands that take a new site to its first digest, each with what it does:
    exactly as they are to be typed (the folder quoted for the shell)."""
    csv = f"subscribers/{FIRST_LIST}.csv"
    return [
        (f"cd {shlex.quote(str(target))}", ""),
        ("syndicate check", "validate the configuration and the articles"),
        ("syndicate build", "write the feeds into feeds/"),
        (f"syndicate subscribers import {FIRST_LIST} {csv}", f"load the {FIRST_LIST} list"),
        (f"syndicate preview {FIRST_LIST} --format text", "read the first digest"),
        (f"syndicate send {FIRST_LIST} --yes", "send it (into maildir/ until [smtp] is set)"),
    ]
