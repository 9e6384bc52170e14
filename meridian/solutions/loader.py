"""Installing a solution package and loading its sample data through the records service."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from meridian.access.organisation import create_role, role_exists
from meridian.core.actor import Actor
from meridian.core.timezones import DEFAULT_TIME_ZONE
from meridian.db.statistics import analyze, vacuum
from meridian.db.tables import outbox, record_history
from meridian.documents.templates import save_template
from meridian.flows.approvals.definitions import save_flow
from meridian.flows.stages.pipelines import save_pipeline
from meridian.records.bulk import create_records
from meridian.records.search import merge_search_index
from meridian.reports.packages import install_reports
from meridian.rules.definitions import create_rule
from meridian.schema.catalog import find_form, get_form
from meridian.schema.changes import create_app, create_form
from meridian.schema.compile import compile_form
from meridian.schema.fieldtypes import field_type
from meridian.schema.model import App, Field, Form


def install_solution(
    engine: Engine,
    actor: Actor,
    app: App,
    forms: list[Form],
    rules: Sequence[Mapping[str, Any]] = (),
    templates: Sequence[tuple[str, Mapping[str, Any]]] = (),
    reports: Mapping[str, Any] | None = None,
) -> bool:
    """Create the app, its forms, its rules, its print templates (form key, draft), and its
    reports and dashboards in one transaction; False when it exists."""
    with engine.begin() as conn:
        if find_form(conn, forms[0].key) is not None:
            return False
        create_app(conn=conn, actor=actor, app=app)
        for form in forms:
            create_form(conn=conn, actor=actor, form=form)
        for rule in rules:
            create_rule(conn, actor, rule)
        for form_key, draft in templates:
            save_template(
                conn=conn,
                actor=actor,
                form=get_form(conn, form_key),
                draft=draft,
                tz=DEFAULT_TIME_ZONE,
            )
        if reports is not None:
            install_reports(
                conn=conn, actor=actor, app_key=app.key, package=reports, tz=DEFAULT_TIME_ZONE
            )
    return True


def install_approvals(engine: Engine, actor: Actor, package: Mapping[str, Any]) -> None:
    """The solution's approval roles (those missing) and flows (a new version of each), in
    one transaction; before the pipelines, whose gates may require an approval."""
    with engine.begin() as conn:
        for role in package.get("roles", ()):
            if not role_exists(conn, role["key"]):
                create_role(conn=conn, key=role["key"], label=role["label"])
        for flow in package["flows"]:
            save_flow(conn, actor, flow)


def install_pipelines(engine: Engine, actor: Actor, pipelines: Sequence[Mapping[str, Any]]) -> None:
    """Give the solution's forms their lifecycle pipelines (each document names its form).

    Installed after the sample data: the samples are history, written as it stands today,
    and a gate judges moves from now on (``seed_stage_history`` writes the samples' visits)."""
    with engine.begin() as conn:
        for document in pipelines:
            form = get_form(conn, document["form_key"])
            body = {k: v for k, v in document.items() if k != "form_key"}
            save_pipeline(conn, actor=actor, form=form, document=body)


def load_sample_data(
    engine: Engine,
    actor: Actor,
    batches: Iterable[Any],
    *,
    owners: list[int],
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write generated batches, mapping link ordinals to the ids the database assigned.

    Each batch commits on its own, so a large load shows progress and keeps transactions
    short; owners are spread over ``owners`` round-robin. A form's tables get fresh planner
    statistics whenever the load has doubled them and once at its end, so its own checks
    (the unique values of the next batch, say) and the first pages after it are planned for
    the tables as they are; at its end each form's search index is merged into one segment
    (``records.search.merge_search_index``), or later single writes pay for the merging.
    """
    ids: dict[str, list[int]] = {}
    forms: dict[str, Form] = {}
    counts: dict[str, int] = {}
    analyzed: dict[str, int] = {}  # form key → how many records it had at its last ANALYZE
    for batch in batches:
        with engine.begin() as conn:
            form = forms.get(batch.form_key)
            if form is None:
                found = find_form(conn, batch.form_key)
                assert found is not None, f"sample data for unknown form {batch.form_key}"
                form = forms[batch.form_key] = found
            links = [f for f in form.active_fields if field_type(f).links_records]
            rows = [_resolve_links(links, row, ids) for row in batch.rows]
            if owners:
                start = counts.get(form.key, 0)
                for offset, row in enumerate(rows):
                    row["owner_id"] = owners[(start + offset) % len(owners)]
            new_ids = create_records(conn=conn, actor=actor, form=form, items=rows)
        ids.setdefault(form.key, []).extend(new_ids)
        counts[form.key] = counts.get(form.key, 0) + len(new_ids)
        if counts[form.key] >= 2 * analyzed.get(form.key, 0):
            _analyze(engine, [form])
            analyzed[form.key] = counts[form.key]
        if progress is not None:
            progress(form.key, counts[form.key])
    unanalyzed = [forms[key] for key in counts if analyzed.get(key) != counts[key]]
    _analyze(engine, unanalyzed, also=[record_history.name])
    # PostgreSQL answers from an index alone only where VACUUM marked the pages visible.
    loaded = [t.name for key in counts for t in compile_form(forms[key]).every_table()]
    vacuum(engine, [*loaded, record_history.name, outbox.name])
    for key in counts:  # each form's search index in one segment (records.search)
        with engine.begin() as conn:
            merge_search_index(conn, compile_form(forms[key]))
    return counts


def _analyze(engine: Engine, forms: list[Form], *, also: Sequence[str] = ()) -> None:
    tables = [table.name for form in forms for table in compile_form(form).every_table()]
    with engine.begin() as conn:
        analyze(conn, [*tables, *also])


def _resolve_links(
    links: list[Field], row: dict[str, Any], ids: dict[str, list[int]]
) -> dict[str, Any]:
    resolved = dict(row)
    for field in links:
        value = row.get(field.key)
        if value is None:
            continue
        targets = ids[field.target or ""]
        if isinstance(value, list):
            resolved[field.key] = [targets[ordinal - 1] for ordinal in value]
        else:
            resolved[field.key] = targets[value - 1]
    return resolved
