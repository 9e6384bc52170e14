"""Where a benchmark runs: SQLite in a temporary folder, or a scratch PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.db.engine import make_engine
from meridian.settings import Settings
from meridian.workspace import Workspace, create_workspace


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


def bench_workspace(folder: Path, url: str) -> tuple[Workspace, Actor]:
    """A workspace with its files in ``folder``, on ``url`` (SQLite in ``folder`` when empty),
    and the administrator every bench works as."""
    settings = Settings(data_dir=folder, database_url=url)
    workspace = create_workspace(settings, engine=make_engine(settings.resolved_database_url))
    with workspace.engine.begin() as conn:
        user_id = create_user(
            conn=conn,
            email="bench@acme.test",
            name="Bench",
            password="benchmark!",
            passwords=workspace.passwords,
            is_admin=True,
        )
    return workspace, Actor(user_id=user_id, is_admin=True)
