"""Idempotent-producer state (kraft.broker.producer_state) on real partition logs.

A `Harness` plays the partition leader: it checks a batch, appends it to a real
`PartitionLog` when told APPEND, and records it with the offsets the log
assigned. The property tests compare its verdicts with a model that keeps every
accepted batch, and compare state rebuilt from the log with the state built
incrementally.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.broker.producer_state import (
    SEQUENCE_MAX,
    BatchMetadata,
    Check,
    CheckOutcome,
    ProducerStateManager,
    increment_sequence,
    snapshot_file_name,
)
from kraft.log.batch import BatchHeader, parse_header
from kraft.log.config import LogConfig
from kraft.log.log import PartitionLog
from kraft.log.records import Record, build_batch
from tests.log.helpers import scratch_dir

APPEND, DUPLICATE, ERROR = CheckOutcome.APPEND, CheckOutcome.DUPLICATE, CheckOutcome.ERROR
OUT_OF_ORDER = ErrorCode.out_of_order_sequence_number
FENCED = ErrorCode.invalid_producer_epoch


def make_batch(
    producer_id: int, epoch: int, sequence: int, count: int = 1, timestamp: int = 1_000
) -> bytes:
    records = [Record(None, b"v%d" % i, timestamp=timestamp + i) for i in range(count)]
    return build_batch(
        records, producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence
    )


@dataclass
class Appended:
    """One update call the harness made, to replay into a fresh manager."""

    producer_id: int
    epoch: int
    sequence: int
    delta: int
    first_offset: int
    max_timestamp: int


@dataclass
class Harness:
    log: PartitionLog
    state: ProducerStateManager
    appended: list[Appended] = field(default_factory=list)
    clock: int = 1_000

    @classmethod
    def open(cls, directory: Path, segment_bytes: int = 1 << 30) -> Harness:
        log = PartitionLog.open(directory, LogConfig(segment_bytes=segment_bytes))
        state = ProducerStateManager(directory)
        state.load(log)
        return cls(log, state)

    def produce(self, producer_id: int, epoch: int, sequence: int, count: int = 1) -> Check:
        """Check one batch; append and record it when the verdict is APPEND."""
        self.clock += 10
        data = make_batch(producer_id, epoch, sequence, count, self.clock)
        return self.produce_bytes(data)

    def produce_bytes(self, data: bytes) -> Check:
        header = parse_header(data)
        verdict = self.state.check(
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.last_offset_delta,
        )
        if verdict.outcome is APPEND:
            info = self.log.append_as_leader(data, 0)
            assert info.error_code == 0
            self.state.update(
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.last_offset_delta,
                info.base_offset,
                info.max_timestamp,
            )
            self.appended.append(
                Appended(
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence,
                    header.last_offset_delta,
                    info.base_offset,
                    info.max_timestamp,
                )
            )
        return verdict

    def incremental(self, below: int | None = None) -> ProducerStateManager:
        """A fresh manager fed the recorded updates (those ending below `below`)."""
        fresh = ProducerStateManager(self.log.dir)
        for a in self.appended:
            if below is None or a.first_offset + a.delta < below:
                fresh.update(
                    a.producer_id, a.epoch, a.sequence, a.delta, a.first_offset, a.max_timestamp
                )
        return fresh

    def loaded(self) -> ProducerStateManager:
        fresh = ProducerStateManager(self.log.dir)
        fresh.load(self.log)
        return fresh


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    h = Harness.open(tmp_path / "t-0")
    yield h
    h.log.close()


# -- unit behaviour -------------------------------------------------------------------


def test_in_order_batches_append(harness: Harness) -> None:
    """Batches whose sequences follow each other are appended and recorded."""
    assert harness.produce(7, 0, 0, count=1).outcome is APPEND
    assert harness.produce(7, 0, 1, count=3).outcome is APPEND
    assert harness.produce(7, 0, 4, count=2).outcome is APPEND
    entry = harness.state.entry(7)
    assert entry is not None and entry.producer_epoch == 0
    assert [(b.first_sequence, b.last_sequence) for b in entry.batches] == [(0, 0), (1, 3), (4, 5)]
    assert [(b.first_offset, b.last_offset) for b in entry.batches] == [(0, 0), (1, 3), (4, 5)]
    assert harness.state.map_end_offset == harness.log.log_end_offset == 6


def test_retry_of_each_of_last_five_is_duplicate(harness: Harness) -> None:
    """A retry of any of the last 5 batches is a duplicate carrying the original's metadata."""
    harness.produce(1, 0, 0)  # another producer interleaves, so offsets differ from sequences
    seq = 0
    for count in (2, 1, 3, 1, 2, 1, 1):
        assert harness.produce(3, 0, seq, count).outcome is APPEND
        harness.produce(1, 0, harness.state.entry(1).last_sequence + 1)
        seq += count
    before = dict(harness.state.producers)
    originals = harness.state.entry(3).batches
    assert len(originals) == 5
    for original in originals:
        count = original.last_offset - original.first_offset + 1
        verdict = harness.produce(3, 0, original.first_sequence, count)
        assert verdict == Check(DUPLICATE, None, original)
        assert verdict.duplicate.first_offset == original.first_offset
    assert dict(harness.state.producers) == before


