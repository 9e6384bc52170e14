"""The route table's index: a request is matched against the routes its path could match, not
against every route before its own.

Starlette and FastAPI try each route of a table in turn, a regular expression and a few
dictionaries each (~1.3 µs): ``/healthz`` and the pages, last in Meridian's table of ~300 routes,
paid 0.4 ms of CPU per request before their route was found. :class:`RouteIndex` sits first in
the app's table and files every other route under the literal segments its path begins with
(``/api/v1/forms/{form_key}/records`` under ``api`` → ``v1`` → ``forms``); a request walks
its own path's segments and tries only the routes filed along that walk, in the table's order.
A route can only match a path that begins with its literal part, so the route it finds is the
one the whole table would find first. When none of them matches fully, the index answers as
the table would for the first partial match (a method not allowed), and when none matches at
all it steps aside: the table goes on as before (a redirect to the path with or without its
trailing slash, a 404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

DEPTH = 3
"""How many leading segments of a path the index files routes by."""

_CHOSEN = "meridian.route"
"""Where the index leaves the route it found in the request's scope, for :meth:`handle`."""


@dataclass
class _Node:
    """The routes whose literal part ends at this segment, and what may follow it."""

    routes: list[tuple[int, BaseRoute]] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)
    candidates: tuple[BaseRoute, ...] = ()
    """Every route filed here or above, in the table's order: what a path ending here tries."""


class RouteIndex(BaseRoute):
    """The first route of an app's table: finds the route the rest of the table would match."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.table = routes
        self._root = _Node()
        self._built_for: tuple[int, int] = (-1, 0)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        partial: Scope | None = None
        for route in self._candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return Match.FULL, {**child_scope, _CHOSEN: route}
            if match is Match.PARTIAL and partial is None:
                partial = {**child_scope, _CHOSEN: route}
        if partial is not None:
            return Match.PARTIAL, partial
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope[_CHOSEN]
        await route.handle(scope, receive, send)

    def _candidates(self, path: str) -> Sequence[BaseRoute]:
        if self._built_for != (len(self.table), id(self.table[-1])):
            self._build()
        node = self._root
        for segment in path.split("/", DEPTH + 1)[1 : DEPTH + 1]:
            below = node.children.get(segment)
            if below is None:
                break
            node = below
        return node.candidates

    def _build(self) -> None:
        """File every route of the table (but this index) under its literal segments; done
        again whenever routes are added to the table."""
        root = _Node()
        for position, route in enumerate(self.table):
            if route is self:
                continue
            node = root
            for segment in literal_segments(route):
                node = node.children.setdefault(segment, _Node())
            node.routes.append((position, route))
        _gather(root, [])
        self._root = root
        self._built_for = (len(self.table), id(self.table[-1]))


def literal_segments(route: BaseRoute) -> list[str]:
    """The whole segments a route's path begins with before its first parameter (at most
    :data:`DEPTH`); every path the route matches begins with them. A route without a path
    format (a plugin's own kind) has none: it is tried for every path."""
    path_format = getattr(route, "path_format", None)
    if not isinstance(path_format, str) or not path_format.startswith("/"):
        return []
    literal, parameter, _ = path_format.partition("{")
    segments = literal.split("/")[1:]
    if parameter:
        segments = segments[:-1]  # the segment the parameter is in is not whole
    return segments[:DEPTH]


def _gather(node: _Node, above: list[tuple[int, BaseRoute]]) -> None:
    here = sorted([*above, *node.routes], key=lambda filed: filed[0])
    node.candidates = tuple(route for _, route in here)
    for child in node.children.values():
        _gather(child, here)


def index_routes(app: FastAPI) -> None:
    """Put a :class:`RouteIndex` first in ``app``'s route table (once its routes are added;
    routes added later are filed as the next request finds them)."""
    routes = app.router.routes
    if not any(isinstance(route, RouteIndex) for route in routes):
        routes.insert(0, RouteIndex(routes))
