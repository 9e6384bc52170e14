"""Reports compute what an independent Python computation over the same generated data says,
on SQLite and PostgreSQL, for each caller's own rows (issue 18).

The organisation: 总部 with 华东销售 and 华南销售. Alice and Amy are members in 华东销售, Bob a
member in 华南销售, Mike a manager in 总部 (he reads the whole subtree). Members may not see a
deal's ``margin``. Deals are generated with blanks, zero amounts, times either side of
midnight in Shanghai, deals without a customer and customers of another department; the
reference computation reads the raw table and applies each caller's scope by itself.
"""

from __future__ import annotations

import io
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from meridian.access import manage, organisation
from meridian.access.actors import load_actor
from meridian.access.permissions import set_form_rules
from meridian.access.tokens import create_token
from meridian.app import create_app
from meridian.core.actor import Actor
from meridian.errors import ValidationFailed
from meridian.http.deps import Workspace
from meridian.records.bulk import create_records
from meridian.records.listing import RecordQuery, list_records
from meridian.reports.compiler import DashboardFilters, dashboard_filters
from meridian.reports.model import ReportDefinition
from meridian.reports.service import run_definition
from meridian.schema.catalog import get_form
from meridian.schema.compile import compile_form
from meridian.settings import Settings
from tests.conftest import DIALECTS, KeptDatabase, kept_database
from tests.forms import install_forms, select_field

TZ = ZoneInfo("Asia/Shanghai")
STAGES = ("lead", "interest", "proposal", "won", "lost")
LEVELS = ("A", "B", "C")
REGIONS = ("440305", "440106", "310115", "110105")  # 深圳南山, 广州天河, 上海浦东, 北京朝阳
PEOPLE = {
    "alice": ("member", "华东销售"),
    "amy": ("member", "华东销售"),
    "bob": ("member", "华南销售"),
    "mike": ("manager", "总部"),
}

CUSTOMER = {
    "key": "customer",
    "label": "客户",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "名称", "type": "text", "required": True},
        select_field("level", "等级", *((v, f"{v}级") for v in LEVELS)),
        {"key": "region", "label": "地区", "type": "region"},
    ],
}
DEAL = {
    "key": "deal",
    "label": "商机",
    "title_field": "name",
    "fields": [
        {"key": "name", "label": "名称", "type": "text", "required": True},
        # Option order differs from alphabetical order on purpose.
        select_field("stage", "阶段", *((s, s.upper()) for s in STAGES)),
        {"key": "amount", "label": "金额", "type": "money"},
        {"key": "cabinets", "label": "机柜", "type": "integer"},
        {"key": "margin", "label": "毛利", "type": "decimal", "scale": 3},
        {"key": "close_date", "label": "成交日期", "type": "date"},
        {"key": "customer", "label": "客户", "type": "link", "target": "customer"},
    ],
}


@dataclass
class Crm:
    workspace: Workspace
    users: dict[str, int]
    departments: dict[str, int]
    deals: list[dict[str, Any]]
    customers: dict[int, dict[str, Any]]

    def actor(self, name: str) -> Actor:
        if name == "admin":
            return Actor.system()
        with self.workspace.read() as conn:
            return load_actor(conn, self.users[name])

    def readable_owners(self, name: str) -> set[int | None] | None:
        """Whose records ``name`` reads, by the roles' documented scopes (None: everyone)."""
        if name in ("admin", "mike"):
            return None
        department = PEOPLE[name][1]
        return {self.users[p] for p, (_, d) in PEOPLE.items() if d == department}

    def rows_for(self, name: str) -> list[dict[str, Any]]:
        """The live deals ``name`` reads, each with the customer's fields as ``name`` reads
        them (a customer out of reach reads as blank)."""
        owners = self.readable_owners(name)
        rows = []
        for deal in self.deals:
            if deal["deleted"] or (owners is not None and deal["owner_id"] not in owners):
                continue
            customer = self.customers.get(deal["customer"]) if deal["customer"] else None
            if customer is not None and owners is not None and customer["owner_id"] not in owners:
                customer = None
            rows.append({**deal, "level": customer and customer["level"]})
        return rows

    def run(self, name: str, definition: dict[str, Any], **filters: Any) -> dict[str, Any]:
        with self.workspace.read() as conn:
            return run_definition(
                conn=conn,
                actor=self.actor(name),
                definition=ReportDefinition.model_validate(definition),
                tz=TZ,
                filters=DashboardFilters(**filters),
            )


