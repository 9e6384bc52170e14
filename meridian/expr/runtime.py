"""What one Python evaluation reads: the record, its related records, the clock and the acting
user (``CURRENT_USER()``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from typing import Any


class Env:
    """The inputs of one evaluation, handed to every compiled closure."""

    __slots__ = ("now", "record", "related", "today", "user", "zone")

    def __init__(
        self,
        record: Mapping[str, Any],
        related: Mapping[str, Any],
        today: date,
        now: datetime,
        zone: tzinfo,
        user: int | None = None,
    ) -> None:
        self.record = record
        self.related = related
        self.today = today
        self.now = now
        self.zone = zone
        self.user = user
