"""Time zones: the workspace default until a user or setting says otherwise."""

from __future__ import annotations

from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = ZoneInfo("Asia/Shanghai")
