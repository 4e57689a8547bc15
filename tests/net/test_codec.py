"""Request and response codec round trips for every (API, version) kio knows."""

import contextlib
import struct
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.schema.index import api_key_map, schema_name_map
from kio.static.primitive import Records, i64Timedelta

from kraft.net import api_versions
from kraft.net.codec import (
    InvalidRequest,
    UnsupportedVersion,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
    request_type,
    response_type,
)
from kraft.net.registry import ApiRegistry

st.register_type_strategy(Records, st.binary(max_size=64).map(Records))
# kio writes any timedelta its phantom type admits but reads back only whole
# milliseconds within what `datetime` can hold; draw from that range.
st.register_type_strategy(
    i64Timedelta,
    st.integers(-(2**40), 2**40).map(lambda ms: i64Timedelta.parse(timedelta(milliseconds=ms))),
)

ALL = [
    (key, version)
    for key, name in sorted(api_key_map.items())
    for version in sorted(schema_name_map[name])
]


def _from_type(cls):
    return st.from_type(cls)


@pytest.mark.parametrize(("api_key", "version"), ALL)
@settings(max_examples=3, suppress_health_check=list(HealthCheck), deadline=None)
@given(data=st.data())
def test_request_round_trip(api_key, version, data):
    """encode_request then decode_request gives back the header fields and the body."""
    cls = request_type(api_key, version)
    request = data.draw(_from_type(cls))
    client_id = data.draw(st.none() | st.text(max_size=20))
    wire = encode_request(1234, client_id, request)
    assert struct.unpack(">i", wire[:4])[0] == len(wire) - 4
    header, body = decode_request(wire[4:])
    assert (header.api_key, header.api_version, header.correlation_id) == (
        api_key,
        version,
        1234,
    )
    assert header.client_id == client_id
    assert body == request


@pytest.mark.parametrize(("api_key", "version"), ALL)
@settings(max_examples=3, suppress_health_check=list(HealthCheck), deadline=None)
@given(data=st.data())
def test_response_round_trip(api_key, version, data):
    """encode_response then decode_response gives back the correlation id and body."""
    response = data.draw(_from_type(response_type(api_key, version)))
    # ApiVersions with UNSUPPORTED_VERSION always travels as a v0 body.
    assume(api_key != 18 or response.error_code != ErrorCode.unsupported_version)
    wire = encode_response(99, response)
    correlation_id, body = decode_response(wire[4:], response_type(api_key, version))
    assert correlation_id == 99
    assert body == response


def test_api_versions_response_header_is_always_v0():
    """An ApiVersions v3 response has no tagged-field byte after the correlation id."""
    registry = ApiRegistry()
    api_versions.register(registry)
    body = api_versions.build_response(registry, 3)
    wire = encode_response(5, body)
    # size, correlation id, then the body's error code straight away.
    assert wire[4:8] == struct.pack(">i", 5)
    assert wire[8:10] == b"\0\0"


@settings(max_examples=5)
@given(response=st.from_type(response_type(3, 12)))
def test_flexible_response_header_has_tagged_fields(response):
    """A flexible (non-ApiVersions) response header carries an empty tagged-field section."""
    wire = encode_response(5, response)
    assert wire[8:9] == b"\0"


def test_unknown_version_raises_unsupported():
    """A (key, version) kio has no schema for raises UnsupportedVersion."""
    frame = struct.pack(">hhih", 0, 99, 1, -1)
    with pytest.raises(UnsupportedVersion):
        decode_request(frame)


@given(st.binary(max_size=64))
def test_truncated_or_garbage_bodies_raise_invalid_request(junk):
    """Any garbage after a valid header either decodes or raises InvalidRequest, nothing else."""
    frame = struct.pack(">hhih", 3, 12, 1, -1) + b"\0" + junk
    with contextlib.suppress(InvalidRequest):
        decode_request(frame)


