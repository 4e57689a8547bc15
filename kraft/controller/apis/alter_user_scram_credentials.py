"""AlterUserScramCredentials (51), version 0: forwarded by brokers;
kraft.controller.scram.alter_user_scram_credentials.

Error shape: every user of the request gets the code. The broker answers
once its own image holds the changes it reports as done, so a client can
authenticate with a new credential at once.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.controller import scram
from kraft.controller.apis import ControllerApi, Forwarded
from kraft.metadata.image import MetadataImage
from kraft.net.api_keys import ApiKey
from kraft.net.registry import ApiSpec


def _visible(before: MetadataImage, request: Any, response: Any) -> Any:
    done = {r.user for r in response.results if r.error_code == ErrorCode.none}
    upserted = {(u.name, int(u.mechanism)): bytes(u.salt) for u in request.upsertions
                if u.name in done}
    deleted = {(d.name, int(d.mechanism)) for d in request.deletions if d.name in done}
    if not upserted and not deleted:
        return None
    return partial(_applied, upserted, deleted)


def _applied(upserted: dict[tuple[str, int], bytes], deleted: set[tuple[str, int]],
             image: MetadataImage) -> bool:
    for (name, mechanism), salt in upserted.items():
        cred = image.scram.get(mechanism, name)
        if cred is None or cred.salt != salt:
            return False
    return all(image.scram.get(mechanism, name) is None for name, mechanism in deleted)


API = ControllerApi(
    ApiSpec(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, 0, 0),
    command=scram.alter_user_scram_credentials,
    error_response=scram.error_response,
    forwarded=Forwarded(visible=_visible),
)
