"""Documents from the IDC solution's templates: the right values in the PDF (Chinese, line-item
totals, the amount in capital numerals), numbering, versions, conditions, signatures."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from meridian.core.actor import Actor
from meridian.core.i18n import Translator
from meridian.db.tables import audit_log
from meridian.documents.generate import generate_document
from meridian.documents.reading import list_documents
from meridian.documents.signing import add_signing_key, verify_pdf
from meridian.errors import Conflict
from meridian.http.deps import Workspace
from meridian.records import service
from meridian.schema.catalog import get_form
from tests.documents_support import (
    PASSWORD,
    company_pkcs12,
    idc_records,
    install_idc,
    pdf_text,
    stored_bytes,
)


def _generate(workspace: Workspace, actor: Actor, form: str, record: int, template: str) -> dict:
    return generate_document(
        engine=workspace.engine,
        actor=actor,
        settings=workspace.settings,
        form_key=form,
        record_id=record,
        template_key=template,
        tz=workspace.tz,
    )


def test_the_quote_prints_its_lines_totals_and_the_amount_in_capitals(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    install_idc(workspace)
    ids = idc_records(workspace, admin)
    document = _generate(workspace, admin, "quote", ids["quote"], "quote_pdf")

    assert document["number"].startswith("QD-") and document["number"].endswith("-0001")
    assert document["version"] == 1 and document["signed"] is False
    text = pdf_text(stored_bytes(workspace, document["file_id"]), tmp_path)
    for expected in (
        "IDC 服务报价单",
        document["number"],
        "华为云计算技术有限公司",
        "广东省 / 深圳市 / 南山区",
        "2026年12月31日",
        "机柜租用",
        "电力扩容",
        "带宽",
        "42U 标准机柜",
        "¥420,000.00",  # 10 cabinets × ¥3,500 × 12 months
        "¥96,000.00",  # 10 × ¥800 × 12
        "¥300,006.00",  # 1 × ¥25,000.50 × 12
        "¥816,006.00",  # the lines' total
        "-¥40,800.30",  # 5 % off
        "¥775,205.70",
        "人民币柒拾柒万伍仟贰佰零伍元柒角",
        "10 个 × 8.5 kW",
        "1000 Mbps（中国电信、BGP多线）",
        "服务等级（SLA）",
        "第1页/共2页",  # pdftotext drops the spaces around Chinese
    ):
        assert expected in text, expected


def test_regenerating_keeps_the_number_and_adds_a_version(
    workspace: Workspace, admin: Actor
) -> None:
    install_idc(workspace)
    ids = idc_records(workspace, admin)
    first = _generate(workspace, admin, "quote", ids["quote"], "quote_pdf")
    second = _generate(workspace, admin, "quote", ids["quote"], "quote_pdf")
    assert second["number"] == first["number"]
    assert (second["version"], second["name"]) == (2, f"{first['number']}-v2.pdf")
    assert second["file_id"] != first["file_id"]
    with workspace.read() as conn:
        listed = list_documents(
            conn=conn, actor=admin, form_key="quote", record_id=ids["quote"], tz=workspace.tz
        )
    assert [(d["version"], d["template_version"]) for d in listed] == [(2, 1), (1, 1)]


def test_the_contract_needs_its_condition_then_is_sealed_and_signed(
    workspace: Workspace, admin: Actor, tmp_path: Path
) -> None:
    install_idc(workspace)
    ids = idc_records(workspace, admin)
    with pytest.raises(Conflict) as refused:
        _generate(workspace, admin, "contract", ids["contract"], "contract_pdf")
    assert refused.value.extra["reason"] == "condition_not_met"
    assert "生成条件" in Translator("zh-CN").text(refused.value.detail)

    with workspace.transaction() as conn:
        form = get_form(conn, "contract")
        service.update_record(
            conn=conn,
            actor=admin,
            form=form,
            record_id=ids["contract"],
            values={"status": "signed"},
        )
    with pytest.raises(Conflict) as unsigned:
        _generate(workspace, admin, "contract", ids["contract"], "contract_pdf")
    assert unsigned.value.extra["reason"] == "no_signing_key"

    with workspace.transaction() as conn:
        key = add_signing_key(
            conn=conn,
            actor=admin,
            settings=workspace.settings,
            pkcs12_data=company_pkcs12(),
            password=PASSWORD,
        )
    document = _generate(workspace, admin, "contract", ids["contract"], "contract_pdf")
    assert document["signed"] is True and document["number"].startswith("HTWJ-")
    data = stored_bytes(workspace, document["file_id"])
    text = pdf_text(data, tmp_path)
    for expected in (
        "IDC 机房托管服务合同",
        "华为云计算技术有限公司",
        "¥1,234,567.00",
        "人民币壹佰贰拾叁万肆仟伍佰陆拾柒元整",
        "2027年1月1日",
        "2029年12月31日",
        "季付",
        "5 分钟响应，1 小时到场",  # the 99.99 % section only
        "乙方（盖章）",
    ):
        assert expected in text, expected
    assert "15 分钟响应" not in text

    verified = verify_pdf(data)
    assert verified.intact, verified.problem
    assert "北京子午数据科技有限公司" in verified.signatures[0]["signer"]
    tampered = bytearray(data)
    position = data.index(b"/Type /Page") + 2
    tampered[position] ^= 0x01
    assert not verify_pdf(bytes(tampered)).intact
    assert not verify_pdf(data + b"\n% appended\n").intact

    with workspace.read() as conn:
        actions = list(
            conn.execute(
                sa.select(audit_log.c.action, audit_log.c.detail).where(
                    audit_log.c.action.in_(["document_signed", "signing_key_added"])
                )
            )
        )
    signed = [detail for action, detail in actions if action == "document_signed"]
    assert [d["fingerprint"] for d in signed] == [key["fingerprint"]]
    assert signed[0]["number"] == document["number"]
