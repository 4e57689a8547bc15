"""Request/response headers and body codec over kio's generated message types.

Header versions (Kafka's `ApiMessageType.requestHeaderVersion`):

    request header v1:  int16 api_key, int16 api_version, int32 correlation_id,
                        nullable string client_id (int16 length, -1 = null)
    request header v2:  v1 + tagged fields (uvarint count, then per field
                        uvarint tag, uvarint size, bytes)  -- flexible versions
    request header v0:  int16 api_key, int16 api_version, int32 correlation_id;
                        only ControlledShutdown v0 uses it (kio has no
                        schema for that API, so no registered API does).
    response header v0: int32 correlation_id
    response header v1: v0 + tagged fields            -- flexible versions,
                        except ApiVersions, whose response header is ALWAYS v0
                        so an old client can read the error of a newer request.

Message bodies are kio dataclasses. kio's native reader does NOT check array
lengths against the bytes that remain (it aborts the process trying to
allocate), so every body first passes `kraft.net.guard.check` (the CVE-2022-34917
class of bug); kio then raises on anything else short or malformed. Any exception while decoding
a request is the peer's fault: `decode_request` wraps it in `InvalidRequest`
and the server closes that connection. Trailing bytes after a body are ignored,
as Kafka does.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

from kio.index import load_entity_schema
from kio.schema.index import api_key_map, schema_name_map
from kio.serial import entity_reader, entity_writer
from kio.static.constants import EntityType

from kraft.net import guard

API_VERSIONS_KEY = 18
_CONTROLLED_SHUTDOWN_KEY = 7
_UNSUPPORTED_VERSION = 35
_HEADER_FIXED = struct.Struct(">hhi")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


class InvalidRequest(Exception):
    """A request that cannot be parsed: the connection must be closed."""


class UnsupportedVersion(InvalidRequest):
    """The (api key, version) pair is not one we can decode."""

    def __init__(self, header: RequestHeader) -> None:
        super().__init__(
            f"unsupported api_key={header.api_key} version={header.api_version}"
        )
        self.header = header


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


@cache
def find_request_type(api_key: int, api_version: int) -> type | None:
    """The kio request class for (key, version), or None if kio has none."""
    return _entity(api_key, api_version, EntityType.request)


@cache
def find_response_type(api_key: int, api_version: int) -> type | None:
    """The kio response class for (key, version), or None if kio has none."""
    return _entity(api_key, api_version, EntityType.response)


def request_type(api_key: int, api_version: int) -> type:
    """The kio request class for (key, version); LookupError if kio has none
    (a bug: callers ask for versions they declared)."""
    cls = find_request_type(api_key, api_version)
    if cls is None:
        raise LookupError(f"kio has no request type for API key {api_key} v{api_version}")
    return cls


def response_type(api_key: int, api_version: int) -> type:
    """The kio response class for (key, version); LookupError if kio has none."""
    cls = find_response_type(api_key, api_version)
    if cls is None:
        raise LookupError(f"kio has no response type for API key {api_key} v{api_version}")
    return cls


def _entity(api_key: int, api_version: int, kind: EntityType) -> type | None:
    name = api_key_map.get(api_key)
    if name is None or api_version not in schema_name_map[name]:
        return None
    return load_entity_schema(name, api_version, kind)  # type: ignore[arg-type]


def kio_versions(api_key: int) -> tuple[int, int] | None:
    """The (min, max) versions kio can encode for an API key, or None."""
    name = api_key_map.get(api_key)
    if name is None:
        return None
    versions = schema_name_map[name].keys()
    return min(versions), max(versions)


def peek_header_fixed(frame: bytes | memoryview) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id): fixed-position header fields.

    Readable whatever the header version, which is what lets us answer an
    ApiVersions request of a version we have never heard of.
    """
    if len(frame) < _HEADER_FIXED.size:
        raise InvalidRequest(f"request of {len(frame)} bytes has no header")
    return _HEADER_FIXED.unpack_from(frame, 0)


def request_header_version(api_key: int, api_version: int, flexible: bool) -> int:
    """Kafka's `ApiMessageType.requestHeaderVersion` for a request we can decode."""
    if api_key == _CONTROLLED_SHUTDOWN_KEY and api_version == 0:
        return 0
    return 2 if flexible else 1


