"""The JAAS configuration syntax of Kafka's `sasl.jaas.config` values.

A value is one login module entry (Kafka refuses more than one):

    org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret" user_alice="alice-secret";

that is: a class name, a control flag (required, requisite, sufficient,
optional), options `key=value` (the value quoted with double quotes, in which
backslash escapes the next character, or a bare word), and a final `;`.
`parse` returns the class name and the options; anything else is a
ConfigError naming the key, never a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kraft.config_keys import ConfigError

__all__ = ["JaasEntry", "parse"]

_FLAGS = frozenset({"required", "requisite", "sufficient", "optional"})
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^\s=;"]+)|(=)|(;))', re.DOTALL)


@dataclass(frozen=True, slots=True)
class JaasEntry:
    login_module: str
    flag: str
    options: dict[str, str]


def _tokens(text: str, key: str) -> list[tuple[str, str]]:
    """(kind, value) pairs: kind is 'word', 'quoted', '=' or ';'."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            # The position only: the text may hold passwords.
            raise ConfigError(f"{key}: cannot parse the JAAS config at character {pos}")
        quoted, word, eq, semi = m.groups()
        if quoted is not None:
            out.append(("quoted", re.sub(r"\\(.)", r"\1", quoted)))
        elif word is not None:
            out.append(("word", word))
        elif eq is not None:
            out.append(("=", eq))
        else:
            out.append((";", semi))
        pos = m.end()
    return out


def parse(text: str, key: str = "sasl.jaas.config") -> JaasEntry:
    """The one login module entry of a `sasl.jaas.config` value."""
    tokens = _tokens(text, key)
    if len(tokens) < 3 or tokens[0][0] != "word" or tokens[1][0] != "word":
        raise ConfigError(f"{key}: expected 'LoginModuleClass required key=\"value\" ... ;'")
    module, flag = tokens[0][1], tokens[1][1].lower()
    if flag not in _FLAGS:
        raise ConfigError(f"{key}: login module control flag must be one of "
                          f"{', '.join(sorted(_FLAGS))}, not {tokens[1][1]!r}")
    options: dict[str, str] = {}
    i = 2
    while i < len(tokens) and tokens[i][0] != ";":
        if (i + 2 >= len(tokens) or tokens[i][0] != "word" or tokens[i + 1][0] != "="
                or tokens[i + 2][0] not in ("word", "quoted")):
            raise ConfigError(f"{key}: expected key=\"value\" after {module}")
        options[tokens[i][1]] = tokens[i + 2][1]
        i += 3
    if i >= len(tokens):
        raise ConfigError(f"{key}: the JAAS config must end with ';'")
    if i != len(tokens) - 1:
        raise ConfigError(f"{key}: only one login module is allowed (Kafka's rule)")
    return JaasEntry(module, flag, options)
