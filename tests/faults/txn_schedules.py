"""Fault schedules for the transactional queue workload on a three-node LocalCluster.

Theory of operation. `TxnFaults` is the `Faults` of tests/faults/schedules.py
(roles, kill -9 / SIGSTOP / restart, waits, full ISR) plus what transactions
need: who coordinates the workload's transactional ids (FindCoordinator with
key type TRANSACTION, asked of a live node) and the running `TxnWorkload`,
to time a fault while a commit is in flight (EndTxn, the markers).

The transactional schedules (issue 15):
- `kill_coordinator_during_commit`: kill -9 the node coordinating most of the
  transactional ids the moment one of its producers is inside
  commit_transaction, and again (after recovery) the moment such a commit
  returns; the new coordinator (the next leader of the `__transaction_state`
  partition) must complete a transaction found in PrepareCommit/PrepareAbort
  and serve the producers;
- `kill_leader_during_markers`: kill -9 a leader of the workload topic that
  coordinates none of the ids the moment a commit returns (the coordinator
  answers EndTxn once PrepareCommit is written, then writes the markers): it
  must retry its markers at the new leader;
- `pause_coordinator`: SIGSTOP the coordinator beyond the broker session
  timeout (it is fenced, another node takes its `__transaction_state`
  partitions), then SIGCONT it: the returning zombie must not complete
  anything with its stale coordinator epoch.
The kill/pause schedules of schedules.py that apply run too.

`run_txn_schedule(cluster, schedule, workdir)` is one fault test: a fresh
topic (4 partitions, replication factor 3, min.insync.replicas 2), warm-up
commits, the schedule, full ISR, commits again, stop; then wait until every
partition's last stable offset reaches its high watermark (every transaction
ended), read back with both read_committed readers and check; then the
replicas' logs are compared batch by batch below the high watermark
(`replica_differences`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v4 import request as find_v4
from kio.static.primitive import i8

from kraft.log.batch import iter_batches
from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.net.security import ClientSecurity
from kraft.tools.local_cluster import LocalCluster
from tests.faults import schedules as base
from tests.faults.schedules import (
    FAST_FAILOVER,
    LIVENESS_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    Faults,
    PartitionState,
    ScheduleError,
    client_security,
    wait_for,
)
from tests.faults.txn_checker import TxnReport
from tests.faults.txn_history import TxnHistory
from tests.faults.txn_workload import (
    TxnWorkload,
    TxnWorkloadConfig,
    create_txn_topic,
    read_and_check,
)

TRANSACTION_KEY_TYPE = 1
WARMUP_COMMITS = 20  # committed transactions before the first fault
RECOVERY_COMMITS = 20  # committed transactions after the last fault, before the producers stop
# The cluster for these tests: fast fencing, as the other fault tests, and the
# coordinator looks for timed-out transactions every second (Kafka: 10 s), so
# that a transaction a killed producer left open ends soon after its timeout.
TXN_OVERRIDES: dict[str, str] = {
    **FAST_FAILOVER,
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
    # Fewer __transaction_state partitions than Kafka's 50 keep the cluster's start
    # and every failover's loading short; the protocol is the same.
    "transaction.state.log.num.partitions": "10",
}


async def _find_coordinators(address: tuple[str, int], ids: list[str],
                             security: ClientSecurity | None) -> dict[str, int] | None:
    async with KafkaClient("kraft-txn-faults", connect_timeout=REQUEST_TIMEOUT_S,
                           security=security) as client:
        try:
            response = await client.request(address, find_v4.FindCoordinatorRequest(
                key_type=i8(TRANSACTION_KEY_TYPE), coordinator_keys=tuple(ids)), REQUEST_TIMEOUT_S)
        except ConnectionFailed:
            return None
    return {c.key: int(c.node_id) for c in response.coordinators
            if c.error_code == ErrorCode.none}


class TxnFaults(Faults):
    """`Faults` with the transaction coordinators and the running workload."""

    def __init__(self, cluster: LocalCluster, config: TxnWorkloadConfig, history: TxnHistory,
                 workload: TxnWorkload) -> None:
        super().__init__(cluster, config.topic, history)
        self.config = config
        self.workload = workload

    def coordinators(self) -> dict[str, int]:
        """The live coordinator of every transactional id of the workload (waiting for one each)."""
        ids = self.config.transactional_ids
        security = self.cluster.tool_security(self.cluster.client_listener)

        def probe() -> dict[str, int] | None:
            for n in self.live():
                found = trio.run(_find_coordinators, self.cluster.client_address(n), ids,
                                 security)
                if found and set(found) == set(ids) and set(found.values()) <= set(self.live()):
                    return found
            return None
        return wait_for(f"a live coordinator for each of {ids}", probe, detail=self.describe)

    def main_coordinator(self) -> tuple[int, set[int]]:
        """The node coordinating most transactional ids, and the processes whose ids it has."""
        found = self.coordinators()
        node, _ = Counter(found.values()).most_common(1)[0]
        processes = {p for p in range(self.config.producers)
                     if found[self.config.transactional_id(p)] == node}
        self.history.note(f"transaction coordinators {found}")
        return node, processes

    def wait_coordinators_not(self, node: int) -> dict[str, int]:
        """Wait until no transactional id of the workload is coordinated by `node`."""
        def probe() -> dict[str, int] | None:
            found = self.coordinators_now()
            return found if found is not None and node not in found.values() else None
        found = wait_for(f"the transactional ids coordinated by a node other than {node}",
                         probe, detail=self.describe)
        self.history.note(f"transaction coordinators now {found}")
        return found

    def coordinators_now(self) -> dict[str, int] | None:
        """The coordinators a live node names now, if it names one for every id."""
        ids = self.config.transactional_ids
        security = self.cluster.tool_security(self.cluster.client_listener)
        for n in self.live():
            found = trio.run(_find_coordinators, self.cluster.client_address(n), ids, security)
            if found and set(found) == set(ids):
                return found
        return None

    def during_commit(self, processes: set[int] | None, fault: str, node: int,
                      after_return: bool = False) -> None:
        """Wait until one of `processes` (any if None) is inside commit_transaction
        (with `after_return`: until that commit has then returned, when the
        coordinator is writing its markers), then at once apply `fault` ("kill"
        or "pause") to `node`; the history notes the victim's roles (taken
        before the wait) right after the signal."""
        roles = self.roles(node)
        process = self.workload.wait_commit_in_flight(processes, LIVENESS_TIMEOUT_S)
        if process is None:
            raise ScheduleError(f"no commit in flight of processes {processes}")
        if after_return and not self.workload.wait_commit_returned(process,
                                                                   LIVENESS_TIMEOUT_S):
            raise ScheduleError(f"the commit of process {process} did not return")
        when = "just after" if after_return else "during"
        if fault == "kill":
            self.cluster.kill(node)
            self.history.note(f"kill -9 node {node} ({roles}) {when} a commit of process "
                              f"{process}")
        else:
            self.cluster.pause(node)
            self.history.note(f"SIGSTOP node {node} ({roles}) {when} a commit of process "
                              f"{process}")


# --- the schedules ---------------------------------------------------------------------------


def kill_coordinator_during_commit(f: TxnFaults) -> None:
    """Two rounds: kill -9 the transaction coordinator of most transactional ids
    while one of its producers commits (EndTxn in flight), then, once back, the
    coordinator then the moment such a commit returns (PrepareCommit written,
    markers in flight: the next coordinator must complete the transaction from
    the log); each time, once every id has a live coordinator elsewhere, restart
    the victim."""
    for after_return in (False, True):
        victim, processes = f.main_coordinator()
        f.during_commit(processes, "kill", victim, after_return=after_return)
        f.wait_coordinators_not(victim)
        f.hold()
        f.start(victim)


def kill_leader_during_markers(f: TxnFaults) -> None:
    """kill -9 a leader of the workload's partitions that coordinates no
    transactional id (if there is one) the moment a commit returns (EndTxn is
    answered once PrepareCommit is written; the markers follow), so markers
    must be written at the partitions' next leader."""
    coordinators = f.coordinators()
    state = f.state() or {}
    leaders = sorted({s.leader for s in state.values() if s.leader in f.live()})
    victim = next((n for n in leaders if n not in coordinators.values()), leaders[0])
    led = [p for p, s in sorted(state.items()) if s.leader == victim]
    others = {p for p in range(f.config.producers)
              if coordinators[f.config.transactional_id(p)] != victim} or None
    f.during_commit(others, "kill", victim, after_return=True)
    for p in led:
        f.wait_leader_not(p, {victim})
    f.hold()
    f.start(victim)


