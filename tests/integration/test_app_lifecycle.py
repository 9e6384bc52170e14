"""An application that opened its own database gives its connections back when it stops."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from meridian.app import create_app
from meridian.settings import Settings


def test_an_app_closes_the_database_it_opened_when_it_stops(
    tmp_path: Path, database_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        password_hashing="argon2-minimal-for-tests",
        load_plugins="",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        engine = client.app.state.workspace.engine  # type: ignore[attr-defined]
        assert engine.pool.checkedin() >= 1
    assert engine.pool.checkedin() == 0
