"""Kafka's size-prefixed framing, sans I/O.

Wire format: every request and response is `int32 size` (big-endian, signed)
followed by exactly `size` bytes. Nothing else delimits messages.

`FrameDecoder` follows h11's shape: the caller feeds whatever bytes arrived
(`receive_data`) and pulls complete frames (`next_frame`). It never touches a
socket, so tests can feed it one byte at a time.

Contract on bad input (the peer's fault, see STYLE.md 6): a negative size, or
one above `max_frame_bytes` (Kafka's `socket.request.max.bytes`, default
100 MiB), raises `FrameError` as soon as the 4 size bytes are seen, before any
buffer for the body is allocated or grown. The caller must then close the
connection; the decoder is unusable afterwards.

Buffer ownership: `next_frame` returns a fresh `bytes` the caller owns. Bytes
fed after a complete frame stay buffered, untouched, for the next call.
"""

from __future__ import annotations

import struct

DEFAULT_MAX_FRAME_BYTES = 104857600  # socket.request.max.bytes
_SIZE = struct.Struct(">i")


class FrameError(Exception):
    """The peer sent a frame size we refuse; close the connection."""


class FrameDecoder:
    """Splits a byte stream into Kafka frames (without their size prefix)."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed bytes in _buf
        # Size of the frame being assembled, once its 4-byte prefix is read.
        self._need: int | None = None
        self._failed = False

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes received from the peer."""
        if self._failed:
            raise FrameError("decoder already rejected this stream")
        if self._pos:
            # Drop consumed bytes once per receive, not once per frame, so many
            # small frames in one read cost O(bytes) rather than O(bytes**2).
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_frame(self) -> bytes | None:
        """Return the next complete frame body, or None until more bytes arrive.

        Raises FrameError for a negative or oversize length prefix.
        """
        buf, pos = self._buf, self._pos
        if self._need is None:
            if len(buf) - pos < 4:
                return None
            (size,) = _SIZE.unpack_from(buf, pos)
            if size < 0 or size > self.max_frame_bytes:
                self._failed = True
                self._buf = bytearray()
                self._pos = 0
                raise FrameError(
                    f"frame size {size} outside [0, {self.max_frame_bytes}]"
                )
            pos += 4
            self._pos = pos
            self._need = size
        end = pos + self._need
        if len(buf) < end:
            return None
        with memoryview(buf) as view:
            frame = bytes(view[pos:end])
        self._pos = end
        self._need = None
        return frame

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a frame."""
        return len(self._buf) - self._pos + (4 if self._need is not None else 0)


def frame(payload: bytes | bytearray | memoryview) -> bytes:
    """Prefix `payload` with its size, as sent on the wire."""
    return _SIZE.pack(len(payload)) + bytes(payload)
