"""Raw Kafka-protocol exchanges for the differential check, with kraft's own codec.

`Wire(address)` is one blocking TCP connection that sends requests encoded by
`kraft.net.codec.encode_request` (kio message classes) and reads one framed
response each, decoded by `kraft.net.codec.decode_response`. Nothing
negotiates, retries or picks versions: the request object fixes its version,
correlation ids count 1, 2, 3... per Wire, and the client id is fixed, so the
same sequence of calls puts the same bytes on the wire to Kafka and to kraft.
`send_raw` writes any bytes (a frame of garbage, a header naming a version no
schema has) for the bad-input scenarios.

Every exchange ends in an `Outcome`: a decoded response, or "closed" (the
peer closed the connection, which Kafka does for a request it cannot parse),
or "timeout", or "undecodable" (a frame kio could not read as the expected
response). After "closed" or "timeout" the next call opens a new connection.

`make(cls, values)` builds a kio entity of any version from plain values
(nested dicts and lists), dropping the fields that version does not have,
which is what lets one scenario body serve every version of an API.
"""

from __future__ import annotations

import dataclasses
import datetime
import socket
import struct
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any

from kraft.net.codec import decode_response, encode_request, request_type, response_type

CLIENT_ID = "vs-kafka"
DEFAULT_TIMEOUT_S = 15.0
_SIZE = struct.Struct(">i")


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What one exchange produced: kind "response" (with `response`), "closed",
    "timeout" or "undecodable" (with `detail`)."""

    kind: str
    response: Any = None
    detail: str = ""


class Wire:
    """One connection to `address`, reopened after the peer closes it."""

    def __init__(self, address: tuple[str, int], timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.address = address
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._correlation_id = 0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection(self.address, timeout=self.timeout)
        return self._sock

    def call(self, request: Any, timeout: float | None = None) -> Outcome:
        """Send kio `request`; its decoded response, or what happened instead."""
        self._correlation_id += 1
        frame = encode_request(self._correlation_id, CLIENT_ID, request)
        cls = response_type(request.__api_key__, request.__version__)
        return self._exchange(frame, cls, timeout)

    def send_raw(self, body: bytes, response_cls: type | None,
                 timeout: float | None = None, framed: bool = False) -> Outcome:
        """Send `body` (a request without its size prefix, or with one when `framed`)
        as it is; decode the answer as `response_cls` (None: report its first bytes
        as "undecodable"). Counts one correlation id, whatever `body` carries."""
        self._correlation_id += 1
        frame = body if framed else _SIZE.pack(len(body)) + body
        return self._exchange(frame, response_cls, timeout)

    @property
    def next_correlation_id(self) -> int:
        return self._correlation_id + 1

    def _exchange(self, frame: bytes, cls: type | None, timeout: float | None) -> Outcome:
        try:
            sock = self._socket()
            sock.settimeout(timeout or self.timeout)
            sock.sendall(frame)
            head = _read_exactly(sock, 4)
            if head is None:
                self.close()
                return Outcome("closed")
            (size,) = _SIZE.unpack(head)
            body = _read_exactly(sock, size) if size >= 0 else None
            if body is None:
                self.close()
                return Outcome("closed")
        except TimeoutError:
            self.close()
            return Outcome("timeout")
        except (ConnectionError, OSError):
            self.close()
            return Outcome("closed")
        if cls is None:
            return Outcome("undecodable", detail=body[:64].hex())
        try:
            correlation_id, response = decode_response(body, cls)
        except Exception as e:
            return Outcome("undecodable", detail=f"{type(e).__name__}: {e}"[:300])
        if correlation_id != self._correlation_id:
            return Outcome("undecodable", detail=f"correlation id {correlation_id}, expected "
                           f"{self._correlation_id}")
        return Outcome("response", response)


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    """`n` bytes, or None if the peer closes first."""
    chunks = bytearray()
    while len(chunks) < n:
        got = sock.recv(min(n - len(chunks), 1 << 20))
        if not got:
            return None
        chunks += got
    return bytes(chunks)


# ---------------------------------------------------------------- building requests


def request(api_key: int, version: int, values: Mapping[str, Any]) -> Any:
    """The kio request (api_key, version) built from `values` (see `make`)."""
    cls = request_type(api_key, version)
    if cls is None:
        raise LookupError(f"kio has no request class for api key {api_key} v{version}")
    return make(cls, values)


def make(cls: type, values: Mapping[str, Any]) -> Any:
    """An instance of kio entity `cls` from `values`: keys the class lacks are dropped,
    nested entities are built from dicts (or lists of dicts), ints become timedeltas
    where the field is a duration. A required field missing from `values` raises
    TypeError naming the class and version."""
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        hint = hints[f.name]
        inner = _entity_type(hint)
        if inner is not None and value is not None:
            if isinstance(value, Mapping):
                value = make(inner, value)
            else:
                value = tuple(make(inner, item) for item in value)
        elif isinstance(value, list):
            value = tuple(value)
        elif isinstance(value, int) and not isinstance(value, bool) and _is_duration(hint):
            value = datetime.timedelta(milliseconds=value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__name__} v{cls.__version__}: {e}") from None  # type: ignore[attr-defined]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _entity_type(hint: Any) -> type | None:
    """The kio entity class inside `hint` (X, tuple[X, ...], X | None), else None."""
    stack = [hint]
    while stack:
        t = stack.pop()
        if dataclasses.is_dataclass(t) and isinstance(t, type):
            return t
        stack.extend(typing.get_args(t))
    return None


def _is_duration(hint: Any) -> bool:
    stack = [hint]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and issubclass(t, datetime.timedelta):
            return True
        stack.extend(typing.get_args(t))
    return False
