"""Password hashing: deployments hash with argon2id at full cost; only tests may choose less."""

from __future__ import annotations

from pathlib import Path

import pytest

from meridian.access.passwords import Passwords
from meridian.app import create_workspace
from meridian.settings import Settings

FULL_COST = "$argon2id$v=19$m=65536,t=3,p=4$"
MINIMAL_COST = "$argon2id$v=19$m=8,t=1,p=1$"


def test_a_deployment_hashes_with_argon2id_at_full_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``meridian serve`` builds from the environment, with nothing set about hashing."""
    for name in ("MERIDIAN_PASSWORD_HASHING", "MERIDIAN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MERIDIAN_DATA_DIR", str(tmp_path / "data"))
    workspace = create_workspace(Settings())
    try:
        assert workspace.settings.password_hashing == "argon2"
        assert workspace.passwords.hash("correct horse").startswith(FULL_COST)
    finally:
        workspace.engine.dispose()


def test_either_cost_checks_the_others_hashes() -> None:
    """A hash carries its own cost, so a test database's users log in to a deployment's
    hasher and the other way round; wrong passwords fail under both."""
    full, minimal = Passwords(hashing="argon2"), Passwords(hashing="argon2-minimal-for-tests")
    cheap = minimal.hash("correct horse")
    assert cheap.startswith(MINIMAL_COST)
    costly = full.hash("correct horse")
    assert full.verify("correct horse", cheap) and minimal.verify("correct horse", costly)
    assert not full.verify("wrong horse", cheap) and not minimal.verify("wrong horse", costly)


def test_an_unknown_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERIDIAN_PASSWORD_HASHING", "md5")
    with pytest.raises(ValueError, match="password_hashing"):
        Settings()
