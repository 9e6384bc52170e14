"""The PostgreSQL template (``tests/templates.py``) puts a test's schema back exactly.

Putting back reads the shape's digest only when the catalog's fingerprint changed since the
last time; these tests change the shape in each way the digest covers and hold the next
test's schema to the template's digest, so a change the fingerprint missed fails here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from meridian.db.engine import make_engine
from tests.conftest import POSTGRES_URL
from tests.templates import _RELATIONS, _SEQUENCES, _SHAPE, PostgresTemplate

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs MERIDIAN_TEST_POSTGRES_URL")

_TRIGGER_FUNCTION = (
    "CREATE FUNCTION probe_noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'"
)

CHANGES = {
    "a column added": ["ALTER TABLE sys_role ADD COLUMN probe integer"],
    "a column's type": ["ALTER TABLE sys_revision ALTER COLUMN token TYPE varchar(40)"],
    "a column renamed": ["ALTER TABLE sys_revision RENAME COLUMN token TO probe"],
    "a default": ["ALTER TABLE sys_revision ALTER COLUMN token SET DEFAULT 'probe'"],
    "a not-null dropped": ["ALTER TABLE sys_revision ALTER COLUMN token DROP NOT NULL"],
    "a constraint": ["ALTER TABLE sys_role ADD CONSTRAINT probe CHECK (key <> '')"],
    "an index renamed": ["ALTER INDEX pk_sys_revision RENAME TO probe"],
    "a function": [_TRIGGER_FUNCTION],
    "a function replaced": [
        "CREATE OR REPLACE FUNCTION meridian_revision_changed() RETURNS trigger "
        "LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'"
    ],
    "a trigger": [
        _TRIGGER_FUNCTION,
        "CREATE TRIGGER probe BEFORE INSERT ON sys_role FOR EACH ROW EXECUTE FUNCTION probe_noop()",
    ],
    "a type": ["CREATE TYPE probe AS ENUM ('a')"],
}


@pytest.fixture
def template(postgresql_template: PostgresTemplate) -> PostgresTemplate:
    return postgresql_template


@pytest.fixture
def schema(template: PostgresTemplate) -> Iterator[Engine]:
    """An engine on the process's schema as the template put it back."""
    engine = make_engine(template.restore())
    yield engine
    engine.dispose()


def _run(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _digest(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(sa.text(_SHAPE)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_test_that_changed_the_shape_leaves_the_next_one_the_templates(
    template: PostgresTemplate, schema: Engine, change: str
) -> None:
    _run(schema, CHANGES[change])
    schema.dispose()
    assert _digest(template.restore()) == template.shape.digest  # type: ignore[union-attr]


def test_a_shape_changed_then_changed_back_is_still_the_templates(
    template: PostgresTemplate, schema: Engine
) -> None:
    _run(schema, ["ALTER TABLE sys_role ADD COLUMN probe integer"])
    _run(schema, ["ALTER TABLE sys_role DROP COLUMN probe"])
    schema.dispose()
    url = template.restore()
    assert _digest(url) == template.shape.digest  # type: ignore[union-attr]


def test_tables_rows_and_positions_a_test_leaves_are_put_back_in_the_same_schema(
    template: PostgresTemplate, schema: Engine
) -> None:
    url = schema.url.render_as_string(hide_password=False)
    with schema.connect() as conn:
        tokens = dict(conn.execute(sa.text("SELECT name, token FROM sys_revision")).all())
        roles = conn.execute(sa.text("SELECT * FROM sys_role ORDER BY key")).all()
    _run(
        schema,
        [
            # A form's table as the app makes one: its own sequence, a key to a system table.
            "CREATE TABLE form_probe (id serial PRIMARY KEY, role varchar REFERENCES sys_role)",
            "CREATE INDEX form_probe_role ON form_probe (role)",
            "CREATE VIEW form_probe_view AS SELECT id FROM form_probe",
            "INSERT INTO form_probe (role) SELECT min(key) FROM sys_role",
            "UPDATE sys_role SET label = 'probe'",
            "INSERT INTO sys_role (key, label, created_at) VALUES ('probe', 'Probe', now())",
            "UPDATE sys_revision SET token = 'probe'",
            "SELECT nextval('sys_user_id_seq')",
        ],
    )
    schema.dispose()
    assert template.restore() == url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            relations = set(conn.scalars(sa.text(_RELATIONS)))
            assert not {"form_probe", "form_probe_view", "form_probe_role"} & relations
            assert conn.execute(sa.text("SELECT * FROM sys_role ORDER BY key")).all() == roles
            fresh = dict(conn.execute(sa.text("SELECT name, token FROM sys_revision")).all())
            positions = dict(conn.execute(sa.text(_SEQUENCES)).all())
    finally:
        engine.dispose()
    assert fresh.keys() == tokens.keys()
    assert all(len(token) == 32 and token != tokens[name] for name, token in fresh.items())
    assert positions == template.shape.sequences  # type: ignore[union-attr]
    assert _digest(url) == template.shape.digest  # type: ignore[union-attr]
