"""Modbus TCP servers for simulated substations, on the current pymodbus server API (SimDevice).

Each substation listens on its own address (``127.1.0.1``, ``127.1.0.2``... across 127.0.0.0/8) and
serves its heat meter and its controller as two unit ids behind that endpoint, with the register maps
of the shipped profiles. Registers are refreshed from the physics at each read; the wire addresses are
exactly the profile's (tested). Faults can be injected per device at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import random
import resource
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from telemetry.decode import encode_registers
from telemetry.profiles import DATA_TYPES, Point, Profile
from telemetry.simulator.physics import Substation

log = logging.getLogger(__name__)
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

_INT_RANGES = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1),
               "uint32": (0, 2**32 - 1)}


@dataclass
class Faults:
    """Faults of one simulated device; change them at any time."""

    no_answer: bool = False  # requests are swallowed: the client times out
    delay_s: float = 0.0  # [s] added before every answer
    exception_code: int | None = None  # answer with this Modbus exception (e.g. 4: device failure)
    sentinel: bool = False  # every point that has sentinels reads its first one; floats read NaN
    garbage: bool = False  # registers hold random words
    reset: bool = False  # the connection is reset (TCP RST) instead of answering
    reset_every: int = 0  # n: every n-th request resets its connection (2: each connection answers once, then dies)
    wrong_transaction_every: int = 0  # n: every n-th request is answered with another transaction id
    wrong_unit_every: int = 0  # n: every n-th request is answered as if from another unit id
    stall_every: int = 0  # n: every n-th answer stops midway (half a frame, then nothing)

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)


def simulated_address(index: int, base: str = "127.1.0.0") -> str:
    """Loopback address of substation ``index`` (0-based): 127.1.0.1, 127.1.0.2, ..."""
    return str(ipaddress.IPv4Address(base) + index + 1)


def raise_open_file_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards ``wanted`` (root may raise the hard limit); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    for new_hard in (max(hard, wanted), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, new_hard), new_hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def encode_point(point: Point, value: float, unit_code: int = 0) -> list[int]:
    """Registers holding ``value`` [canonical unit] as ``point`` describes it."""
    factor = point.scale_map.get(unit_code, 1.0) if point.scale_register else point.factor
    raw: float = value / factor
    if point.type in ("float32", "float64"):
        return encode_registers(raw, point.type, point.order)
    lo, hi = _INT_RANGES[point.type if point.type != "bits" else "uint16"]
    return encode_registers(int(max(lo, min(hi, round(raw)))), point.type, point.order)


class SimulatedDevice:
    """One unit id of a substation: a profile's register map filled from the physics."""

    def __init__(self, substation: Substation, profile: Profile, unit_id: int, rng: random.Random,
                 latency_s: float = 0.0, received: Counter[int] | None = None) -> None:
        self.substation, self.profile, self.unit_id = substation, profile, unit_id
        self.faults = Faults()
        self.latency_s = latency_s
        self.rng = rng
        self.received = received if received is not None else Counter()
        self.requests = 0  # requests addressed to this device
        self._by_function: dict[int, list[Point]] = {}
        for p in profile.points:
            self._by_function.setdefault(p.function, []).append(p)
        self._starts: dict[int, int] = {}

    def sim_device(self) -> SimDevice:
        """The pymodbus device (tuple form: coils, discrete inputs, holding, input registers)."""
        blocks: list[list[SimData]] = []
        for function in (1, 2, 3, 4):
            points = self._by_function.get(function, [])
            if not points:
                blocks.append([SimData(60000, count=1, values=0,
                                       datatype=DataType.BITS if function < 3 else DataType.REGISTERS)])
                continue
            if function < 3:
                start = min(p.address for p in points) // 16
                end = max(p.address for p in points) // 16 + 1
                blocks.append([SimData(start, count=end - start, values=0, datatype=DataType.BITS)])
            else:
                start = min(p.address for p in points)
                end = max(p.address + DATA_TYPES[p.type] for p in points)
                blocks.append([SimData(start, count=end - start, values=0, datatype=DataType.REGISTERS)])
            self._starts[function] = start
        return SimDevice(id=self.unit_id, simdata=(blocks[0], blocks[1], blocks[2], blocks[3]), action=self.action)

    async def action(self, function_code: int, start_address: int, address: int, count: int,
                     registers: list[int], values: list[int] | list[bool] | None) -> ExcCodes | None:
        """Called by pymodbus on each access: apply faults, refresh the registers."""
        if values is not None:  # a write: our devices are read-only in the simulator too
            return ExcCodes.ILLEGAL_FUNCTION
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        f = self.faults
        if f.no_answer:
            await asyncio.sleep(3600)
        if f.delay_s:
            await asyncio.sleep(f.delay_s)
        if f.exception_code is not None:
            return ExcCodes(f.exception_code)
        if f.garbage:
            for i in range(len(registers)):
                registers[i] = self.rng.getrandbits(16)
            return None
        self.fill(function_code, start_address, registers)
        return None

    def fill(self, function: int, start: int, registers: list[int]) -> None:
        """Write the current values of ``function``'s points into its register list."""
        values = self.substation.values(datetime.now(UTC))
        unit_code = int(values.get("energy_unit", 0))
        for p in self._by_function.get(function, []):
            value = values.get(p.name, 0.0)
            if function in (1, 2):
                word, bit = divmod(p.address, 16)
                i = word - start
                registers[i] = (registers[i] | (1 << bit)) if value else (registers[i] & ~(1 << bit))
                continue
            i = p.address - start
            if p.type == "bits":
                bit = p.bit or 0
                registers[i] = (registers[i] | (1 << bit)) if value else (registers[i] & ~(1 << bit))
                continue
            if self.faults.sentinel and (p.sentinels or p.type.startswith("float")):
                regs = (encode_registers(math.nan, p.type, p.order) if p.type.startswith("float")
                        else encode_registers(int(sorted(p.sentinels)[0]), p.type, p.order))
            else:
                regs = encode_point(p, value, unit_code)
            registers[i:i + len(regs)] = regs


