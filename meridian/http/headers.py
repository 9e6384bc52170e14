"""Security headers on every response, set once for pages, the API and static files alike.

Pages get a Content-Security-Policy that runs scripts from this site only — no inline script,
no ``eval`` — so markup that slipped past escaping still cannot run, and loads images, fonts
and data from this site only, so CSS cannot make a viewer's browser fetch another site's URL.
Inline ``style`` attributes stay allowed: the templates use them, and with ``img-src 'self'``
a style can no longer reach out. Nothing may frame a page (clickjacking) and only this site's
pages may frame anything else, no response may be sniffed into another content type, and links
to other sites carry no Referer.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""The policy of HTML responses."""

DATA_POLICY = "default-src 'none'; frame-ancestors 'self'"
"""The policy of everything else (JSON, files): nothing in it may run, even if a browser is
tricked into rendering it. Only this site's own pages may frame it (a record page shows a PDF
attachment in a frame)."""

PDF_POLICY = "frame-ancestors 'self'"
"""A PDF keeps the browser's own viewer, which ``default-src 'none'`` would block."""

_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _policy(content_type: str) -> tuple[str, str]:
    """The Content-Security-Policy and X-Frame-Options for a response of ``content_type``."""
    if content_type.startswith("text/html"):
        return PAGE_POLICY, "DENY"
    if content_type.startswith("application/pdf"):
        return PDF_POLICY, "SAMEORIGIN"
    return DATA_POLICY, "SAMEORIGIN"


class SecurityHeaders:
    """Pure ASGI middleware (no buffering of bodies or streams) adding the headers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    headers.setdefault(name, value)
                policy, framing = _policy(headers.get("content-type", ""))
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Frame-Options", framing)
            await send(message)

        await self.app(scope, receive, send_with_headers)