def test_huge_array_length_does_not_allocate():
    """An array length of 2**31-1 with no bytes behind it is rejected, not allocated."""
    # Metadata v4 (not flexible): topics array length then nothing.
    frame = struct.pack(">hhih", 3, 4, 1, -1) + struct.pack(">i", 2**31 - 1)
    with pytest.raises(InvalidRequest):
        decode_request(frame)


REQUEST_TYPES = [request_type(k, v) for k, v in ALL]


@settings(max_examples=1500, suppress_health_check=list(HealthCheck), deadline=None)
@given(data=st.data())
def test_mutated_requests_never_crash_the_decoder(data):
    """A valid request with bytes flipped, cut or grown only ever raises InvalidRequest.

    kio alone aborts the process on some of these (huge array lengths); this
    checks the guard in front of it.
    """
    cls = data.draw(st.sampled_from(REQUEST_TYPES))
    wire = bytearray(encode_request(1, None, data.draw(_from_type(cls)))[4:])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(8, max(8, len(wire) - 1)))
        if i < len(wire):
            wire[i] = data.draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x8F]))
    wire = wire[: data.draw(st.integers(8, len(wire)))] + data.draw(st.binary(max_size=8))
    with contextlib.suppress(InvalidRequest):
        decode_request(bytes(wire))


@given(st.integers(0, 2), st.none() | st.text(max_size=10), st.binary(max_size=5))
def test_request_header_versions(version, client_id, body):
    """Headers v0 (no client id), v1 (client id) and v2 (plus tagged fields) parse,
    and the body starts right after them."""
    raw = struct.pack(">hhi", 7, 0, 42)
    if version >= 1:
        raw += _client_id_bytes(client_id)
    if version == 2:
        raw += b"\x01\x05\x02zz"  # one unknown tagged field: tag 5, 2 bytes
    header, pos = decode_request_header(raw + body, version)
    assert (header.api_key, header.api_version, header.correlation_id) == (7, 0, 42)
    assert header.client_id == (client_id if version >= 1 else None)
    assert pos == len(raw)


def _client_id_bytes(client_id):
    if client_id is None:
        return struct.pack(">h", -1)
    raw = client_id.encode()
    return struct.pack(">h", len(raw)) + raw


def _uv(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])


def _cstr(s: bytes) -> bytes:
    return _uv(len(s) + 1) + s


def _fetch_snapshot_frame(partition_tags: bytes) -> bytes:
    """A FetchSnapshot v1 request whose one partition carries `partition_tags`."""
    partition = (struct.pack(">ii", 0, 1) + struct.pack(">qi", 0, 0) + _uv(0)
                 + struct.pack(">q", 0) + partition_tags)
    body = (struct.pack(">ii", 1, 1 << 20) + _uv(2) + _cstr(b"__cluster_metadata")
            + _uv(2) + partition + _uv(0) + _uv(0))
    return struct.pack(">hhih", 59, 1, 7, -1) + b"\0" + body


def test_tagged_field_larger_than_its_value_is_rejected():
    """A known tag whose declared size exceeds its value is Malformed, not handed to kio.

    (kio ignores the size and would parse the padding: here a fake topic claiming
    2**34 partitions, which aborted the process before the guard checked this.)
    """
    padding = _uv(0) + _cstr(b"t") + _uv(2**34) + b"\0" * 8
    tags = _uv(1) + _uv(0) + _uv(16 + len(padding)) + b"\x11" * 16 + padding
    with pytest.raises(InvalidRequest, match="does not fill"):
        decode_request(_fetch_snapshot_frame(tags))


def test_unknown_tagged_fields_are_skipped():
    """Tags the schema does not know are ignored, as Kafka's protocol requires."""
    known_uuid = b"\x11" * 16
    tags = _uv(3) + _uv(9) + _uv(3) + b"abc" + _uv(0) + _uv(16) + known_uuid + _uv(42) + _uv(0)
    header, request = decode_request(_fetch_snapshot_frame(tags))
    partition = request.topics[0].partitions[0]
    assert header.api_key == 59
    assert partition.replica_directory_id.bytes == known_uuid
