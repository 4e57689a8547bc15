"""Fetch sessions (kraft.broker.fetch_session, KIP-227): creation, incremental
requests, epochs, forgetting, which partitions an answer carries, fairness and
eviction."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.fetch_session import (
    EVICTION_IDLE_S,
    FINAL_EPOCH,
    INITIAL_EPOCH,
    FetchContext,
    FetchSessionCache,
)


@dataclass
class Part:
    partition: int
    fetch_offset: int = 0


@dataclass
class Topic:
    topic: str
    partitions: tuple[Part, ...]


@dataclass
class Forgotten:
    topic: str
    partitions: tuple[int, ...]


@dataclass
class Request:
    session_id: int
    session_epoch: int
    topics: tuple[Topic, ...] = ()
    forgotten_topics_data: tuple[Forgotten, ...] = ()


@dataclass
class Read:
    records: bytes = b""
    error: ErrorCode = ErrorCode.none
    diverging: tuple[int, int] | None = None
    high_watermark: int = 10
    log_start_offset: int = 0


def request(session_id: int, epoch: int, parts: dict[str, list[int]] | None = None,
            forget: dict[str, list[int]] | None = None) -> Request:
    return Request(session_id, epoch,
                   tuple(Topic(t, tuple(Part(p) for p in ps)) for t, ps in (parts or {}).items()),
                   tuple(Forgotten(t, tuple(ps)) for t, ps in (forget or {}).items()))


def context(cache: FetchSessionCache, req: Request, now: float = 0.0) -> FetchContext:
    result = cache.new_context(req, by_id=False, now=now)
    assert isinstance(result, FetchContext), result
    return result


def keys(ctx: FetchContext) -> list[tuple[str, int]]:
    return [(t, p.partition) for t, parts in ctx.partitions() for p in parts]


def reads(ctx: FetchContext, **by_key: Read) -> list[tuple[Any, list[tuple[int, Read]]]]:
    """A Read per partition of the context; `by_key` (\"t_p\") overrides the default."""
    return [(t, [(p.partition, by_key.get(f"{t}_{p.partition}", Read())) for p in parts])
            for t, parts in ctx.partitions()]


def answered(ctx: FetchContext, rs: list[tuple[Any, list[tuple[int, Read]]]]
             ) -> list[tuple[str, int]]:
    return [(t, i) for t, parts in ctx.answer(rs) for i, _ in parts]


def test_final_epoch_is_sessionless_and_answers_everything() -> None:
    cache = FetchSessionCache()
    ctx = context(cache, request(0, FINAL_EPOCH, {"a": [0, 1]}))
    assert ctx.session_id == 0 and not cache.sessions
    assert answered(ctx, reads(ctx)) == [("a", 0), ("a", 1)]


def test_incremental_answers_only_what_changed() -> None:
    """The full answer carries every partition; then a request naming nothing reads the
    session's partitions and answers only those with records, a new high watermark or
    an error."""
    cache = FetchSessionCache(rng=random.Random(1))
    full = context(cache, request(0, INITIAL_EPOCH, {"a": [0, 1], "b": [0]}))
    sid = full.session_id
    assert sid > 0
    assert answered(full, reads(full)) == [("a", 0), ("a", 1), ("b", 0)]
    quiet = context(cache, request(sid, 1))
    assert keys(quiet) == [("a", 0), ("a", 1), ("b", 0)]
    assert answered(quiet, reads(quiet)) == []
    busy = context(cache, request(sid, 2))
    changed = reads(busy, a_1=Read(records=b"x"), b_0=Read(high_watermark=11))
    assert answered(busy, changed) == [("a", 1), ("b", 0)]
    failed = context(cache, request(sid, 3))
    assert answered(failed, reads(failed, a_0=Read(error=ErrorCode.not_leader_or_follower),
                                  b_0=Read(high_watermark=11))) == [("a", 0)]


def test_partitions_that_returned_records_move_to_the_back() -> None:
    cache = FetchSessionCache()
    full = context(cache, request(0, INITIAL_EPOCH, {"a": [0, 1, 2]}))
    full.answer(reads(full))
    ctx = context(cache, request(full.session_id, 1))
    ctx.answer(reads(ctx, a_0=Read(records=b"x")))
    assert keys(context(cache, request(full.session_id, 2))) == [("a", 1), ("a", 2), ("a", 0)]


def test_added_updated_and_forgotten_partitions() -> None:
    cache = FetchSessionCache()
    full = context(cache, request(0, INITIAL_EPOCH, {"a": [0, 1]}))
    full.answer(reads(full))
    ctx = context(cache, request(full.session_id, 1, {"b": [0], "a": [0]}, forget={"a": [1]}))
    assert sorted(keys(ctx)) == [("a", 0), ("b", 0)]
    assert answered(ctx, reads(ctx)) == [("b", 0)]  # new: answered even without news


def test_epoch_and_id_errors() -> None:
    cache = FetchSessionCache()
    sid = context(cache, request(0, INITIAL_EPOCH, {"a": [0]})).session_id
    assert cache.new_context(request(sid, 2), False, 0.0) == ErrorCode.invalid_fetch_session_epoch
    assert cache.new_context(request(sid + 1, 1), False, 0.0) == \
        ErrorCode.fetch_session_id_not_found
    context(cache, request(sid, 1))  # the expected epoch still works
    closing = context(cache, request(sid, FINAL_EPOCH, {"a": [0]}))
    assert closing.session_id == 0 and sid not in cache.sessions


def test_a_full_cache_evicts_only_idle_sessions() -> None:
    cache = FetchSessionCache(max_sessions=1)
    first = context(cache, request(0, INITIAL_EPOCH, {"a": [0]}), now=0.0).session_id
    refused = context(cache, request(0, INITIAL_EPOCH, {"b": [0]}), now=1.0)
    assert refused.session_id == 0 and list(cache.sessions) == [first]
    later = context(cache, request(0, INITIAL_EPOCH, {"b": [0]}), now=EVICTION_IDLE_S + 1)
    assert later.session_id not in (0, first) and list(cache.sessions) == [later.session_id]


def test_reads_follow_the_exact_session_order() -> None:
    """After a rotation the session order interleaves topics; reads keep that order
    (a topic may come back later), so the rotation's fairness is not undone."""
    cache = FetchSessionCache()
    full = context(cache, request(0, INITIAL_EPOCH, {"a": [0, 1], "b": [0]}))
    full.answer(reads(full))
    ctx = context(cache, request(full.session_id, 1))
    ctx.answer(reads(ctx, a_0=Read(records=b"x")))
    nxt = context(cache, request(full.session_id, 2))
    assert [(t, [p.partition for p in ps]) for t, ps in nxt.partitions()] == [
        ("a", [1]), ("b", [0]), ("a", [0])]


def test_an_overlapping_request_may_forget_a_partition_being_answered() -> None:
    """Request 2 forgets a partition while request 1 (long-polling) still has records
    for it: request 1's answer must not fail."""
    cache = FetchSessionCache()
    full = context(cache, request(0, INITIAL_EPOCH, {"a": [0, 1]}))
    full.answer(reads(full))
    first = context(cache, request(full.session_id, 1))
    context(cache, request(full.session_id, 2, forget={"a": [0]}))
    assert answered(first, reads(first, a_0=Read(records=b"x"))) == [("a", 0)]
