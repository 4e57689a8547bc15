"""Frame decoding: size prefixes, chunking, and hostile sizes."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.net.framing import FrameDecoder, FrameError, frame

payloads = st.lists(st.binary(max_size=300), max_size=8)


def _drain(decoder: FrameDecoder) -> list[bytes]:
    out = []
    while (f := decoder.next_frame()) is not None:
        out.append(f)
    return out


@given(payloads, st.data())
def test_frames_survive_any_chunking(bodies, data):
    """Frames come out whole and in order however the stream is chunked."""
    stream = b"".join(frame(b) for b in bodies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    got: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        decoder.receive_data(stream[prev:cut])
        got += _drain(decoder)
        prev = cut
    assert got == bodies
    assert decoder.buffered == 0


@given(payloads)
def test_frames_fed_one_byte_at_a_time(bodies):
    """Feeding the stream byte by byte yields each frame exactly when its last byte lands."""
    stream = b"".join(frame(b) for b in bodies)
    ends = set()
    pos = 0
    for b in bodies:
        pos += 4 + len(b)
        ends.add(pos)
    decoder = FrameDecoder()
    got: list[bytes] = []
    for i in range(len(stream)):
        decoder.receive_data(stream[i : i + 1])
        new = _drain(decoder)
        if i + 1 in ends:
            assert len(new) >= 1
        else:
            assert new == []
        got += new
    assert got == bodies


@given(st.binary(max_size=50), st.binary(min_size=1, max_size=50))
def test_trailing_bytes_stay_buffered(body, tail):
    """Bytes after a complete frame are kept, untouched, for the next frame."""
    decoder = FrameDecoder()
    decoder.receive_data(frame(body) + frame(tail)[: 4 + len(tail) - 1])
    assert decoder.next_frame() == body
    assert decoder.next_frame() is None
    decoder.receive_data(tail[-1:])
    assert decoder.next_frame() == tail


@pytest.mark.parametrize("size", [-1, -(2**31), 101, 2**31 - 1])
def test_bad_sizes_rejected_before_allocation(size):
    """A negative or oversize frame size raises as soon as the 4 size bytes arrive."""
    decoder = FrameDecoder(max_frame_bytes=100)
    decoder.receive_data(struct.pack(">i", size))
    with pytest.raises(FrameError):
        decoder.next_frame()
    assert decoder.buffered == 0
    with pytest.raises(FrameError):
        decoder.receive_data(b"more")


def test_max_size_frame_accepted():
    """A frame of exactly max_frame_bytes is accepted."""
    decoder = FrameDecoder(max_frame_bytes=100)
    decoder.receive_data(frame(b"x" * 100))
    assert decoder.next_frame() == b"x" * 100
