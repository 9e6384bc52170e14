"""A batch survives its worker's death: killed with SIGKILL mid-batch (the worker and its
layout processes), the next worker carries on, and the documents' numbers stay gap-free.

A real ``meridian worker`` runs the batch on the test's database; once the first chunk is
stored (its progress says so) and the next chunks are numbered and being laid out, the
worker's whole process group is killed. Another worker takes the job over when the lease has
run out: the numbers the dead one claimed and never stored are taken over, not skipped.
"""

from __future__ import annotations

import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from meridian.core.actor import Actor
from meridian.db.tables import document_batches, documents
from meridian.documents.batch_run import CHUNK
from meridian.http.deps import Workspace
from tests.documents_support import copy_quotes, idc_records, install_idc, pdf_text
from tests.worker_processes import kill_session, start_meridian, worker_env

QUOTES = 3 * CHUNK


def _worker(database_url: str, folder: Path, name: str) -> tuple[BaseProcess, Path]:
    """``meridian worker`` forked from the warm fork server, in a process group of its own
    (its layout processes join it)."""
    log = folder / f"{name}.log"
    env = worker_env(database_url, folder / "data")
    return start_meridian(["worker"], env, log, new_session=True), log


def _batch(workspace: Workspace, batch_id: int) -> tuple[str, int]:
    with workspace.read() as conn:
        row = conn.execute(
            sa.select(document_batches.c.state, document_batches.c.done).where(
                document_batches.c.id == batch_id
            )
        ).one()
    return row.state, row.done


def _wait(
    workspace: Workspace, batch_id: int, process: BaseProcess, log: Path, until: str
) -> tuple[str, int]:
    deadline = time.monotonic() + 600
    while True:
        state, done = _batch(workspace, batch_id)
        if (until == "stored" and done >= CHUNK) or state in ("done", "failed"):
            return state, done
        assert process.is_alive(), log.read_text()
        assert time.monotonic() < deadline, f"batch at {state} {done}: {log.read_text()[-2000:]}"
        time.sleep(0.05)


@pytest.mark.long
def test_a_batch_whose_worker_is_killed_carries_on_with_gap_free_numbers(
    workspace: Workspace, admin: Actor, client: TestClient, database_url: str, tmp_path: Path
) -> None:
    install_idc(workspace)
    first = idc_records(workspace, admin)["quote"]
    quotes = [first, *copy_quotes(workspace, admin, first, QUOTES - 1)]
    queued = client.post(
        "/api/v1/forms/quote/documents/batches",
        json={"template": "quote_pdf", "ids": quotes, "output": "pdf"},
    ).json()

    process, log = _worker(database_url, tmp_path, "killed")
    try:
        state, done = _wait(workspace, queued["id"], process, log, until="stored")
        with workspace.read() as conn:
            pending = conn.scalar(
                sa.select(sa.func.count())
                .select_from(documents)
                .where(documents.c.state == "pending")
            )
    finally:
        kill_session(process)
    assert state == "running" and CHUNK <= done < QUOTES, (state, done)
    assert pending, "the next chunks were numbered and in flight when the worker died"

    process, log = _worker(database_url, tmp_path, "next")
    try:
        state, done = _wait(workspace, queued["id"], process, log, until="finished")
    finally:
        kill_session(process)
    assert (state, done) == ("done", QUOTES), log.read_text()[-2000:]

    with workspace.read() as conn:
        rows = conn.execute(
            sa.select(documents.c.record_id, documents.c.number, documents.c.state)
        ).all()
    assert {row.state for row in rows} == {"done"}
    assert sorted(row.record_id for row in rows) == sorted(quotes), "one document per quote"
    sequence = sorted(int(row.number.rsplit("-", 1)[1]) for row in rows)
    assert sequence == list(range(1, QUOTES + 1)), "gap-free: claimed numbers were taken over"

    combined = client.get(f"/api/v1/documents/batches/{queued['id']}/file")
    assert combined.status_code == 200, combined.text
    text = pdf_text(combined.content, tmp_path)
    assert text.count("\f") == 2 * QUOTES
    assert all(row.number in text for row in rows)
