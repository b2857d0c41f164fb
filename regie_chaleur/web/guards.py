"""What every answer carries and what no request gets past, whatever route it asks for.

- The security headers (:data:`SECURITY_HEADERS`) on every answer, errors and 500s included.
- :class:`InputGuard`, an ASGI middleware before any handler: a NUL byte in the path, the query or the
  body is refused with 400 (PostgreSQL text cannot hold it, and no French text has one), and a body
  above the configured size with 413 (read as it arrives, never whole beyond the limit).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "same-origin"}
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024  # [bytes] the largest import file a régie sends is a few MB


def _has_nul(data: bytes, content_type: str) -> bool:
    if b"\x00" in data:
        return True
    form = "x-www-form-urlencoded" in content_type or not content_type
    json_body = "json" in content_type or not content_type
    return (form and b"%00" in data) or (json_body and b"\\u0000" in data.lower())


class InputGuard:
    """Refuses NUL bytes (400) and oversized bodies (413) before the application sees the request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("raw_path") or str(scope.get("path", "")).encode()
        if _has_nul(path + b"?" + scope.get("query_string", b""), ""):
            await refuse(scope, send, 400, "caractère nul (\\0) dans l'adresse : requête refusée")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await refuse(scope, send, 413, f"corps de requête trop grand (au plus {self.max_body_bytes} octets)")
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await refuse(scope, send, 413, f"corps de requête trop grand (au plus {self.max_body_bytes} octets)")
                return
        if _has_nul(body, headers.get("content-type", "")):
            await refuse(scope, send, 400, "caractère nul (\\0) dans les données envoyées : requête refusée")
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """A JSON problem for the API, a short French page for the rest, with the security headers; a refused
    write is in the audit log as any other."""
    app = scope.get("app")
    if scope.get("method", "GET") not in ("GET", "HEAD", "OPTIONS") and app is not None \
            and hasattr(app.state, "db"):
        import anyio.to_thread

        from regie_chaleur.web.security import audit_write

        client = scope.get("client")
        await anyio.to_thread.run_sync(audit_write, app.state.db, "anonyme", scope["method"],
                                       str(scope.get("path", "")), status, client[0] if client else None)
    api = str(scope.get("path", "")).startswith("/api/")
    if api:
        body = json.dumps({"detail": message}, ensure_ascii=False).encode()
        content_type = "application/json"
    else:
        body = ("<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Requête refusée</title>"
                f"</head><body><h1>Requête refusée</h1><p>{message}</p><p><a href=\"/\">Accueil</a></p></body>"
                "</html>").encode()
        content_type = "text/html; charset=utf-8"
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
