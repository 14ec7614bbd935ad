"""Engines for the store: SQLite by default (WAL, busy timeout), PostgreSQL through NAS_DATABASE_URL."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event

from alembic import command

MIGRATIONS = Path(__file__).resolve().parents[1] / "alembic"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def default_url() -> str:
    """``$NAS_DATABASE_URL``, else a SQLite file under ``$XDG_DATA_HOME/nas`` (``~/.local/share/nas``)."""
    if os.environ.get("NAS_DATABASE_URL"):
        return os.environ["NAS_DATABASE_URL"]
    home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "nas"
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'nas.db'}"


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               json_serializer=_dumps, json_deserializer=orjson.loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=16, max_overflow=16,
                         json_serializer=_dumps, json_deserializer=orjson.loads)


def _dumps(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # hand transaction control to SQLAlchemy's "begin" hook (see _sqlite_begin)
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    for pragma in ("journal_mode=WAL", f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", "synchronous=NORMAL",
                   "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # writers take the write lock up front (``immediate``) and so wait on the busy timeout in
    # turn; a deferred transaction that upgrades from read to write would fail at once instead
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The engine to write through: on SQLite its transactions begin IMMEDIATE."""
    return engine.execution_options(immediate=True)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
