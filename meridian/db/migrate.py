"""Create or upgrade the system tables to the newest Alembic revision."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision in this installation, read once per process: loading the revision
    scripts costs 10–20 ms, and every workspace (each CLI command, each test) asks."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_database(engine: Engine) -> None:
    """Bring the system tables to the newest revision; safe to run again, and cheap when the
    database is already there (one read of ``alembic_version``)."""
    with engine.begin() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            return
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
