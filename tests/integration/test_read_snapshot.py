"""A read transaction sees one snapshot, on both databases: what another connection commits
after its first read is not seen by its later reads. (A request that reads twice — an
import's progress and its counts — must not see two moments.)"""

from __future__ import annotations

import sqlalchemy as sa

from meridian.db.engine import read_transaction, transaction
from meridian.db.tables import revisions
from meridian.http.deps import Workspace


def _count(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(revisions)).scalar_one())


def test_a_read_transaction_does_not_see_what_commits_after_its_first_read(
    workspace: Workspace,
) -> None:
    engine = workspace.engine
    with read_transaction(engine) as reader:
        before = _count(reader)
        with transaction(engine) as writer:
            writer.execute(revisions.insert().values(name="snapshot-test", token="t1"))
        assert _count(reader) == before, "a second read saw a later moment than the first"
    with read_transaction(engine) as reader:
        assert _count(reader) == before + 1


def test_a_request_reads_one_moment(workspace: Workspace) -> None:
    with workspace.read() as reader:
        before = _count(reader)
        with workspace.transaction() as writer:
            writer.execute(revisions.insert().values(name="snapshot-request", token="t1"))
        assert _count(reader) == before