class _Handler(ServerRequestHandler):
    """Request handler that records function codes and plays the connection-level faults."""


    async def handle_request(self) -> None:
        pdu = self.last_pdu
        if pdu is not None:
            server: SubstationServer = self.server.owner
            server.received[pdu.function_code] += 1
            device = server.devices.get(pdu.dev_id)
            if device is not None:
                device.requests += 1
                f = device.faults
                if f.reset or (f.reset_every and device.requests % f.reset_every == 0):
                    self._reset()
                    return
        await super().handle_request()  # type: ignore[no-untyped-call]

    def server_send(self, pdu: Any, addr: Any) -> None:
        server: SubstationServer = self.server.owner
        device = server.devices.get(getattr(pdu, "dev_id", -1))
        if device is None or not pdu:
            super().server_send(pdu, addr)  # type: ignore[no-untyped-call]
            return
        f, n = device.faults, device.requests
        if f.wrong_transaction_every and n % f.wrong_transaction_every == 0:
            pdu.transaction_id = (pdu.transaction_id + 7) % 65536 or 1
        if f.wrong_unit_every and n % f.wrong_unit_every == 0:
            pdu.dev_id = (pdu.dev_id % 250) + 3
        if f.stall_every and n % f.stall_every == 0:
            frame = self.framer.buildFrame(pdu)
            if self.transport:
                self.transport.write(frame[: max(1, len(frame) // 2)])  # type: ignore[attr-defined]
            return
        super().server_send(pdu, addr)  # type: ignore[no-untyped-call]

    def _reset(self) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self.transport:
            self.transport.abort()  # type: ignore[attr-defined]


class _Server(ModbusTcpServer):
    owner: SubstationServer

    def callback_new_connection(self) -> ServerRequestHandler:
        self.owner.connections += 1
        return _Handler(self, self.trace_packet, self.trace_pdu, self.trace_connect)  # type: ignore[no-untyped-call]


@dataclass
class SubstationServer:
    """A substation's Modbus TCP endpoint with its devices (unit id -> device)."""

    substation: Substation
    host: str
    port: int
    devices: dict[int, SimulatedDevice]
    received: Counter[int] = field(default_factory=Counter)
    server: Any = None
    connections: int = 0  # connections accepted so far

    async def start(self) -> None:
        """Listen; with port 0 the system chooses a free port, kept in :attr:`port`."""
        unknown = SimDevice(id=0, simdata=[SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                            action=_gateway_no_response)
        sims = [d.sim_device() for d in self.devices.values()] + [unknown]
        server = _Server(sims, address=(self.host, self.port))
        server.owner = self
        await server.serve_forever(background=True)
        self.server = server
        listener = getattr(server, "transport", None)
        sockets = getattr(listener, "sockets", None) or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.shutdown()
            self.server = None


async def _gateway_no_response(*_: Any) -> ExcCodes:
    return ExcCodes.GATEWAY_NO_RESPONSE

