"""ASGI middleware that refuses, before the application reads anything, what it must never see.

- A body over the limit: a declared ``Content-Length`` over it is answered 413 at once;
  otherwise the bytes are counted as they stream in, and the application's reading stops with
  a 413 at the first chunk past the limit. Nothing is buffered here, so a 200 MB body costs no
  more than the limit (it cost 400 MB, issue 13). Uploads (``multipart/form-data``) have the
  file size limit of their own; attachment fields may set smaller ones.
- NUL in the path or the query string: no identifier, filter or search holds one, and
  PostgreSQL text cannot store it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meridian.core.i18n import N_, Text, Translator, negotiate
from meridian.http.problems import problem_response

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


MULTIPART_FRAMING = 64 * 1024
"""Room for an upload's multipart boundaries and part headers: a file of the largest allowed
size still fits (the file store then checks the file's own size exactly)."""


class _TooLarge(Exception):
    """Raised into the application's reading when the body passes the limit."""


def _locale(scope: Scope) -> str:
    """The caller's language by ``Accept-Language`` (the caller is not known yet this early),
    else English, as :func:`meridian.http.problems.request_locale` says."""
    header = Headers(scope=scope).get("accept-language", "").strip()
    return negotiate(header) if header else "en"


def _megabytes(limit: int) -> str:
    return f"{limit / 1_048_576:g} MB"


class RequestGuard:
    """Body limits in bytes: ``body_limit`` for every request, ``upload_limit`` for the file in
    an upload (the settings' ``request_max_bytes`` and ``max_upload_bytes``)."""

    def __init__(self, app: ASGIApp, *, body_limit: int, upload_limit: int) -> None:
        self.app = app
        self.body_limit = body_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            _ = Translator(_locale(scope))
            response = problem_response(
                400,
                "invalid_character",
                _(N_("Bad request")),
                _.text(Text("the address may not contain NUL (%00)")),
                locale=_.locale,
            )
            await response(scope, receive, send)
            return
        headers = Headers(scope=scope)
        upload = headers.get("content-type", "").lower().startswith("multipart/form-data")
        limit = self.upload_limit if upload else self.body_limit
        counted = limit + MULTIPART_FRAMING if upload else limit
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > counted:
            await _too_large(limit, scope, receive, send)
            return
        if scope["method"] in _BODYLESS and not declared and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        await self._counted(limit, counted, scope, receive, send)

    async def _counted(
        self, limit: int, counted: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        received = 0
        tripped = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, tripped
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > counted:
                    tripped = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if tripped:
                return  # whatever the application makes of the interrupted read is replaced
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not tripped:
                raise
        if tripped and not started:
            await _too_large(limit, scope, receive, send)


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    size = _megabytes(limit)
    _ = Translator(_locale(scope))
    response = problem_response(
        413,
        "too_large",
        _(N_("Content too large")),
        _.text(Text("the request body is over the limit of {size}", size=size)),
        locale=_.locale,
        limit=limit,
    )
    await response(scope, receive, send)
