"""Where a benchmark runs: SQLite in a temporary folder, or a scratch PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def database_url(postgres: str) -> Iterator[str]:
    """ "" (Meridian's default, SQLite) without ``postgres``; else a URL whose search path is
    a fresh schema, dropped afterwards, so runs never see each other's tables."""
    if not postgres:
        yield ""
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    url = sa.make_url(postgres).update_query_dict({"options": f"-csearch_path={schema},public"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
