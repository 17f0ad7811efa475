"""Migrated stores for the tests, made once per xdist worker and copied per test.

Running the 25 real migrations for every test was a large share of the suite's time (about
0.25 s on SQLite and 1 s with a schema created and dropped on PostgreSQL, for ~1,500 tests).
The template is migrated by the real ``open_store`` once per worker and database; each test
gets a copy: a file copy on SQLite; on PostgreSQL a schema of its own filled by replaying
``pg_dump``'s text of the migrated template schema (tables, indexes, constraints, sequences
and the rows the migrations wrote: exactly what they made; ``CREATE DATABASE ... TEMPLATE``
would be simpler, but each ``DROP DATABASE`` forces a checkpoint). The migrations
themselves are still tested from an empty store (``fresh_db_url``, ``pg_url``), on both
databases, in tests/test_store.py and tests/test_subscriber_topics.py.

A PostgreSQL copy is dropped by a background thread while the next test already runs; the
worker waits for the last drops when it ends. Without ``pg_dump`` each copy is migrated.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from syndicate.store import open_store

_STOP = ""
_SCHEMA = "__schema__"  # where the template's SQL names its schema


class StoreTemplates:
    """One worker's migrated templates (made on first use) and the copies handed out."""

    def __init__(self, folder: Path, pg_url: str | None) -> None:
        self.folder = folder
        self.pg_url = pg_url
        self._sqlite: Path | None = None
        self._pg_template: str | None = None  # the SQL that fills a new schema
        self._pg_made = False
        self._admin: Engine | None = None
        self._drops: queue.Queue[str] = queue.Queue()
        self._dropper: threading.Thread | None = None
        self._errors: list[str] = []

    # SQLite -----------------------------------------------------------------------------

    def copy_sqlite(self, target: Path) -> None:
        """Put a migrated store at ``target`` (left alone if a fixture already put one)."""
        if target.exists():
            return
        if self._sqlite is None:
            path = self.folder / "template.db"
            engine = open_store(f"sqlite:///{path}")
            with engine.connect() as conn:  # everything in the main file, none in the WAL
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self._sqlite = path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._sqlite, target)

    # PostgreSQL -------------------------------------------------------------------------

    def _admin_engine(self) -> Engine:
        if self._admin is None:
            assert self.pg_url is not None
            self._admin = create_engine(self.pg_url)
        return self._admin

    def _schema_url(self, schema: str) -> str:
        assert self.pg_url is not None
        sep = "&" if "?" in self.pg_url else "?"
        return f"{self.pg_url}{sep}options=-csearch_path%3D{schema}"

    def _make_pg_template(self) -> str | None:
        """Migrate a schema, keep ``pg_dump``'s text of it (tables, indexes, constraints,
        sequences, the rows the migrations wrote), drop the schema. ``None`` (every copy is
        then migrated) when ``pg_dump`` is missing or fails."""
        assert self.pg_url is not None
        dump = shutil.which("pg_dump")
        if dump is None:
            return None
        schema = f"tpl_{uuid.uuid4().hex[:12]}"
        admin = self._admin_engine()
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            open_store(self._schema_url(schema)).dispose()
            url = make_url(self.pg_url)
            env = {**os.environ, "PGPASSWORD": url.password or ""}
            command = [dump, "--schema", schema, "--inserts", "--no-owner", "--no-privileges"]
            command += ["--host", url.host or "localhost", "--port", str(url.port or 5432)]
            command += ["--username", url.username or "postgres", url.database or "postgres"]
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        if done.returncode != 0:
            return None
        lines = [
            line
            for line in done.stdout.splitlines()
            if not line.startswith("\\")  # psql's \restrict, which the server does not know
            and line != f"CREATE SCHEMA {schema};"
        ]
        return re.sub(rf"\b{schema}\.", f"{_SCHEMA}.", "\n".join(lines))

    def copy_pg(self) -> tuple[str, str]:
        """A new schema holding a copy of the migrated template: (its URL, its name)."""
        if not self._pg_made:
            self._pg_template = self._make_pg_template()
            self._pg_made = True
        schema = f"t_{uuid.uuid4().hex[:12]}"
        raw = self._admin_engine().raw_connection()
        try:
            with raw.cursor() as cur:
                cur.execute(f'CREATE SCHEMA "{schema}"')
                if self._pg_template is not None:
                    cur.execute(self._pg_template.replace(_SCHEMA, schema))
            raw.commit()
        finally:
            raw.close()
        url = self._schema_url(schema)
        if self._pg_template is None:
            open_store(url).dispose()
        return url, schema

    def drop_pg(self, name: str) -> None:
        """Drop a copy in the background: the next test can already run meanwhile."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_loop, daemon=True)
            self._dropper.start()
        self._drops.put(name)

    def _drop_loop(self) -> None:
        while (name := self._drops.get()) != _STOP:
            try:
                with self._admin_engine().begin() as conn:
                    conn.execute(text("SET LOCAL lock_timeout = '60s'"))  # a session left open
                    conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            except Exception as exc:  # reported at the end; a leftover copy harms no test
                self._errors.append(f"{name}: {exc}")

    def close(self) -> None:
        if self._dropper is not None:
            self._drops.put(_STOP)
            self._dropper.join()
        if self._admin is not None:
            self._admin.dispose()
        if self._errors:
            raise RuntimeError("test databases left behind: " + "; ".join(self._errors))
