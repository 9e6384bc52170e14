"""The whole API document, fuzzed (issue 13, section 3).

Schemathesis generates requests for every operation of ``/api/openapi.json`` — valid ones from
the schemas, and invalid ones that break them — and sends them, signed in with a real token, to
a workspace holding the IDC CRM solution and a little of its sample data. Every answer must be
no server error, and must be what the document says: a documented status, the declared content
type, a body matching the response schema.

Generation is derandomized (the same requests every run, so the suite cannot turn flaky) and
bounded per operation; all failures are gathered and reported together, each with a ``curl``
line that reproduces it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.solutions import idc_crm
from meridian.solutions.loader import install_solution, load_sample_data

EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4}
"""Requests per operation: about 2,000 in all over the 171 operations, every one reached (the
test fails if one gets none). Making them costs more than answering them (hypothesis drawing
from the schemas: about 70 % of the test's CPU); 12 and 6 per operation cost a minute of CPU
per database once the API had grown to 171 operations."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
LAST = ("/api/v1/auth/", "/api/v1/users")
"""Operations that can end the fuzzer's own session or switch off its user run last, so the
rest are not all answered 401."""


@dataclass
class Findings:
    requests: int = 0
    operations: int = 0
    reached: set[str] = field(default_factory=set)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def record(self, label: str, error: BaseException) -> None:
        for failure in getattr(error, "exceptions", [error]):
            title = getattr(failure, "title", "") or type(failure).__name__
            self.failures.setdefault((label, title), str(error)[-2000:])


@pytest.fixture
def idc(workspace: Workspace, admin: Actor, client: TestClient) -> Iterator[TestClient]:
    app, forms = idc_crm.load_package()
    install_solution(
        workspace.engine, admin, app, forms, idc_crm.load_rules(), reports=idc_crm.load_reports()
    )
    assert admin.user_id is not None
    load_sample_data(
        workspace.engine, admin, idc_crm.generate(seed=7, scale=5), owners=[admin.user_id]
    )
    yield client


@pytest.mark.long
def test_every_operation_answers_fuzzed_requests_as_documented(idc: TestClient) -> None:
    token = {"Authorization": idc.headers["authorization"]}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", idc.app, headers=token)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda operation: operation.path.startswith(LAST))
    findings = Findings(operations=len(operations))
    started, cpu = time.monotonic(), time.process_time()
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            _fuzz(operation, mode, examples, token, findings)
    report = "\n\n".join(
        f"{label}: {title}\n{detail}" for (label, title), detail in findings.failures.items()
    )
    print(
        f"\nfuzzed {len(findings.reached)} of {findings.operations} operations with"
        f" {findings.requests} requests in {time.monotonic() - started:.0f} s"
        f" ({time.process_time() - cpu:.0f} s of CPU): {len(findings.failures)} failures"
    )
    assert not findings.failures, report
    missed = {operation.label for operation in operations} - findings.reached
    assert not missed, f"operations the fuzzer sent nothing to: {sorted(missed)}"


def test_every_example_in_the_document_is_valid(idc: TestClient) -> None:
    """Examples are what clients copy; each one must match the schema it illustrates."""
    document = idc.get("/api/openapi.json").json()
    checked = []
    for path, schema in _schemas_with_examples(document, "#"):
        bare = {key: value for key, value in schema.items() if key != "examples"}
        validator = jsonschema_rs.validator_for(bare)
        for example in schema["examples"]:
            checked.append(path)
            assert validator.is_valid(example), f"{path}: {example!r} does not match"
    assert len(checked) >= 5


def _schemas_with_examples(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list) and "$ref" not in node:
            yield path, node
        for key, value in node.items():
            yield from _schemas_with_examples(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schemas_with_examples(value, f"{path}/{index}")


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    token: dict[str, str],
    findings: Findings,
) -> None:
    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: schemathesis.Case) -> None:
        findings.requests += 1
        findings.reached.add(operation.label)
        try:
            case.call_and_validate(headers=token, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:
            findings.record(operation.label, error)

    try:
        send()
    except Unsatisfiable:
        pass  # nothing in the operation can be made invalid (no parameters, no body)
