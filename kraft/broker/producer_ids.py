"""Producer ids on the broker, from blocks the controller allocates (Kafka's
RPCProducerIdManager).

Theory of operation. The active controller owns the producer id space: an
AllocateProducerIds (67) request makes it commit a ProducerIdsRecord and
answer a block (first id, length; Kafka's blocks hold 1000 ids). Each broker
hands out the ids of its current block one by one to InitProducerId, so no two
brokers, and no two callers on one broker, ever get the same id.

`ProducerIdManager` keeps a current block and at most one prefetched next
block. When 90 % of the current block is used and no next block is held, it
asks for the next one in the background, so InitProducerId does not wait for
the controller in the steady state. The request is made by `run`, a task the
broker starts in its nursery; `generate` only takes ids and, when none is
left, waits for `run` to bring a block.

`allocate` is injected: an `async () -> (first_id, length)` callable (the
broker wires it to the AllocateProducerIds RPC). A failure is an exception:
`ProducerIdAllocationError` (the wiring raises it for a Kafka error code such
as NOT_CONTROLLER), `OSError`, `trio.BrokenResourceError` or
`trio.TooSlowError`; these are logged and retried after a backoff that
doubles from retry.backoff.ms (Kafka: 100) to retry.backoff.max.ms (1000).
Any other exception is a bug and ends `run` (and the broker) loudly. A block
that is empty or does not lie wholly above every id already received is
refused and asked for again: ids must never be handed out twice, even if the
controller misbehaves.

Unlike Kafka, whose `generateProducerId` answers COORDINATOR_LOAD_IN_PROGRESS
at once when no block is ready (the client retries), `generate` waits; a
caller that needs a deadline wraps it in `trio.move_on_after` (cancelling it
is safe: an id is either returned or not taken).

Thread-safety: one trio event loop. Tasks may call `generate` concurrently;
ids are taken without an await in between, so each id goes to one caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple, NoReturn

import trio

__all__ = [
    "PRODUCER_ID_BLOCK_SIZE",
    "ProducerIdAllocationError",
    "ProducerIdBlock",
    "ProducerIdManager",
]

logger = logging.getLogger(__name__)

PRODUCER_ID_BLOCK_SIZE = 1000  # Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE
PREFETCH_THRESHOLD = 0.9
DEFAULT_RETRY_BACKOFF_MS = 100
DEFAULT_RETRY_BACKOFF_MAX_MS = 1000
_LONG_MAX = 2**63 - 1


class ProducerIdAllocationError(Exception):
    """An allocation the controller refused or could not answer; retried."""


RETRIABLE_ERRORS: tuple[type[BaseException], ...] = (
    ProducerIdAllocationError,
    OSError,
    trio.BrokenResourceError,
    trio.TooSlowError,
)


class ProducerIdBlock(NamedTuple):
    """Ids first_producer_id .. first_producer_id + size - 1."""

    first_producer_id: int
    size: int

    @property
    def last_producer_id(self) -> int:
        return self.first_producer_id + self.size - 1


class ProducerIdManager:
    """Hands out producer ids; start `run` in a nursery before calling `generate`."""

    def __init__(
        self,
        allocate: Callable[[], Awaitable[tuple[int, int]]],
        *,
        retry_backoff_ms: int = DEFAULT_RETRY_BACKOFF_MS,
        retry_backoff_max_ms: int = DEFAULT_RETRY_BACKOFF_MAX_MS,
    ) -> None:
        self._allocate = allocate
        self._retry_backoff_ms = retry_backoff_ms
        self._retry_backoff_max_ms = max(retry_backoff_max_ms, retry_backoff_ms)
        self._current: ProducerIdBlock | None = None
        self._next_id = 0
        self._next_block: ProducerIdBlock | None = None
        self._floor = 0  # every id below this was in a block already received
        self._wanted = trio.Event()  # set: `run` should fetch a block
        self._ready = trio.Event()  # set (then replaced) when a block arrives

    @property
    def current_block(self) -> ProducerIdBlock | None:
        return self._current

    @property
    def next_block(self) -> ProducerIdBlock | None:
        """The prefetched block, if one is held."""
        return self._next_block

    async def generate(self) -> int:
        """A producer id no other caller has been or will be given."""
        while True:
            producer_id = self._take()
            if producer_id is not None:
                return producer_id
            self._wanted.set()
            await self._ready.wait()

    def _take(self) -> int | None:
        """The next id, moving to the prefetched block when the current one is
        used up; None when neither has an id left. Never awaits."""
        current = self._current
        if current is None or self._next_id > current.last_producer_id:
            if self._next_block is None:
                return None
            current = self._current = self._next_block
            self._next_block = None
            self._next_id = current.first_producer_id
        producer_id = self._next_id
        self._next_id += 1
        used = self._next_id - current.first_producer_id
        if self._next_block is None and used >= PREFETCH_THRESHOLD * current.size:
            self._wanted.set()
        return producer_id

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Fetch a block whenever one is wanted, forever (cancel to stop)."""
        task_status.started()
        while True:
            await self._wanted.wait()
            self._next_block = await self._allocate_block()
            self._wanted = trio.Event()
            ready, self._ready = self._ready, trio.Event()
            ready.set()

    async def _allocate_block(self) -> ProducerIdBlock:
        """One valid block from `allocate`, retrying failures with backoff."""
        backoff_ms = self._retry_backoff_ms
        while True:
            try:
                first, size = await self._allocate()
            except RETRIABLE_ERRORS as e:
                logger.warning("producer id block allocation failed, retrying: %r", e)
            else:
                block = ProducerIdBlock(first, size)
                if size > 0 and first >= self._floor and block.last_producer_id <= _LONG_MAX:
                    self._floor = block.last_producer_id + 1
                    logger.info("got producer id block [%d, %d]", first, block.last_producer_id)
                    return block
                logger.error(
                    "refusing producer id block (first %d, size %d): empty, or not wholly "
                    "above the ids already received (below %d)",
                    first,
                    size,
                    self._floor,
                )
            await trio.sleep(backoff_ms / 1000)
            backoff_ms = min(backoff_ms * 2, self._retry_backoff_max_ms)
