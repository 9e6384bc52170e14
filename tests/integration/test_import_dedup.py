"""Duplicate detection for an import: rows of one file and stored records, paired by USCC,
phone, email and similar company names; pairs kept per import with their decisions; a plan per
row from the decisions (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa
from rapidfuzz import fuzz

from meridian.access.organisation import create_department, create_role, set_user_departments
from meridian.access.permissions import form_access, set_form_rules
from meridian.access.users import create_user
from meridian.core.actor import Actor
from meridian.dataio.dedup import (
    SAME_NAME,
    SAME_VALUE,
    SIMILAR_NAME,
    Candidate,
    find_duplicates,
    find_in_rows,
    merged_values,
    near_lookups,
    plan_rows,
    stored_near,
)
from meridian.dataio.dedup_halves import halves
from meridian.dataio.dedup_lookups import Lookups, Shape
from meridian.dataio.duplicates import decide, list_candidates, store_candidates, stored_decisions
from meridian.errors import ValidationFailed
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records
from meridian.records.readable import Readable
from meridian.schema.model import Form
from meridian.schema.values.company import name_key
from tests.forms import install_forms

CUSTOMER = {
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "客户名称", "type": "text"},
        {"key": "uscc", "label": "统一社会信用代码", "type": "uscc"},
        {"key": "phone", "label": "电话", "type": "phone"},
        {"key": "email", "label": "邮箱", "type": "email"},
        {"key": "city", "label": "城市", "type": "text"},
    ],
}


@pytest.fixture
def customer(workspace: Workspace, admin: Actor) -> Form:
    with workspace.transaction() as conn:
        [form] = install_forms(conn, CUSTOMER)
        create_records(
            conn=conn,
            actor=admin,
            form=form,
            items=[
                {"name": "腾讯科技（深圳）有限公司", "uscc": "91440300708461136T"},
                {"name": "北京字节跳动科技有限公司", "phone": "+8613800138000"},
                {"name": "阿里云计算有限公司", "email": "sales@aliyun.test"},
                {"name": "上海寻梦信息技术服务有限公司"},
            ],
        )
    return form


def _rows(*rows: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(number, values) for number, values in enumerate(rows, start=2)]


FILE = _rows(
    {"name": "腾讯科技 (深圳) 有限责任公司"},  # 2: the stored 腾讯, spelled otherwise
    {"name": "某某物流", "uscc": "91440300708461136T"},  # 3: 腾讯's USCC
    {"name": "字节跳动", "phone": "+8613800138000"},  # 4: 字节's phone
    {"name": "新客户甲", "email": "a@new.test"},  # 5
    {"name": "新客户乙", "email": "a@new.test"},  # 6: row 5's email
    {"name": "华东云数据中心运营服务有限公司"},  # 7
    {"name": "华东云数据中心运营服务有限责任公司"},  # 8: row 7, same company
    {"name": "华东云数据中心运营服物有限公司"},  # 9: row 7 misspelt
    {"name": "上海寻梦信息技术服物有限公司"},  # 10: the stored 寻梦, misspelt
    {"name": "完全不同的公司"},  # 11
)


def _by_row(found: list[Candidate]) -> dict[int, list[tuple[str, str, Any]]]:
    result: dict[int, list[tuple[str, str, Any]]] = {}
    for c in found:
        result.setdefault(c.row, []).append((c.reason, c.field, c.other))
    return result


def test_rows_are_paired_with_earlier_rows_and_stored_records(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    with workspace.read() as conn:
        stored = {
            name: record_id
            for record_id, name in conn.exec_driver_sql("SELECT id, name FROM data_customer")
        }
        found = find_duplicates(conn=conn, actor=admin, form=customer, rows=FILE)
    tencent = stored["腾讯科技（深圳）有限公司"]
    pairs = _by_row(found)
    assert pairs[2] == [(SAME_NAME, "name", ("record", tencent))]
    assert pairs[3] == [(SAME_VALUE, "uscc", ("record", tencent))]
    assert pairs[4] == [(SAME_VALUE, "phone", ("record", stored["北京字节跳动科技有限公司"]))]
    assert pairs[6] == [(SAME_VALUE, "email", ("row", 5))]
    assert pairs[8] == [(SAME_NAME, "name", ("row", 7))]
    assert pairs[9][0][0] == SIMILAR_NAME and pairs[9][0][2] in (("row", 7), ("row", 8))
    assert pairs[10] == [(SIMILAR_NAME, "name", ("record", stored["上海寻梦信息技术服务有限公司"]))]
    assert set(pairs) == {2, 3, 4, 6, 8, 9, 10}
    similar = next(c for c in found if c.row == 10)
    assert 90 <= similar.score < 100


def test_a_higher_threshold_pairs_only_equal_names() -> None:
    form = Form.model_validate({"app_key": "sales", **CUSTOMER})
    found = find_in_rows(form, FILE, threshold=99.5)
    assert {c.row: c.reason for c in found} == {6: SAME_VALUE, 8: SAME_NAME}


def test_records_the_importer_may_not_read_are_not_offered(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    with workspace.transaction() as conn:
        create_role(conn=conn, key="rep", label="销售")
        set_form_rules(conn, "rep", customer, {"read": "own", "create": True})
        user_id = create_user(
            conn=conn,
            email="rep@acme.test",
            name="Rep",
            password="correct horse",
            passwords=workspace.passwords,
        )
    rep = Actor(user_id=user_id, roles=frozenset({"rep"}), name="Rep")
    with workspace.read() as conn:
        found = find_duplicates(conn=conn, actor=rep, form=customer, rows=FILE)
    assert all(c.record_id is None for c in found)
    assert {c.row for c in found} == {6, 8, 9}


def test_pairs_are_stored_per_import_and_decided_per_pair_or_for_all(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    with workspace.transaction() as conn:
        found = find_duplicates(conn=conn, actor=admin, form=customer, rows=FILE)
        store_candidates(conn, batch_key="import-7", form_key="customer", candidates=found)
        stored = list_candidates(conn, batch_key="import-7")
        assert len(stored) == len(found)
        by_row = {row["row"]: row["id"] for row in stored}
        assert decide(conn, actor=admin, batch_key="import-7", decision="keep") == len(found)
        decide(
            conn,
            actor=admin,
            batch_key="import-7",
            decision="skip",
            candidate_ids=[by_row[6]],
        )
        decide(
            conn,
            actor=admin,
            batch_key="import-7",
            decision="merge",
            candidate_ids=[by_row[2], by_row[8]],
        )
        # Storing the same pairs again (a resumed run) keeps the decisions.
        store_candidates(conn, batch_key="import-7", form_key="customer", candidates=found)
        decisions = stored_decisions(conn, batch_key="import-7")
        # A batch of rows 2 to 6 reads its own rows' decisions only.
        batch = stored_decisions(conn, batch_key="import-7", rows=(2, 6))
    assert batch == {key: value for key, value in decisions.items() if 2 <= key[0] <= 6}
    assert {row for row, _ in batch} == {2, 3, 4, 6} and len(decisions) > len(batch)
    plans = plan_rows(found, decisions, "keep")
    assert plans[2].action == "merge" and plans[2].record_id is not None
    assert plans[6].action == "skip"
    assert plans[8].action == "merge" and plans[8].into_row == 7
    assert plans[3].action == "create"


@pytest.mark.parametrize(
    ("decision", "candidates", "field"),
    [("drop", None, "decision"), ("merge", [999999], "candidates")],
)
def test_a_bad_decision_is_refused_and_changes_nothing(
    workspace: Workspace,
    admin: Actor,
    customer: Form,
    decision: str,
    candidates: list[int] | None,
    field: str,
) -> None:
    with workspace.transaction() as conn:
        found = find_duplicates(conn=conn, actor=admin, form=customer, rows=FILE)
        store_candidates(conn, batch_key="import-8", form_key="customer", candidates=found)
    with pytest.raises(ValidationFailed) as caught, workspace.transaction() as conn:
        decide(
            conn,
            actor=admin,
            batch_key="import-8",
            decision=decision,
            candidate_ids=candidates,
        )
    assert caught.value.errors[0].field == field
    with workspace.read() as conn:
        assert all(row["decision"] is None for row in list_candidates(conn, batch_key="import-8"))


def test_a_row_merged_into_a_skipped_row_is_skipped_with_it() -> None:
    found = [
        Candidate(3, SAME_VALUE, "email", 100, "a@x.test", other_row=2),
        Candidate(4, SAME_VALUE, "email", 100, "a@x.test", other_row=3),
        Candidate(5, SAME_NAME, "name", 100, "甲", record_id=40),
        Candidate(5, SAME_VALUE, "email", 100, "b@x.test", other_row=2),
    ]
    plans = plan_rows(found, {(3, ("row", 2)): "skip"}, "merge")
    assert plans[3].action == "skip"
    assert plans[4].action == "skip"
    assert plans[5].action == "merge" and plans[5].record_id == 40
    assert plan_rows(found, {}, "keep")[4].action == "create"


def test_a_merged_row_fills_only_empty_fields_unless_told_to_overwrite() -> None:
    existing = {"name": "腾讯", "phone": None, "city": "深圳"}
    incoming = {"name": "腾讯科技", "phone": "+8613800138000", "city": None}
    assert merged_values(existing, incoming) == {"phone": "+8613800138000"}
    assert merged_values(existing, incoming, overwrite=True) == {
        "name": "腾讯科技",
        "phone": "+8613800138000",
    }


def _block_of_names(count: int) -> list[str]:
    """``count`` distinct companies whose names all begin 华信 once the place is taken off —
    one block of the old detection, which compared a block with its oldest 2,000 records."""
    trades = ["科技", "数据", "网络", "物流"]
    return [f"北京华信{n:05d}{trades[n % 4]}有限公司" for n in range(count)]


def _create_many(conn: Any, admin: Actor, form: Form, names: list[str]) -> None:
    for start in range(0, len(names), 1000):
        items = [{"name": n} for n in names[start : start + 1000]]
        create_records(conn=conn, actor=admin, form=form, items=items)


def test_names_are_paired_among_thousands_that_begin_alike(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """Against 2,600 stored companies of one beginning, the newest ones are still found:
    suffix, bracket and full-width variants as the same name, a slip of one character as a
    similar one; and rows of the file pair with each other the same way."""
    names = _block_of_names(2600)
    names[2555] = "北京华信02555数据（深圳）有限公司"
    with workspace.transaction() as conn:
        _create_many(conn, admin, customer, names)
        stored = {
            name: record_id
            for record_id, name in conn.exec_driver_sql("SELECT id, name FROM data_customer")
        }
    rows = _rows(
        {"name": "北京华信02598网络有限责任公司"},  # 2: stored 2598, another suffix
        {"name": "北京华信02555数据 (深圳) 有限公司"},  # 3: stored 2555, half-width brackets
        {"name": "北京華信02577網絡有限公司"},  # 4: two characters off stored 2577
        {"name": "北京华信02590网洛有限公司"},  # 5: stored 2590, one character off
        {"name": "上海华信九九云计算有限公司"},  # 6: new
        {"name": "上海 华信九九 云计算有限公司"},  # 7: row 6, with spaces
        {"name": "上海华信九九云计算有限责任公司"},  # 8: row 6, another suffix
        {"name": "ＡＣＭＥ华信国际贸易有限公司"},  # 9: new, full-width Latin letters
        {"name": "acme华信国际贸易有限公司"},  # 10: row 9
    )
    with workspace.read() as conn:
        found = find_duplicates(conn=conn, actor=admin, form=customer, rows=rows)
    pairs = {c.row: (c.reason, c.other) for c in found}
    assert pairs[2] == (SAME_NAME, ("record", stored[names[2598]]))
    assert pairs[3] == (SAME_NAME, ("record", stored[names[2555]]))
    assert pairs[5][0] == SIMILAR_NAME and pairs[5][1] == ("record", stored[names[2590]])
    assert pairs[8] == (SAME_NAME, ("row", 6))
    assert pairs[10] == (SAME_NAME, ("row", 9))
    assert 4 not in pairs and 6 not in pairs and 9 not in pairs  # 4: 80%, below the threshold
    assert pairs[7] == (SAME_NAME, ("row", 6))
    assert set(pairs) == {2, 3, 5, 7, 8, 10}


def test_one_edit_anywhere_in_a_name_is_found_through_the_name_key_indexes(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """A changed, added or dropped character at the start, in the middle or at the end of a
    name pairs it with the stored one; the lookups are index range scans, not a scan of the
    table."""
    names = _block_of_names(2100)
    with workspace.transaction() as conn:
        _create_many(conn, admin, customer, names)
    spellings = {
        "北京毕信01999物流有限公司": names[1999],  # the first character after the place
        "北京华信019999物流有限公司": names[1999],  # one added in the middle
        "北京华信01999物有限公司": names[1999],  # one dropped at the end
        "華信01998科技有限公司": None,  # two changes: 华→華 and no place (80%)
    }
    with workspace.read() as conn:
        found = [
            (spelling, candidate)
            for spelling in spellings
            for candidate in find_duplicates(
                conn=conn, actor=admin, form=customer, rows=_rows({"name": spelling})
            )
        ]
        named = dict(conn.exec_driver_sql("SELECT id, name FROM data_customer").all())
        lookups = Lookups(conn, Readable.of(conn, form_access(conn, admin, customer), workspace.tz))
        near = near_lookups(["北京华信01999物流", "阿里"], 90.0)
        assert near.exact == ["阿里"]
        plans = {
            (column, len(term)): _plan(conn, lookups, Shape("_name_key", column, kind, 1), term)
            for column in ("_name_key", "_name_rev")
            for kind, terms in (("range", near.plain), ("pieces", near.filtered))
            for term in terms[column][:1]
        }
    assert [(spelling, c.reason, named[c.record_id]) for spelling, c in found] == [
        (spelling, SIMILAR_NAME, stored) for spelling, stored in spellings.items() if stored
    ]
    # The head's range is on the key, the tail's on the reversed key; the tail's rest is long
    # enough for pieces, the head's (999物流, 5 characters for 3 pieces) is not.
    assert set(plans) == {("_name_key", 4), ("_name_rev", 17)}
    assert "ix_data_customer__name_key" in plans[("_name_key", 4)]
    assert "ix_data_customer__name_rev" in plans[("_name_rev", 17)]
    for plan in plans.values():
        assert "SCAN data_customer" not in plan and "Seq Scan" not in plan


def _plan(conn: Any, lookups: Lookups, shape: Shape, values: tuple[Any, ...]) -> str:
    """The database's plan of ``shape``'s statement with ``values``."""
    names = shape.names(conn.dialect.name == "postgresql")
    statement = lookups.statement(shape).params(dict(zip(names, values, strict=True)))
    sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


def test_a_name_too_long_or_short_to_reach_the_threshold_is_not_fetched(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """Stored names that share a key's head or tail are fetched only when their length lets
    them reach the threshold (within ``most_edits`` of the key's): a name two characters
    longer is one of them and is paired; longer or shorter ones stay in the database."""
    names = {
        "kept": "北京华信01999物流仓储有限公司",  # two characters added: 91.7 % at most
        "long": "北京华信01999物流仓储配送有限公司",  # four: 84.6 % at most
        "short": "北京华信01物流有限公司",  # three dropped
        "tail": "上海申通01999物流有限公司",  # the same tail, one character longer
    }
    with workspace.transaction() as conn:
        _create_many(conn, admin, customer, list(names.values()))
        ids = {
            name: record_id
            for record_id, name in conn.exec_driver_sql("SELECT id, name FROM data_customer")
        }
    with workspace.read() as conn:
        readable = Readable.of(conn, form_access(conn, admin, customer), workspace.tz)
        fetched = set(
            stored_near(Lookups(conn, readable), ["北京华信01999物流"], 90.0).ids.values()
        )
        found = find_duplicates(
            conn=conn, actor=admin, form=customer, rows=_rows({"name": "北京华信01999物流有限公司"})
        )
    assert fetched == {ids[names["kept"]], ids[names["tail"]]}
    assert [(c.reason, c.record_id) for c in found] == [(SIMILAR_NAME, ids[names["kept"]])]


@pytest.mark.parametrize(
    "scope", ["own", "department", {"expr": 'city == "杭州"'}], ids=["own", "department", "expr"]
)
def test_each_read_scope_limits_the_records_a_row_is_paired_with(
    workspace: Workspace, admin: Actor, customer: Form, scope: Any
) -> None:
    """The lookups against stored records carry the importer's read scope, with its own
    values — the owner, the departments (an ``IN`` list), a text — also where, on SQLite, they
    are compiled into the SQL sent straight to the driver. The rep's own record, of 杭州 and
    in the rep's department, is found by name, e-mail and a slip of its name; the
    administrator's 腾讯 by none of them."""
    with workspace.transaction() as conn:
        create_role(conn=conn, key="rep", label="销售")
        set_form_rules(conn, "rep", customer, {"read": scope, "create": True})
        user_id = create_user(
            conn=conn,
            email="rep@acme.test",
            name="Rep",
            password="correct horse",
            passwords=workspace.passwords,
        )
        department = create_department(conn=conn, name="华东")
        set_user_departments(conn, user_id, department)
        rep = Actor(
            user_id=user_id, roles=frozenset({"rep"}), name="Rep", department_ids=(department,)
        )
        [own] = create_records(
            conn=conn,
            actor=rep,
            form=customer,
            items=[
                {
                    "name": "杭州云帆星河智慧城市数据有限公司",
                    "email": "sales@yunfan.test",
                    "city": "杭州",
                }
            ],
        )
    rows = _rows(
        {"name": "杭州云帆星河智慧城市数据有限责任公司"},  # 2: the rep's record, another suffix
        {"name": "某某", "email": "sales@yunfan.test"},  # 3: the rep's record's e-mail
        {"name": "杭州云帆星河智慧城市数椐有限公司"},  # 4: the rep's record, one character off
        {"name": "腾讯科技（深圳）有限公司", "uscc": "91440300708461136T"},  # 5: 腾讯, unseen
    )
    sent: list[tuple[str, str]] = []

    def seen(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        sent.append((type(args[1]).__name__, sql))

    with workspace.read() as conn:
        sa.event.listen(conn, "before_cursor_execute", seen)
        found = find_duplicates(conn=conn, actor=rep, form=customer, rows=rows)
    assert {(c.row, c.reason, c.record_id) for c in found if c.record_id is not None} == {
        (2, SAME_NAME, own),
        (3, SAME_VALUE, own),
        (4, SIMILAR_NAME, own),
    }
    if workspace.engine.dialect.name == "sqlite":
        direct = {sql for kind, sql in sent if kind == "DirectContext" and "_name_key" in sql}
        assert direct


def test_no_stored_name_that_would_pair_is_left_unfetched(
    workspace: Workspace, admin: Actor, customer: Form
) -> None:
    """A name sharing a row's head or tail is fetched unless it cannot reach the threshold
    (its length, or none of the pieces of the rest of the key it must hold): against 1,200
    companies sharing few heads (a place, two of four words, a trade, a number — the import
    bench's names) and rows one or two edits from them, each row pairs with the best score
    it would have if every stored name sharing its head or tail were scored — also a row
    three characters short of a 17-character name, beyond the edits the pieces are made for
    (the lengths they do not filter)."""
    rng = random.Random(5)
    words, trades = ["云帆", "星河", "瀚海", "天元"], ["科技", "数据", "信息技术"]
    names = sorted(
        {
            f"北京{rng.choice(words)}{rng.choice(words)}{rng.choice(trades)}"
            f"{rng.randint(1, 9_999_999)}有限公司"
            for _ in range(1200)
        }
    )
    names.append("北京云帆星河信息技术1234567有限公司")
    with workspace.transaction() as conn:
        _create_many(conn, admin, customer, names)
        stored = list(conn.exec_driver_sql("SELECT id, _name_key FROM data_customer").all())
    alphabet = "0123456789云帆星河"

    def edited(key: str) -> str:
        three_dropped = rng.random() < 0.25  # the most a 17-character name can lose at 90 %
        for _ in range(3 if three_dropped else rng.choice([1, 1, 2])):
            at = rng.randrange(len(key))
            change = "drop" if three_dropped else rng.choice(["swap", "add", "drop"])
            if change == "swap":
                key = key[:at] + rng.choice(alphabet) + key[at + 1 :]
            elif change == "add":
                key = key[:at] + rng.choice(alphabet) + key[at:]
            else:
                key = key[:at] + key[at + 1 :]
        return key

    rows = _rows(*({"name": edited(name_key(rng.choice(names)))} for _ in range(400)))
    with workspace.read() as conn:
        found = find_duplicates(conn=conn, actor=admin, form=customer, rows=rows)
        # Three characters short of the stored 17-character name, one in each piece the
        # pieces for two edits would look for (技1, 24, 57): found, alone in its batch, only
        # because names of 17 characters are not filtered by those pieces.
        alone = find_duplicates(
            conn=conn,
            actor=admin,
            form=customer,
            rows=_rows({"name": "北京云帆星河信息技12457有限公司"}),
        )
    assert [(c.reason, c.score) for c in alone] == [(SIMILAR_NAME, 90.3)]
    scored = {
        c.row: c.score
        for c in found
        if c.record_id is not None and c.reason in (SAME_NAME, SIMILAR_NAME)
    }
    expected = {}
    for number, values in rows:
        key = name_key(values["name"])
        cut = halves(key, 90.0)
        if cut is None:
            continue
        head, tail = cut[0], cut[1][::-1]
        scores = [
            fuzz.ratio(key, other)
            for _, other in stored
            if other.startswith(head) or other.endswith(tail)
        ]
        best = max((s for s in scores if s >= 90.0), default=None)
        if best is not None:
            expected[number] = round(best, 1)
    assert len(expected) > 100  # most rows pair, many with names outside their pieces
    assert scored == expected
