"""The `ReplicatedLog` contract, checked against a naive model.

Random sequences of appends, truncations, flushes, snapshots and crashes are
applied both to the log under test and to a plain list; every read-side
method must agree with the list. `LOG_FACTORIES` lists the implementations
to check (the on-disk metadata log can join `MemoryLog` here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraft.raft.memory_log import MemoryLog
from kraft.raft.types import Entry, OffsetAndEpoch

LOG_FACTORIES: dict[str, Callable[[], MemoryLog]] = {"memory": MemoryLog}


@dataclass
class Model:
    """What the log should hold: (offset -> epoch), a start, a durable end."""

    start: int = 0
    start_epoch: int = 0
    epochs: list[int] = field(default_factory=list)  # epochs of [start, end)
    durable: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.epochs)

    def last_epoch(self) -> int:
        return self.epochs[-1] if self.epochs else self.start_epoch

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        found = None
        for i, e in enumerate(self.epochs):
            if e <= epoch:
                found = e
            elif found is not None:
                return OffsetAndEpoch(self.start + i, found)
            else:
                break
        if found is None:
            return OffsetAndEpoch(self.start, self.start_epoch)
        return OffsetAndEpoch(self.end, found)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4), st.integers(0, 2)),
        st.tuples(st.just("truncate"), st.integers(0, 6)),
        st.tuples(st.just("flush")),
        st.tuples(st.just("crash"), st.integers(0, 3)),
        st.tuples(st.just("snapshot"), st.integers(0, 6)),
    ),
    max_size=40,
)


@pytest.mark.parametrize("factory", list(LOG_FACTORIES.values()), ids=list(LOG_FACTORIES))
@settings(max_examples=150)
@given(ops=operations)
def test_log_matches_model(factory: Callable[[], MemoryLog], ops: list[tuple]) -> None:
    """Reads, epochs, durability across crashes and snapshot moves match the model."""
    log = factory()
    model = Model()
    for op in ops:
        kind = op[0]
        if kind == "append":
            _, count, bump = op
            epoch = model.last_epoch() + bump
            entries = [Entry(model.end + i, epoch, b"p") for i in range(count)]
            log.append(entries)
            model.epochs += [epoch] * count
        elif kind == "truncate":
            target = max(model.start, model.end - op[1])
            log.truncate_to(target)
            del model.epochs[target - model.start :]
            model.durable = min(model.durable, target)
        elif kind == "flush":
            log.flush()
            model.durable = model.end
        elif kind == "crash":
            keep = op[1]
            log.crash(keep)
            survive = min(model.end, model.durable + keep)
            del model.epochs[survive - model.start :]
            model.durable = model.end
        else:
            back = op[1]
            offset = max(model.start, model.end - back)
            if offset == model.start:
                continue
            epoch = model.epochs[offset - 1 - model.start]
            snapshot = OffsetAndEpoch(offset, epoch)
            log.create_snapshot(snapshot, b"state")
            log.delete_before_snapshot(snapshot)
            model.epochs = model.epochs[offset - model.start :]
            model.start, model.start_epoch = offset, epoch
            model.durable = max(model.durable, offset)
        assert (log.log_start_offset, log.end_offset) == (model.start, model.end)
        assert log.durable_end_offset == model.durable
        assert log.last_fetched_epoch() == model.last_epoch()
        assert [e.epoch for e in log.read(model.start, 10**9)] == model.epochs
        for epoch in range(0, model.last_epoch() + 2):
            if epoch >= model.start_epoch:
                assert log.end_offset_for_epoch(epoch) == model.end_offset_for_epoch(epoch)
        if model.start:
            assert log.earliest_snapshot_id() == OffsetAndEpoch(model.start, model.start_epoch)
