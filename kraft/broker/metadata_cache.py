"""MetadataCache: the latest metadata image a broker has applied, and waiting for one.

Kafka's broker MetadataCache (KRaftMetadataCache): what request handlers and
the broker's services read. `image` is replaced, never changed, so a reader
may hold one across awaits. `wait_for(predicate, timeout_s)` waits until the
image satisfies a condition (a topic the broker asked the controller to
create has arrived with leaders). The broker calls `update` after the replica
manager has applied an image, so a handler that sees a topic here also finds
its partitions in the replica manager.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from kraft.metadata.image import EMPTY, MetadataImage

__all__ = ["MetadataCache"]


class MetadataCache:
    """The broker's current image (module docstring)."""

    def __init__(self) -> None:
        self._image: MetadataImage = EMPTY
        self._changed = trio.Event()

    @property
    def image(self) -> MetadataImage:
        return self._image

    def update(self, image: MetadataImage) -> None:
        """Make `image` current and wake every waiter."""
        self._image = image
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(
        self, predicate: Callable[[MetadataImage], bool], timeout_s: float
    ) -> bool:
        """Wait until `predicate(image)` holds; False if it did not within `timeout_s`."""
        with trio.move_on_after(timeout_s):
            while not predicate(self._image):
                await self._changed.wait()
            return True
        return False