@pytest.fixture(scope="module", params=DIALECTS)
def kept_crm(request: pytest.FixtureRequest) -> Iterator[KeptDatabase[Crm]]:
    """The CRM built once per dialect and test process, put back before each test."""
    with kept_database(request, request.param, build_crm) as kept:
        yield kept


@pytest.fixture
def crm(kept_crm: KeptDatabase[Crm]) -> Crm:
    kept_crm.put_back()
    return kept_crm.built


@pytest.fixture
def workspace(crm: Crm) -> Workspace:
    return crm.workspace


@pytest.fixture
def settings(workspace: Workspace) -> Settings:
    return workspace.settings


def build_crm(workspace: Workspace) -> Crm:
    """Three departments, five people, twelve customers and 180 deals spread over a year."""
    rng = random.Random(18)
    users: dict[str, int] = {}
    with workspace.transaction() as conn:
        install_forms(conn, CUSTOMER, DEAL)
        hq = organisation.create_department(conn=conn, name="总部")
        departments = {
            "总部": hq,
            "华东销售": organisation.create_department(conn=conn, name="华东销售", parent_id=hq),
            "华南销售": organisation.create_department(conn=conn, name="华南销售", parent_id=hq),
        }
        for person, (role, department) in PEOPLE.items():
            users[person] = manage.add_user(
                conn,
                Actor.system(),
                email=f"{person}@acme.test",
                name=person,
                password="Passw0rd-long",
                passwords=workspace.passwords,
                roles=[role],
                department=department,
                must_change_password=False,
            )["id"]
        deal_form = get_form(conn, "deal")
        set_form_rules(
            conn,
            "member",
            deal_form,
            {"create": True, "read": "department", "update": "own", "fields": {"margin": "hidden"}},
        )
        owners = [users["alice"], users["amy"], users["bob"], users["mike"]]
        customer_items = [
            {
                "name": f"ACME-{i}",
                "level": rng.choice([*LEVELS, None]),
                "region": rng.choice(REGIONS),
                "owner_id": rng.choice(owners),
            }
            for i in range(12)
        ]
        customer_ids = create_records(
            conn=conn, actor=Actor.system(), form=get_form(conn, "customer"), items=customer_items
        )
        customers = {
            cid: {**item, "id": cid} for cid, item in zip(customer_ids, customer_items, strict=True)
        }
        deal_items = []
        for i in range(180):
            amount = rng.choice([None, "0", f"{rng.randint(0, 900000)}.{rng.randint(0, 99):02d}"])
            deal_items.append(
                {
                    "name": f"Q3-RENEWAL-{i}",
                    "stage": rng.choice([*STAGES, None]),
                    "amount": amount,
                    "cabinets": rng.choice([None, rng.randint(0, 40)]),
                    "margin": f"{rng.randint(-500, 5000)}.{rng.randint(0, 999):03d}",
                    "close_date": rng.choice(
                        [None, (date(2026, 1, 1) + timedelta(rng.randint(0, 400))).isoformat()]
                    ),
                    "customer": rng.choice([None, *customer_ids]),
                    "owner_id": rng.choice(owners),
                }
            )
        deal_ids = create_records(conn=conn, actor=Actor.system(), form=deal_form, items=deal_items)
        table = compile_form(deal_form).main
        deals = []
        times: list[dict[str, Any]] = []  # written in one statement: a round trip a row was slow
        for deal_id, item in zip(deal_ids, deal_items, strict=True):
            # Times spread over a year, many within an hour of midnight in Shanghai (16:00 UTC).
            day = datetime(2026, 1, 1, 16, tzinfo=UTC) + timedelta(days=rng.randint(0, 360))
            created = day + timedelta(minutes=rng.randint(-60, 60))
            deleted = rng.random() < 0.05
            times.append(
                {"deal_id": deal_id, "created": created, "deleted": created if deleted else None}
            )
            deals.append(
                {
                    **item,
                    "id": deal_id,
                    "created_at": created,
                    "deleted": deleted,
                    "amount": None if item["amount"] is None else Decimal(item["amount"]),
                    "margin": Decimal(item["margin"]),
                    "close_date": item["close_date"] and date.fromisoformat(item["close_date"]),
                }
            )
        conn.execute(
            table.update()
            .where(table.c.id == sa.bindparam("deal_id"))
            .values(created_at=sa.bindparam("created"), deleted_at=sa.bindparam("deleted")),
            times,
        )
    return Crm(workspace, users, departments, deals, customers)


