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


__all__ = ["SampleBatch", "generate", "load_package", "load_rules", "read_package"]
