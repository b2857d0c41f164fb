"""A stand-in for the DGFiP's PayFiP SOAP web service over real HTTP on a port the system chose: it
answers ``creerPaiementSecurise`` with a new operation id and ``recupererDetailPaiementSecurise`` with
the result the test sets; every request body is kept."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NS = ("http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/contrat_paiement_securise/"
      "PaiementSecuriseService")


@dataclass
class FakePayfip:
    url: str = ""
    result: str = "P"
    requests: list[str] = field(default_factory=list)
    fail: bool = False  # answer a SOAP fault


def _answer(fake: FakePayfip, body: str) -> str:
    if fake.fail:
        inner = ("<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Numéro client inconnu</faultstring>"
                 "</soap:Fault>")
    elif "creerPaiementSecurise" in body:
        inner = (f'<ns2:creerPaiementSecuriseResponse xmlns:ns2="{NS}"><return><idOp>OP{len(fake.requests) - 1:06d}'
                 "</idOp></return></ns2:creerPaiementSecuriseResponse>")
    else:
        idop = re.search(r"<idOp>([^<]*)</idOp>", body)
        inner = (f'<ns2:recupererDetailPaiementSecuriseResponse xmlns:ns2="{NS}"><return><dattrans>07122026'
                 f"</dattrans><heurtrans>1012</heurtrans><idOp>{idop.group(1) if idop else ''}</idOp>"
                 f"<montant>100</montant><resultrans>{fake.result}</resultrans></return>"
                 "</ns2:recupererDetailPaiementSecuriseResponse>")
    return ('<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            f'envelope/"><soap:Body>{inner}</soap:Body></soap:Envelope>')


@contextmanager
def fake_payfip() -> Iterator[FakePayfip]:
    fake = FakePayfip()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
            fake.requests.append(body)
            data = _answer(fake, body).encode("utf-8")
            self.send_response(500 if fake.fail else 200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/tpa/services/securite"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
