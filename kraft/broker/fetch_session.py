"""Incremental fetch sessions (KIP-227; Kafka's FetchSession and FetchManager).

Theory of operation: a consumer fetching many partitions would send and get
every one of them in every Fetch. With a session the broker remembers the
partitions (and their fetch offsets) and the client sends only what changed;
the answer carries only partitions with something new. A request says which
kind it is by (session_id, session_epoch):

- epoch -1 (FINAL): no session. A session id names a session to close. The
  request's partitions are answered in full, with session id 0 (librdkafka
  and kraft's own followers always fetch this way).
- epoch 0 (INITIAL): a new session holding the request's partitions (a
  session id names one to replace), answered in full with the new id; with
  no room in the cache, answered like FINAL, with session id 0, and the
  client goes on without a session.
- epoch n > 0: the next request of a session: the id must be known
  (FETCH_SESSION_ID_NOT_FOUND) and n must be the epoch it expects
  (INVALID_FETCH_SESSION_EPOCH). The request's partitions are added or
  updated, `forgotten_topics_data` removed, and the answer lists only the
  partitions that have records, an error or a diverging epoch, or whose high
  watermark or log start offset differ from what the session last sent.
  Partitions that returned records move to the end of the session's order,
  so a size-limited answer does not starve the others.

The cache holds max.incremental.fetch.session.cache.slots sessions (Kafka's
default 1000). When it is full, a new session takes the place of the least
recently used one if that was idle for EVICTION_IDLE_S (Kafka's
min.incremental.fetch.session.eviction.ms); otherwise the new client goes
without one. Session ids are random positive int32s.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from kio.schema.errors import ErrorCode

__all__ = ["FINAL_EPOCH", "INITIAL_EPOCH", "FetchContext", "FetchSessionCache"]

INITIAL_EPOCH: Final = 0
FINAL_EPOCH: Final = -1
EVICTION_IDLE_S: Final = 120.0
_INT32_MAX: Final = 2**31 - 1

Key = tuple[Any, int]  # (topic name or topic id, partition index)


@dataclass(slots=True)
class CachedPartition:
    """A partition of a session: what the client last asked and what we last said."""

    fetch: Any  # the client's latest FetchPartition (offset, max bytes, epochs)
    high_watermark: int = -1
    log_start_offset: int = -1


@dataclass(slots=True)
class FetchSession:
    session_id: int
    next_epoch: int
    partitions: dict[Key, CachedPartition] = field(default_factory=dict)
    last_used: float = 0.0


class FetchContext:
    """One Fetch request's view: which partitions to read, in which order, and which
    of the results go into the answer."""

    def __init__(self, requested: list[tuple[Key, Any]], session: FetchSession | None,
                 incremental: bool) -> None:
        self._requested = requested
        self.session = session
        self.incremental = incremental

    @property
    def session_id(self) -> int:
        return self.session.session_id if self.session is not None else 0

    def partitions(self) -> list[tuple[Any, list[Any]]]:
        """(topic key, [FetchPartition, ...]) to read, in the exact request or session
        order: consecutive partitions of one topic share an entry, so a topic may
        come back later in the list (Kafka's answers do the same), and the fairness
        rotation of the session order is kept."""
        runs: list[tuple[Any, list[Any]]] = []
        for (topic, _), fetch in self._requested:
            if runs and runs[-1][0] == topic:
                runs[-1][1].append(fetch)
            else:
                runs.append((topic, [fetch]))
        return runs

    def answer(self, reads: list[tuple[Any, list[tuple[int, Any]]]]
               ) -> list[tuple[Any, list[tuple[int, Any]]]]:
        """The reads that go into the answer (all of them unless incremental), after
        which the session remembers what it sent. A read has `records`, `error`,
        `diverging`, `high_watermark` and `log_start_offset`."""
        if self.session is None:
            return reads
        cached = self.session.partitions
        out: list[tuple[Any, list[tuple[int, Any]]]] = []
        returned_data: list[Key] = []
        for topic, parts in reads:
            kept = []
            for index, read in parts:
                entry = cached.get((topic, index))
                changed = (entry is None or not self.incremental or read.records
                           or read.error != ErrorCode.none or read.diverging is not None
                           or read.high_watermark != entry.high_watermark
                           or read.log_start_offset != entry.log_start_offset)
                if not changed:
                    continue
                kept.append((index, read))
                if entry is not None:
                    entry.high_watermark = read.high_watermark
                    entry.log_start_offset = read.log_start_offset
                if read.records:
                    returned_data.append((topic, index))
            if kept:
                out.append((topic, kept))
        if self.incremental:
            for key in returned_data:  # to the back of the line (fairness under max_bytes)
                if key in cached:  # (a later request of the session may have forgotten it)
                    cached[key] = cached.pop(key)
        return out


class FetchSessionCache:
    """The broker's fetch sessions (see the module doc)."""

    def __init__(self, max_sessions: int = 1000, rng: random.Random | None = None) -> None:
        self.max_sessions = max_sessions
        self.sessions: dict[int, FetchSession] = {}
        self._rng = rng or random.Random()

    def new_context(self, request: Any, by_id: bool, now: float) -> FetchContext | ErrorCode:
        """The context of a Fetch request (v7+), or the top-level error to answer."""
        session_id, epoch = request.session_id, request.session_epoch
        requested = [((t.topic_id if by_id else t.topic, p.partition), p)
                     for t in request.topics for p in t.partitions]
        if epoch in (FINAL_EPOCH, INITIAL_EPOCH):
            if session_id:
                self.sessions.pop(session_id, None)
            session = self._create(requested, now) if epoch == INITIAL_EPOCH else None
            return FetchContext(requested, session, incremental=False)
        session = self.sessions.get(session_id)
        if session is None:
            return ErrorCode.fetch_session_id_not_found
        if epoch != session.next_epoch:
            return ErrorCode.invalid_fetch_session_epoch
        for key, fetch in requested:
            entry = session.partitions.get(key)
            if entry is None:
                session.partitions[key] = CachedPartition(fetch)
            else:
                entry.fetch = fetch
        for topic in request.forgotten_topics_data:
            topic_key = topic.topic_id if by_id else topic.topic
            for index in topic.partitions:
                session.partitions.pop((topic_key, index), None)
        session.next_epoch = 1 if epoch == _INT32_MAX else epoch + 1
        session.last_used = now
        ordered = [(key, entry.fetch) for key, entry in session.partitions.items()]
        return FetchContext(ordered, session, incremental=True)

    def _create(self, requested: Iterable[tuple[Key, Any]], now: float) -> FetchSession | None:
        if len(self.sessions) >= self.max_sessions and not self._evict(now):
            return None
        session_id = 0
        while session_id == 0 or session_id in self.sessions:
            session_id = self._rng.randint(1, _INT32_MAX)
        session = FetchSession(session_id, INITIAL_EPOCH + 1, last_used=now)
        for key, fetch in requested:
            session.partitions[key] = CachedPartition(fetch)
        self.sessions[session_id] = session
        return session

    def _evict(self, now: float) -> bool:
        """Drop the least recently used session if it has been idle long enough."""
        if not self.sessions:
            return False
        oldest = min(self.sessions.values(), key=lambda s: s.last_used)
        if now - oldest.last_used < EVICTION_IDLE_S:
            return False
        del self.sessions[oldest.session_id]
        return True
