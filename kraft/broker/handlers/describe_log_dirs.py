"""DescribeLogDirs (key 35), versions 1-5: partitions per log dir, with sizes.

Every log dir of this broker with the partitions it holds that the request
asks for (null topics: all), each with its size in bytes on disk and an
offset lag of 0 (no future replicas: alter-replica-log-dirs is not built);
v4+ add the file system's total and usable bytes. A topic that does not
exist is simply absent, as in Kafka.
"""

from __future__ import annotations

import shutil
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
    result_cls = nested(cls, "DescribeLogDirsResult")
    topic_cls = nested(cls, "DescribeLogDirsTopic")
    partition_cls = nested(cls, "DescribeLogDirsPartition")
    if not broker.access.cluster(ctx, AclOperation.DESCRIBE):  # no error field before v3
        return build(cls, throttle_time=timedelta(0),
                     error_code=ErrorCode.cluster_authorization_failed, results=())
    wanted: dict[str, set[int]] | None = None
    if request.topics is not None:
        wanted = {}
        for t in request.topics:
            wanted.setdefault(t.topic, set()).update(t.partitions)
    manager = broker.log_manager
    results = []
    for log_dir in manager.log_dirs:
        by_topic: dict[str, list[Any]] = {}
        for opened in sorted(manager.logs, key=lambda o: o.topic_partition):
            topic, index = opened.topic_partition
            if opened.log_dir != log_dir:
                continue
            if wanted is not None and index not in wanted.get(topic, ()):
                continue
            by_topic.setdefault(topic, []).append(build(
                partition_cls, partition_index=index, partition_size=opened.log.size_in_bytes,
                offset_lag=0, is_future_key=False,
            ))
        usage = shutil.disk_usage(log_dir)
        results.append(build(
            result_cls, error_code=ErrorCode.none, log_dir=str(log_dir),
            topics=tuple(build(topic_cls, name=name, partitions=tuple(parts))
                         for name, parts in by_topic.items()),
            total_bytes=usage.total, usable_bytes=usage.free, is_cordoned=False,
        ))
    return build(cls, throttle_time=timedelta(0), error_code=ErrorCode.none,
                 results=tuple(results))
