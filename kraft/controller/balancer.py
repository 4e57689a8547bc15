"""The opt-in replica balancer: spreads partition replicas and preferred leaders
over the brokers when one joins or leaves (`kraft.balancer.enable`, off by
default, as Kafka has no built-in balancer and Cruise Control is separate).

Every `kraft.balancer.interval.ms` the active controller plans moves on its
image and starts them as ordinary reassignments (KIP-455, the same records as
AlterPartitionReassignments: kraft.controller.reassignments), at most
`kraft.balancer.max.moves` in flight at once, counting reassignments anyone
else started. Each move changes one partition by one broker, in place, so a
replica list keeps its order and its preferred leader unless that broker was
the one replaced. The plan, in order:

1. A replica on a broker that is no longer registered (it left: UnregisterBroker,
   `scripts/cluster remove`) moves to the usable broker with the fewest replicas
   that does not hold the partition. A fenced broker is not gone: it may be
   restarting, and moving its data would only add work.
2. While the usable brokers' replica counts differ by more than one, a replica
   moves from the most loaded to the least loaded broker (a partition that the
   least loaded does not hold).
3. While their preferred-leader counts (first replicas) differ by more than one,
   a partition whose preferred leader is the most preferred broker and that the
   least preferred holds has its replica list reordered to put the latter first
   (no data moves); auto.leader.rebalance.enable then moves leadership there.

"Usable" is registered, unfenced and not shutting down. Partitions with a
reassignment in flight are left alone, and so is a partition whose planned
target would not be valid (fewer usable brokers than replicas). Every move is
logged in one line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kraft.controller.reassignments import start_reassignment
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage, PartitionRegistration
from kraft.metadata.records import PartitionChangeRecord

__all__ = ["Move", "balance_replicas", "plan_moves"]

log = logging.getLogger("kraft.controller.balancer")


@dataclass(frozen=True, slots=True)
class Move:
    topic: str
    topic_id: Any
    partition: int
    target: tuple[int, ...]
    why: str


def _partitions(image: MetadataImage) -> Iterator[tuple[str, Any, int, PartitionRegistration]]:
    for topic in sorted(image.topics.by_id.values(), key=lambda t: t.name):
        for pid in sorted(topic.partitions):
            yield topic.name, topic.topic_id, pid, topic.partitions[pid]


def plan_moves(image: MetadataImage, max_moves: int) -> list[Move]:
    """The moves to start now (module docstring), at most `max_moves` minus those in flight."""
    usable = sorted(b for b, r in image.cluster.brokers.items() if r.active)
    partitions = list(_partitions(image))
    busy = {(name, pid) for name, _, pid, p in partitions
            if p.adding_replicas or p.removing_replicas}
    budget = max_moves - len(busy)
    if budget <= 0 or not usable:
        return []
    stable = [(n, t, pid, p) for n, t, pid, p in partitions if (n, pid) not in busy]
    replicas = {(n, pid): list(p.replicas) for n, _, pid, p in stable}
    ids = {n: t for n, t, _, _ in stable}
    load = Counter(dict.fromkeys(usable, 0))
    for rs in replicas.values():
        load.update(r for r in rs if r in load)
    moves: list[Move] = []
    moved: set[tuple[str, int]] = set()

    def add(key: tuple[str, int], why: str) -> None:
        moves.append(Move(key[0], ids[key[0]], key[1], tuple(replicas[key]), why))
        moved.add(key)

    for key, rs in replicas.items():  # 1. replicas on brokers that left
        if len(moves) >= budget:
            return moves
        gone = [r for r in rs if r not in image.cluster.brokers]
        if not gone:
            continue
        spare = [b for b in usable if b not in rs]
        if len(spare) < len(gone):
            continue  # not enough brokers to hold the replication factor
        for r in gone:
            new = min(spare, key=lambda b: (load[b], b))
            spare.remove(new)
            rs[rs.index(r)] = new
            load[new] += 1
        add(key, f"broker{'s' if len(gone) > 1 else ''} {','.join(map(str, gone))} left")

    while len(moves) < budget:  # 2. replica counts
        most = max(usable, key=lambda b: (load[b], -b))
        least = min(usable, key=lambda b: (load[b], b))
        if load[most] - load[least] <= 1:
            break
        found = next((k for k, rs in replicas.items()
                      if k not in moved and most in rs and least not in rs), None)
        if found is None:
            break
        rs = replicas[found]
        rs[rs.index(most)] = least
        load[most] -= 1
        load[least] += 1
        add(found, f"broker {most} holds {load[most] + 1} replicas, broker {least} "
                 f"{load[least] - 1}")

    preferred = Counter(dict.fromkeys(usable, 0))
    preferred.update(rs[0] for rs in replicas.values() if rs[0] in preferred)
    while len(moves) < budget:  # 3. preferred leaders (reorder only)
        most = max(usable, key=lambda b: (preferred[b], -b))
        least = min(usable, key=lambda b: (preferred[b], b))
        if preferred[most] - preferred[least] <= 1:
            break
        first = next((k for k, rs in replicas.items()
                      if k not in moved and rs[0] == most and least in rs), None)
        if first is None:
            break
        rs = replicas[first]
        rs.remove(least)
        rs.insert(0, least)
        preferred[most] -= 1
        preferred[least] += 1
        add(first, f"broker {most} is preferred leader of {preferred[most] + 1} partitions, "
                 f"broker {least} of {preferred[least] - 1}")
    return moves


def balance_replicas(
    image: MetadataImage, ctx: ControllerContext, max_moves: int
) -> ControllerResult[int]:
    """Start the planned moves as reassignments; the response is how many started."""
    records: list[PartitionChangeRecord] = []
    for move in plan_moves(image, max_moves):
        topic = image.topics.by_id[move.topic_id]
        record = start_reassignment(image, move.topic, move.topic_id, move.partition,
                                    topic.partitions[move.partition], move.target, ctx)
        if record is not None:
            log.info("balancer: %s-%d -> replicas %s (%s)", move.topic, move.partition,
                     ",".join(map(str, move.target)), move.why)
            records.append(record)
    return ControllerResult(tuple(records), len(records))
