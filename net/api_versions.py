"""ApiVersions (key 18), versions 0-4: computed from the API registry.

Behaviour, as Kafka's broker does it:
- The response lists every registered key with its advertised range, sorted
  by key (librdkafka sorts anyway; sorted is the polite default).
- The response header is always v0 (see net/codec.py); this module only
  builds bodies.
- A request of a version newer than we know gets a **v0 body** with
  UNSUPPORTED_VERSION (35) and our ranges, so the client can retry with a
  version we share (librdkafka retries at min(its version - 1, our max);
  kafka-python uses our max). The server calls `unsupported_version_body`
  for that case, before any body decoding.
- v3+ carry the client's software name and version; Kafka answers
  INVALID_REQUEST (42) when either does not match
  `[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?`, and librdkafka then retries v0.
- Feature levels (metadata.version and friends) come from an optional
  `features` callable the broker supplies once it has a metadata image; until
  then v3+ report no features and finalized epoch -1.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.net.codec import API_VERSIONS_KEY, RequestHeader, response_type
from kraft.net.registry import ApiRegistry

MIN_VERSION = 0
MAX_VERSION = 4
_SOFTWARE_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")


@dataclass(frozen=True, slots=True)
class Features:
    """Supported feature ranges and finalized levels (KIP-584)."""

    supported: tuple[tuple[str, int, int], ...] = ()
    finalized_epoch: int = -1
    finalized: tuple[tuple[str, int, int], ...] = ()


def _api_keys(registry: ApiRegistry, cls: type) -> tuple[Any, ...]:
    item = _nested(cls, "ApiVersion")
    return tuple(
        item(api_key=e.api_key, min_version=e.advertised_min, max_version=e.max_version)
        for e in registry
    )


def _nested(cls: type, name: str) -> Any:
    """A nested entity class (e.g. ApiVersion) from the module defining `cls`."""
    return getattr(sys.modules[cls.__module__], name)


def unsupported_version_body(registry: ApiRegistry) -> Any:
    """The v0 body answered to an ApiVersions version we do not know."""
    cls = response_type(API_VERSIONS_KEY, 0)
    assert cls is not None
    return cls(error_code=ErrorCode.unsupported_version, api_keys=_api_keys(registry, cls))


def build_response(
    registry: ApiRegistry,
    version: int,
    error: ErrorCode = ErrorCode.none,
    features: Features | None = None,
) -> Any:
    """The ApiVersions response body of `version` listing the registry."""
    cls = response_type(API_VERSIONS_KEY, version)
    assert cls is not None
    kwargs: dict[str, Any] = {"error_code": error, "api_keys": _api_keys(registry, cls)}
    if version >= 1:
        kwargs["throttle_time"] = timedelta(0)
    if version >= 3 and features is not None:
        supported = _nested(cls, "SupportedFeatureKey")
        finalized = _nested(cls, "FinalizedFeatureKey")
        # KIP-1022: v3 and older omit features whose minimum is 0 (old clients
        # read a 0 minimum as "not supported").
        kwargs["supported_features"] = tuple(
            supported(name=n, min_version=lo, max_version=hi) for n, lo, hi in features.supported
            if version >= 4 or lo != 0
        )
        kwargs["finalized_features_epoch"] = features.finalized_epoch
        kwargs["finalized_features"] = tuple(
            finalized(name=n, min_version_level=lo, max_version_level=hi)
            for n, lo, hi in features.finalized
        )
    return cls(**kwargs)


def register(
    registry: ApiRegistry, features: Callable[[], Features | None] = lambda: None
) -> None:
    """Register the ApiVersions handler on `registry`."""

    async def handle(ctx: Any, header: RequestHeader, request: Any) -> Any:
        version = header.api_version
        if version >= 3 and not (
            _SOFTWARE_RE.fullmatch(request.client_software_name)
            and _SOFTWARE_RE.fullmatch(request.client_software_version)
        ):
            return build_response(registry, version, ErrorCode.invalid_request)
        return build_response(registry, version, features=features())

    registry.register(API_VERSIONS_KEY, MIN_VERSION, MAX_VERSION, handle)