def pause_coordinator(f: TxnFaults) -> None:
    """SIGSTOP the coordinator of most transactional ids while one of its producers
    commits, until its ids are coordinated elsewhere and longer than the broker
    session timeout; then SIGCONT it (a zombie coordinator with a stale epoch)."""
    victim, processes = f.main_coordinator()
    f.during_commit(processes, "pause", victim)
    started = time.monotonic()
    f.wait_coordinators_not(victim)
    f.hold(max(base.HOLD_S, f.session_timeout_s + 1 - (time.monotonic() - started)))
    f.resume(victim)


@dataclass(frozen=True)
class TxnSchedule:
    name: str
    run: Callable[[TxnFaults], None]

    @property
    def description(self) -> str:
        return (self.run.__doc__ or "").split("\n\n")[0].replace("\n   ", "")


def _plain(schedule: base.Schedule) -> TxnSchedule:
    return TxnSchedule(schedule.name, schedule.run)


TXN_SCHEDULES: list[TxnSchedule] = [
    TxnSchedule(fn.__name__, fn) for fn in (
        kill_coordinator_during_commit, kill_leader_during_markers, pause_coordinator)
] + [_plain(base.BY_NAME[name]) for name in (
    "kill_leader", "pause_leader", "kill_controller", "pause_controller", "kill_all")]