def test_retry_of_sixth_oldest_is_out_of_order(harness: Harness) -> None:
    """The batch before the last 5 is no longer recognised: its retry is out of order."""
    for seq in range(6):
        assert harness.produce(3, 0, seq).outcome is APPEND
    verdict = harness.produce(3, 0, 0)
    assert verdict.outcome is ERROR and verdict.error == OUT_OF_ORDER
    assert harness.produce(3, 0, 1).outcome is DUPLICATE


def test_retry_must_match_the_whole_sequence_range(harness: Harness) -> None:
    """A batch starting at a retained batch's sequence but of another length is no duplicate."""
    harness.produce(3, 0, 0, count=3)
    verdict = harness.produce(3, 0, 0, count=2)
    assert verdict.outcome is ERROR and verdict.error == OUT_OF_ORDER


def test_gap_is_out_of_order(harness: Harness) -> None:
    """A sequence that skips ahead is OUT_OF_ORDER_SEQUENCE_NUMBER and nothing is written."""
    harness.produce(3, 0, 0, count=2)
    leo = harness.log.log_end_offset
    verdict = harness.produce(3, 0, 3)
    assert verdict.outcome is ERROR and verdict.error == OUT_OF_ORDER
    assert harness.log.log_end_offset == leo
    assert harness.produce(3, 0, 2).outcome is APPEND


def test_older_epoch_is_fenced(harness: Harness) -> None:
    """An epoch below the current one gets INVALID_PRODUCER_EPOCH, even for a retry."""
    harness.produce(3, 4, 0)
    harness.produce(3, 5, 0)
    for seq in (0, 1, 9):
        verdict = harness.produce(3, 4, seq)
        assert verdict.outcome is ERROR and verdict.error == FENCED


def test_epoch_bump_restarts_sequence_at_zero(harness: Harness) -> None:
    """A new epoch must start at sequence 0; it forgets the old epoch's batches."""
    for seq in range(3):
        harness.produce(3, 0, seq)
    verdict = harness.produce(3, 1, 3)
    assert verdict.outcome is ERROR and verdict.error == OUT_OF_ORDER
    assert harness.produce(3, 1, 0).outcome is APPEND
    entry = harness.state.entry(3)
    assert entry.producer_epoch == 1 and len(entry.batches) == 1
    assert harness.produce(3, 1, 1).outcome is APPEND
    verdict = harness.produce(3, 0, 3)
    assert verdict.outcome is ERROR and verdict.error == FENCED


def test_unknown_producer_accepts_any_sequence(harness: Harness) -> None:
    """A producer id with no state is accepted at any sequence (KIP-360), then followed."""
    assert harness.produce(9, 2, 12345, count=2).outcome is APPEND
    assert harness.produce(9, 2, 12347).outcome is APPEND
    assert harness.produce(9, 2, 12349).error == OUT_OF_ORDER


