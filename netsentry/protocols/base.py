"""What every application-layer decoder shares: the event record and the parser contract.

A decoder never raises on content. Whatever it cannot make sense of is counted
in the ``anomalies`` counter it was given (keys like ``"dns: compression loop"``),
and the decoder either resynchronizes or stops looking at that direction.
Memory per flow is bounded by :class:`Limits`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

try:  # read by the native build (mypyc) only; the package does not depend on it
    from mypy_extensions import mypyc_attr
except ImportError:  # pragma: no cover - mypy_extensions ships with mypy

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Any:  # type: ignore[misc]
        return lambda cls: cls


TO_SERVER = 0
"""Direction of data sent by the flow's initiator (the client)."""
TO_CLIENT = 1
"""Direction of data sent by the responder (the server)."""


@dataclass(slots=True)
class AppEvent:
    """One decoded application-layer record (an HTTP request, a DNS answer, a ClientHello...).

    ``record`` is shaped exactly like the object Suricata 8 writes under the EVE key
    named ``proto`` (``http``, ``dns``, ``tls``, ...): only JSON-safe values (str, int,
    bool, float, None, lists and dicts of them), only keys Suricata's schema knows.
    Anything else a decoder found (bodies, normalized URI, login outcome) goes in
    ``extra`` with documented keys; bytes are allowed there.
    """

    proto: str
    record: dict[str, Any]
    direction: int = TO_SERVER
    extra: dict[str, Any] = field(default_factory=dict)
    ts: int = 0  # set by the flow layer: capture time (ns) of the packet that completed it
    pkt_num: int = 0  # set by the flow layer: pcap_cnt of that packet
    flow: Any = None  # set by the flow layer: the netsentry.flows.Flow it belongs to


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds every decoder honours, so hostile input cannot exhaust memory."""

    max_line: int = 16 * 1024  # a protocol line or HTTP header line
    max_headers: int = 256  # header lines per HTTP message
    max_body: int = 256 * 1024  # bytes of an HTTP body kept (after decoding)
    max_decompressed: int = 1024 * 1024  # gzip/deflate output kept per body
    max_pending: int = 64 * 1024  # undecoded bytes buffered per direction
    max_records: int = 1024  # records (e.g. DNS answers, RCPT TO) kept per message


# Subclassable from plain Python (tests, plug-in decoders) also when compiled.
@mypyc_attr(allow_interpreted_subclasses=True)
class StreamParser:
    """Base class for decoders of TCP (or other ordered-stream) protocols.

    The flow layer calls ``feed`` with in-order stream data for one direction,
    ``gap`` when bytes were lost (the decoder should resynchronize or give up on
    that direction), and ``close`` once when the flow ends.
    """

    name: ClassVar[str] = ""

    def __init__(self, anomalies: Counter[str], limits: Limits | None = None) -> None:
        self.anomalies = anomalies
        self.limits = limits if limits is not None else Limits()

    def feed(self, direction: int, data: bytes) -> list[AppEvent]:
        """Consume the next in-order bytes of one direction; return completed records."""
        raise NotImplementedError

    def wants(self, direction: int) -> bool:
        """False once nothing more can be decoded in ``direction`` (e.g. it is encrypted).

        The flow layer may then stop reassembling that direction altogether.
        """
        return True

    def gap(self, direction: int, size: int) -> None:
        """``size`` bytes are missing from ``direction`` before the next ``feed``."""
        self.anomalies[f"{self.name}: stream gap"] += 1

    def close(self) -> list[AppEvent]:
        """The flow ended: return records that are complete enough to report."""
        return []


def anomaly(counter: Counter[str], proto: str, what: str) -> None:
    """Count one anomaly as ``"<proto>: <what>"``."""
    counter[f"{proto}: {what}"] += 1