@dataclass(frozen=True)
class TxnScheduleResult:
    """One run: the checker's verdict, every partition's final state, replicas
    that differ (empty when all are identical), how many transactions a new
    coordinator completed, the history, the duration."""

    name: str
    report: TxnReport
    partitions: dict[int, PartitionState]
    replica_differences: list[str]
    resumed: int  # see resumed_transactions
    history_path: Path
    duration_s: float


def txn_workload_config(cluster: LocalCluster, name: str) -> TxnWorkloadConfig:
    """The fault tests' workload: 3 transactional producers, 8 transactions/s each of 4
    records over 4 partitions (replication factor 3, min.insync.replicas 2), a quarter
    aborted, transaction timeout 3 s (a transaction caught by a fault is aborted by
    the coordinator and its producer fenced), a live read_committed reader."""
    slug = name.replace("_", "-")
    return TxnWorkloadConfig(bootstrap=cluster.bootstrap, topic=f"txn-{slug}",
                             transactional_id_prefix=f"txn-{slug}",
                             security=client_security(cluster))


def run_txn_schedule(cluster: LocalCluster, schedule: TxnSchedule, workdir: Path,
                     config: TxnWorkloadConfig | None = None) -> TxnScheduleResult:
    """One fault test on a started `cluster` (see the module docstring); the history
    goes to workdir/<schedule>.jsonl. Raises ScheduleError if the cluster does not
    recover (no full ISR, no commits) in time."""
    config = config or txn_workload_config(cluster, schedule.name)
    started = time.monotonic()
    create_txn_topic(config)
    path = workdir / f"{schedule.name}.jsonl"
    with TxnHistory(path) as history:
        workload = TxnWorkload(config, history)
        faults = TxnFaults(cluster, config, history, workload)
        with workload:
            if not workload.wait_commits(WARMUP_COMMITS, LIVENESS_TIMEOUT_S):
                raise ScheduleError(f"no {WARMUP_COMMITS} commits before the faults "
                                    f"({faults.describe()}); history in {path}")
            history.note(f"schedule {schedule.name} begins")
            schedule.run(faults)
            history.note(f"schedule {schedule.name} ends")
            faults.wait_full_isr()
            if not workload.wait_commits(RECOVERY_COMMITS, LIVENESS_TIMEOUT_S):
                raise ScheduleError(f"no {RECOVERY_COMMITS} commits after the faults "
                                    f"({faults.describe()}); history in {path}")
        history.note("producers stopped")
        config = dataclasses.replace(config, bootstrap=cluster.bootstrap)
        report = read_and_check(config, history,
                                settle_timeout_s=config.transaction_timeout_s + LIVENESS_TIMEOUT_S)
        partitions = faults.wait_full_isr()
        differences = replica_differences(cluster, config.topic, partitions)
        for text in differences:
            history.note(f"replicas differ: {text}")
        resumed = resumed_transactions(cluster, config)
        history.note(f"transactions completed by a coordinator that loaded them in a "
                     f"Prepare state: {resumed}; marker sends retried after a connection "
                     f"failure: {_log_lines(cluster, 'markers to broker')}")
    return TxnScheduleResult(schedule.name, report, partitions, differences, resumed, path,
                             time.monotonic() - started)


