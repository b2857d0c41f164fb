"""Local stand-ins for what the régie's notifications reach: an HTTP receiver (webhook, SMS gateway)
and just enough SMTP to accept messages. Both bind ports the OS chooses."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        Receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept a message."""

    messages: ClassVar[list[str]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 sink ESMTP\r\n")
        data: list[str] = []
        in_data = False
        for raw in self.rfile:
            line = raw.decode("utf-8", "replace")
            if in_data:
                if line.rstrip("\r\n") == ".":
                    in_data = False
                    SmtpSink.messages.append("".join(data))
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(line)
                continue
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 sink\r\n")
            elif verb == "DATA":
                in_data = True
                self.wfile.write(b"354 go on\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@contextmanager
def sinks() -> Iterator[tuple[str, int]]:
    """A webhook URL and an SMTP port, both served until the block ends (their inboxes emptied first)."""
    http = HTTPServer(("127.0.0.1", 0), Receiver)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    for server in (http, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.bodies.clear()
    SmtpSink.messages.clear()
    yield f"http://127.0.0.1:{http.server_address[1]}/hook", int(smtp.server_address[1])
    http.shutdown()
    smtp.shutdown()
    smtp.server_close()
    http.server_close()
