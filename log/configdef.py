"""Kafka's ConfigDef: typed config keys, parsed and validated in Kafka's words.

One `ConfigKey` declares one config: its name, Kafka type, default, validator,
a one-line doc, and how kraft treats it (dynamic or not, broker synonyms,
whether kraft acts on it). Topic configs are declared in `kraft.log.config`,
server.properties keys in `kraft.config_keys`, group configs in
`kraft.group_configs`; everything else (KafkaConfig, LogConfig, QuorumConfig,
DescribeConfigs, the config commands) is built from those declarations.

Parsing follows ConfigDef.parseType: the text is trimmed; BOOLEAN is true or
false in any case; INT, SHORT and LONG are decimal integers within the type's
range; DOUBLE takes Java's Double.parseDouble syntax; LIST splits at commas
with the blanks around them (empty text is the empty list); STRING, CLASS and
PASSWORD are the trimmed text. A value that does not parse or fails its
validator raises `ConfigException` whose text is Kafka's, for example
"Invalid value three for configuration num.partitions: Not a number of type
INT" or "Invalid value 13 for configuration segment.bytes: Value must be at
least 14".

Lives in the log layer because the log is the lowest layer that has configs;
it imports nothing from kraft or net.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LONG_MAX",
    "ConfigException",
    "ConfigKey",
    "Type",
    "Validator",
    "at_least",
    "between",
    "invalid",
    "java_str",
    "one_of",
    "parse",
]

LONG_MAX = (1 << 63) - 1


class Type(enum.IntEnum):
    """Kafka's ConfigDef types, numbered as DescribeConfigs' ConfigType."""

    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


_INT_BOUNDS = {Type.INT: 1 << 31, Type.LONG: 1 << 63, Type.SHORT: 1 << 15}


class ConfigException(ValueError):
    """A config value that does not parse or fails its check; str() is Kafka's message."""


def invalid(name: str, value: object, why: str) -> ConfigException:
    """ConfigDef's "Invalid value V for configuration N: WHY"."""
    return ConfigException(f"Invalid value {java_str(value)} for configuration {name}: {why}")


def java_str(value: object) -> str:
    """`value` as Java's String.valueOf prints it (for messages and described defaults)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _java_double(d: float) -> str:
    if math.isnan(d):
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0 or 1e-3 <= abs(d) < 1e7:
        return repr(d)  # Python and Java agree in this range: plain digits, at least one decimal
    from decimal import Decimal  # only for doubles outside plain notation; slow to import

    sign, digits, exponent = Decimal(repr(d)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exp = int(exponent) + len(digits) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{exp}"


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[fFdD]?")
_LIST_SEPARATOR = re.compile(r"\s*,\s*")


def parse(name: str, raw: str, type_: Type) -> Any:
    """`raw` parsed as ConfigDef.parseType does for `type_`; raises ConfigException."""
    text = raw.strip()
    if type_ == Type.BOOLEAN:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise invalid(name, raw, "Expected value to be either true or false")
    if type_ in _INT_BOUNDS:
        bound = _INT_BOUNDS[type_]
        if _INTEGER.fullmatch(text) and -bound <= int(text) < bound:
            return int(text)
        raise invalid(name, raw, f"Not a number of type {type_.name}")
    if type_ == Type.DOUBLE:
        m = _DOUBLE.fullmatch(text)
        if m is None:
            raise invalid(name, raw, "Not a number of type DOUBLE")
        core = text.rstrip("fFdD") if m.group(1) not in ("NaN", "Infinity") else text
        return float(core)
    if type_ == Type.LIST:
        return [] if not text else _LIST_SEPARATOR.split(text)
    return text


Validator = Callable[[str, Any], None]
"""Checks a parsed value of the named config; raises ConfigException in Kafka's words."""


def at_least(low: int) -> Validator:
    """ConfigDef.Range.atLeast."""
    def check(name: str, value: Any) -> None:
        if value < low:
            raise invalid(name, value, f"Value must be at least {low}")
    return check


def between(low: int, high: int) -> Validator:
    """ConfigDef.Range.between."""
    def check(name: str, value: Any) -> None:
        if value < low:
            raise invalid(name, value, f"Value must be at least {low}")
        if value > high:
            raise invalid(name, value, f"Value must be no more than {high}")
    return check


def one_of(*allowed: str) -> Validator:
    """ConfigDef.ValidString.in, or ValidList.in for a LIST value (each item checked)."""
    def check(name: str, value: Any) -> None:
        for item in value if isinstance(value, list) else [value]:
            if item not in allowed:
                raise invalid(name, item, "String must be one of: " + ", ".join(allowed))
    return check


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One config key, declared once.

    `default` is a parsed value (int, bool, float, str or list of str) or None
    for Kafka's null. `synonyms` (topic and group configs) are the broker keys
    whose value is this config's default, first match wins, each with the
    multiplier that turns its unit into this config's (Kafka's
    ServerTopicConfigSynonyms). `dynamic` (broker keys): Kafka's
    DynamicBrokerConfig lets an admin change it at runtime; `per_broker`: only
    for one broker id, never as the cluster-wide default; `listener_only`:
    only under a `listener.name.<listener>.` prefix. `unused`: why kraft does
    not act on the key (None when it does); such a key is parsed, validated,
    stored and described like any other. `csv`: a STRING key that kraft reads
    as a comma-separated list (KafkaConfig gives a list, [] for null).
    """

    name: str
    type: Type
    default: Any
    doc: str
    validator: Validator | None = None
    synonyms: tuple[tuple[str, int], ...] = ()
    dynamic: bool = False
    per_broker: bool = False
    listener_only: bool = False
    unused: str | None = None
    csv: bool = False

    def parse(self, raw: str, shown_name: str | None = None) -> Any:
        """`raw` parsed and validated; errors name `shown_name` (default: this key)."""
        name = shown_name or self.name
        value = parse(name, raw, self.type)
        if self.validator is not None:
            self.validator(name, value)
        return value

    def check(self, value: Any) -> None:
        """Raise ConfigException unless `value` is a valid value of this key's type."""
        if self.type in _INT_BOUNDS:
            bound = _INT_BOUNDS[self.type]
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(self.name, value, f"Not a number of type {self.type.name}")
            if not -bound <= value < bound:
                raise invalid(self.name, value, f"Not a number of type {self.type.name}")
        if self.validator is not None:
            self.validator(self.name, value)

    @property
    def default_text(self) -> str | None:
        """The default as Kafka describes it (ConfigDef.convertToString); None for null."""
        return to_text(self.default)

    @property
    def sensitive(self) -> bool:
        return self.type == Type.PASSWORD


def to_text(value: Any) -> str | None:
    """A parsed value as Kafka describes it: lists comma-joined, booleans lower case."""
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(value)
    return java_str(value)
