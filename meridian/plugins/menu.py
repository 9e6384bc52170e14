"""A top-menu link a plugin offers (``menu_actions``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class MenuLink:
    """One link of the top menu.

    :ivar href: where it goes, e.g. ``/plugins/ratings``.
    :ivar labels: the text by locale (``en``, ``zh-CN``); a plugin brings its own words.
    """

    href: str
    labels: Mapping[str, str]

    def label(self, locale: str) -> str:
        return self.labels.get(locale) or self.labels.get("en") or self.href
