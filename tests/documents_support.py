"""Helpers for document tests: the IDC solution with its print templates and sample data,
a company certificate made at run time (never a committed key), PDF text through pdftotext."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from meridian.core.actor import Actor
from meridian.documents.assets import set_asset
from meridian.http.deps import Workspace
from meridian.records import bulk, reads, service
from meridian.schema.catalog import get_form
from meridian.solutions import idc_crm
from meridian.solutions.idc_crm.seal import sample_seal_png
from meridian.solutions.loader import install_solution

PASSWORD = "seal-pass"


def install_idc(workspace: Workspace) -> None:
    app, forms = idc_crm.load_package()
    system = Actor.system()
    install_solution(
        workspace.engine, system, app, forms, templates=idc_crm.load_document_templates()
    )
    with workspace.transaction() as conn:
        set_asset(
            conn=conn,
            actor=system,
            store=workspace.settings.file_store_dir,
            name="seal",
            filename="seal.png",
            content_type="image/png",
            stream=io.BytesIO(sample_seal_png()),
        )


def idc_records(workspace: Workspace, actor: Actor) -> dict[str, int]:
    """A customer, its opportunity, a quote with cabinets, power and bandwidth lines (5 %
    off) and a contract, created as ``actor``."""
    with workspace.transaction() as conn:

        def create(form_key: str, values: dict[str, Any]) -> int:
            record = service.create_record(
                conn=conn, actor=actor, form=get_form(conn, form_key), values=values
            )
            return int(record["id"])

        customer = create(
            "customer",
            {
                "name": "华为云计算技术有限公司",
                "uscc": "91440305MA5EQXL121",
                "region": "440305",
                "status": "active",
            },
        )
        opportunity = create(
            "opportunity",
            {
                "name": "华南二期扩容",
                "customer": customer,
                "stage": "proposal",
                "cabinets": 10,
                "power_density_kw": "8.5",
                "bandwidth_mbps": 1000,
                "carriers": ["ct", "bgp"],
            },
        )
        quote = create(
            "quote",
            {
                "opportunity": opportunity,
                "customer": customer,
                "valid_until": "2026-12-31",
                "discount": "5",
                "status": "sent",
                "items": [
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
                ],
            },
        )
        contract = create(
            "contract",
            {
                "customer": customer,
                "opportunity": opportunity,
                "sla_level": "99.99",
                "start_date": "2027-01-01",
                "end_date": "2029-12-31",
                "amount": "1234567.00",
                "payment_cycle": "quarterly",
                "status": "draft",
            },
        )
    return {"customer": customer, "opportunity": opportunity, "quote": quote, "contract": contract}


def copy_quote(workspace: Workspace, actor: Actor, quote_id: int) -> int:
    """Another quote with the same customer, opportunity and lines."""
    return copy_quotes(workspace, actor, quote_id, 1)[0]


def copy_quotes(workspace: Workspace, actor: Actor, quote_id: int, count: int) -> list[int]:
    """``count`` more quotes like ``quote_id``, created in bulk (500 a transaction)."""
    with workspace.read() as conn:
        form = get_form(conn, "quote")
        quote = reads.get_record(conn=conn, actor=actor, form=form, record_id=quote_id)
    keys = ("opportunity", "customer", "valid_until", "discount", "status")
    values = {key: quote[key] for key in keys}
    values["items"] = [{k: v for k, v in line.items() if k != "id"} for line in quote["items"]]
    ids: list[int] = []
    for start in range(0, count, 500):
        with workspace.transaction() as conn:
            ids += bulk.create_records(
                conn=conn,
                actor=actor,
                form=get_form(conn, "quote"),
                items=[values] * min(500, count - start),
            )
    return ids


def company_pkcs12(common_name: str = "北京子午数据科技有限公司") -> bytes:
    """A self-signed signing certificate with its key, made now, as a PKCS#12 file."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"company",
        key,
        certificate,
        None,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The PDF's text as ``pdftotext -layout`` reads it (poppler-utils, from ``make install``)."""
    source = tmp_path / "document.pdf"
    source.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True, text=True
    ).stdout


def stored_bytes(workspace: Workspace, file_id: int) -> bytes:
    """A stored file's bytes by its row (documents refer to files by row, not by token)."""
    import sqlalchemy as sa

    from meridian.db.tables import files

    with workspace.read() as conn:
        path = conn.scalar(sa.select(files.c.storage_path).where(files.c.id == file_id))
    return (workspace.settings.file_store_dir / str(path)).read_bytes()
