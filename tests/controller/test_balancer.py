"""The opt-in replica balancer (kraft.controller.balancer) on scripted images:
replicas of a broker that left move to the least loaded, a new broker takes
replicas until counts differ by at most one, preferred leaders are spread by
reordering, a fenced broker keeps its replicas, partitions in flight are left
alone, the in-flight budget is kept; and the moves it starts are ordinary
reassignments that complete as any other."""

from __future__ import annotations

from collections import Counter

from kraft.controller.balancer import balance_replicas, plan_moves
from kraft.controller.result import apply_records
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import UnregisterBrokerRecord
from tests.controller.test_partition_change import broker, cluster_image, context, topic


def image_with(brokers: list[int], assignment: list[list[int]], *,
               fenced: tuple[int, ...] = (), gone: tuple[int, ...] = ()) -> MetadataImage:
    """Brokers (some fenced, some registered then unregistered) and topic t with one
    partition per replica list, ISR all, led by its first replica."""
    _, records = topic("t", [(rs, rs, rs[0]) for rs in assignment])
    image = cluster_image(*(broker(b, fenced=b in fenced) for b in sorted({*brokers, *gone})),
                          records)
    if gone:
        image = apply_records(image, [
            UnregisterBrokerRecord(broker_id=b, broker_epoch=image.cluster.brokers[b].broker_epoch)
            for b in gone])
    return image


def replica_counts(image: MetadataImage, targets: dict[int, tuple[int, ...]]) -> Counter[int]:
    parts = image.topics.by_name["t"].partitions
    return Counter(b for pid, p in parts.items() for b in targets.get(pid, p.replicas))


def test_replicas_of_a_broker_that_left_move_to_the_least_loaded() -> None:
    """Broker 3 unregistered: each of its replicas goes, in place, to a usable broker
    that does not hold the partition, the least loaded first."""
    image = image_with([1, 2, 4], [[3, 1], [1, 3], [2, 4]], gone=(3,))
    moves = plan_moves(image, max_moves=10)
    targets = {m.partition: m.target for m in moves}
    assert targets[0] == (2, 1) and targets[1] == (1, 4)  # least loaded, then lower id
    assert all("broker 3 left" in m.why for m in moves if m.partition in (0, 1))
    assert all(3 not in t for t in targets.values())


def test_a_new_broker_takes_replicas_until_counts_are_even() -> None:
    """Six partitions of RF 2 on brokers 1 and 2; broker 3 joins: replicas move to it
    until no two brokers' counts differ by more than one, one broker per move."""
    image = image_with([1, 2, 3], [[1, 2], [2, 1]] * 3)
    moves = plan_moves(image, max_moves=10)
    targets = {m.partition: m.target for m in moves if "replicas" in m.why}
    counts = replica_counts(image, targets)
    assert max(counts.values()) - min(counts.values()) <= 1 and counts[3] == 4
    before = image.topics.by_name["t"].partitions
    for pid, target in targets.items():
        assert len(set(target) ^ set(before[pid].replicas)) == 2  # one broker swapped


def test_preferred_leaders_are_spread_by_reordering() -> None:
    """Replica counts even but broker 1 preferred everywhere: lists are reordered
    (same brokers) until preferred-leader counts differ by at most one."""
    image = image_with([1, 2, 3], [[1, 2, 3]] * 6)
    moves = plan_moves(image, max_moves=10)
    assert moves and all(set(m.target) == {1, 2, 3} for m in moves)
    firsts = Counter({**{pid: 1 for pid in range(6)},
                      **{m.partition: m.target[0] for m in moves}}.values())
    assert max(firsts.values()) - min(firsts.values()) <= 1


def test_balanced_fenced_and_busy_clusters_are_left_alone() -> None:
    """Nothing to do when balanced; a fenced broker's replicas stay (it may be
    restarting) and it takes none; the budget counts reassignments in flight."""
    assert plan_moves(image_with([1, 2, 3], [[1, 2], [2, 3], [3, 1]]), 10) == []
    fenced = image_with([1, 2, 3], [[1, 2], [2, 1]] * 3, fenced=(3,))
    assert plan_moves(fenced, 10) == []
    image = image_with([1, 2, 3], [[1, 2], [2, 1]] * 3)
    assert len(plan_moves(image, max_moves=1)) == 1


def test_started_moves_are_reassignments() -> None:
    """balance_replicas writes one PartitionChangeRecord per move, adding the new
    broker; the next plan counts them as in flight and leaves those partitions."""
    image = image_with([1, 2, 3], [[1, 2], [2, 1]] * 3)
    result = balance_replicas(image, context(image), max_moves=2)
    assert result.response == 2 == len(result.records)
    after = apply_records(image, result.records)
    parts = after.topics.by_name["t"].partitions
    moving = [pid for pid, p in parts.items() if p.adding_replicas]
    assert len(moving) == 2 and all(parts[pid].adding_replicas == (3,) for pid in moving)
    assert plan_moves(after, max_moves=2) == []