def test_sequence_wraps_to_zero(harness: Harness) -> None:
    """Sequences wrap from 2**31-1 to 0, inside a batch and between batches."""
    assert increment_sequence(SEQUENCE_MAX, 1) == 0
    assert increment_sequence(SEQUENCE_MAX - 1, 3) == 1
    assert harness.produce(3, 0, SEQUENCE_MAX - 1, count=3).outcome is APPEND
    entry = harness.state.entry(3)
    assert (entry.batches[0].first_sequence, entry.last_sequence) == (SEQUENCE_MAX - 1, 0)
    assert harness.produce(3, 0, 2).error == OUT_OF_ORDER
    assert harness.produce(3, 0, 1).outcome is APPEND
    assert harness.produce(3, 0, SEQUENCE_MAX - 1, count=3).outcome is DUPLICATE
    harness.produce(4, 0, SEQUENCE_MAX)
    assert harness.produce(4, 0, 0).outcome is APPEND
    assert harness.produce(4, 0, SEQUENCE_MAX).outcome is DUPLICATE


def test_negative_sequence_is_invalid_record(harness: Harness) -> None:
    """A batch with a producer id and a negative base sequence is INVALID_RECORD."""
    verdict = harness.state.check(3, 0, -1, 0)
    assert verdict.outcome is ERROR and verdict.error == ErrorCode.invalid_record


def headers(*batches: bytes) -> list[BatchHeader]:
    return [parse_header(b) for b in batches]


def test_check_batches_treats_earlier_batches_as_appended(harness: Harness) -> None:
    """Consecutive batches of one request are checked as if the earlier ones were appended."""
    harness.produce(3, 0, 0, count=2)
    state = harness.state
    assert state.check_batches(headers(make_batch(3, 0, 2), make_batch(3, 0, 3, 2))).outcome is (
        APPEND
    )
    gap = state.check_batches(headers(make_batch(3, 0, 2), make_batch(3, 0, 4)))
    assert gap.error == OUT_OF_ORDER
    twice = state.check_batches(headers(make_batch(3, 0, 2), make_batch(3, 0, 2)))
    assert twice.error == OUT_OF_ORDER
    bump = state.check_batches(headers(make_batch(3, 1, 0), make_batch(3, 1, 1)))
    assert bump.outcome is APPEND
    fenced = state.check_batches(headers(make_batch(3, 1, 0), make_batch(3, 0, 2)))
    assert fenced.error == FENCED
    retry = state.check_batches(headers(make_batch(3, 0, 0, 2), make_batch(3, 0, 2)))
    assert retry.outcome is DUPLICATE and retry.duplicate.first_offset == 0
    unknown = state.check_batches(headers(make_batch(8, 0, 50), make_batch(8, 0, 52)))
    assert unknown.error == OUT_OF_ORDER
    plain = build_batch([Record(None, b"x", timestamp=1)])
    assert state.check_batches(headers(plain, make_batch(3, 0, 2))).outcome is APPEND
    assert state.entry(3).last_sequence == 1  # checks never change the state


def test_update_must_follow_offset_order(harness: Harness) -> None:
    """Recording a batch below the recorded end offset is refused as a caller bug."""
    harness.produce(3, 0, 0, count=2)
    with pytest.raises(ValueError):
        harness.state.update(3, 0, 2, 0, 1, 5)
    with pytest.raises(ValueError):
        harness.state.update(-1, 0, 2, 0, 5, 5)


def test_remove_expired(harness: Harness) -> None:
    """Producers whose last batch timestamp is expiration.ms or more in the past are dropped."""
    harness.state.update(1, 0, 0, 0, 0, 1_000)
    harness.state.update(2, 0, 0, 0, 1, 5_000)
    harness.state.update(1, 0, 1, 0, 2, 2_000)
    expiry = harness.state.producer_id_expiration_ms
    assert harness.state.remove_expired(2_000 + expiry - 1) == 0
    assert harness.state.remove_expired(2_000 + expiry) == 1
    assert set(harness.state.producers) == {2}
    assert harness.state.remove_expired(5_000 + expiry) == 1
    assert harness.state.producers == {}


