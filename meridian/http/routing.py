"""The API's route class: the caller is known before the body is read, and a JSON body is
read strictly.

FastAPI reads a route's body before it solves the route's dependencies, so an anonymous
client could make the server take in (and parse) a body only to be told 401 afterwards.
:class:`ApiRoute` settles ``get_actor`` first for every route that depends on it, refuses a
body in another format with 415 before reading it, and reads JSON with
:mod:`meridian.core.strict_json`, so what the rest of Meridian cannot hold (``NaN``, 65-bit
integers, NUL, lone surrogates, deep nesting) is a 422 naming where it is (issue 13). A
``GET`` answers from the read transaction its credential was checked in (``http.kept_read``).
A route's parameters are solved by a plan made once for it (``http.solving``).
"""

from __future__ import annotations

import email.message
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from meridian.core import strict_json
from meridian.core.i18n import Text
from meridian.errors import FieldError, UnsupportedMediaType, ValidationFailed
from meridian.http.credentials import (
    CredentialChanged,
    check_unchecked,
    checking_in_transaction,
    drop_unchecked,
    unchecked_pending,
)
from meridian.http.deps import Workspace, get_actor
from meridian.http.kept_read import keeping_reads
from meridian.http.solving import planned_handler

_UNSET: Any = object()
Handler = Callable[[Request], Coroutine[Any, Any, Response]]
READING = frozenset({"GET", "HEAD"})
"""Requests whose credential's read transaction is kept for their answer (``http.kept_read``)."""


class _StrictJSONRequest(Request):
    """A request whose JSON is read by :func:`meridian.core.strict_json.loads`."""

    parsed: Any = _UNSET

    async def json(self) -> Any:
        if self.parsed is _UNSET:
            self.parsed = read_json(await self.body())
        return self.parsed


def read_json(document: str | bytes, *, field: str = "") -> Any:
    """A JSON document from a client, or a 422 naming the offending value by its path (below
    ``field``, the parameter it came in; a body's paths are its own keys)."""
    try:
        return strict_json.loads(document)
    except strict_json.RefusedJSON as exc:
        path = ".".join(part for part in (field, exc.path) if part) or "body"
        raise ValidationFailed([FieldError(path, exc.code, exc.message, exc.value)]) from None


@functools.lru_cache(maxsize=64)
def is_json_media_type(content_type: str) -> bool:
    """Parsed by ``email`` as FastAPI does, once per distinct header (clients send one or two)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class ApiRoute(APIRoute):
    """Every ``/api/v1`` route: authenticate, then check the media type, then read the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = planned_handler(self, super().get_route_handler())
        needs_actor = depends_on(self.dependant, get_actor)
        body_field = self.body_field
        reads_json = body_field is not None and not isinstance(body_field.field_info, params.Form)

        async def handle(request: Request) -> Response:
            if needs_actor and not reads_json and request.method in READING:
                return await answer_keeping_reads(lambda: _answer_checked(request, handler, False))
            if needs_actor:
                with checking_in_transaction():  # who asks is checked where it writes
                    return await _answer_checked(request, handler, reads_json)
            if reads_json:
                request = await _with_json_body(request)
            return await handler(request)

        return handle


async def _answer_checked(request: Request, handler: Handler, reads_json: bool) -> Response:
    """An API request: its caller settled before its body is read, then answered as
    :func:`answer_checked` answers."""
    workspace: Workspace = request.app.state.workspace
    await get_actor(request, workspace)
    if reads_json:
        request = await _with_json_body(request)

    async def again() -> None:
        await get_actor(request, workspace)  # forgotten: read afresh, not from the cache

    return await answer_checked(request, handler, again)


async def answer_checked(
    request: Request, handler: Handler, settle: Callable[[], Awaitable[None]] | None = None
) -> Response:
    """A request whose caller may come from this process's cache: checked in the
    request's first transaction (``http.credentials``); answered again from the start, the
    caller read afresh (``settle``, or the handler's own dependencies), when who they are
    changed; checked before the answer leaves when no transaction was opened."""
    try:
        response = await handler(request)
    except CredentialChanged:
        request.state.actor = None
        drop_unchecked()
        if settle is not None:
            await settle()
        return await handler(request)
    if unchecked_pending():
        await run_in_threadpool(check_unchecked)
    return response


async def answer_keeping_reads(answer: Callable[[], Awaitable[Response]]) -> Response:
    """A request that only reads, answered by ``answer``: a caller kept in this process is
    checked in the read that answers; one checked afresh is checked in a read kept to answer
    the request too (``http.kept_read``), released if nothing took it."""
    with checking_in_transaction(), keeping_reads() as kept:
        try:
            return await answer()
        finally:
            if kept.holding:  # nothing read: closed off the event loop
                await run_in_threadpool(kept.release)


async def _with_json_body(request: Request) -> Request:
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json_media_type(content_type):
        raise UnsupportedMediaType(
            Text("send JSON as application/json, not {content_type}", content_type=content_type),
            accepts=["application/json"],
        )
    strict = _StrictJSONRequest(request.scope, request.receive)
    if await strict.body():
        if content_type is None:
            raise UnsupportedMediaType(
                Text("say Content-Type: application/json"),
                accepts=["application/json"],
            )
        await strict.json()
    return strict


def depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    """Whether a route's parameters need ``call``, directly or through other dependencies."""
    return any(sub.call is call or depends_on(sub, call) for sub in dependant.dependencies)
