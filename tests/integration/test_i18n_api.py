"""The API's problem details speak the caller's language (issue 15).

The same refused request answers in zh-CN or English: by the user's own setting first, then by
``Accept-Language``, and in English to a program that names no language. ``code``, ``field``
and ``value`` stay machine-readable and the same in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from meridian.access.tokens import create_token
from meridian.access.users import create_user, set_locale
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.http.deps import Workspace
from meridian.settings import Settings

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}

FORMS = [
    {
        "key": "project",
        "label": "项目",
        "title_field": "code",
        "fields": [
            {
                "key": "code",
                "label": "项目编号",
                "type": "text",
                "required": True,
                "unique": True,
                "pattern": "^PRJ-[0-9]{4}$",
            },
            {"key": "cabinets", "label": "机柜数", "type": "integer", "max_value": 60},
            {"key": "power", "label": "单柜功率", "type": "decimal", "scale": 1},
        ],
    }
]


@pytest.fixture
def crm(client: TestClient) -> TestClient:
    assert client.post("/api/v1/apps", json={"key": "idc", "label": "IDC"}).status_code == 201
    created = client.post("/api/v1/apps/idc/forms", json=FORMS[0])
    assert created.status_code == 201, created.text
    first = client.post("/api/v1/forms/project/records", json={"code": "PRJ-0001"})
    assert first.status_code == 201, first.text
    return client


@pytest.fixture
def member(workspace: Workspace, settings: Settings) -> Iterator[tuple[int, TestClient]]:
    with workspace.transaction() as conn:
        user_id = create_user(
            conn=conn,
            email="li.lei@acme.test",
            name="李雷",
            password="longer-pass-1",
            passwords=workspace.passwords,
        )
        token = create_token(conn=conn, user_id=user_id, name="t")
    with TestClient(
        create_app(settings, workspace=workspace), headers={"Authorization": f"Bearer {token}"}
    ) as member_client:
        yield user_id, member_client


def _invalid(client: TestClient, headers: dict[str, str]) -> Any:
    response = client.post(
        "/api/v1/forms/project/records",
        json={"code": "XYZ", "cabinets": 100, "power": "abc"},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    return response


def _by_field(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {error["field"]: error for error in body["errors"]}


def test_the_same_invalid_record_answers_in_chinese_and_in_english(crm: TestClient) -> None:
    zh, en = _invalid(crm, ZH), _invalid(crm, EN)
    assert zh.headers["content-language"] == "zh-CN"
    assert en.headers["content-language"] == "en"
    in_zh, in_en = _by_field(zh.json()), _by_field(en.json())
    assert in_en["power"]["message"] == "'abc' is not a number"
    assert in_zh["power"]["message"] == "'abc' 不是数字"
    assert in_en["cabinets"]["message"] == "100 is more than the maximum 60"
    assert in_zh["cabinets"]["message"] == "100 大于最大值 60"
    assert in_en["code"]["message"] == "'XYZ' does not match '^PRJ-[0-9]{4}$'"
    assert in_zh["code"]["message"] == "'XYZ' 不符合格式 '^PRJ-[0-9]{4}$'"
    assert zh.json()["title"] == "输入有误" and en.json()["title"] == "Validation failed"
    for key in in_zh:
        assert {k: v for k, v in in_zh[key].items() if k != "message"} == {
            k: v for k, v in in_en[key].items() if k != "message"
        }
    assert zh.json()["code"] == en.json()["code"] == "validation_failed"
    assert zh.json()["detail"] == "; ".join(
        f"{error['field']}: {error['message']}" for error in zh.json()["errors"]
    )
    assert zh.json()["detail"].count("不是数字") == 1


def test_required_and_unique_say_it_in_the_callers_language(crm: TestClient) -> None:
    missing = crm.post("/api/v1/forms/project/records", json={"cabinets": 2}, headers=ZH)
    assert _by_field(missing.json())["code"]["message"] == "请填写项目编号"
    taken = crm.post("/api/v1/forms/project/records", json={"code": "PRJ-0001"}, headers=ZH)
    [error] = taken.json()["errors"]
    assert (error["code"], error["value"]) == ("duplicate", "PRJ-0001")
    assert error["message"].startswith("项目编号 'PRJ-0001' 已被记录 ")
    english = crm.post("/api/v1/forms/project/records", json={"code": "PRJ-0001"})
    assert "is already used by record" in english.json()["errors"][0]["message"]


def test_a_program_that_names_no_language_reads_english(crm: TestClient) -> None:
    response = _invalid(crm, {})
    assert response.headers["content-language"] == "en"
    assert _by_field(response.json())["power"]["message"] == "'abc' is not a number"


def test_the_users_own_setting_wins_over_accept_language(
    workspace: Workspace, crm: TestClient, admin: Actor
) -> None:
    with workspace.transaction() as conn:
        set_locale(conn=conn, user_id=admin.user_id, locale="zh-CN")
    chinese = _invalid(crm, EN)
    assert chinese.headers["content-language"] == "zh-CN"
    assert _by_field(chinese.json())["power"]["message"] == "'abc' 不是数字"
    with workspace.transaction() as conn:
        set_locale(conn=conn, user_id=admin.user_id, locale="en")
    english = _invalid(crm, ZH)
    assert _by_field(english.json())["power"]["message"] == "'abc' is not a number"


def test_not_found_forbidden_and_a_conflict_in_chinese(
    crm: TestClient, member: tuple[int, TestClient]
) -> None:
    missing = crm.get("/api/v1/forms/project/records/999999", headers=ZH)
    assert missing.status_code == 404
    assert missing.json()["title"] == "未找到"
    assert missing.json()["detail"] == "表单 'project' 中找不到记录 999999"
    _, member_client = member
    refused = member_client.post("/api/v1/apps", json={"key": "x", "label": "X"}, headers=ZH)
    assert refused.status_code == 403
    assert (refused.json()["title"], refused.json()["code"]) == ("无权操作", "permission_denied")
    assert refused.json()["detail"] == "只有管理员和搭建者可以修改表单"
    record = crm.post("/api/v1/forms/project/records", json={"code": "PRJ-0002"}).json()
    assert crm.patch(
        f"/api/v1/forms/project/records/{record['id']}", json={"cabinets": 3}
    ).is_success
    stale = crm.patch(
        f"/api/v1/forms/project/records/{record['id']}",
        json={"cabinets": 4},
        headers={**ZH, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.json()["title"] == "已被他人修改"
    assert stale.json()["detail"] == f"记录 {record['id']} 已是第 2 版，不是第 1 版；请重新加载"


def test_a_formula_error_is_said_once_without_the_fields_internal_path(crm: TestClient) -> None:
    field = {
        "key": "zonggonglv_kw",
        "label": "总功率(kW)",
        "type": "formula",
        "expression": "cabinets_total * power",
    }
    zh = crm.post("/api/v1/forms/project/fields", json=field, headers=ZH)
    assert zh.status_code == 422, zh.text
    body = zh.json()
    [error] = body["errors"]
    assert error["field"] == "fields.zonggonglv_kw.expression"
    assert error["code"] == "invalid_expression" and error["reason"] == "unknown_field"
    assert error["message"] == "总功率(kW)：未知字段 cabinets_total。您是不是要写 cabinets？"
    assert body["detail"] == error["message"]
    assert "fields.zonggonglv_kw" not in body["detail"]
    en = crm.post("/api/v1/forms/project/fields", json=field, headers=EN).json()
    assert en["errors"][0]["message"].startswith("总功率(kW): Unknown field cabinets_total.")


def test_password_policy_lists_each_problem_once_in_the_callers_language(
    member: tuple[int, TestClient],
) -> None:
    _, member_client = member
    weak = member_client.post(
        "/api/v1/auth/password",
        json={"old_password": "longer-pass-1", "new_password": "li.lei"},
        headers=ZH,
    )
    assert weak.status_code == 422
    messages = [error["message"] for error in weak.json()["errors"]]
    assert messages == ["至少 8 个字符", "需同时包含字母和数字", "不能包含邮箱用户名"]
    assert weak.json()["detail"] == "new_password: " + "; ".join(messages)
    wrong = member_client.post(
        "/api/v1/auth/password",
        json={"old_password": "nope", "new_password": "longer-pass-2"},
        headers=EN,
    )
    assert wrong.status_code == 403 and wrong.json()["detail"] == "the current password is wrong"


def test_an_approval_flow_refusal_in_chinese_and_in_english(crm: TestClient) -> None:
    flow = {"key": "check", "form": "project", "label": "审核", "definition": {"nodes": []}}
    chinese = crm.post("/api/v1/approvals/flows", json=flow, headers=ZH)
    english = crm.post("/api/v1/approvals/flows", json=flow, headers=EN)
    assert chinese.status_code == english.status_code == 422
    zh, en = _by_field(chinese.json()), _by_field(english.json())
    assert zh["definition.nodes"]["code"] == en["definition.nodes"]["code"] == "no_approver"
    assert zh["definition.nodes"]["message"] == "审批流程至少需要一个审批人节点"
    assert en["definition.nodes"]["message"] == "a flow needs at least one approver node"


def test_a_pipeline_refusal_in_chinese_and_in_english(crm: TestClient) -> None:
    pipeline = {"label": "销售", "stage_field": "code", "stages": []}
    chinese = crm.put("/api/v1/forms/project/pipelines/sales", json=pipeline, headers=ZH)
    english = crm.put("/api/v1/forms/project/pipelines/sales", json=pipeline, headers=EN)
    assert chinese.status_code == english.status_code == 422
    zh, en = _by_field(chinese.json()), _by_field(english.json())
    assert zh["stage_field"]["code"] == en["stage_field"]["code"] == "invalid_field"
    assert zh["stage_field"]["message"] == "阶段字段须为 project 的单选字段"
    assert en["stage_field"]["message"] == (
        "the stage field must be a single select field of project"
    )


def test_the_frameworks_own_refusals_in_chinese_and_in_english(crm: TestClient) -> None:
    """A parameter of the wrong type and a body that is not an object are refused by FastAPI
    before Meridian's code runs; they are said in the caller's language all the same, naming
    the field, the reason (``code``) and the value."""
    for path, body, field, value, english, chinese in (
        (
            "/api/v1/forms/project/records?limit=abc",
            None,
            "limit",
            "abc",
            "'abc' is not a whole number",
            "'abc' 不是整数",
        ),
        (
            "/api/v1/forms/project/records",
            [1, 2],
            "body",
            [1, 2],
            "expected an object",
            "应为对象",
        ),
    ):
        said = {}
        for headers in (ZH, EN):
            if body is None:
                response = crm.get(path, headers=headers)
            else:
                response = crm.post(path, json=body, headers=headers)
            assert response.status_code == 422, response.text
            problem = response.json()
            (error,) = [e for e in problem["errors"] if e["field"] == field]
            assert error["value"] == value
            assert error["code"] in ("int_parsing", "dict_type")
            said[headers["Accept-Language"][:2]] = (problem["title"], error["message"])
        assert said["en"] == ("Validation failed", english)
        assert said["zh"] == ("输入有误", chinese)


def test_a_body_json_cannot_hold_is_refused_in_chinese_and_in_english(crm: TestClient) -> None:
    """The strict JSON reader's refusals (core/strict_json.py): the path of the value, the
    reason and the value, in the caller's language."""
    cases = (
        (b'{"cabinets": 1e400}', "cabinets", "not_finite", "1e400 超出了数字范围"),
        (b'{"cabinets": NaN}', "cabinets", "not_finite", "NaN 不是 JSON 数字"),
        (b'{"code": "a\\u0000b"}', "code", "invalid_character", "文本中不能包含 NUL"),
        (b'{"code": ', "body", "invalid_json", "不是 JSON：此处应为一个值（第 1 行，第 10 列）"),
    )
    for document, field, code, chinese in cases:
        answers = {}
        for headers in (ZH, EN):
            response = crm.post(
                "/api/v1/forms/project/records",
                content=document,
                headers={**headers, "Content-Type": "application/json"},
            )
            assert response.status_code == 422, response.text
            (error,) = response.json()["errors"]
            assert (error["field"], error["code"]) == (field, code)
            answers[headers["Accept-Language"][:2]] = error["message"]
        assert answers["zh"].startswith(chinese), answers
        assert answers["en"].isascii() and answers["en"] != answers["zh"], answers


def test_a_412_lists_the_fields_both_changed(crm: TestClient) -> None:
    """If-Match names version 1; since then someone changed cabinets and power. The request
    changes cabinets (a clash) and code (nobody else touched it): the problem lists the clash
    with both values, every field changed since, and the version to send next."""
    record = crm.post("/api/v1/forms/project/records", json={"code": "PRJ-0003"}).json()
    path = f"/api/v1/forms/project/records/{record['id']}"
    assert crm.patch(path, json={"cabinets": 3, "power": "2.5"}).is_success
    stale = crm.patch(
        path, json={"cabinets": 4, "code": "PRJ-0004"}, headers={**EN, "If-Match": '"1"'}
    )
    assert stale.status_code == 412, stale.text
    problem = stale.json()
    assert problem["code"] == "stale_version" and problem["version"] == 2
    assert problem["clashes"] == [{"field": "cabinets", "base": None, "theirs": 3, "mine": 4}]
    assert sorted(problem["changed"]) == ["cabinets", "power"]
    assert crm.get(path).json()["code"] == "PRJ-0003"  # nothing was written
    without = crm.patch(path, json={"code": "PRJ-0005"}, headers={"If-Match": '"1"'})
    assert without.json()["clashes"] == []
