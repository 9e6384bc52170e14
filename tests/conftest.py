"""Shared fixtures: a fresh database per test, on SQLite and (when configured) PostgreSQL.

``MERIDIAN_TEST_POSTGRES_URL`` turns on the PostgreSQL half of every database test. Each
PostgreSQL test gets its own schema (first on ``search_path``), so parallel workers and
repeated runs never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.db.engine import make_engine
from meridian.db.migrate import upgrade_database

POSTGRES_URL = os.environ.get("MERIDIAN_TEST_POSTGRES_URL", "")
DIALECTS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def _prepare_postgres_database(url: str) -> None:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(4242)"))
        try:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(4242)"))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_ready() -> bool:
    if POSTGRES_URL:
        _prepare_postgres_database(POSTGRES_URL)
    return bool(POSTGRES_URL)


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_ready: bool) -> Iterator[str]:
    """A URL to an empty database of each configured dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meridian.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict(
        {"options": f"-csearch_path={schema},public"}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with the system tables migrated."""
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
