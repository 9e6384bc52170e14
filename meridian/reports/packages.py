"""Reports and dashboards a solution package ships, installed with its app.

A package names its reports by a local ``ref`` and its dashboards' cards by those refs; the
installer saves each report (checked like a builder's), then each dashboard with the ids the
reports got. They are ordinary reports: a builder opens, copies and changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from meridian.core.actor import Actor
from meridian.reports import store


def install_reports(
    *, conn: Connection, actor: Actor, app_key: str, package: Mapping[str, Any], tz: ZoneInfo
) -> dict[str, int]:
    """Save the package's reports and dashboards; returns report ref → id."""
    ids: dict[str, int] = {}
    for report in package.get("reports", ()):
        saved = store.save(
            conn=conn,
            actor=actor,
            kind="report",
            document={
                "app_key": app_key,
                "label": report["label"],
                "definition": report["definition"],
                "roles": report.get("roles", []),
            },
            tz=tz,
        )
        ids[report["ref"]] = saved["id"]
    for dashboard in package.get("dashboards", ()):
        cards = [
            {"report_id": ids[card["ref"]], "y": index, "w": card["w"], "h": card["h"]}
            for index, card in enumerate(dashboard["cards"])
        ]
        store.save(
            conn=conn,
            actor=actor,
            kind="dashboard",
            document={
                "app_key": app_key,
                "label": dashboard["label"],
                "roles": dashboard.get("roles", []),
                "home_for": dashboard.get("home_for", ""),
                "definition": {
                    "cards": cards,
                    "refresh_seconds": dashboard.get("refresh_seconds", 0),
                },
            },
            tz=tz,
        )
    return ids
