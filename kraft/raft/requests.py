"""Outbound request bookkeeping: one request in flight per destination.

Like Kafka's `RequestManager`: a destination is *ready* when nothing is in
flight to it and it is not backing off. A request is settled by its response
(matched by correlation id and source: anything else is a stale or
duplicated response and is ignored), by `request.timeout.ms`, or by the
driver reporting a failure. Errors and timeouts back off `retry.backoff.ms`.
`reset()` forgets everything in flight; the core calls it on every role
change so that late answers to the old role's requests are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.raft.messages import Request


@dataclass(frozen=True, slots=True)
class InFlight:
    destination: int
    correlation_id: int
    request: Request
    deadline_ms: int


class RequestManager:
    def __init__(self, request_timeout_ms: int, retry_backoff_ms: int) -> None:
        self._request_timeout_ms = request_timeout_ms
        self._retry_backoff_ms = retry_backoff_ms
        self._next_correlation_id = 0
        self._in_flight: dict[int, InFlight] = {}
        self._backoff_until: dict[int, int] = {}

    def is_ready(self, destination: int, now_ms: int) -> bool:
        return (
            destination not in self._in_flight and self._backoff_until.get(destination, 0) <= now_ms
        )

    def has_in_flight(self) -> bool:
        return bool(self._in_flight)

    def sent(self, destination: int, request: Request, now_ms: int) -> int:
        """Record a request to `destination`; returns its correlation id."""
        correlation_id = self._next_correlation_id
        self._next_correlation_id += 1
        self._in_flight[destination] = InFlight(
            destination, correlation_id, request, now_ms + self._request_timeout_ms
        )
        return correlation_id

    def complete(self, source: int, correlation_id: int) -> InFlight | None:
        """Match a response; None if it answers nothing we are waiting for."""
        in_flight = self._in_flight.get(source)
        if in_flight is None or in_flight.correlation_id != correlation_id:
            return None
        del self._in_flight[source]
        return in_flight

    def back_off(self, destination: int, now_ms: int) -> None:
        self._backoff_until[destination] = now_ms + self._retry_backoff_ms

    def fail(self, destination: int, correlation_id: int, now_ms: int) -> InFlight | None:
        """The driver could not deliver or got no answer; the request, if it was in flight."""
        in_flight = self.complete(destination, correlation_id)
        if in_flight is not None:
            self.back_off(destination, now_ms)
        return in_flight

    def expire(self, now_ms: int) -> list[InFlight]:
        """Time out requests past `request.timeout.ms` (they then back off)."""
        expired = [f for f in self._in_flight.values() if f.deadline_ms <= now_ms]
        for f in expired:
            del self._in_flight[f.destination]
            self.back_off(f.destination, now_ms)
        return expired

    def reset(self) -> None:
        self._in_flight.clear()
        self._backoff_until.clear()

    def next_deadline(self, now_ms: int) -> int | None:
        """Earliest future time something here changes (a timeout or a backoff ending)."""
        times = [f.deadline_ms for f in self._in_flight.values()]
        times += [t for t in self._backoff_until.values() if t > now_ms]
        return min(times, default=None)
