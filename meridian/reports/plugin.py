"""Reports as a plugin: the top menu's link to the dashboards."""

from __future__ import annotations

from collections.abc import Sequence

from meridian.core.actor import Actor
from meridian.plugins.hookspecs import hookimpl
from meridian.plugins.menu import MenuLink


@hookimpl
def menu_actions(actor: Actor) -> Sequence[MenuLink]:
    return [MenuLink("/dashboards", {"en": "Dashboards", "zh-CN": "仪表盘"})]
