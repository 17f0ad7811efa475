"""Open the state store: create the engine, tune SQLite, apply migrations on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from syndicate.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. A store already there opens without loading Alembic (~0.1 s of every
# command); tests/test_store.py checks this against the migration scripts.
HEAD = "0027"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets feed readers and the scheduler read while a send writes; NORMAL is durable
    # across process crashes in WAL mode; busy_timeout waits instead of failing on a lock.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@contextmanager
def _migrating(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process at a time migrates a schema: several ``syndicate run`` on
    several machines may start at once on a fresh store."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = "hashtextextended('syndicate/migrate:' || coalesce(current_schema(), ''), 0)"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"SELECT pg_advisory_lock({key})"))
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock({key})"))


def _current_heads(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def _at_head(engine: Engine) -> bool:
    """Whether the store is at :data:`HEAD`, asked with one plain query."""
    try:
        with engine.connect() as conn:
            found = {
                row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))
            }
    except DBAPIError:  # no version table yet: a new store
        return False
    return found == {HEAD}


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration, if it is not there already."""
    if _at_head(engine):
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(engine)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    if _current_heads(engine) == heads:
        return
    with _migrating(engine):
        if _current_heads(engine) != heads:  # another process may have just done it
            command.upgrade(cfg, "head")


def open_store(url: str, *, migrate: bool = True) -> Engine:
    """Create the engine for ``url`` and apply pending migrations."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database url {url!r} is not a valid SQLAlchemy URL") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as exc:
        hint = " (install syndicate[postgres] for PostgreSQL)" if "psycopg" in str(exc) else ""
        raise StoreError(f"cannot open database {parsed!r}: {exc}{hint}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate:
        try:
            upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot migrate database {parsed!r}: {exc}") from None
    return engine
