"""The dashboard-wide filters as query parameters, read the same way by the API's report data
and the pages' drill-down, so a chart and the records behind it are filtered alike."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query

from meridian.core.ids import Id
from meridian.reports.compiler import DashboardFilters, dashboard_filters


def _from_query(
    date_from: date | None = None,
    date_to: date | None = None,
    owner: Id | None = None,
    department: Id | None = None,
    region: Annotated[str | None, Query(max_length=40)] = None,
    as_of: date | None = None,
) -> DashboardFilters:
    """The filters from the query (``as_of``: the day of a pipeline-as-of card)."""
    return dashboard_filters(
        date_from=date_from,
        date_to=date_to,
        owner=owner,
        department=department,
        region=region,
        as_of=as_of,
    )


DashboardFiltersDep = Annotated[DashboardFilters, Depends(_from_query)]
