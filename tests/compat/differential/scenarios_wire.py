"""Scenarios of the wire itself: ApiVersions, and bad bytes (garbage, unknown API
keys and versions, truncated and oversized frames), on both listeners."""

from __future__ import annotations

import struct

from kraft.net.codec import encode_request, response_type
from tests.compat.differential import wire
from tests.compat.differential.engine import Ctx, scenario

API_VERSIONS, METADATA, FETCH, PRODUCE = 18, 3, 1, 0
# The API lists are compared in the advertised table (check.py), not here.
VERSIONS_RULES = ("drop:api_keys", "any:finalized_features_epoch",
                  "map:supported_features=name", "map:finalized_features=name")
SOFTWARE = {"client_software_name": "vs-kafka", "client_software_version": "1.0"}


def header(ctx: Ctx, api_key: int, version: int, flexible: bool) -> bytes:
    """A request header v1 (v2 when `flexible`) with the correlation id the next
    exchange on the measured connection uses and the fixed client id."""
    client = wire.CLIENT_ID.encode()
    out = struct.pack(">hhih", api_key, version, ctx.wire.next_correlation_id, len(client))
    return out + client + (b"\x00" if flexible else b"")


def api_versions_v0(ctx: Ctx) -> type | None:
    return response_type(API_VERSIONS, 0)


def metadata_v12_bytes(ctx: Ctx) -> bytes:
    """A whole Metadata v12 request (for all topics), without its size prefix."""
    request = wire.request(METADATA, 12, {"topics": [], "allow_auto_topic_creation": False,
                                          "include_topic_authorized_operations": False})
    return encode_request(ctx.wire.next_correlation_id, wire.CLIENT_ID, request)[4:]


def metadata_v12_response(ctx: Ctx) -> type | None:
    return response_type(METADATA, 12)


def produce_v2_bytes(ctx: Ctx) -> bytes:
    """Produce v2 (message format v1 era, kio has no schema) carrying a v2 batch."""
    from tests.compat.differential.engine import records
    data = records(1)
    topic = ctx.name.encode()
    body = struct.pack(">hii", -1, 30_000, 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">iii", 1, 0, len(data)) + data
    return header(ctx, PRODUCE, 2, False) + body


for v in range(0, 5):
    scenario(f"api-versions/v{v}", API_VERSIONS, SOFTWARE, versions=[v], rules=VERSIONS_RULES)
scenario("api-versions/bad-software-name", API_VERSIONS,
         {"client_software_name": "bad name!", "client_software_version": "1.0"},
         versions=[3, 4], rules=VERSIONS_RULES)
scenario("api-versions/empty-software-name", API_VERSIONS,
         {"client_software_name": "", "client_software_version": ""}, versions=[3, 4],
         rules=VERSIONS_RULES)
scenario("api-versions/unknown-version-99", API_VERSIONS, versions=[99],
         raw=lambda ctx: header(ctx, API_VERSIONS, 99, True) + b"\x00\x00\x00",
         raw_response=api_versions_v0, rules=VERSIONS_RULES,
         note="answered with a v0 body: UNSUPPORTED_VERSION and the supported range")
scenario("api-versions/controller-listener", API_VERSIONS, SOFTWARE, versions=[3, 4],
         rules=VERSIONS_RULES, listener="controller")

scenario("raw/garbage", API_VERSIONS, versions=[0],
         raw=lambda ctx: bytes(range(7, 27)), note="20 bytes that are no request")
scenario("raw/unknown-api-key", METADATA, versions=[0],
         raw=lambda ctx: header(ctx, 999, 0, False) + b"\x00" * 8)
scenario("raw/metadata-v99", METADATA, versions=[99],
         raw=lambda ctx: header(ctx, METADATA, 99, True) + b"\x00" * 8)
scenario("raw/fetch-v3-below-minimum", FETCH, versions=[3],
         raw=lambda ctx: header(ctx, FETCH, 3, False) + b"\x00" * 24)
scenario("raw/truncated-metadata", METADATA, versions=[12],
         raw=lambda ctx: metadata_v12_bytes(ctx)[:14],
         raw_response=metadata_v12_response)
scenario("raw/metadata-trailing-bytes", METADATA, versions=[12],
         raw=lambda ctx: metadata_v12_bytes(ctx) + b"\x01\x02\x03\x04",
         raw_response=metadata_v12_response, note="a whole request and 4 bytes more")
scenario("raw/header-unknown-tagged-field", METADATA, versions=[12],
         raw=lambda ctx: (metadata_v12_bytes(ctx)[:10 + len(wire.CLIENT_ID)]
                          + b"\x01\x07\x02ab"
                          + metadata_v12_bytes(ctx)[11 + len(wire.CLIENT_ID):]),
         raw_response=metadata_v12_response, note="request header v2 with tag 7 (2 bytes)")
scenario("raw/negative-frame-size", METADATA, versions=[0], framed=True,
         raw=lambda ctx: struct.pack(">i", -5) + b"\x00" * 8)
scenario("raw/oversized-frame", METADATA, versions=[0], framed=True,
         raw=lambda ctx: struct.pack(">i", 200_000_000) + b"\x00" * 64,
         note="above socket.request.max.bytes (100 MiB); only the size is sent")
scenario("raw/produce-v2-with-v2-batch", PRODUCE, versions=[2], raw=produce_v2_bytes,
         setup=lambda ctx: ctx.create_topic(ctx.name),
         note="no kio schema for Produce v0-2: the answers' first bytes are compared")
scenario("raw/metadata-on-controller-listener", METADATA, versions=[12],
         raw=lambda ctx: metadata_v12_bytes(ctx), raw_response=metadata_v12_response,
         listener="controller")