# -- the model ------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelBatch:
    epoch: int
    first: int
    last: int
    first_offset: int
    last_offset: int
    max_timestamp: int


def model_verdict(history: list[ModelBatch], epoch: int, first: int, count: int) -> object:
    """What Kafka does, from the full history of one producer's accepted batches."""
    last = (first + count - 1) % 2**31
    if not history:
        return APPEND
    current = history[-1].epoch
    if epoch == current:
        recent = [b for b in history if b.epoch == current][-5:]
        for b in recent:
            if (b.first, b.last) == (first, last):
                return b
    if epoch < current:
        return FENCED
    if epoch > current:
        return APPEND if first == 0 else OUT_OF_ORDER
    return APPEND if first == (history[-1].last + 1) % 2**31 else OUT_OF_ORDER


@dataclass
class Client:
    """A producer that sends new batches, retries, bumps epochs and misbehaves."""

    epoch: int = 0
    next_sequence: int = 0
    sent: list[tuple[int, int, int]] = field(default_factory=list)  # (epoch, first, count)
    acked: list[tuple[int, int, int]] = field(default_factory=list)


ACTIONS = ["new"] * 6 + ["retry"] * 3 + ["resend", "gap", "bump", "bad_bump", "old"]
actions = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.integers(0, 2),  # producer
        st.integers(1, 7),  # count (1 + n % 3), retry depth or gap size
    ),
    min_size=20,
    max_size=80,
)
starts = st.lists(
    st.sampled_from([0, SEQUENCE_MAX - 9, SEQUENCE_MAX - 2, 1000]), min_size=3, max_size=3
)


def run_schedule(h: Harness, schedule: list[tuple[str, int, int]], start: list[int]) -> None:
    """Play `schedule`, asserting every verdict equals the model's."""
    clients = [Client(next_sequence=s) for s in start]
    history: dict[int, list[ModelBatch]] = {p: [] for p in range(3)}
    for action, p, n in schedule:
        client = clients[p]
        epoch, first, count = client.epoch, client.next_sequence, 1 + n % 3
        if action in ("retry", "resend"):
            previous = client.acked if action == "retry" else client.sent
            if not previous:
                continue
            epoch, first, count = previous[-min(n, len(previous))]
        elif action == "gap":
            first = (first + n) % 2**31
        elif action == "bump":
            client.epoch += 1
            epoch, first = client.epoch, 0
        elif action == "bad_bump":
            epoch = client.epoch + 1
        elif action == "old":
            epoch = client.epoch - 1
        expected = model_verdict(history[p], epoch, first, count)
        verdict = h.produce(p + 100, epoch, first, count)
        client.sent.append((epoch, first, count))
        if isinstance(expected, ModelBatch):
            assert verdict.outcome is DUPLICATE
            assert verdict.duplicate == BatchMetadata(
                expected.first,
                expected.last,
                expected.first_offset,
                expected.last_offset,
                expected.max_timestamp,
            )
        elif expected is APPEND:
            assert verdict.outcome is APPEND, verdict
            a = h.appended[-1]
            history[p].append(
                ModelBatch(
                    epoch,
                    first,
                    (first + count - 1) % 2**31,
                    a.first_offset,
                    a.first_offset + a.delta,
                    a.max_timestamp,
                )
            )
            client.acked.append((epoch, first, count))
            client.epoch, client.next_sequence = epoch, (first + count) % 2**31
        else:
            assert verdict.outcome is ERROR and verdict.error == expected, verdict


@given(schedule=actions, start=starts)
def test_state_accepts_exactly_what_the_model_accepts(
    schedule: list[tuple[str, int, int]], start: list[int]
) -> None:
    """For random interleavings of producers with retries, gaps and epoch changes, every
    verdict equals the model's, and the log rebuilt state equals the incremental one."""
    with scratch_dir() as d:
        h = Harness.open(d / "t-0", segment_bytes=600)
        try:
            run_schedule(h, schedule, start)
            assert h.state.producers == h.incremental().producers
            assert h.loaded().producers == h.state.producers
        finally:
            h.log.close()


# -- snapshots, load, truncation ---------------------------------------------------


