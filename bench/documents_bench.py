"""Documents benchmark: one 2-page quote PDF, and 1,000 quotes batched into one PDF.

    python bench/documents_bench.py
    python bench/documents_bench.py --quotes 1000 --postgres postgresql+psycopg://postgres@127.0.0.1/test
    python bench/documents_bench.py --pages docs/screenshots   # page images, quote and contract

The IDC solution is installed with its templates; one customer and opportunity get
``--quotes`` quotes of three lines each (cabinets, power, bandwidth). The IDC quote template
is then generated for one quote ``--repeat`` times (end to end: read as the user, claim the
number, render, store; and the rendering alone), and a batch job turns every quote into one
PDF, run by one in-process worker.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from scratch import database_url

from meridian.access.users import create_user
from meridian.app import create_workspace
from meridian.core.actor import Actor
from meridian.db.engine import read_transaction
from meridian.db.tables import files
from meridian.documents.assets import set_asset
from meridian.documents.batches import create_batch, get_batch
from meridian.documents.generate import generate_document, prepare_document, render_content
from meridian.documents.signing import add_signing_key
from meridian.http.deps import Workspace
from meridian.jobs.handlers import job_handlers
from meridian.jobs.worker import Worker
from meridian.records import bulk, service
from meridian.schema.catalog import get_form
from meridian.settings import Settings
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.seal import sample_seal_png
from meridian.solutions.loader import install_solution

LINES = [
    {
        "product": "cabinet",
        "spec": "42U 标准机柜",
        "quantity": 10,
        "unit_price": "3500",
        "months": 12,
    },
    {
        "product": "power",
        "spec": "单机柜 8.5 kW",
        "quantity": 10,
        "unit_price": "800",
        "months": 12,
    },
    {
        "product": "bandwidth",
        "spec": "BGP 1000 Mbps",
        "quantity": 1,
        "unit_price": "25000.50",
        "months": 12,
    },
]


def setup(workspace: Workspace, quotes: int) -> tuple[Actor, list[int], int]:
    app, forms = idc_crm.load_package()
    install_solution(
        workspace.engine,
        Actor.system(),
        app,
        forms,
        templates=idc_crm.load_document_templates(),
    )
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
        set_asset(
            conn=conn,
            actor=actor,
            store=workspace.settings.file_store_dir,
            name="seal",
            filename="seal.png",
            content_type="image/png",
            stream=io.BytesIO(sample_seal_png()),
        )
        customer = service.create_record(
            conn=conn,
            actor=actor,
            form=get_form(conn, "customer"),
            values={
                "name": "华为云计算技术有限公司",
                "uscc": "91440305MA5EQXL121",
                "region": "440305",
                "status": "active",
            },
        )["id"]
        opportunity = service.create_record(
            conn=conn,
            actor=actor,
            form=get_form(conn, "opportunity"),
            values={
                "name": "华南二期扩容",
                "customer": customer,
                "stage": "proposal",
                "cabinets": 10,
                "power_density_kw": "8.5",
                "bandwidth_mbps": 1000,
                "carriers": ["ct", "bgp"],
            },
        )["id"]
        contract = service.create_record(
            conn=conn,
            actor=actor,
            form=get_form(conn, "contract"),
            values={
                "customer": customer,
                "opportunity": opportunity,
                "sla_level": "99.99",
                "start_date": "2027-01-01",
                "end_date": "2029-12-31",
                "amount": "1234567.00",
                "payment_cycle": "quarterly",
                "status": "signed",
            },
        )["id"]
    quote = {
        "opportunity": opportunity,
        "customer": customer,
        "valid_until": "2026-12-31",
        "discount": "5",
        "total_amount": "775205.70",
        "status": "sent",
        "items": LINES,
    }
    ids: list[int] = []
    for start in range(0, quotes, 500):
        with workspace.transaction() as conn:
            ids += bulk.create_records(
                conn=conn,
                actor=actor,
                form=get_form(conn, "quote"),
                items=[quote] * min(500, quotes - start),
            )
    return actor, ids, contract


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
    """Wall time and this process's CPU time: on a shared, loaded machine the CPU time is
    what the work costs, the wall time what a user waited."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def batch(workspace: Workspace, actor: Actor, ids: list[int]) -> None:
    with workspace.transaction() as conn:
        queued = create_batch(
            conn=conn,
            actor=actor,
            form_key="quote",
            template_key="quote_pdf",
            record_ids=ids,
            output="pdf",
        )
    worker = Worker(workspace.engine, job_handlers(workspace), workspace.tz)
    with Timer() as timed:
        while worker.run_once():
            pass
    with workspace.read() as conn:
        done = get_batch(conn=conn, actor=actor, batch_id=queued["id"])
        size = conn.scalar(sa.select(files.c.size).where(files.c.id == done["file_id"])) or 0
    print(
        f"batch of {len(ids)} quotes into one PDF: {done['state']} {done['done']}/"
        f"{done['total']} in {timed.wall:.1f} s wall, {timed.cpu:.1f} s CPU "
        f"({timed.cpu / len(ids) * 1000:.0f} ms CPU a quote), {size / 1024 / 1024:.1f} MB"
    )


def page_images(workspace: Workspace, actor: Actor, quote: int, contract: int, out: Path) -> None:
    """PNG page images of the quote and the signed contract (pdftoppm), for the docs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "北京子午数据科技有限公司")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    bundle = pkcs12.serialize_key_and_certificates(
        b"bench", key, certificate, None, serialization.BestAvailableEncryption(b"bench-pass")
    )
    with workspace.transaction() as conn:
        add_signing_key(
            conn=conn,
            actor=actor,
            settings=workspace.settings,
            pkcs12_data=bundle,
            password="bench-pass",
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
            batch(workspace, actor, ids[1:])
        finally:
            workspace.engine.dispose()


if __name__ == "__main__":
    main()
