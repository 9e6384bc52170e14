"""Document numbers are gap-free and race-free: fifty generations at once, one sequence."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from meridian.core.actor import Actor
from meridian.documents.generate import generate_document
from meridian.documents.templates import save_template
from meridian.http.deps import Workspace
from meridian.records import bulk
from meridian.schema.catalog import get_form
from tests.forms import install_forms, lead_form

THREADS = 50


def test_fifty_concurrent_generations_take_fifty_consecutive_numbers(
    workspace: Workspace, admin: Actor
) -> None:
    with workspace.transaction() as conn:
        [form] = install_forms(conn, lead_form({"key": "name", "label": "名称", "type": "text"}))
        ids = bulk.create_records(
            conn=conn,
            actor=admin,
            form=form,
            items=[{"name": f"ACME-LEAD-{n}"} for n in range(THREADS)],
        )
        save_template(
            conn=conn,
            actor=admin,
            form=get_form(conn, "lead"),
            draft={
                "key": "letter",
                "label": "函",
                "body": "<p>{{ record.name }} {{ document.number }}</p>",
                "number_pattern": "XS-{000}",
                "page": {"page_numbers": False},
            },
            tz=workspace.tz,
        )

    def generate(record_id: int) -> str:
        document = generate_document(
            engine=workspace.engine,
            actor=admin,
            settings=workspace.settings,
            form_key="lead",
            record_id=record_id,
            template_key="letter",
            tz=workspace.tz,
        )
        return str(document["number"])

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        numbers = list(pool.map(generate, ids))
    assert sorted(numbers) == [f"XS-{n:03d}" for n in range(1, THREADS + 1)]
