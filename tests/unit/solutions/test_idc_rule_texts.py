"""The notifications the IDC solution's rules send say it in both languages (issue 15).

They are data of the solution, written like its rule labels: "中文 / English", so a Chinese
team reads them in Chinese and an English reader finds their half beside it.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

_CHINESE = re.compile(r"[\u4e00-\u9fff]")
_ENGLISH = re.compile(r"[A-Za-z]{3,}")


def _notifications() -> list[dict[str, Any]]:
    text = resources.files("meridian.solutions.idc_crm").joinpath("rules.json").read_text("utf-8")
    return [
        action
        for rule in json.loads(text)
        for action in rule["actions"]
        if action["type"] == "notify"
    ]


def test_every_shipped_notification_body_is_in_chinese_and_english() -> None:
    notifications = _notifications()
    assert len(notifications) >= 4
    for action in notifications:
        chinese, separator, english = str(action["body"]).partition(" / ")
        assert separator, action["body"]
        assert _CHINESE.search(chinese) and not _ENGLISH.search(chinese), action["body"]
        assert _ENGLISH.search(english) and not _CHINESE.search(english), action["body"]
