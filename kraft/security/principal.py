"""Principals: who a connection is, as Kafka's DefaultKafkaPrincipalBuilder says.

- PLAINTEXT, and SSL without a client certificate: `User:ANONYMOUS`.
- SSL with a client certificate: `User:` + the certificate subject as an
  RFC 2253 distinguished name (most specific RDN first, as Java's
  X500Principal.getName() writes it), mapped by `ssl.principal.mapping.rules`.
- SASL: `User:` + the authorization id the mechanism established.

`ssl.principal.mapping.rules` (Kafka's SslPrincipalMapper) is a comma
separated list of `DEFAULT` (the DN unchanged) and
`RULE:pattern/replacement/` rules, optionally ending in `L` or `U` to lower-
or upper-case the result. The first rule whose pattern matches the whole DN
applies, `$1`-style references in its replacement take the groups; no
matching rule fails the authentication (NoMatchingRule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kraft.config_keys import ConfigError

__all__ = [
    "ANONYMOUS",
    "KafkaPrincipal",
    "NoMatchingRule",
    "PrincipalMapper",
    "subject_dn",
]


@dataclass(frozen=True, slots=True)
class KafkaPrincipal:
    """A principal as ACLs name it: `type:name` (User:alice)."""

    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}"

    @classmethod
    def user(cls, name: str) -> KafkaPrincipal:
        return cls("User", name)


ANONYMOUS = KafkaPrincipal.user("ANONYMOUS")

# Short names RFC 2253 (and Java) use; other attributes keep their OpenSSL name.
_SHORT = {
    "commonName": "CN", "organizationalUnitName": "OU", "organizationName": "O",
    "localityName": "L", "stateOrProvinceName": "ST", "countryName": "C",
    "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID",
}


def _escape(value: str) -> str:
    """RFC 2253 section 2.4 escaping of an attribute value."""
    out = re.sub(r'([,+"\\<>;=])', r"\\\1", value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def subject_dn(cert: dict[str, Any]) -> str:
    """The subject of a certificate (ssl's getpeercert() form) as an RFC 2253 DN."""
    rdns = []
    for rdn in reversed(cert.get("subject", ())):
        rdns.append("+".join(f"{_SHORT.get(name, name)}={_escape(value)}"
                             for name, value in rdn))
    return ",".join(rdns)


class NoMatchingRule(Exception):
    """No ssl.principal.mapping.rules rule matched the certificate subject."""


_RULE = re.compile(r"\s*(?:(DEFAULT)|RULE:((?:\\/|[^/])*)/((?:\\/|[^/])*)/([LU]?))\s*(?:,|$)")


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: str
    case: str


class PrincipalMapper:
    """Kafka's SslPrincipalMapper for one listener's `ssl.principal.mapping.rules`."""

    def __init__(self, rules: str, key: str = "ssl.principal.mapping.rules") -> None:
        self.rules_text = rules
        self.rules: list[_Rule] = []
        pos = 0
        text = rules.strip()
        while pos < len(text):
            m = _RULE.match(text, pos)
            if m is None or m.end() == pos:
                raise ConfigError(f"Invalid rule: {text[pos:]!r} in {key} (expected DEFAULT "
                                  "or RULE:pattern/replacement/[LU])")
            default, pattern, replacement, case = m.groups()
            if default:
                self.rules.append(_Rule(None, "", ""))
            else:
                try:
                    compiled = re.compile(pattern.replace("\\/", "/"))
                except re.error as e:
                    raise ConfigError(f"{key}: bad pattern {pattern!r}: {e}") from None
                # Java's $1 group references become Python's \g<1>.
                repl = re.sub(r"\$(\d+)", r"\\g<\1>", replacement.replace("\\/", "/"))
                self.rules.append(_Rule(compiled, repl, case))
            pos = m.end()
        if not self.rules:
            self.rules.append(_Rule(None, "", ""))

    def name(self, dn: str) -> str:
        """The principal name for certificate subject `dn`; NoMatchingRule if none applies."""
        for rule in self.rules:
            if rule.pattern is None:
                return dn
            if rule.pattern.fullmatch(dn):
                out = rule.pattern.sub(rule.replacement, dn)
                if rule.case == "L":
                    out = out.lower()
                elif rule.case == "U":
                    out = out.upper()
                return out
        raise NoMatchingRule(f"No rules apply to {dn}, rules {self.rules_text}")
