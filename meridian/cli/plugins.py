"""``meridian plugins``: what each plugin of the workspace registers, one line a hook."""

from __future__ import annotations

from meridian.http.deps import Workspace


def describe_plugins(workspace: Workspace) -> list[str]:
    """Lines for the terminal: each plugin (and the package that installed it), then each
    hook it implements with the names it registers there."""
    lines = []
    for plugin in workspace.plugins.describe(meridian=workspace):
        origin = plugin.distribution or "built in"
        lines.append(f"{plugin.name} ({origin})")
        for registration in plugin.registrations:
            names = ", ".join(registration.names) if registration.names else "(per request)"
            lines.append(f"  {registration.hook}: {names}")
    return lines
