"""Starting the web server (the API and the web application) in this process: the ``serve`` command
and the demonstration both start it here."""

from __future__ import annotations

import socket
from collections.abc import Callable

from regie_chaleur.db.database import Database
from regie_chaleur.web.guards import DEFAULT_MAX_BODY_BYTES


def serve_app(db: Database, host: str, port: int, *, close_on_shutdown: bool = True, request_threads: int = 1,
              announce: Callable[[str, int], None] | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
              trusted_proxies: str = "127.0.0.1", mailer: Callable[..., None] | None = None,
              escalate_after_min: float = 15.0) -> None:
    """Serve until SIGINT/SIGTERM.

    Args:
        port: the TCP port; 0 lets the system choose a free one (the socket is bound before anything is
            announced, so the port printed is the one served).
        close_on_shutdown: close ``db`` when the server stops.
        announce: called with the host and the bound port once listening is certain (default: print).
        trusted_proxies: the only peers whose X-Forwarded-For/-Proto headers are believed.
        mailer: e-mails letters to subscribers (none: they are to be posted).
    """
    import uvicorn

    from regie_chaleur.api.app import create_app

    app = create_app(db, on_shutdown=db.close if close_on_shutdown else None, request_threads=request_threads,
                     max_body_bytes=max_body_bytes, mailer=mailer, escalate_after_min=escalate_after_min)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = int(sock.getsockname()[1])
    (announce or _print_address)(host, bound)
    config = uvicorn.Config(app, host=host, port=bound, log_level="info", proxy_headers=True,
                            forwarded_allow_ips=trusted_proxies)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # the server has shut down on SIGINT; as uvicorn.run(), end quietly
        pass
    finally:
        sock.close()


def _print_address(host: str, port: int) -> None:
    print(f"regie-chaleur: serving on http://{host}:{port}/ (API docs: http://{host}:{port}/api/docs)", flush=True)
