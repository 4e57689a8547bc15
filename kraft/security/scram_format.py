"""`kraft format --add-scram`: Kafka's kafka-storage syntax for bootstrap SCRAM users.

    --add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]'
    --add-scram 'SCRAM-SHA-256=[name=bob,iterations=8192,salt="c2FsdA==",password=x]'
    --add-scram 'SCRAM-SHA-256=[name=bob,salt="c2FsdA==",saltedpassword="..."]'

Keys: name (required), password or saltedpassword (base64, needs salt), salt
(base64; random when absent), iterations (4096 by default, Kafka's bounds
4096..16384). Values may be double-quoted. Each becomes a
UserScramCredentialRecord; a malformed value is a ValueError whose message
says what to fix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from kraft.metadata.records import UserScramCredentialRecord
from kraft.security.scram import (
    DEFAULT_ITERATIONS,
    MAX_ITERATIONS,
    MECHANISMS,
    MIN_ITERATIONS,
    ScramCredential,
    _hmac,
    make_credential,
)

__all__ = ["parse_add_scram"]

_ENTRY = re.compile(r"(SCRAM-SHA-256|SCRAM-SHA-512)=\[(.*)\]", re.DOTALL)
_PAIR = re.compile(r'\s*([a-z]+)=("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} must be base64") from None


def parse_add_scram(text: str) -> UserScramCredentialRecord:
    """The record of one --add-scram value (ValueError with what is wrong)."""
    m = _ENTRY.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"--add-scram {text!r}: expected "
                         "'SCRAM-SHA-256=[name=...,password=...]' or SCRAM-SHA-512")
    mechanism, body = m.groups()
    values: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        pair = _PAIR.match(body, pos)
        if pair is None or pair.end() == pos:
            raise ValueError(f"--add-scram: cannot parse {body[pos:]!r}")
        key, value = pair.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        values[key] = value
        pos = pair.end()
    unknown = set(values) - {"name", "password", "salt", "saltedpassword", "iterations"}
    if unknown:
        raise ValueError(f"--add-scram: unknown key(s) {', '.join(sorted(unknown))}")
    name = values.get("name")
    if not name:
        raise ValueError("--add-scram: name=... is required")
    iterations_text = values.get("iterations", str(DEFAULT_ITERATIONS))
    if not iterations_text.isdigit() or not (
            MIN_ITERATIONS <= int(iterations_text) <= MAX_ITERATIONS):
        raise ValueError(f"--add-scram: iterations must be between {MIN_ITERATIONS} and "
                         f"{MAX_ITERATIONS}")
    iterations = int(iterations_text)
    salt = _b64(values["salt"], "salt") if "salt" in values else None
    if "password" in values and "saltedpassword" in values:
        raise ValueError("--add-scram: give password or saltedpassword, not both")
    if "password" in values:
        cred = make_credential(mechanism, values["password"], iterations, salt)
    elif "saltedpassword" in values:
        if salt is None:
            raise ValueError("--add-scram: saltedpassword needs salt")
        cred = _from_salted(mechanism, _b64(values["saltedpassword"], "saltedpassword"),
                            salt, iterations)
    else:
        raise ValueError("--add-scram: password=... (or salt and saltedpassword) is required")
    return UserScramCredentialRecord(name=name, mechanism=MECHANISMS[mechanism][1],
                                     salt=cred.salt, stored_key=cred.stored_key,
                                     server_key=cred.server_key, iterations=iterations)


def _from_salted(mechanism: str, salted: bytes, salt: bytes, iterations: int) -> ScramCredential:
    hash_name = MECHANISMS[mechanism][0]
    client_key = _hmac(hash_name, salted, b"Client Key")
    return ScramCredential(salt, hashlib.new(hash_name, client_key).digest(),
                           _hmac(hash_name, salted, b"Server Key"), iterations)