def fill(h: Harness, batches: int, snapshot_every: int = 0) -> None:
    """Three producers writing in turn, with a snapshot every `snapshot_every` batches."""
    for i in range(batches):
        p = i % 3
        entry = h.state.entry(p)
        sequence = 0 if entry is None else entry.last_sequence + 1
        assert h.produce(p, 0, sequence, 1 + i % 2).outcome is APPEND
        if snapshot_every and i % snapshot_every == snapshot_every - 1:
            h.log.roll()
            h.state.take_snapshot(h.log.log_end_offset)


def test_snapshot_round_trip_and_retention(harness: Harness) -> None:
    """A snapshot reloads to the same state; only the latest 2 snapshot files are kept."""
    fill(harness, 20, snapshot_every=4)
    offsets = harness.state.snapshot_offsets()
    assert len(offsets) == 2 and offsets[-1] <= harness.log.log_end_offset
    names = sorted(n for n in os.listdir(harness.log.dir) if n.endswith(".snapshot"))
    assert names == [snapshot_file_name(o) for o in offsets]
    assert harness.loaded().producers == harness.state.producers
    harness.state.take_snapshot(harness.log.log_end_offset)
    assert harness.loaded().producers == harness.state.producers
    with pytest.raises(ValueError):
        harness.state.take_snapshot(harness.log.log_end_offset - 1)


def test_background_snapshots_are_written_in_order_before_anyone_looks(
    harness: Harness, tmp_path: Path
) -> None:
    """Snapshots handed to the background writer (a segment roll's) are written in
    submission order, only the latest 2 kept, and listing or loading waits for
    them; one that cannot be written (its directory gone) loses nothing else."""
    gone = ProducerStateManager(tmp_path / "deleted-topic")
    for i in range(5):
        harness.produce(1, 0, i)
        harness.state.take_snapshot(harness.log.log_end_offset, durable=False,
                                    in_background=True)
        gone.take_snapshot(i, durable=False, in_background=True)  # no directory: dropped
    assert harness.state.snapshot_offsets() == [4, 5]
    assert harness.loaded().producers == harness.state.producers
    with pytest.raises(ValueError):
        harness.state.take_snapshot(6, in_background=True)  # durable in the background


def test_snapshot_keeps_state_of_deleted_segments(harness: Harness) -> None:
    """Producers whose batches were all deleted survive through the snapshot, as in KIP-360."""
    harness.produce(1, 0, 0, count=3)
    harness.log.roll()
    harness.state.take_snapshot(harness.log.log_end_offset)
    harness.produce(2, 0, 0)
    harness.log.delete_records_before(harness.log.log_end_offset - 1)
    assert harness.log.segments[0].base_offset > 0
    loaded = harness.loaded()
    assert loaded.producers == harness.state.producers
    assert loaded.check(1, 0, 0, 2).outcome is DUPLICATE
    for name in harness.state.snapshot_offsets():
        os.unlink(harness.log.dir / snapshot_file_name(name))
    assert set(harness.loaded().producers) == {2}


