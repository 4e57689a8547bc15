"""The API registry: which (api key, version range) this server answers, and who.

Each handler module registers itself once with the versions it implements;
ApiVersions is computed from this registry, never written by hand, so what we
advertise is exactly what we decode. Registering a key twice is a programming
error and raises.

`advertised_min` exists for one of Kafka's compatibility quirks: Kafka 4.x
still advertises Produce from v0 although it serves only v3+, because older
librdkafka disables compression when the advertised range does not reach v0
(KAFKA-18659). A request below the decodable `min_version` but within the
advertised range is treated like any other unsupported version: the
connection is closed.

A handler is `async (ctx, header, request) -> response | None`; returning None
sends no response (Produce with acks=0). Kafka errors go in the response's
error codes; a handler raises only for bugs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kraft.net.codec import RequestHeader, kio_versions

if TYPE_CHECKING:
    from kraft.net.server import RequestContext

Handler = Callable[["RequestContext", RequestHeader, Any], Awaitable[Any | None]]


class DuplicateRegistration(Exception):
    """An API key was registered twice."""


@dataclass(frozen=True, slots=True)
class ApiEntry:
    api_key: int
    min_version: int
    max_version: int
    handler: Handler
    advertised_min: int

    def decodes(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


class ApiRegistry:
    """Maps API keys to handlers and their version ranges."""

    def __init__(self) -> None:
        self._entries: dict[int, ApiEntry] = {}

    def register(
        self,
        api_key: int,
        min_version: int,
        max_version: int,
        handler: Handler,
        *,
        advertised_min: int | None = None,
    ) -> None:
        """Register `handler` for versions [min_version, max_version] inclusive.

        Raises DuplicateRegistration if the key is already registered and
        ValueError if kio cannot encode every version in the range.
        """
        if api_key in self._entries:
            raise DuplicateRegistration(f"api key {api_key} registered twice")
        have = kio_versions(api_key)
        if have is None or not (have[0] <= min_version <= max_version <= have[1]):
            raise ValueError(
                f"api key {api_key}: versions {min_version}-{max_version} "
                f"not all available in kio (has {have})"
            )
        lo = min_version if advertised_min is None else advertised_min
        if lo > min_version:
            raise ValueError("advertised_min must not exceed min_version")
        self._entries[api_key] = ApiEntry(api_key, min_version, max_version, handler, lo)

    def get(self, api_key: int) -> ApiEntry | None:
        return self._entries.get(api_key)

    def __iter__(self) -> Iterator[ApiEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.api_key))

    def __contains__(self, api_key: int) -> bool:
        return api_key in self._entries
