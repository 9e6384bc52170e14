"""API tokens: shown once, stored hashed, refused once expired or revoked."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.access.tokens import create_token, revoke_token
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.db.tables import api_tokens
from meridian.http.deps import Workspace


def test_tokens_are_stored_hashed_and_record_their_last_use(
    client: TestClient, workspace: Workspace, admin: Actor
) -> None:
    assert admin.user_id is not None
    with workspace.transaction() as conn:
        token = create_token(conn=conn, user_id=admin.user_id, name="erp")
    with workspace.read() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.name == "erp")).one()
    assert token not in (row.token_hash, row.prefix) and row.last_used_at is None
    assert (
        client.get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    )
    with workspace.read() as conn:
        used = conn.execute(sa.select(api_tokens.c.last_used_at).where(api_tokens.c.id == row.id))
        assert used.scalar_one() is not None


def test_expired_and_revoked_tokens_are_refused(
    client: TestClient, workspace: Workspace, admin: Actor
) -> None:
    assert admin.user_id is not None
    with workspace.transaction() as conn:
        expired = create_token(
            conn=conn,
            user_id=admin.user_id,
            name="old",
            expires_at=utcnow(conn) - timedelta(seconds=1),
        )
        revoked = create_token(conn=conn, user_id=admin.user_id, name="gone")
        token_id = conn.execute(
            sa.select(api_tokens.c.id).where(api_tokens.c.name == "gone")
        ).scalar_one()
        revoke_token(conn=conn, token_id=token_id)
    for token, reason in ((expired, "expired"), (revoked, "revoked")):
        response = client.get("/api/v1/apps", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert reason in response.json()["detail"]
        assert response.headers["WWW-Authenticate"] == "Bearer"
