"""Metadata-log entries as record batches, control records and snapshot files."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.raft.batches import (
    MalformedBatch,
    decode_entries,
    decode_snapshot,
    encode_entries,
    encode_snapshot,
)
from kraft.raft.types import Entry, LeaderChangeMessage


@st.composite
def entry_runs(draw):
    start = draw(st.integers(0, 1000))
    epoch = draw(st.integers(0, 5))
    entries = []
    for i in range(draw(st.integers(1, 20))):
        epoch += draw(st.sampled_from([0, 0, 0, 1]))
        if draw(st.booleans()) and draw(st.booleans()):
            voters = tuple(draw(st.lists(st.integers(0, 9), max_size=5)))
            entries.append(Entry(start + i, epoch, b"", LeaderChangeMessage(1, voters, voters[:1])))
        else:
            entries.append(Entry(start + i, epoch, draw(st.binary(max_size=40))))
    return entries


@given(entry_runs())
def test_entries_round_trip(entries):
    """Entries encoded as batches decode to the same entries, control ones included."""
    data = encode_entries(entries, timestamp=123)
    assert list(decode_entries(data)) == entries


@given(entry_runs(), st.data())
def test_decode_from_an_offset_and_cut_tail(entries, data):
    """Decoding skips entries below the start offset and ignores a cut-off last batch."""
    wire = encode_entries(entries, timestamp=1)
    start = data.draw(st.integers(entries[0].offset, entries[-1].offset))
    got = list(decode_entries(wire, start))
    assert got == [e for e in entries if e.offset >= start]
    cut = list(decode_entries(wire[:-1], entries[0].offset))
    assert cut == entries[: len(cut)] and len(cut) < len(entries)


def test_corrupt_batch_is_rejected():
    """A flipped byte in a batch's records fails its CRC check."""
    wire = bytearray(encode_entries([Entry(0, 1, b"hello")], timestamp=1))
    wire[-2] ^= 0xFF
    with pytest.raises(MalformedBatch):
        list(decode_entries(bytes(wire)))


@given(st.lists(st.binary(max_size=30), max_size=30))
def test_snapshot_round_trip(payloads):
    """A snapshot file holds header, the payloads in order, footer."""
    assert decode_snapshot(encode_snapshot(payloads, 5)) == payloads


def test_truncated_snapshot_is_rejected():
    """A snapshot cut short (no footer) is refused, never half-loaded."""
    data = encode_snapshot([b"a", b"b"], 5)
    for cut in (len(data) - 1, len(data) - 70, 10):
        with pytest.raises(MalformedBatch):
            decode_snapshot(data[:cut])


def test_leader_change_with_a_huge_voter_count_is_rejected():
    """A CRC-valid LeaderChange claiming 2**34 voters is MalformedBatch, not a crash."""
    from kraft.log.records import build_batch
    from kraft.raft.batches import LEADER_CHANGE, control_record

    value = b"\x00\x00\x00\x00\x00\x01" + bytes([0x81, 0x80, 0x80, 0x80, 0x40]) + b"\0" * 8
    data = build_batch([control_record(LEADER_CHANGE, value, 0)], base_offset=0,
                       partition_leader_epoch=1, is_control=True)
    with pytest.raises(MalformedBatch):
        list(decode_entries(data))
