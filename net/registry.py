"""The API registry: which (api key, version range) this server answers, and who.

Every API is declared once as an `ApiSpec` (its key by name, the versions it
decodes, the range it advertises) and registered with its handler; ApiVersions
is computed from this registry, never written by hand, so what we advertise
is exactly what we decode. Registering a key twice is a programming error and
raises.

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
from dataclasses import dataclass, field
from typing import Any

from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader, kio_versions


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a handler knows about the request's origin: the peer's address, the
    listener, its security protocol and the authenticated principal
    (`type:name`, Kafka's KafkaPrincipal; User:ANONYMOUS when unauthenticated).
    One per connection (copies made as authentication completes share
    `on_close`): a handler may append to `on_close` a callable the server calls
    once the connection has closed (the peer closed or reset it, or the server
    did); equal callables are the handler's business (see `watch_close`)."""

    peer: str
    listener: str
    principal: str = "User:ANONYMOUS"
    security_protocol: str = "PLAINTEXT"
    on_close: list[Callable[[], None]] = field(default_factory=list, compare=False)

    def watch_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` when this connection closes, unless an equal one is
        already registered."""
        if callback not in self.on_close:
            self.on_close.append(callback)


Handler = Callable[[RequestContext, RequestHeader, Any], Awaitable[Any | None]]


@dataclass(frozen=True, slots=True)
class ApiSpec:
    """One API as a server answers it: its key, the versions it decodes
    ([min_version, max_version], inclusive) and, for Kafka's one quirk, a
    lower advertised minimum (see the module docstring)."""

    key: ApiKey
    min_version: int
    max_version: int
    advertised_min: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_version <= self.max_version:
            raise ValueError(f"{self.key.name}: bad version range "
                             f"{self.min_version}-{self.max_version}")


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

    def add(self, spec: ApiSpec, handler: Handler) -> None:
        """Register `handler` for the API `spec` declares (see `register`)."""
        self.register(spec.key, spec.min_version, spec.max_version, handler,
                      advertised_min=spec.advertised_min)

    def get(self, api_key: int) -> ApiEntry | None:
        return self._entries.get(api_key)

    def __iter__(self) -> Iterator[ApiEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.api_key))

    def __contains__(self, api_key: int) -> bool:
        return api_key in self._entries
