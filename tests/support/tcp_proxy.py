"""A TCP proxy that tests stop and restart to cut a database or a device off, as in psycopg's tests, or
turn into a black hole: connections stay open and no byte passes (a firewall dropping packets, a
partitioned network), until :meth:`TcpProxy.resume`."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from typing import Any


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``target``; :meth:`stop` cuts every connection, :meth:`start` resumes."""

    def __init__(self, target_host: str, target_port: int | None, listen_port: int = 0) -> None:
        """``target_port`` None: ``target_host`` is a Unix socket path."""
        self.target = (target_host, target_port)
        self.port = listen_port
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def black_hole(self) -> None:
        """Keep every connection open, accept new ones, and let no byte pass either way."""
        self._flowing.clear()

    def resume(self) -> None:
        """End the black hole: what was held back flows again, as when a partition heals."""
        self._flowing.set()

    def start(self) -> TcpProxy:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._running.set()
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and reset the open ones."""
        self._running.clear()
        self._flowing.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._running.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            while not self._flowing.wait(0.05):  # a black hole: hold the new connection, send nothing
                if not self._running.is_set():
                    client.close()
                    return
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _connect_upstream(self) -> socket.socket:
        host, port = self.target
        if port is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(host)
            return sock
        return socket.create_connection((host, port), timeout=5)

    @classmethod
    def for_postgres(cls, url: str) -> tuple[TcpProxy, str]:
        """A started proxy in front of the server of ``url``, and the URL through the proxy."""
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(url)
        host, port = str(params.get("host") or "localhost"), int(params.get("port") or 5432)
        proxy = cls(f"{host}/.s.PGSQL.{port}", None) if host.startswith("/") else cls(host, port)
        proxy.start()
        return proxy, make_conninfo(url, host="127.0.0.1", port=str(proxy.port))

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                if not self._flowing.is_set():
                    if not self._running.is_set():
                        return
                    time.sleep(0.05)
                    continue
                for key, _ in sel.select(timeout=0.5):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
