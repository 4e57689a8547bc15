"""DescribeUserScramCredentials (50), version 0: answered from the broker's image.

As Kafka's broker (KIP-554): the mechanisms and iteration counts of the
named users (all users for a null list), never salts or keys. A user named
twice: DUPLICATE_RESOURCE for that user; a user without credentials:
RESOURCE_NOT_FOUND. Results come in request order (users sorted for all).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    result = nested(cls, "DescribeUserScramCredentialsResult")
    info = nested(cls, "CredentialInfo")
    if not broker.access.cluster(ctx, AclOperation.DESCRIBE):
        return build(cls, throttle_time=timedelta(0),
                     error_code=ErrorCode.cluster_authorization_failed,
                     error_message=None, results=())
    by_user: dict[str, list[tuple[int, int]]] = {}
    for (mechanism, name), cred in broker.image.scram.credentials.items():
        by_user.setdefault(name, []).append((mechanism, cred.iterations))
    if request.users is None:
        names = sorted(by_user)
        counts: Counter[str] = Counter()
    else:
        names = list(dict.fromkeys(u.name for u in request.users))
        counts = Counter(u.name for u in request.users)
    results = []
    for name in names:
        if counts[name] > 1:
            results.append(build(result, user=name, error_code=ErrorCode.duplicate_resource,
                                 error_message="Cannot describe SCRAM credentials for the same "
                                               "user twice in a single request",
                                 credential_infos=()))
        elif name not in by_user:
            results.append(build(result, user=name, error_code=ErrorCode.resource_not_found,
                                 error_message="Attempt to describe a user credential that "
                                               "does not exist", credential_infos=()))
        else:
            results.append(build(result, user=name, error_code=ErrorCode.none,
                                 error_message=None, credential_infos=tuple(
                                     build(info, mechanism=m, iterations=i)
                                     for m, i in sorted(by_user[name]))))
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 error_message=None, results=tuple(results))
