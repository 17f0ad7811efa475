"""Shared fixtures: throwaway publications on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text

from syndicate.accounts import passwords
from syndicate.config import Settings, load_settings
from syndicate.store import open_store
from tests.storetemplate import StoreTemplates

# CI runs every property test on the same examples (derandomize: the seed is fixed per test),
# so a green run means the same thing every time; a failure prints the blob that replays it
# (`@reproduce_failure`). Locally the default profile explores new examples on every run.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

# Chromium for the browser modules (the ``browser`` fixture).
pytest_plugins = ["tests.browsers"]

PG_URL = os.environ.get("SYNDICATE_TEST_DATABASE_URL")
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

BASE_CONFIG = """\
[publication]
title = "Test Letter"
base_url = "https://news.example.org"
author = "The Editors"

[database]
url = "{db}"

[content]
folder = "content"
"""


# Argon2id as the desk hashes passwords (RFC 9106 "low memory": 64 MiB, 3 passes) takes a
# quarter of a second per hash or sign-in on a busy CI machine. In-process tests hash with the
# cheapest parameters instead; the tests of the parameters themselves take
# ``production_argon2`` (tests/test_admin_auth.py), and ``syndicate`` subprocesses always
# hash as in production.
PRODUCTION_HASHER = passwords._HASHER
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True, scope="session")
def cheap_argon2() -> Iterator[None]:
    passwords._HASHER = CHEAP_HASHER
    try:
        yield
    finally:
        passwords._HASHER = PRODUCTION_HASHER


@pytest.fixture
def production_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk's own Argon2 parameters for this test."""
    monkeypatch.setattr(passwords, "_HASHER", PRODUCTION_HASHER)


class Site:
    """A publication folder in tmp_path, with helpers to write content and read it."""

    def __init__(self, root: Path, db_url: str, extra_config: str = "") -> None:
        self.root = root
        self.db_url = db_url
        self.content = root / "content"
        self.content.mkdir(parents=True, exist_ok=True)
        self.configure(extra_config)
        self._engine: Engine | None = None

    def configure(self, extra: str = "") -> None:
        (self.root / "syndicate.toml").write_text(
            BASE_CONFIG.format(db=self.db_url) + extra, encoding="utf-8"
        )

    def write(self, rel: str, data: str | bytes) -> Path:
        path = self.content / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        return path

    @property
    def settings(self) -> Settings:
        return load_settings(self.root)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_store(self.settings.database_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreTemplates]:
    """Each xdist worker migrates one store per database once (the real migrations); the
    tests get copies of it instead of running 25 migrations each."""
    templates = StoreTemplates(tmp_path_factory.mktemp("template"), PG_URL)
    try:
        yield templates
    finally:
        templates.close()


def _stored_sqlite_url(tmp_path: Path, templates: StoreTemplates) -> str:
    url = _sqlite_url(tmp_path)
    templates.copy_sqlite(tmp_path / "state.db")
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty schema in the test PostgreSQL database, dropped afterwards (for the
    tests that watch a store being migrated; the others take ``db_url``'s migrated copy)."""
    if not PG_URL:
        pytest.skip("SYNDICATE_TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_store_url(store_templates: StoreTemplates) -> Iterator[str]:
    """A PostgreSQL database of its own, already migrated (a copy of the worker's template)."""
    if not PG_URL:
        pytest.skip("SYNDICATE_TEST_DATABASE_URL is not set")
    url, name = store_templates.copy_pg()
    try:
        yield url
    finally:
        store_templates.drop_pg(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, store_templates: StoreTemplates) -> str:
    """Each store test runs on SQLite, and on PostgreSQL when one is configured: a store
    already at the newest migration."""
    if request.param == "sqlite":
        return _stored_sqlite_url(tmp_path, store_templates)
    return str(request.getfixturevalue("pg_store_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Like ``db_url``, but empty: for the tests of the migrations themselves."""
    if request.param == "sqlite":
        return _sqlite_url(tmp_path)
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def site(tmp_path: Path, store_templates: StoreTemplates) -> Iterator[Site]:
    """A publication on SQLite."""
    s = Site(tmp_path / "site", _stored_sqlite_url(tmp_path, store_templates))
    yield s
    s.close()


@pytest.fixture
def any_site(tmp_path: Path, db_url: str) -> Iterator[Site]:
    """A publication on each configured database."""
    s = Site(tmp_path / "site", db_url)
    yield s
    s.close()
