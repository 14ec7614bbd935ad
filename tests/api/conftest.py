"""Fixtures of the service tests: a TrialStore on SQLite and on PostgreSQL, an app on SQLite.

PostgreSQL tests (marker ``postgres``) run in a database created for the test session on the server
at ``$NAS_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) and dropped at its
end; every test gets a fresh schema in it. An unreachable server fails those tests, never skips them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from api.store import TrialStore

POSTGRES_URL = os.environ.get("NAS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
API_KEY = "test-key-0123456789"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _admin_connection(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
    pytest.fail(f"PostgreSQL at {url} is unreachable ({reason}); start it (CI does) or point "
                "NAS_TEST_POSTGRES_URL at a server where the user may CREATE DATABASE", pytrace=False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """URL of a database made for this test session (dropped at its end)."""
    from psycopg import sql

    name = f"nas_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin_connection(POSTGRES_URL) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with _admin_connection(POSTGRES_URL) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def fresh_postgres_schema(database_url: str) -> str:
    """A URL whose connections see only a new, empty schema of ``database_url``."""
    from psycopg import sql

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _admin_connection(database_url) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh schema of the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nas.db'}"
    return fresh_postgres_schema(request.getfixturevalue("postgres_database"))


@pytest.fixture
def store(store_url: str) -> Iterator[TrialStore]:
    store = TrialStore(store_url)
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[TrialStore]:
    store = TrialStore(f"sqlite:///{tmp_path / 'api.db'}")
    yield store
    store.close()