def flip_byte(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x40
    path.write_bytes(bytes(data))


def test_corrupt_snapshots_are_ignored_and_deleted(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot failing its CRC is never trusted: state comes from an older one or the log."""
    fill(harness, 12, snapshot_every=5)
    older, newest = harness.state.snapshot_offsets()
    flip_byte(harness.log.dir / snapshot_file_name(newest), 20)
    with caplog.at_level(logging.WARNING, logger="kraft.broker.producer_state"):
        assert harness.loaded().producers == harness.state.producers
    assert "corrupt producer snapshot" in caplog.text
    assert harness.state.snapshot_offsets() == [older]
    flip_byte(harness.log.dir / snapshot_file_name(older), 2)
    assert harness.loaded().producers == harness.state.producers
    assert harness.state.snapshot_offsets() == []


def test_snapshot_under_another_offset_is_ignored(harness: Harness) -> None:
    """A snapshot file whose content names another offset than its file name is ignored."""
    fill(harness, 3)
    harness.state.take_snapshot(harness.log.log_end_offset)
    before = harness.log.log_end_offset
    fill(harness, 3)
    stale = harness.log.dir / snapshot_file_name(before)
    stale.rename(harness.log.dir / snapshot_file_name(harness.log.log_end_offset))
    assert harness.loaded().producers == harness.state.producers
    assert harness.state.snapshot_offsets() == []


def test_snapshot_with_valid_crc_but_bad_body_is_ignored(harness: Harness) -> None:
    """A snapshot whose CRC matches but whose body does not parse is ignored."""
    fill(harness, 6)
    harness.state.take_snapshot(harness.log.log_end_offset)
    path = harness.log.dir / snapshot_file_name(harness.log.log_end_offset)
    body = b"\x93not a snapshot"
    path.write_bytes(crc32c.crc32c(body).to_bytes(4, "big") + body)
    assert harness.loaded().producers == harness.state.producers
    assert not path.exists()
    path.write_bytes(b"\x00\x01")
    assert harness.loaded().producers == harness.state.producers


def test_load_deletes_snapshots_above_log_end_and_tmp_files(harness: Harness) -> None:
    """Snapshots above the log end offset and stale .tmp files are removed by load."""
    fill(harness, 4)
    leo = harness.log.log_end_offset
    harness.state.take_snapshot(leo + 10)
    (harness.log.dir / (snapshot_file_name(3) + ".tmp")).write_bytes(b"junk")
    loaded = harness.loaded()
    assert harness.state.snapshot_offsets() == []
    assert not any(n.endswith(".tmp") for n in os.listdir(harness.log.dir))
    assert loaded.producers == harness.state.producers
    assert loaded.map_end_offset == leo


def test_replay_skips_control_and_plain_batches(harness: Harness) -> None:
    """Replay records only non-control batches that carry a producer id."""
    harness.produce(1, 0, 0)
    harness.log.append_as_leader(build_batch([Record(None, b"plain", timestamp=5)]), 0)
    harness.log.append_as_follower(
        build_batch(
            [Record(b"\x00\x00\x00\x00", b"", timestamp=5)],
            base_offset=harness.log.log_end_offset,
            producer_id=2,
            producer_epoch=0,
            is_control=True,
            is_transactional=True,
        )
    )
    assert harness.log.read(2, 1000).size > 0
    harness.produce(1, 0, 1)
    loaded = harness.loaded()
    assert set(loaded.producers) == {1}
    assert loaded.producers == harness.state.producers


@given(
    batches=st.integers(1, 30),
    snapshot_every=st.integers(0, 6),
    cut=st.floats(0, 1),
)
def test_truncate_to_rebuilds_the_prefix_state(
    batches: int, snapshot_every: int, cut: float
) -> None:
    """After follower truncation the state equals the state built from the kept batches,
    and no snapshot above the truncation offset remains."""
    with scratch_dir() as d:
        h = Harness.open(d / "t-0", segment_bytes=400)
        try:
            fill(h, batches, snapshot_every)
            offset = int(cut * h.log.log_end_offset)
            h.log.truncate_to(offset)
            h.state.truncate_to(offset, h.log)
            assert all(o <= offset for o in h.state.snapshot_offsets())
            assert h.state.producers == h.incremental(below=h.log.log_end_offset).producers
            assert h.state.map_end_offset == h.log.log_end_offset
            assert h.loaded().producers == h.state.producers
        finally:
            h.log.close()


def test_truncate_fully_forgets_everything(harness: Harness) -> None:
    """truncate_fully clears the state and deletes every snapshot."""
    fill(harness, 9, snapshot_every=3)
    harness.log.truncate_fully_and_start_at(100)
    harness.state.truncate_fully()
    assert harness.state.producers == {}
    assert harness.state.snapshot_offsets() == []
    assert harness.loaded().producers == {}
    assert harness.produce(1, 0, 7).outcome is APPEND


def test_truncate_to_refuses_an_untruncated_log(harness: Harness) -> None:
    """truncate_to is called after the log's truncation, never before it."""
    fill(harness, 4)
    with pytest.raises(ValueError):
        harness.state.truncate_to(1, harness.log)
