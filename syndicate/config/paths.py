"""The site's fixed folders, and the rule that no published folder holds anything private.

``syndicate run`` serves the feeds folder (and the ``media/`` images ``build`` copies into it)
and the archive folder over HTTP, to anyone. A feeds folder of ``"."`` would publish
``syndicate.toml``, ``subscribers/*.csv`` and the Maildir, whose confirmation mails hold
tokens. So a served folder may neither contain nor lie inside the config file, the state
(``.syndicate/``: the secret, the SQLite database; or a database file elsewhere), the
subscriber files, the Maildir, the bounce Maildir (bounces hold VERP tokens, which act as
the reader, and readers' addresses), the templates, the content folder or the DKIM key;
checked once, when the settings load, on resolved paths (symlinks followed).
"""

from __future__ import annotations

import re
from pathlib import Path

from syndicate.config.sections import Feeds, SiteConfig

CONFIG_NAME = "syndicate.toml"
STATE_FOLDER = ".syndicate"
ARCHIVE_FOLDER = "archive"  # the public copies of sent digests (digest/archive.py)
MAILDIR = "maildir"  # where mail goes without [smtp] (delivery/setup.py)
SUBSCRIBERS_FOLDER = "subscribers"  # the subscriber CSV files `init` creates
TEMPLATES_FOLDER = "templates"
_WHY = {
    "contains": "`syndicate run` serves this folder over HTTP to anyone",
    "is inside": "`syndicate build` would write its files among them",
}
_SQLITE_FILE = re.compile(r"^sqlite(\+\w+)?:///(?P<path>[^?]+)")


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


_Item = tuple[str, Path, str | None]  # how a message names it, its path, the key that moves it


def _private(root: Path, config: SiteConfig, database_url: str) -> list[_Item]:
    """What must never be served."""
    content = config.content.folder
    found: list[_Item] = [
        (f"the site's config file {CONFIG_NAME}", root / CONFIG_NAME, None),
        (f"the state folder {STATE_FOLDER}/ (secret, database)", root / STATE_FOLDER, None),
        (f"the subscriber files {SUBSCRIBERS_FOLDER}/", root / SUBSCRIBERS_FOLDER, None),
        (f"the Maildir {MAILDIR}/ (mails with tokens)", root / MAILDIR, None),
        (f"the templates {TEMPLATES_FOLDER}/", root / TEMPLATES_FOLDER, None),
        (f"the content folder {content!r}", root / content, "content.folder"),
    ]
    if config.bounces is not None and config.bounces.maildir:
        bounces = config.bounces.maildir
        found.append(
            (
                f"the bounce Maildir {bounces!r} (VERP tokens, readers' addresses)",
                root / bounces,
                "bounces.maildir",
            )
        )
    db = _SQLITE_FILE.match(database_url)
    if db and db.group("path") != ":memory:":
        found.append(("the SQLite database", root / db.group("path"), "database.url"))
    if config.email is not None and config.email.dkim_key_file:
        key = config.email.dkim_key_file
        found.append((f"the DKIM key {key!r}", root / key, "email.dkim_key_file"))
    return [(what, path.resolve(), key) for what, path, key in found]


def _default_feeds(config: SiteConfig) -> bool:
    default: str = Feeds.model_fields["folder"].default
    return config.feeds.folder == default


def published_folder_problems(root: Path, config: SiteConfig, database_url: str) -> list[str]:
    """Each served folder that would publish something private, as ``file: key: why``."""
    root = root.resolve()
    private = _private(root, config, database_url)
    served: list[_Item] = [
        (f"the feeds folder {config.feeds.folder!r}", root / config.feeds.folder, "feeds.folder"),
        (f"the archive folder {ARCHIVE_FOLDER}/", root / ARCHIVE_FOLDER, None),
    ]
    problems = []
    for label, folder, key in served:
        folder = folder.resolve()
        found: dict[str, dict[str, list[str]]] = {}  # the key to change → relation → what
        listed: list[Path] = []
        for what, path, moves in private:
            if any(_within(path, outer) for outer in listed):
                continue  # the database in .syndicate/: said already
            if _within(path, folder):
                relation = "contains"
            elif _within(folder, path):
                relation = "is inside"
            else:
                continue
            listed.append(path)
            # A feeds folder the user moved is to blame; one left at its default ("feeds")
            # is not, when the private item has a setting of its own (bounces.maildir).
            blame_served = key is not None and not (moves and _default_feeds(config))
            field = (key if blame_served else moves) or f"{ARCHIVE_FOLDER}/"
            found.setdefault(field, {}).setdefault(relation, []).append(what)
        for field, relations in found.items():
            own = "give it a folder of its own, such as 'feeds'"
            fix = own if field == key else f"change {field}"
            for relation, whats in relations.items():
                why = _WHY[relation]
                problems.append(
                    f"{CONFIG_NAME}: {field}: {label} ({folder}) {relation} {', '.join(whats)}; "
                    f"{why}: {fix}"
                )
    feeds, archive = (folder.resolve() for _, folder, _ in served)
    if _within(feeds, archive) or _within(archive, feeds):
        problems.append(
            f"{CONFIG_NAME}: feeds.folder: the feeds folder {config.feeds.folder!r} ({feeds}) "
            f"overlaps the archive folder {ARCHIVE_FOLDER}/ ({archive}), where the copies of "
            "sent digests are kept; `syndicate build` would write (and remove) files among "
            "them: give it a folder of its own, such as 'feeds'"
        )
    return problems
