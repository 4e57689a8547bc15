"""AlterUserScramCredentials' checks on the controller, without a cluster."""

from __future__ import annotations

import hashlib

from kio.schema.alter_user_scram_credentials.v0.request import (
    AlterUserScramCredentialsRequest,
    ScramCredentialDeletion,
    ScramCredentialUpsertion,
)
from kio.schema.errors import ErrorCode

from kraft.config import KafkaConfig
from kraft.controller.result import ControllerContext, apply_records
from kraft.controller.scram import alter_user_scram_credentials
from kraft.metadata.image import EMPTY
from kraft.security.scram import make_credential

CTX = ControllerContext(KafkaConfig({}), "cluster")


def _upsert(name: str, mechanism: int = 2, iterations: int = 4096) -> ScramCredentialUpsertion:
    salted = hashlib.pbkdf2_hmac("sha512", b"pw", b"salt", iterations)
    return ScramCredentialUpsertion(name=name, mechanism=mechanism, iterations=iterations,
                                    salt=b"salt", salted_password=salted)


def _alter(image, deletions=(), upsertions=()):  # type: ignore[no-untyped-def]
    request = AlterUserScramCredentialsRequest(deletions=tuple(deletions),
                                               upsertions=tuple(upsertions))
    result = alter_user_scram_credentials(image, request, 0, CTX)
    return result, {r.user: (r.error_code, r.error_message) for r in result.response.results}


def test_upsertion_stores_the_keys_of_the_salted_password() -> None:
    """The stored keys are those a client with the password derives (RFC 5802)."""
    result, errors = _alter(EMPTY, upsertions=[_upsert("alice")])
    assert errors == {"alice": (ErrorCode.none, None)}
    image = apply_records(EMPTY, result.records)
    expected = make_credential("SCRAM-SHA-512", "pw", 4096, b"salt")
    stored = image.scram.get(2, "alice")
    assert stored is not None and stored.stored_key == expected.stored_key
    assert stored.server_key == expected.server_key


def test_invalid_alterations_fail_per_user() -> None:
    """Each bad alteration fails its user with Kafka's code; good users still change."""
    result, errors = _alter(EMPTY, deletions=[ScramCredentialDeletion(name="ghost", mechanism=2)],
                            upsertions=[_upsert("few", iterations=100), _upsert("bad", 9),
                                        _upsert(""), _upsert("twice"), _upsert("twice"),
                                        _upsert("ok")])
    assert errors["ghost"][0] == ErrorCode.resource_not_found
    assert errors["few"] == (ErrorCode.unacceptable_credential, "Too few iterations")
    assert errors["bad"][0] == ErrorCode.unsupported_sasl_mechanism
    assert errors[""][0] == ErrorCode.unacceptable_credential
    assert errors["twice"][0] == ErrorCode.duplicate_resource
    assert errors["ok"] == (ErrorCode.none, None)
    assert [r.name for r in result.records] == ["ok"]
