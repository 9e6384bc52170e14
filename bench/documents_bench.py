"""Documents benchmark: one 2-page quote PDF, and 1,000 quotes batched into one PDF.

    python bench/documents_bench.py
    python bench/documents_bench.py --quotes 1000 --postgres postgresql+psycopg://postgres@127.0.0.1/test
    python bench/documents_bench.py --pages docs/screenshots   # page images, quote and contract

The IDC solution is installed with its templates and sample records exactly as the document
tests make them (``tests/documents_support.py``); the quote is copied ``--quotes`` times (three
lines each: cabinets, power, bandwidth). The IDC quote template is then generated for one
quote ``--repeat`` times (end to end: read as the user, claim the number, render, store; and
the rendering alone), and a batch job turns every quote into one PDF, run by one in-process
worker whose layout processes use every core.

The machine these figures come from is often shared, so each figure is printed with the load
average beside it and with CPU seconds as well as wall seconds: the batch's CPU counts the
layout processes too (they are reaped when the batch ends), and ``idle estimate`` divides it by
the cores — what the batch takes when nothing else runs, provided the work spreads evenly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from scratch import database_url

from meridian.access.users import create_user
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import read_transaction
from meridian.db.tables import files
from meridian.documents.batches import create_batch, get_batch
from meridian.documents.generate import (
    generate_document,
    prepare_document,
    render_content,
)
from meridian.documents.press import cores
from meridian.documents.signing import add_signing_key
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import service
from meridian.schema.catalog import get_form
from meridian.settings import Settings

# The records are made as the document tests make them: one set-up, not two copies of it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.documents_support import (
    PASSWORD,
    company_pkcs12,
    copy_quotes,
    idc_records,
    install_idc,
)


def setup(workspace: Workspace, quotes: int) -> tuple[Actor, list[int], int]:
    """An administrator, the IDC records of the document tests, and ``quotes`` quotes."""
    install_idc(workspace)
    with workspace.transaction() as conn:
        user_id = create_user(
            conn=conn,
            email="wang@acme.test",
            name="王磊",
            password="pass-word-1",
            passwords=workspace.passwords,
            is_admin=True,
        )
    actor = Actor(user_id=user_id, is_admin=True, name="王磊")
    made = idc_records(workspace, actor)
    with workspace.transaction() as conn:  # signed, so its template's condition is met
        service.update_record(
            conn=conn,
            actor=actor,
            form=get_form(conn, "contract"),
            record_id=made["contract"],
            values={"status": "active"},
        )
    ids = [made["quote"], *copy_quotes(workspace, actor, made["quote"], quotes - 1)]
    return actor, ids, made["contract"]


def load() -> str:
    """The load average, printed beside each figure."""
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} on {cores()} cores"


def one_quote(workspace: Workspace, actor: Actor, quote: int, repeat: int) -> None:
    tz = workspace.tz
    with read_transaction(workspace.engine) as conn:
        prepared = prepare_document(
            conn=conn,
            actor=actor,
            settings=workspace.settings,
            form_key="quote",
            record_id=quote,
            template_key="quote_pdf",
            tz=tz,
        )
    render_content(
        prepared, number="QD-000000-0000", version=1, issued=dt.datetime.now(dt.UTC), tz=tz
    )  # warm: fonts, imports
    renders: list[Timer] = []
    generations: list[Timer] = []
    for _ in range(repeat):
        with Timer() as timed:
            rendered = render_content(
                prepared, number="QD-000000-0000", version=1, issued=dt.datetime.now(dt.UTC), tz=tz
            )
        renders.append(timed)
        with Timer() as timed:
            generate_document(
                engine=workspace.engine,
                actor=actor,
                settings=workspace.settings,
                form_key="quote",
                record_id=quote,
                template_key="quote_pdf",
                tz=tz,
            )
        generations.append(timed)
    pages = len(rendered.pages.pages)
    print(f"quote PDF ({pages} pages, {len(rendered.content) // 1024} KB), median of {repeat}:")
    for what, runs in (("render", renders), ("generate end to end", generations)):
        wall = statistics.median(t.wall for t in runs) * 1000
        cpu = statistics.median(t.cpu for t in runs) * 1000
        print(f"  {what}: {wall:.0f} ms wall, {cpu:.0f} ms CPU")


class Timer:
    """Wall time and CPU time — this process's, and its reaped children's (the batch's layout
    processes): on a shared, loaded machine the CPU time is what the work costs, the wall time
    what a user waited."""

    wall = 0.0
    cpu = 0.0
    children = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        self._children = _children_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        self.children = _children_cpu() - self._children


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def batch(workspace: Workspace, actor: Actor, ids: list[int], output: str) -> None:
    with workspace.transaction() as conn:
        queued = create_batch(
            conn=conn,
            actor=actor,
            form_key="quote",
            template_key="quote_pdf",
            record_ids=ids,
            output=output,
        )
    worker = Worker(workspace.engine, job_handlers(workspace), workspace.tz)
    before = load()
    with Timer() as timed:
        while worker.run_once():
            pass
    with workspace.read() as conn:
        done = get_batch(conn=conn, actor=actor, batch_id=queued["id"])
        size = conn.scalar(sa.select(files.c.size).where(files.c.id == done["file_id"])) or 0
    total = timed.cpu + timed.children
    print(
        f"batch of {len(ids)} quotes into one {output.upper()}: {done['state']} {done['done']}/"
        f"{done['total']}, {size / 1024 / 1024:.1f} MB\n"
        f"  {timed.wall:.1f} s wall; CPU {total:.1f} s = {timed.cpu:.1f} s worker + "
        f"{timed.children:.1f} s layout processes ({total / len(ids) * 1000:.0f} ms a quote)\n"
        f"  idle estimate (CPU / {cores()} cores): {total / cores():.0f} s\n"
        f"  {before} at the start, {load()} at the end"
    )


def page_images(workspace: Workspace, actor: Actor, quote: int, contract: int, out: Path) -> None:
    """PNG page images of the quote and the signed contract (pdftoppm), for the docs."""
    with workspace.transaction() as conn:
        add_signing_key(
            conn=conn,
            actor=actor,
            settings=workspace.settings,
            pkcs12_data=company_pkcs12(),
            password=PASSWORD,
        )
    out.mkdir(parents=True, exist_ok=True)
    for form_key, record_id, template in (
        ("quote", quote, "quote_pdf"),
        ("contract", contract, "contract_pdf"),
    ):
        made = generate_document(
            engine=workspace.engine,
            actor=actor,
            settings=workspace.settings,
            form_key=form_key,
            record_id=record_id,
            template_key=template,
            tz=workspace.tz,
        )
        with workspace.read() as conn:
            path = conn.scalar(sa.select(files.c.storage_path).where(files.c.id == made["file_id"]))
        source = workspace.settings.file_store_dir / str(path)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "90", str(source), str(out / f"document-{form_key}")],
            check=True,
        )
        print(f"{form_key}: {made['number']} → {out}/document-{form_key}-*.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--pages", type=Path, help="write page images here and stop")
    parser.add_argument("--output", choices=("pdf", "zip"), default="pdf")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, database_url(args.postgres) as url:
        workspace = create_workspace(Settings(data_dir=Path(folder), database_url=url))
        try:
            quotes = 1 if args.pages else args.quotes + 1
            actor, ids, contract = setup(workspace, quotes)
            if args.pages:
                page_images(workspace, actor, ids[0], contract, args.pages)
                return
            one_quote(workspace, actor, ids[0], args.repeat)
            batch(workspace, actor, ids[1:], args.output)
        finally:
            workspace.engine.dispose()


if __name__ == "__main__":
    main()
