"""``syndicate init``: a new, working publication from the default templates."""

from __future__ import annotations

import shutil
from pathlib import Path
from string import Template

from syndicate.config import CONFIG_NAME, parse_config
from syndicate.errors import SyndicateError
from syndicate.resources import templates_dir


def init_site(target: Path, *, title: str, base_url: str) -> list[Path]:
    """Create a publication in ``target``; refuses to touch a folder that already has one."""
    if (target / CONFIG_NAME).exists():
        raise SyndicateError(f"{target / CONFIG_NAME}: already exists; nothing was changed")
    source = templates_dir() / "site"
    config = Template((source / "syndicate.toml.tmpl").read_text(encoding="utf-8")).substitute(
        title=title.replace("\\", "\\\\").replace('"', '\\"'), base_url=base_url
    )
    parse_config(config)  # the title and URL the user gave must make a valid config
    created: list[Path] = []
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or rel.name == "syndicate.toml.tmpl":
            continue
        dest = target / rel
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        created.append(dest)
    (target / CONFIG_NAME).write_text(config, encoding="utf-8")
    created.insert(0, target / CONFIG_NAME)
    return created
