"""One Modbus TCP connection to an endpoint, as the poller needs it.

A :class:`Link` wraps one pymodbus client and adds what a collector needs from a connection:

- every read has a time limit (``asyncio.timeout``, whose cancellation semantics are exact; Python
  3.11's ``asyncio.wait_for`` loses a cancellation that arrives just as the awaited call completes,
  which is how cancelled pollers used to hang);
- a failed read raises :class:`LinkFailure` naming its real cause (timeout, reset, refused connection,
  Modbus exception code, an answer to another transaction or from another unit, a frame stalled
  midway), and leaves the connection closed so that the next attempt starts on a fresh one: a late
  answer must never be taken for the answer to the next request;
- frames are counted when they actually go on the wire (``on_frame_sent``).

pymodbus silently skips a frame whose transaction id or unit id is not the one it waits for, and does
not fail a pending request when the device resets the connection: the request would only end at its
time limit. The packet and connection hooks of the client see both; the link then fails the pending
request at once with the real cause.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from telemetry.errors import TelemetryError

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # failures are counted in health, not logged per poll

#: function code -> client method; nothing else is ever called on a client.
READ_METHODS = {1: "read_coils", 2: "read_discrete_inputs", 3: "read_holding_registers", 4: "read_input_registers"}

#: Modbus exception codes as French operators name them.
EXCEPTION_NAMES = {
    1: "fonction non prise en charge", 2: "adresse de registre invalide", 3: "valeur invalide",
    4: "défaut de l'appareil", 5: "requête acceptée, traitement en cours", 6: "appareil occupé",
    8: "erreur de parité mémoire", 10: "passerelle : chemin indisponible",
    11: "passerelle : l'appareil ne répond pas",
}

_MBAP = struct.Struct(">HHHB")  # transaction id, protocol id, length, unit id


class LinkFailure(TelemetryError):
    """A read or a connect that failed, with its cause.

    ``kind`` is one of: ``timeout``, ``reset``, ``refused``, ``connect_timeout``, ``unreachable``,
    ``exception`` (a Modbus exception answer), ``wrong_transaction_id``, ``wrong_unit_id``,
    ``stalled_frame``, ``garbled``; ``text`` says it in French for operators.
    """

    def __init__(self, kind: str, text: str, exception_code: int | None = None) -> None:
        self.kind, self.text, self.exception_code = kind, text, exception_code
        super().__init__(text)

    @property
    def transient(self) -> bool:
        """Worth asking again on the same connection: acknowledge (5), busy (6), gateway target silent (11)."""
        return self.exception_code in (5, 6, 11)


class Link:
    """A Modbus TCP connection to ``host:port`` that reads with a time limit and says why it failed."""

    def __init__(self, host: str, port: int, connect_timeout_s: float, read_timeout_s: float,
                 on_frame_sent: Callable[[int], None] | None = None) -> None:
        """
        Args:
            connect_timeout_s: [s] limit of a connection attempt.
            read_timeout_s: [s] the longest read timeout used on this link (the library's own limit is
                set above it, so that only the link's limits ever fire).
            on_frame_sent: called with the function code of each request frame written to the socket.
        """
        self.host, self.port = host, port
        self.connect_timeout_s = connect_timeout_s
        self._on_frame_sent = on_frame_sent
        self._client = AsyncModbusTcpClient(
            host, port=port, timeout=max(connect_timeout_s, read_timeout_s) + 1.0, retries=0,
            reconnect_delay=0, reconnect_delay_max=0, trace_packet=self._trace_packet,
            trace_connect=self._trace_connect)
        self._connect_error: OSError | None = None
        self._wrap_connection_factory()
        self._pending: tuple[int, int] | None = None  # (transaction id, unit id) of the request in flight
        self._received = b""  # bytes received for the request in flight
        self._mismatch: LinkFailure | None = None

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    async def connect(self) -> None:
        """Open a fresh connection (closing any previous one).

        Raises:
            LinkFailure: refused, timed out or unreachable.
        """
        self.close()
        self._connect_error = None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                ok = await self._client.connect()
        except TimeoutError:
            ok = False
        if ok and self.connected:
            return
        self.close()
        raise _connect_failure(self._connect_error, self.connect_timeout_s)

    async def read(self, function: int, start: int, count: int, unit_id: int, timeout_s: float) -> Any:
        """One read request and its answer (a pymodbus response, possibly a Modbus exception answer).

        Args:
            timeout_s: [s] limit from sending the request to the complete answer.

        Raises:
            LinkFailure: no usable answer; the connection is closed.
        """
        if not self.connected:
            raise LinkFailure("reset", "connexion fermée avant l'envoi")
        method: Callable[..., Awaitable[Any]] = getattr(self._client, READ_METHODS[function])
        self._received, self._mismatch, self._pending = b"", None, None
        try:
            async with asyncio.timeout(timeout_s):
                response = await method(start, count=count, device_id=unit_id)
        except TimeoutError:
            failure = self._mismatch or self._timeout_cause(timeout_s)
            self.close()
            raise failure from None
        except LinkFailure:
            self.close()
            raise
        except (ModbusException, OSError, ValueError) as exc:
            self.close()
            raise LinkFailure("garbled", f"réponse inexploitable : {exc}") from exc
        finally:
            self._pending = None
        if response.isError():
            code = int(getattr(response, "exception_code", 0) or 0)
            raise LinkFailure("exception", f"exception Modbus {code} ({EXCEPTION_NAMES.get(code, 'code inconnu')})",
                              code)
        return response

    def close(self) -> None:
        self._client.close()

    # --- hooks called by pymodbus ----------------------------------------------------------------
    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending:
            if len(data) >= 8 and self.connected:
                tid, _, _, unit = _MBAP.unpack_from(data)
                self._pending, self._received = (tid, unit), b""
                if self._on_frame_sent is not None:
                    self._on_frame_sent(data[7])
            return data
        self._received = data  # pymodbus hands over its whole receive buffer
        if self._pending is not None and len(data) >= 8:
            tid, _, length, unit = _MBAP.unpack_from(data)
            if len(data) >= 6 + length:  # a complete frame: is it the answer to our request?
                want_tid, want_unit = self._pending
                if tid and tid != want_tid:
                    text = f"réponse à une autre requête (transaction {tid} au lieu de {want_tid})"
                    self._fail_soon(LinkFailure("wrong_transaction_id", text))
                elif want_unit and unit != want_unit:
                    text = f"réponse d'une autre unité (unité {unit} au lieu de {want_unit})"
                    self._fail_soon(LinkFailure("wrong_unit_id", text))
        return data

    def _trace_connect(self, connected: bool) -> None:
        if not connected and self._pending is not None:
            if self._received:
                self._fail_soon(LinkFailure("garbled", "trame illisible : l'appareil a coupé la connexion"))
            else:
                self._fail_soon(LinkFailure("reset", "connexion coupée par l'appareil"))

    def _fail_soon(self, failure: LinkFailure) -> None:
        """Fail the request in flight with ``failure`` once pymodbus is done with the bytes received:
        if a good answer followed in the same bytes, the request has its result and nothing fails."""
        self._mismatch = self._mismatch or failure
        ctx = getattr(self._client, "ctx", None)

        def fail() -> None:
            future = getattr(ctx, "response_future", None)
            if self._pending is not None and isinstance(future, asyncio.Future) and not future.done():
                future.set_exception(failure)

        asyncio.get_running_loop().call_soon(fail)

    def _timeout_cause(self, timeout_s: float) -> LinkFailure:
        if self._received:
            return LinkFailure("stalled_frame", f"trame interrompue : {len(self._received)} octet(s) reçu(s) "
                                                f"puis plus rien pendant {timeout_s:g} s")
        return LinkFailure("timeout", f"pas de réponse en {timeout_s:g} s")

    def _wrap_connection_factory(self) -> None:
        """Keep the OSError of a failed connection (pymodbus turns it into False)."""
        ctx = getattr(self._client, "ctx", None)
        create = getattr(ctx, "call_create", None)
        if ctx is None or create is None:
            return

        async def call_create() -> Any:
            try:
                return await create()
            except OSError as exc:
                self._connect_error = exc
                raise

        ctx.call_create = call_create


def _connect_failure(error: OSError | None, timeout_s: float) -> LinkFailure:
    if isinstance(error, ConnectionRefusedError):
        return LinkFailure("refused", "connexion refusée (port fermé)")
    if error is None or isinstance(error, TimeoutError):
        return LinkFailure("connect_timeout", f"connexion impossible en {timeout_s:g} s")
    if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return LinkFailure("unreachable", "appareil injoignable (réseau)")
    return LinkFailure("unreachable", f"connexion impossible : {error.strerror or error}")