def _log_lines(cluster: LocalCluster, text: str) -> int:
    """How many lines of the nodes' logs contain `text`."""
    count = 0
    for n in cluster.ids:
        with contextlib.suppress(FileNotFoundError):
            count += sum(1 for line in cluster.log_path(n).read_text(errors="replace")
                         .splitlines() if text in line)
    return count


def resumed_transactions(cluster: LocalCluster, config: TxnWorkloadConfig) -> int:
    """How many times a coordinator, on loading a `__transaction_state` partition,
    found one of the workload's transactions in PrepareCommit/PrepareAbort and
    completed it (its log line): whether a run hit the failover case at all."""
    ids = tuple(f"transaction of {i} found in" for i in config.transactional_ids)
    count = 0
    for n in cluster.ids:
        try:
            text = cluster.log_path(n).read_text(errors="replace")
        except FileNotFoundError:
            continue
        count += sum(1 for line in text.splitlines()
                     if "completing the transaction" in line and any(i in line for i in ids))
    return count


# --- replicas identical ---------------------------------------------------------------------


BatchKey = tuple[int, int, int, int, int, int]  # base, last, crc, attributes, producer id, epoch


def replica_batches(partition_dir: Path, below: int) -> list[BatchKey]:
    """The batches of a replica's log (its segment files read as they are on disk)
    that end below offset `below`, in offset order."""
    out: list[BatchKey] = []
    for segment in sorted(partition_dir.glob("*.log")):
        data = segment.read_bytes()
        for _, h in iter_batches(data, allow_partial_tail=True):
            if h.last_offset < below:
                out.append((h.base_offset, h.last_offset, h.crc, h.attributes, h.producer_id,
                            h.producer_epoch))
    return sorted(out)


def replica_differences(cluster: LocalCluster, topic: str,
                        partitions: dict[int, PartitionState]) -> list[str]:
    """Where the replicas of `topic`'s partitions differ below the high watermark
    (each replica's copy compared batch by batch with the leader's; the high
    watermark is the first offset after the leader's last whole batch, since the
    producers have stopped). Empty when every replica is identical."""
    out: list[str] = []
    for p, s in sorted(partitions.items()):
        copies = {n: replica_batches(cluster.node_dir(n) / "data" / f"{topic}-{p}", 2**63 - 1)
                  for n in s.replicas}
        leader = copies.get(s.leader, [])
        end = min((c[-1][1] + 1 if c else 0) for c in copies.values())
        reference = [b for b in leader if b[1] < end]
        for n, batches in sorted(copies.items()):
            mine = [b for b in batches if b[1] < end]
            if mine != reference:
                first = next((i for i, (a, b) in enumerate(zip(mine, reference, strict=False))
                              if a != b), min(len(mine), len(reference)))
                out.append(f"{topic}-{p} node {n} against leader {s.leader}: first difference "
                           f"at batch {first} (of {len(mine)} / {len(reference)}, below offset "
                           f"{end}): {mine[first:first + 1]} vs {reference[first:first + 1]}")
        if leader and end < leader[-1][1] + 1:
            out.append(f"{topic}-{p}: a replica ends at offset {end}, the leader at "
                       f"{leader[-1][1] + 1}")
    return out
