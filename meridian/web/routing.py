"""The pages' route class: who is looking is checked in the page's own transaction.

A page that needs its viewer (``web.session.current_viewer``) takes the session as this process
last found it and checks it in the first transaction the page opens, as an API route does with
a token (``http.credentials``): a page is one transaction, not a read of the session and then
the page's own. A page that only reads is answered from the read its session was checked in;
one whose viewer changed meanwhile is answered again from the start, the session read afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from meridian.http.credentials import checking_in_transaction
from meridian.http.routing import READING, answer_checked, answer_keeping_reads, depends_on
from meridian.web.session import current_viewer


class PageRoute(APIRoute):
    """Every page route: a viewer kept in this process is checked where the page reads or
    writes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not depends_on(self.dependant, current_viewer):
            return handler

        async def handle(request: Request) -> Response:
            if request.method in READING:
                return await answer_keeping_reads(lambda: answer_checked(request, handler))
            with checking_in_transaction():
                return await answer_checked(request, handler)

        return handle
