"""The IDC CRM solution: its forms as one JSON package, its automation rules, and a
sample-data generator."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from meridian.schema.model import App, Form
from meridian.solutions.idc_crm.sample import SampleBatch, generate


def read_package() -> dict[str, Any]:
    """The package document as stored, ready for the app import."""
    document: dict[str, Any] = json.loads(
        files(__name__).joinpath("package.json").read_text(encoding="utf-8")
    )
    return document


def load_package() -> tuple[App, list[Form]]:
    """The app and its forms, link targets before the forms linking to them."""
    document = read_package()
    forms = [Form.model_validate(form) for form in document["forms"]]
    return App.model_validate(document["app"]), forms


def load_rules() -> list[dict[str, Any]]:
    """The solution's rules: renewal reminders (90/60/30 days, a renewal opportunity at 90),
    unanswered quotes, and churn-risk follow-ups; installed with the forms."""
    rules: list[dict[str, Any]] = json.loads(
        files(__name__).joinpath("rules.json").read_text(encoding="utf-8")
    )
    return rules


def load_pipelines() -> list[dict[str, Any]]:
    """The opportunity's lifecycle: 线索 → 意向 → 方案/报价 → 谈判 → 签约 → 交付, 输单 as lost,
    with the SOPs as gates (the requirements survey filled in and confirmed by the technical
    team before leaving 意向; a formal quote with the standard service agreement within 48 work
    hours of entering 方案/报价; 10 days in 方案/报价 alerts the manager)."""
    pipelines: list[dict[str, Any]] = json.loads(
        files(__name__).joinpath("pipelines.json").read_text(encoding="utf-8")
    )
    return pipelines


def load_approvals() -> dict[str, Any]:
    """The solution's approval flows and the roles they name: the contract approval (the
    manager; over 100,000 the VP; legal and finance 会签; then the contract is marked signed)
    and the quote-discount approval (over 15 % the manager and the VP, else the manager)."""
    package: dict[str, Any] = json.loads(
        files(__name__).joinpath("approvals.json").read_text(encoding="utf-8")
    )
    return package


def load_reports() -> dict[str, Any]:
    """The solution's reports and dashboards: the management cockpit (funnel, customer value,
    sales behaviour, resource inventory; the app's home) and a rep's own dashboard (the home
    of members)."""
    package: dict[str, Any] = json.loads(
        files(__name__).joinpath("reports.json").read_text(encoding="utf-8")
    )
    return package


def load_document_templates() -> list[tuple[str, dict[str, Any]]]:
    """The solution's print templates as (form key, template draft): a quote with the
    cabinets, power and bandwidth as line items and the SLA terms, and a contract that carries
    the company seal and is signed."""
    folder = files(__name__).joinpath("documents")
    listed: list[dict[str, Any]] = json.loads(
        folder.joinpath("templates.json").read_text(encoding="utf-8")
    )
    drafts = []
    for entry in listed:
        draft = {k: v for k, v in entry.items() if k not in ("form", "body_file")}
        draft["body"] = folder.joinpath(entry["body_file"]).read_text(encoding="utf-8")
        drafts.append((entry["form"], draft))
    return drafts


__all__ = [
    "SampleBatch",
    "generate",
    "load_approvals",
    "load_document_templates",
    "load_package",
    "load_pipelines",
    "load_reports",
    "load_rules",
    "read_package",
]
