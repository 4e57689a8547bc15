"""AlterUserScramCredentials on the controller (Kafka's ScramControlManager, KIP-554).

The client computes the salted password (the password never leaves it);
the controller derives StoredKey and ServerKey from it and writes a
UserScramCredentialRecord per upsertion and a RemoveUserScramCredentialRecord
per deletion. Checks, per user, as Kafka makes them (the first failing
alteration of a user fails all of that user's alterations, other users are
unaffected):

- an empty user name: UNACCEPTABLE_CREDENTIAL "Username must not be empty";
- a mechanism other than 1 (SCRAM-SHA-256) or 2 (SCRAM-SHA-512):
  UNSUPPORTED_SASL_MECHANISM "Unknown SCRAM mechanism";
- iterations outside 4096..16384: UNACCEPTABLE_CREDENTIAL "Too few/many iterations";
- the same (user, mechanism) twice in one request: DUPLICATE_RESOURCE;
- deleting a credential that does not exist: RESOURCE_NOT_FOUND.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import (
    MetadataRecord,
    RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
)
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested
from kraft.security.scram import (
    MAX_ITERATIONS,
    MECHANISM_BY_TYPE,
    MECHANISMS,
    MIN_ITERATIONS,
    _hmac,
)

__all__ = ["alter_user_scram_credentials", "error_response"]


def _response(version: int, results: list[tuple[str, ErrorCode, str | None]]) -> Any:
    cls = response_type(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, version)
    item = nested(cls, "AlterUserScramCredentialsResult")
    return build(cls, throttle_time=timedelta(0), results=tuple(
        build(item, user=user, error_code=code, error_message=message)
        for user, code, message in results))


def error_response(version: int, request: Any, code: ErrorCode, message: str | None) -> Any:
    users = dict.fromkeys(a.name for a in (*request.deletions, *request.upsertions))
    return _response(version, [(user, code, message) for user in users])


def _check(image: MetadataImage, alteration: Any, deletion: bool,
           seen: set[tuple[str, int]]) -> tuple[ErrorCode, str] | None:
    if not alteration.name:
        return ErrorCode.unacceptable_credential, "Username must not be empty"
    if alteration.mechanism not in MECHANISM_BY_TYPE:
        return ErrorCode.unsupported_sasl_mechanism, "Unknown SCRAM mechanism"
    key = (alteration.name, int(alteration.mechanism))
    if key in seen:
        return (ErrorCode.duplicate_resource,
                "A user credential cannot be altered twice in the same request")
    seen.add(key)
    if deletion:
        if image.scram.get(int(alteration.mechanism), alteration.name) is None:
            return (ErrorCode.resource_not_found,
                    "Attempt to delete a user credential that does not exist")
        return None
    if alteration.iterations < MIN_ITERATIONS:
        return ErrorCode.unacceptable_credential, "Too few iterations"
    if alteration.iterations > MAX_ITERATIONS:
        return ErrorCode.unacceptable_credential, "Too many iterations"
    if not alteration.salt or not alteration.salted_password:
        return ErrorCode.unacceptable_credential, "Salt and salted password must be set"
    return None


def _record(alteration: Any) -> UserScramCredentialRecord:
    hash_name = MECHANISMS[MECHANISM_BY_TYPE[int(alteration.mechanism)]][0]
    client_key = _hmac(hash_name, alteration.salted_password, b"Client Key")
    return UserScramCredentialRecord(
        name=alteration.name, mechanism=int(alteration.mechanism), salt=alteration.salt,
        stored_key=hashlib.new(hash_name, client_key).digest(),
        server_key=_hmac(hash_name, alteration.salted_password, b"Server Key"),
        iterations=alteration.iterations)


def alter_user_scram_credentials(image: MetadataImage, request: Any, version: int,
                                 ctx: ControllerContext) -> ControllerResult[Any]:
    """Records for every user whose alterations all pass, and a result per user."""
    seen: set[tuple[str, int]] = set()
    errors: dict[str, tuple[ErrorCode, str]] = {}
    records: dict[str, list[MetadataRecord]] = {}
    alterations = [(d, True) for d in request.deletions] + [
        (u, False) for u in request.upsertions]
    for alteration, deletion in alterations:
        records.setdefault(alteration.name, [])
        error = _check(image, alteration, deletion, seen)
        if error is not None:
            errors.setdefault(alteration.name, error)
        elif deletion:
            records[alteration.name].append(RemoveUserScramCredentialRecord(
                name=alteration.name, mechanism=int(alteration.mechanism)))
        else:
            records[alteration.name].append(_record(alteration))
    results: list[tuple[str, ErrorCode, str | None]] = []
    out: list[MetadataRecord] = []
    for user, user_records in records.items():
        if user in errors:
            results.append((user, *errors[user]))
        else:
            results.append((user, ErrorCode.none, None))
            out.extend(user_records)
    return ControllerResult(tuple(out), _response(version, results))