# ---- the independent computation -------------------------------------------------------------


def group(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, list]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def avg(values: list[Decimal], places: int) -> str | None:
    if not values:
        return None
    exact = sum(values, Decimal(0)) / len(values)
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def month_of(moment: datetime) -> str:
    return moment.astimezone(TZ).date().replace(day=1).isoformat()


def week_of(day: date) -> str:
    return (day - timedelta(days=day.weekday())).isoformat()


def quarter_of(day: date) -> str:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1).isoformat()


def by_dimension(result: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    return {row["dimensions"][key]: row["measures"] for row in result["rows"]}


# ---- the metrics ----------------------------------------------------------------------------

BY_STAGE = {
    "form": "deal",
    "dimensions": [{"field": "stage"}],
    "measures": [
        {"key": "deals", "agg": "count"},
        {"key": "amount", "agg": "sum", "field": "amount"},
        {"key": "average", "agg": "avg", "field": "amount"},
        {"key": "cabinets", "agg": "sum", "field": "cabinets"},
        {"key": "first_close", "agg": "min", "field": "close_date"},
        {"key": "last_close", "agg": "max", "field": "close_date"},
        {"key": "customers", "agg": "count_distinct", "field": "customer"},
        {"key": "largest", "agg": "max", "field": "amount"},
    ],
}


@pytest.mark.parametrize("who", ["admin", "alice", "bob", "mike"])
def test_measures_by_stage_match_an_independent_computation(crm: Crm, who: str) -> None:
    result = crm.run(who, BY_STAGE)
    expected = group(crm.rows_for(who), lambda r: r["stage"])
    got = by_dimension(result, "stage")
    assert set(got) == set(expected)
    for stage, rows in expected.items():
        amounts = [r["amount"] for r in rows if r["amount"] is not None]
        closes = [r["close_date"] for r in rows if r["close_date"] is not None]
        cabinets = [r["cabinets"] for r in rows if r["cabinets"] is not None]
        assert got[stage] == {
            "deals": len(rows),
            "amount": money(sum(amounts, Decimal(0))),
            "average": avg(amounts, 4),
            "cabinets": sum(cabinets),
            "first_close": min(closes).isoformat() if closes else None,
            "last_close": max(closes).isoformat() if closes else None,
            "customers": len({r["customer"] for r in rows if r["customer"] is not None}),
            "largest": money(max(amounts)) if amounts else None,
        }, stage
    # Selects come in option order, blanks last, labelled with the option's label.
    order = [row["dimensions"]["stage"] for row in result["rows"]]
    assert order == [s for s in (*STAGES, None) if s in expected]
    assert all(
        r["labels"]["stage"] == (r["dimensions"]["stage"] or "").upper()
        or r["dimensions"]["stage"] is None
        for r in result["rows"]
    )


def test_a_member_and_a_manager_see_the_numbers_their_scopes_allow(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "measures": [
            {"key": "deals", "agg": "count"},
            {"key": "amount", "agg": "sum", "field": "amount"},
        ],
    }
    seen = {}
    for who in ("alice", "bob", "mike"):
        rows = crm.rows_for(who)
        total = sum((r["amount"] for r in rows if r["amount"] is not None), Decimal(0))
        measures = crm.run(who, definition)["rows"][0]["measures"]
        assert measures == {"deals": len(rows), "amount": money(total)}
        seen[who] = measures["deals"]
    assert seen["alice"] + seen["bob"] < seen["mike"]  # Mike's own deals are in neither
    assert seen["alice"] != seen["bob"]


def test_dates_are_bucketed_in_the_company_time_zone(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "dimensions": [{"field": "created_at", "bucket": "month"}],
        "measures": [{"key": "deals", "agg": "count"}],
    }
    got = by_dimension(crm.run("admin", definition), "created_at_month")
    expected = group(crm.rows_for("admin"), lambda r: month_of(r["created_at"]))
    assert got == {k: {"deals": len(v)} for k, v in expected.items()}
    # Weeks from Monday, quarters and years of a date field.
    for bucket, of in (("week", week_of), ("quarter", quarter_of)):
        definition = {
            "form": "deal",
            "dimensions": [{"field": "close_date", "bucket": bucket}],
            "measures": [{"key": "deals", "agg": "count"}],
        }
        got = by_dimension(crm.run("admin", definition), f"close_date_{bucket}")
        expected = group(
            crm.rows_for("admin"), lambda r, of=of: r["close_date"] and of(r["close_date"])
        )
        assert got == {k: {"deals": len(v)} for k, v in expected.items()}, bucket
    day = {
        "form": "deal",
        "dimensions": [{"field": "created_at", "bucket": "day"}],
        "measures": [{"key": "deals", "agg": "count"}],
    }
    got = by_dimension(crm.run("admin", day), "created_at_day")
    expected = group(crm.rows_for("admin"), lambda r: r["created_at"].astimezone(TZ).date())
    assert got == {k.isoformat(): {"deals": len(v)} for k, v in expected.items()}


def test_formulas_over_measures_are_exact_and_safe_from_zero(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "dimensions": [{"field": "owner_id"}],
        "measures": [
            {"key": "deals", "agg": "count"},
            {
                "key": "won",
                "agg": "count",
                "filter": {"field": "stage", "op": "eq", "value": "won"},
            },
            {
                "key": "won_amount",
                "agg": "sum",
                "field": "amount",
                "filter": {"field": "stage", "op": "eq", "value": "won"},
            },
            {
                "key": "nothing",
                "agg": "count",
                "filter": {"field": "cabinets", "op": "gt", "value": 1000},
            },
        ],
        "formulas": [
            {"key": "win_rate", "expression": "won / deals * 100", "places": 2},
            {"key": "per_nothing", "expression": "won_amount / nothing"},
        ],
        "sort": [{"key": "win_rate", "descending": True}],
    }
    result = crm.run("admin", definition)
    expected = group(crm.rows_for("admin"), lambda r: r["owner_id"])
    names = {v: k for k, v in crm.users.items()}
    rates = []
    for row in result["rows"]:
        owner = row["dimensions"]["owner_id"]
        rows = expected[owner]
        won = [r for r in rows if r["stage"] == "won"]
        rate = (Decimal(len(won)) / len(rows) * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert row["measures"]["won"] == len(won)
        assert row["measures"]["won_amount"] == money(
            sum((r["amount"] for r in won if r["amount"] is not None), Decimal(0))
        )
        assert row["measures"]["win_rate"] == str(rate)
        assert row["measures"]["per_nothing"] is None
        assert row["labels"]["owner_id"] == names[owner]
        rates.append(rate)
    assert rates == sorted(rates, reverse=True)


def test_one_level_across_a_link_reads_the_linked_form_as_the_caller(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "dimensions": [{"field": "customer.level"}],
        "measures": [
            {"key": "deals", "agg": "count"},
            {"key": "amount", "agg": "sum", "field": "amount"},
        ],
    }
    for who in ("admin", "alice"):
        got = by_dimension(crm.run(who, definition), "customer_level")
        expected = group(crm.rows_for(who), lambda r: r["level"])
        assert got == {
            level: {
                "deals": len(rows),
                "amount": money(sum((r["amount"] for r in rows if r["amount"]), Decimal(0))),
            }
            for level, rows in expected.items()
        }, who


def test_a_pivot_carries_row_column_and_grand_totals(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "dimensions": [{"field": "stage"}, {"field": "customer.level"}],
        "measures": [
            {"key": "deals", "agg": "count"},
            {"key": "average", "agg": "avg", "field": "cabinets"},
        ],
        "totals": True,
        "chart": {"type": "pivot"},
    }
    result = crm.run("mike", definition)
    rows = crm.rows_for("mike")

    def expect(selected: list[dict[str, Any]]) -> dict[str, Any]:
        cabinets = [Decimal(r["cabinets"]) for r in selected if r["cabinets"] is not None]
        return {"deals": len(selected), "average": avg(cabinets, 2)}

    for row in result["rows"]:
        dims = row["dimensions"]
        selected = [
            r
            for r in rows
            if ("stage" not in dims or r["stage"] == dims["stage"])
            and ("customer_level" not in dims or r["level"] == dims["customer_level"])
        ]
        assert row["measures"] == expect(selected), row
    grand = [r for r in result["rows"] if r["rollup"] == 3]
    assert len(grand) == 1 and grand[0]["measures"]["deals"] == len(rows)
    assert {r["rollup"] for r in result["rows"]} == {0, 1, 2, 3}


def test_top_n_by_a_measure(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "dimensions": [{"field": "customer"}],
        "measures": [{"key": "amount", "agg": "sum", "field": "amount"}],
        "sort": [{"key": "amount", "descending": True}],
        "limit": 3,
    }
    result = crm.run("admin", definition)
    totals = {
        customer: sum((r["amount"] for r in rows if r["amount"]), Decimal(0))
        for customer, rows in group(crm.rows_for("admin"), lambda r: r["customer"]).items()
    }
    best = sorted(totals.values(), reverse=True)[:3]
    assert [Decimal(r["measures"]["amount"]) for r in result["rows"]] == best
    top = result["rows"][0]["dimensions"]["customer"]
    if top is not None:
        assert result["rows"][0]["labels"]["customer"] == crm.customers[top]["name"]


@pytest.mark.parametrize(
    ("part", "path"),
    [
        ({"dimensions": [{"field": "margin"}]}, "dimensions.0.field"),
        ({"measures": [{"key": "m", "agg": "sum", "field": "margin"}]}, "measures.0.field"),
        ({"filter": {"field": "margin", "op": "gt", "value": "1"}}, "filter"),
        (
            {
                "measures": [
                    {
                        "key": "m",
                        "agg": "count",
                        "filter": {"field": "margin", "op": "gt", "value": "1"},
                    }
                ]
            },
            "measures.0.filter",
        ),
    ],
)
def test_a_hidden_field_cannot_be_grouped_summed_or_filtered(
    crm: Crm, part: dict[str, Any], path: str
) -> None:
    definition = {"form": "deal", "measures": [{"key": "n", "agg": "count"}], **part}
    crm.run("admin", definition, date_from=date(2026, 1, 1))  # the field exists
    with pytest.raises(ValidationFailed) as refused:
        crm.run("alice", definition, date_from=date(2026, 1, 1))
    assert refused.value.errors[0].field == path
    assert (
        "margin" in str(refused.value.errors[0].value)
        or "margin" in refused.value.errors[0].message
    )


def test_dashboard_filters_narrow_every_number(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "measures": [{"key": "deals", "agg": "count"}],
        "region_field": "customer.region",
    }
    rows = crm.rows_for("admin")
    low, high = date(2026, 3, 1), date(2026, 5, 31)
    in_range = [r for r in rows if low <= r["created_at"].astimezone(TZ).date() <= high]
    got = crm.run("admin", definition, date_from=low, date_to=high)
    assert got["rows"][0]["measures"]["deals"] == len(in_range)
    alice = crm.users["alice"]
    got = crm.run("admin", definition, owner=alice)
    assert got["rows"][0]["measures"]["deals"] == len([r for r in rows if r["owner_id"] == alice])
    east = {crm.users["alice"], crm.users["amy"]}
    got = crm.run("admin", definition, department=crm.departments["华东销售"])
    assert got["rows"][0]["measures"]["deals"] == len([r for r in rows if r["owner_id"] in east])
    guangdong = [
        r for r in rows if r["customer"] and crm.customers[r["customer"]]["region"].startswith("44")
    ]
    got = crm.run("admin", definition, region="440000")
    assert got["rows"][0]["measures"]["deals"] == len(guangdong)


def test_a_number_card_compares_with_the_previous_period(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "measures": [{"key": "deals", "agg": "count"}],
        "chart": {"type": "number", "compare_previous": True},
    }
    rows = crm.rows_for("admin")

    def count(low: date, high: date) -> int:
        return len([r for r in rows if low <= r["created_at"].astimezone(TZ).date() <= high])

    got = crm.run("admin", definition, date_from=date(2026, 4, 1), date_to=date(2026, 4, 30))
    assert got["rows"][0]["measures"]["deals"] == count(date(2026, 4, 1), date(2026, 4, 30))
    assert got["previous"] == {"deals": count(date(2026, 3, 2), date(2026, 3, 31))}


def test_a_drill_down_lists_exactly_the_records_behind_a_bar(crm: Crm) -> None:
    definition = {
        "form": "deal",
        "dimensions": [{"field": "created_at", "bucket": "month"}, {"field": "customer.level"}],
        "measures": [{"key": "deals", "agg": "count"}],
        "filter": {"field": "stage", "op": "in", "value": ["won", "lost", "proposal"]},
    }
    for who in ("admin", "alice"):
        result = crm.run(who, definition, department=crm.departments["华东销售"])
        assert result["rows"]
        for row in result["rows"]:
            query = parse_qs(urlsplit(row["drill"]).query)
            assert urlsplit(row["drill"]).path == "/forms/deal"
            from meridian.core import strict_json

            tree = strict_json.loads(query["filter"][0])
            with crm.workspace.read() as conn:
                page = list_records(
                    conn=conn,
                    actor=crm.actor(who),
                    form=get_form(conn, "deal"),
                    query=RecordQuery(filter=tree, limit=500),
                    tz=TZ,
                )
            assert len(page.items) == row["measures"]["deals"], (who, row)


def test_dashboard_filter_values_are_checked() -> None:
    with pytest.raises(ValidationFailed) as refused:
        dashboard_filters(date_from=date(2026, 5, 1), date_to=date(2026, 4, 1))
    assert refused.value.errors[0].field == "date_to"
    with pytest.raises(ValidationFailed) as refused:
        dashboard_filters(region="999999")
    assert refused.value.errors[0].field == "region"


# ---- the API ---------------------------------------------------------------------------------


def _client(crm: Crm, settings: Settings, user: str) -> TestClient:
    with crm.workspace.transaction() as conn:
        token = create_token(conn=conn, user_id=crm.users[user], name="tests")
    app = create_app(settings, workspace=crm.workspace)
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_reports_through_the_api(crm: Crm, client: TestClient, settings: Settings) -> None:
    draft = {
        "app_key": "sales",
        "label": "商机按阶段",
        "definition": BY_STAGE,
        "roles": ["manager"],
    }
    created = client.post("/api/v1/reports", json=draft)
    assert created.status_code == 201, created.text
    report = created.json()
    private = client.post("/api/v1/reports", json={**draft, "label": "私有", "roles": []})
    assert private.status_code == 201

    with _client(crm, settings, "mike") as mike, _client(crm, settings, "alice") as alice:
        listed = mike.get("/api/v1/reports").json()["items"]
        assert [item["label"] for item in listed] == ["商机按阶段"]
        assert alice.get("/api/v1/reports").json()["items"] == []
        assert alice.get(f"/api/v1/reports/{report['id']}/data").status_code == 404
        data = mike.get(f"/api/v1/reports/{report['id']}/data").json()
        expected = group(crm.rows_for("mike"), lambda r: r["stage"])
        assert {r["dimensions"]["stage"]: r["measures"]["deals"] for r in data["rows"]} == {
            k: len(v) for k, v in expected.items()
        }
        narrowed = mike.get(
            f"/api/v1/reports/{report['id']}/data",
            params={"owner": crm.users["bob"], "date_from": "2026-02-01"},
        )
        assert narrowed.status_code == 200
        assert sum(r["measures"]["deals"] for r in narrowed.json()["rows"]) == len(
            [
                r
                for r in crm.rows_for("mike")
                if r["owner_id"] == crm.users["bob"]
                and r["created_at"].astimezone(TZ).date() >= date(2026, 2, 1)
            ]
        )
        bad = mike.get(f"/api/v1/reports/{report['id']}/data", params={"region": "nowhere"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "region"
        # Only builders save reports.
        assert mike.post("/api/v1/reports", json=draft).status_code == 403

        exported = mike.get(f"/api/v1/reports/{report['id']}/export")
        assert exported.status_code == 200
        sheet = load_workbook(io.BytesIO(exported.content)).active
        lines = list(sheet.iter_rows(values_only=True))
        assert lines[0][:2] == ("stage", "deals")
        assert [line[1] for line in lines[1:]] == [r["measures"]["deals"] for r in data["rows"]]

    # A save from a stale copy is refused; from the current one it is taken.
    changed = {**draft, "label": "商机按阶段（新）", "revision": report["revision"]}
    assert client.put(f"/api/v1/reports/{report['id']}", json=changed).status_code == 200
    stale = client.put(f"/api/v1/reports/{report['id']}", json=changed)
    assert stale.status_code == 409
    # A definition reaching a field nobody has is refused at save, naming it.
    broken = {**draft, "definition": {**BY_STAGE, "dimensions": [{"field": "nope"}]}}
    refused = client.post("/api/v1/reports", json=broken)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "definition.dimensions.0.field"


def test_dashboards_through_the_api(crm: Crm, client: TestClient, settings: Settings) -> None:
    report = client.post(
        "/api/v1/reports",
        json={
            "app_key": "sales",
            "label": "数量",
            "roles": ["member"],
            "definition": {"form": "deal", "measures": [{"key": "n", "agg": "count"}]},
        },
    ).json()
    board = {
        "app_key": "sales",
        "label": "销售驾驶舱",
        "roles": ["member"],
        "home_for": "*",
        "definition": {
            "cards": [{"report_id": report["id"], "w": 4, "h": 3}],
            "refresh_seconds": 60,
        },
    }
    created = client.post("/api/v1/dashboards", json=board)
    assert created.status_code == 201, created.text
    missing = client.post(
        "/api/v1/dashboards",
        json={**board, "definition": {"cards": [{"report_id": 999999}]}},
    )
    assert missing.status_code == 422
    with _client(crm, settings, "alice") as alice, _client(crm, settings, "mike") as mike:
        assert [d["label"] for d in alice.get("/api/v1/dashboards").json()["items"]] == [
            "销售驾驶舱"
        ]
        assert mike.get("/api/v1/dashboards").json()["items"] == []


def test_the_builder_offers_only_fields_the_builder_may_read(crm: Crm, client: TestClient) -> None:
    from meridian.reports.palette import report_fields

    with crm.workspace.read() as conn:
        admin = {
            f["ref"] for f in report_fields(conn=conn, actor=Actor.system(), form_key="deal", tz=TZ)
        }
        alice = {
            f["ref"]
            for f in report_fields(conn=conn, actor=crm.actor("alice"), form_key="deal", tz=TZ)
        }
    assert {"stage", "amount", "margin", "customer.level", "owner_department"} <= admin
    assert admin - alice == {"margin"}
    preview = client.post("/api/v1/reports/preview", json={"definition": BY_STAGE})
    assert preview.status_code == 200
    assert sum(r["measures"]["deals"] for r in preview.json()["rows"]) == len(crm.rows_for("admin"))
    bad = client.post(
        "/api/v1/reports/preview",
        json={
            "definition": {**BY_STAGE, "measures": [{"key": "x", "agg": "sum", "field": "name"}]}
        },
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "definition.measures.0.field"


def test_a_region_field_joins_its_link_only_when_the_region_filter_is_set(crm: Crm) -> None:
    from meridian.reports.compiler import compile_report

    definition = ReportDefinition.model_validate(
        {
            "form": "deal",
            "measures": [{"key": "n", "agg": "count"}],
            "region_field": "customer.region",
        }
    )
    with crm.workspace.read() as conn:
        plain = compile_report(conn=conn, actor=Actor.system(), definition=definition, tz=TZ)
        narrowed = compile_report(
            conn=conn,
            actor=Actor.system(),
            definition=definition,
            tz=TZ,
            filters=DashboardFilters(region="440000"),
        )
    assert "JOIN" not in str(plain.statement)
    assert "JOIN" in str(narrowed.statement)
