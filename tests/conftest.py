"""Shared fixtures: a fresh database per test, on SQLite and (when configured) PostgreSQL.

``MERIDIAN_TEST_POSTGRES_URL`` turns on the PostgreSQL half of every database test. Each
PostgreSQL test gets a schema (first on ``search_path``) no other test process uses, so
parallel workers and repeated runs never see each other's data. A migrated database is a copy
of one template per test process (``tests/templates.py``; on PostgreSQL the process's one
migrated schema, put back before each test), and passwords are hashed at the least argon2
cost (the ``password_hashing`` setting): both cost far more than most tests themselves.
A module whose every test starts from the same expensive setup (a solution installed, an app
with forms and records) builds it once per dialect and test process and has it put back before
each test (``kept_database``).
"""

from __future__ import annotations

import functools
import gc
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from meridian.access import manage
from meridian.access.passwords import Passwords
from meridian.access.tokens import create_token
from meridian.access.users import create_user
from meridian.app import create_app, create_workspace
from meridian.core.actor import Actor
from meridian.core.clock import OPTION as CLOCK
from meridian.core.clock import SYSTEM_CLOCK, Clock, clock_of
from meridian.core.pinyin import load_dictionary
from meridian.db.engine import make_engine
from meridian.db.migrate import upgrade_database
from meridian.http.deps import Workspace
from meridian.plugins.manager import Plugins, build_plugins, plugins_of
from meridian.settings import Settings
from meridian.workspace import DEFAULT_PLUGINS
from tests.templates import (
    PostgresSnapshot,
    PostgresTemplate,
    SchemaChanged,
    SqliteSnapshot,
    SqliteTemplate,
)

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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "long: takes tens of seconds (real processes, fuzzing); scheduled first"
    )
    # Everything imported so far, and pinyin's phrase dictionary (200,000 lists, loaded at the
    # first record written), lives as long as the test process. Frozen, it is no longer walked
    # by every full collection: those took a third of a test process's time.
    load_dictionary()
    gc.freeze()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` run first. They take tens of seconds each (real processes killed
    again and again, the API fuzzer), and the test processes share them out while the short
    tests fill the gaps; one started last would keep the whole run waiting on one process."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def postgres_ready() -> bool:
    if POSTGRES_URL:
        _prepare_postgres_database(POSTGRES_URL)
    return bool(POSTGRES_URL)


@contextmanager
def _postgres_schema() -> Iterator[str]:
    """A URL whose search path starts with a new, empty schema; dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema},public"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=DIALECTS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_ready: bool
) -> Iterator[str]:
    """A URL to a database of each configured dialect: empty, unless the test asks for the
    ``engine`` too (then on PostgreSQL the process's migrated schema, put back to the
    template; the ``engine`` fixture fills SQLite's file)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meridian.db'}"
        return
    if "engine" in request.fixturenames:
        template: PostgresTemplate = request.getfixturevalue("postgresql_template")
        yield template.restore()
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture
def other_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database of the same dialect as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate.build(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgresql_template(postgres_ready: bool) -> Iterator[PostgresTemplate]:
    template = PostgresTemplate.build(POSTGRES_URL)
    yield template
    template.drop()


class FakeClock(Clock):
    """The system's time until a test moves it: ``follow`` a function that says what now is."""

    def __init__(self) -> None:
        self.source: Callable[[], datetime] = SYSTEM_CLOCK.now

    def now(self) -> datetime:
        return self.source()

    def follow(self, source: Callable[[], datetime]) -> None:
        self.source = source


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(
    request: pytest.FixtureRequest, database_url: str, fake_clock: FakeClock
) -> Iterator[Engine]:
    """An engine on a fresh database with the system tables migrated: a copy of the template.
    It reads the test's clock, and the workspace built on it keeps that clock."""
    dialect = sa.make_url(database_url).get_backend_name()
    template: SqliteTemplate | PostgresTemplate = request.getfixturevalue(f"{dialect}_template")
    engine = template.copy_to(database_url)
    engine.update_execution_options(**{CLOCK: fake_clock})
    yield engine
    engine.dispose()


@pytest.fixture
def engine_by_migrations(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database migrated by running every Alembic revision, for the
    tests of the migrations themselves."""
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def _settings(folder: Path, database_url: str) -> Settings:
    """Meridian alone: the example plugin installed for its own tests stays out (they load it
    by name), so every other test sees the built-in plugins only."""
    return Settings(
        data_dir=folder / "data",
        database_url=database_url,
        password_hashing="argon2-minimal-for-tests",
        load_plugins="",
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return _settings(tmp_path, database_url)


@functools.cache
def _plugins(installed: tuple[str, ...] | None) -> Plugins:
    """One registry per process for the plugins a test's settings name: building it registers
    every hook of every plugin (~10 ms), and it holds nothing of a test's own — what is kept
    with it is kept under a database's revision tokens, fresh for every test."""
    return build_plugins(DEFAULT_PLUGINS, installed=installed)


@pytest.fixture
def workspace(settings: Settings, engine: Engine, fake_clock: FakeClock) -> Workspace:
    plugins = _plugins(settings.plugin_names)
    return create_workspace(settings, engine=engine, plugins=plugins, clock=fake_clock)


def workspace_on(engine: Engine, settings: Settings | None = None) -> Workspace:
    """The workspace whose plugins ``engine`` carries (``create_workspace`` gave them to it),
    for helpers that hold only the engine; ``settings`` replace the defaults."""
    plugins = plugins_of(engine)
    assert plugins is not None, "create the workspace first"
    settings = settings or Settings()
    return Workspace(
        settings=settings,
        engine=engine,
        tz=ZoneInfo(settings.time_zone),
        passwords=Passwords(hashing=settings.password_hashing),
        plugins=plugins,
        clock=clock_of(engine),
    )


@pytest.fixture
def admin(workspace: Workspace) -> Actor:
    return an_admin(workspace)


def an_admin(workspace: Workspace) -> Actor:
    """admin@acme.test, an administrator."""
    with workspace.transaction() as conn:
        user_id = create_user(
            conn=conn,
            email="admin@acme.test",
            name="Admin",
            password="correct horse",
            passwords=workspace.passwords,
            is_admin=True,
        )
    return Actor(user_id=user_id, is_admin=True, name="Admin")


def a_member(workspace: Workspace, email: str = "rep@acme.test") -> tuple[dict[str, Any], str]:
    """A user with the member role (reads its department's records, changes its own) and an
    API token of theirs."""
    with workspace.transaction() as conn:
        user = manage.add_user(
            conn,
            Actor.system(),
            email=email,
            name=email.split("@")[0],
            password="Passw0rd-long",
            passwords=workspace.passwords,
            roles=["member"],
            must_change_password=False,
        )
        token = create_token(conn=conn, user_id=user["id"], name="t")
    return user, token


@pytest.fixture
def client(workspace: Workspace, admin: Actor, settings: Settings) -> Iterator[TestClient]:
    """An in-process HTTP client authenticated as an administrator."""
    with workspace.transaction() as conn:
        assert admin.user_id is not None
        token = create_token(conn=conn, user_id=admin.user_id, name="tests")
    app = create_app(settings, workspace=workspace)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as test_client:
        yield test_client


Built = TypeVar("Built")


class KeptDatabase(Generic[Built]):
    """A database a module's tests share, on one dialect in one test process: what the
    module's setup built on it (``built``), kept, and put back before each test. A test that
    changed the database's shape (a form given a field, say: PostgreSQL's schema is put back
    row by row) or left it locked has the next one build it all again, on a fresh schema."""

    def __init__(
        self, request: pytest.FixtureRequest, dialect: str, build: Callable[[Workspace], Built]
    ) -> None:
        self.request = request
        self.dialect = dialect
        self.build = build
        self.closing: list[Callable[[], object]] = []
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        folder = self.request.getfixturevalue("tmp_path_factory").mktemp("kept")
        clock = FakeClock()
        if self.dialect == "sqlite":
            url = f"sqlite:///{folder / 'meridian.db'}"
            template: SqliteTemplate | PostgresTemplate = self.request.getfixturevalue(
                "sqlite_template"
            )
        else:
            template = self.request.getfixturevalue("postgresql_template")
            assert isinstance(template, PostgresTemplate)
            url = template.restore()
        engine = template.copy_to(url)
        self.closing.append(engine.dispose)
        engine.update_execution_options(**{CLOCK: clock})
        settings = _settings(folder, url)
        self.workspace = create_workspace(
            settings, engine=engine, plugins=_plugins(settings.plugin_names), clock=clock
        )
        self.built = self.build(self.workspace)
        self.clock, self.time = clock, clock.source
        if isinstance(template, PostgresTemplate):
            snapshot = PostgresSnapshot.take(template)
            self.closing.append(snapshot.drop)
            self.restore: Callable[[], object] = snapshot.restore
        else:
            copy = SqliteSnapshot.take(engine, folder / "kept.db")
            self.restore = lambda: copy.restore(engine)

    def put_back(self) -> Workspace:
        """The workspace on the database exactly as the setup left it (its rows, sequences'
        positions; fresh revision tokens) and its clock following what it followed then,
        whatever the last test wrote or did with the time. Read ``built`` after: built
        again, it is another."""
        try:
            self.restore()
        except (SchemaChanged, sa.exc.DBAPIError):
            self.close()
            self._open()
        self.clock.follow(self.time)
        return self.workspace

    def close(self) -> None:
        while self.closing:
            self.closing.pop()()


@contextmanager
def kept_database(
    request: pytest.FixtureRequest, dialect: str, build: Callable[[Workspace], Built]
) -> Iterator[KeptDatabase[Built]]:
    """For a module-scoped fixture (``params=DIALECTS``) whose tests read what an expensive
    setup made — the IDC solution's install, an app with forms and records — and each start
    from it, not from one another's writes: ``build`` runs once on a migrated database of
    ``dialect`` (the process's schema on PostgreSQL, a copy of the template on SQLite), and
    each test takes the workspace through ``put_back``. The workspace reads a ``FakeClock``
    (``workspace.clock``), following the system's time unless the build moved it; a module
    whose tests move time has ``fake_clock`` give that clock."""
    kept = KeptDatabase(request, dialect, build)
    try:
        yield kept
    finally:
        kept.close()


def kept_fixtures(build: Callable[[Workspace], Built]) -> tuple[Any, Any]:
    """A module's ``kept`` fixture (``kept_database`` of ``build``, once per dialect and test
    process) and its ``workspace`` fixture (the kept database put back for each test):
    ``kept, workspace = kept_fixtures(build)`` at the module's top level."""

    @pytest.fixture(scope="module", params=DIALECTS)
    def kept(request: pytest.FixtureRequest) -> Iterator[KeptDatabase[Built]]:
        with kept_database(request, request.param, build) as kept:
            yield kept

    @pytest.fixture
    def workspace(kept: KeptDatabase[Built]) -> Workspace:
        return kept.put_back()

    return kept, workspace


@dataclass(frozen=True)
class KeptApp(Generic[Built]):
    """The app on a kept database, its administrator and their API token, and what the
    module's setup built through them."""

    app: FastAPI
    admin: Actor
    token: str
    built: Built

    def client(self) -> TestClient:
        """A client of its own (no cookies from another test), authenticated as the
        administrator; enter it to use it."""
        return TestClient(self.app, headers={"Authorization": f"Bearer {self.token}"})


def with_app(
    build: Callable[[Workspace, TestClient], Built],
) -> Callable[[Workspace], KeptApp[Built]]:
    """A ``build`` for ``kept_database`` that makes the app once (``create_app`` per test
    was most of many API tests' setup) and an administrator with a token, and runs
    ``build`` with the administrator's client."""

    def building(workspace: Workspace) -> KeptApp[Built]:
        admin = an_admin(workspace)
        assert admin.user_id is not None
        with workspace.transaction() as conn:
            token = create_token(conn=conn, user_id=admin.user_id, name="tests")
        app = create_app(workspace.settings, workspace=workspace)
        kept = KeptApp(app, admin, token, None)
        with kept.client() as client:
            return KeptApp(app, admin, token, build(workspace, client))

    return building
