"""Building kio messages of any version from one set of field values.

kio generates one class per (API, version), each with only the fields that
version has. Handlers that serve a range of versions build their responses
with `build(cls, **fields)`: fields the class does not have are dropped, so
one call site serves every version (a v0 response simply has no
throttle_time). Nested entity classes (a response's topic and partition
entries) come from `nested(cls, "Name")`, which finds them in the module
that defines `cls`, so they match its version.

`response_class(header)` gives the response class for a request header.

A field that the version requires but the caller did not pass is a bug and
raises TypeError, as calling the class would.
"""

from __future__ import annotations

import dataclasses
import sys
from functools import cache
from typing import Any

from kraft.net.codec import RequestHeader, response_type

__all__ = ["build", "field_names", "has_field", "nested", "response_class"]


@cache
def field_names(cls: type) -> frozenset[str]:
    """The field names of kio entity class `cls`."""
    return frozenset(f.name for f in dataclasses.fields(cls))


def has_field(cls: type, name: str) -> bool:
    return name in field_names(cls)


def build(cls: type, **fields: Any) -> Any:
    """An instance of `cls` from those of `fields` that `cls` has."""
    names = field_names(cls)
    return cls(**{k: v for k, v in fields.items() if k in names})


@cache
def nested(cls: type, name: str) -> Any:
    """The nested entity class `name` defined beside `cls` (same API and version)."""
    return getattr(sys.modules[cls.__module__], name)


def response_class(header: RequestHeader) -> Any:
    """The kio response class answering a request with this header."""
    cls = response_type(header.api_key, header.api_version)
    assert cls is not None, f"no kio response for key {header.api_key} v{header.api_version}"
    return cls