def decode_request_header(
    frame: bytes | memoryview, header_version: int
) -> tuple[RequestHeader, int]:
    """Parse a request header of version 0, 1 or 2; return it and the offset
    where the body starts."""
    try:
        api_key, api_version, correlation_id = peek_header_fixed(frame)
        pos = _HEADER_FIXED.size
        if header_version == 0:
            return RequestHeader(api_key, api_version, correlation_id, None), pos
        (n,) = _INT16.unpack_from(frame, pos)
        pos += 2
        client_id: str | None = None
        if n >= 0:
            if pos + n > len(frame):
                raise InvalidRequest("client_id runs past the end of the request")
            client_id = bytes(frame[pos : pos + n]).decode()
            pos += n
        elif n != -1:
            raise InvalidRequest(f"client_id length {n}")
        if header_version >= 2:
            pos = _skip_tagged_fields(frame, pos)
    except (struct.error, UnicodeDecodeError) as e:
        raise InvalidRequest(f"bad request header: {e}") from e
    return RequestHeader(api_key, api_version, correlation_id, client_id), pos


def _skip_tagged_fields(buf: bytes | memoryview, pos: int) -> int:
    end = len(buf)
    try:
        count, pos = guard.read_uvarint(buf, pos, end)
        for _ in range(count):
            _tag, pos = guard.read_uvarint(buf, pos, end)
            size, pos = guard.read_uvarint(buf, pos, end)
            pos += size
            if pos > end:
                raise InvalidRequest("tagged field runs past the end of the header")
    except guard.Malformed as e:
        raise InvalidRequest(f"bad tagged fields in header: {e}") from e
    return pos


def decode_request(frame: bytes | memoryview) -> tuple[RequestHeader, Any]:
    """Decode a whole request frame (without its size prefix).

    Raises UnsupportedVersion when kio has no schema for (key, version), and
    InvalidRequest for anything malformed.
    """
    api_key, api_version, correlation_id = peek_header_fixed(frame)
    cls: Any = find_request_type(api_key, api_version)  # kio's classes carry dunder metadata
    if cls is None:
        raise UnsupportedVersion(RequestHeader(api_key, api_version, correlation_id, None))
    header, pos = decode_request_header(
        frame, request_header_version(api_key, api_version, cls.__flexible__)
    )
    try:
        frame = guard.check(cls, frame, pos) or frame
        body, _ = _reader(cls)(frame, pos)
    except Exception as e:  # kio raises several types; all mean "malformed"
        raise InvalidRequest(
            f"malformed {cls.__name__} v{api_version}: {type(e).__name__}: {e}"
        ) from e
    return header, body


def encode_response(correlation_id: int, response: Any) -> bytes:
    """Encode a framed response (size prefix, header, body)."""
    flexible = response.__flexible__ and response.__api_key__ != API_VERSIONS_KEY
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    buf.write(_INT32.pack(correlation_id))
    if flexible:
        buf.write(b"\0")  # no tagged fields
    _writer(response.__class__)(buf, response)
    out = buf.getbuffer()
    _INT32.pack_into(out, 0, len(out) - 4)
    del out
    return buf.getvalue()


def encode_request(correlation_id: int, client_id: str | None, request: Any) -> bytes:
    """Encode a framed request with a v1 or v2 header, as its version needs."""
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    buf.write(_HEADER_FIXED.pack(request.__api_key__, request.__version__, correlation_id))
    if client_id is None:
        buf.write(_INT16.pack(-1))
    else:
        raw = client_id.encode()
        buf.write(_INT16.pack(len(raw)))
        buf.write(raw)
    if request.__flexible__:
        buf.write(b"\0")
    _writer(request.__class__)(buf, request)
    out = buf.getbuffer()
    _INT32.pack_into(out, 0, len(out) - 4)
    del out
    return buf.getvalue()


def decode_response(frame: bytes | memoryview, cls: Any) -> tuple[int, Any]:
    """Decode a response frame whose body is of kio response class `cls`.

    Returns (correlation_id, response). Raises InvalidRequest (the peer sent
    garbage) on anything malformed.
    """
    try:
        (correlation_id,) = _INT32.unpack_from(frame, 0)
        pos = 4
        if cls.__api_key__ == API_VERSIONS_KEY:
            # UNSUPPORTED_VERSION is answered with a v0 body whatever version
            # was asked; the error code comes first in every version.
            (error_code,) = _INT16.unpack_from(frame, pos)
            if error_code == _UNSUPPORTED_VERSION:
                cls = response_type(API_VERSIONS_KEY, 0)
        elif cls.__flexible__:
            pos = _skip_tagged_fields(frame, pos)
        frame = guard.check(cls, frame, pos) or frame
        body, _ = _reader(cls)(frame, pos)
    except InvalidRequest:
        raise
    except Exception as e:
        raise InvalidRequest(f"malformed {cls.__name__}: {type(e).__name__}: {e}") from e
    return correlation_id, body


@cache
def _reader(cls: type) -> Any:
    return entity_reader(cls)


@cache
def _writer(cls: type) -> Any:
    return entity_writer(cls)
