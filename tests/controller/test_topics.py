"""Topic commands (kraft.controller.topics): CreateTopics, DeleteTopics, CreatePartitions.

Images are built by replaying records; requests go through the kio wire
codec first, so commands see exactly what a decoded request holds.
The helpers at the top are shared with test_configs.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.config import KafkaConfig
from kraft.controller.result import ControllerContext, ControllerResult, apply_records
from kraft.controller.topics import (
    MAX_RECORDS_PER_USER_OP,
    create_partitions,
    create_topics,
    delete_topics,
    place_replicas,
    validate_topic_name,
)
from kraft.metadata.image import EMPTY, ConfigResource, MetadataImage
from kraft.metadata.records import (
    TOPIC_RESOURCE,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    MetadataRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from kraft.net.codec import (
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    request_type,
    response_type,
)
from kraft.net.messages import nested

TIMEOUT = timedelta(seconds=30)


# --- helpers (also used by test_configs) -------------------------------------------------

def cluster(n_brokers: int = 3, fenced: tuple[int, ...] = (),
            shutting_down: tuple[int, ...] = ()) -> MetadataImage:
    """An image with brokers 1..n_brokers registered; `fenced` ones fenced and
    `shutting_down` ones in controlled shutdown."""
    records: list[MetadataRecord] = [
        RegisterBrokerRecord(broker_id=b, incarnation_id=uuid.UUID(int=b), broker_epoch=10 + b,
                             fenced=b in fenced)
        for b in range(1, n_brokers + 1)
    ]
    records += [
        BrokerRegistrationChangeRecord(broker_id=b, broker_epoch=10 + b,
                                       in_controlled_shutdown=True)
        for b in shutting_down
    ]
    return apply_records(EMPTY, records)


def context(seed: int = 0, **props: str) -> ControllerContext:
    """A controller context with server.properties `props` (dots as in Kafka) and a seeded rng."""
    return ControllerContext(
        config=KafkaConfig({k: str(v) for k, v in props.items()}),
        cluster_id="test-cluster",
        rng=random.Random(seed),
    )


def wire(request: Any) -> Any:
    """`request` as the controller receives it: encoded and decoded by the codec."""
    _, decoded = decode_request(encode_request(7, "test", request)[4:])
    return decoded


def roundtrip(response: Any) -> Any:
    """`response` encoded for the wire and decoded back (raises if kio cannot write it)."""
    frame = encode_response(7, response)
    cls = response_type(response.__api_key__, response.__version__)
    correlation_id, decoded = decode_response(frame[4:], cls)
    assert correlation_id == 7
    return decoded


def create_request(version: int, *topics: dict[str, Any], validate_only: bool = False) -> Any:
    """A CreateTopics request; each topic dict has name and optionally num_partitions,
    replication_factor, assignments {partition: [brokers]} and configs {name: value}."""
    cls = request_type(19, version)
    topic_cls = nested(cls, "CreatableTopic")
    assignment_cls = nested(cls, "CreatableReplicaAssignment")
    config_cls = nested(cls, "CreatableTopicConfig")
    return wire(cls(
        topics=tuple(
            topic_cls(
                name=t["name"],
                num_partitions=t.get("num_partitions", -1),
                replication_factor=t.get("replication_factor", -1),
                assignments=tuple(assignment_cls(partition_index=p, broker_ids=tuple(b))
                                  for p, b in t.get("assignments", {}).items()),
                configs=tuple(config_cls(name=k, value=v)
                              for k, v in t.get("configs", {}).items()),
            )
            for t in topics
        ),
        timeout=TIMEOUT,
        validate_only=validate_only,
    ))


def create(image: MetadataImage, *topics: dict[str, Any], version: int = 7,
           ctx: ControllerContext | None = None, validate_only: bool = False) -> ControllerResult:
    return create_topics(image, create_request(version, *topics, validate_only=validate_only),
                         version, ctx or context())


def with_topic(image: MetadataImage, name: str, partitions: int = 3,
               replication_factor: int = 2, configs: dict[str, str] | None = None
               ) -> MetadataImage:
    """`image` plus topic `name`, created through create_topics."""
    result = create(image, {"name": name, "num_partitions": partitions,
                            "replication_factor": replication_factor,
                            "configs": configs or {}})
    assert result.response.topics[0].error_code == ErrorCode.none
    return apply_records(image, result.records)


def results_by_name(response: Any) -> dict[str, tuple[ErrorCode, str | None]]:
    return {t.name: (t.error_code, t.error_message) for t in response.topics}


# --- CreateTopics ------------------------------------------------------------------------

@pytest.mark.parametrize("version", range(2, 8))
def test_create_writes_topic_configs_then_partitions(version: int) -> None:
    """A created topic is a TopicRecord, its ConfigRecords, then one PartitionRecord per
    partition (ISR = replicas, leader = first replica); the image then has it; every
    version's response encodes."""
    image = cluster(3)
    result = create(image, {"name": "orders", "num_partitions": 4, "replication_factor": 2,
                            "configs": {"retention.ms": "1000"}}, version=version)
    topic_record, config_record, *partitions = result.records
    assert isinstance(topic_record, TopicRecord) and topic_record.name == "orders"
    assert config_record == ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="orders",
                                         name="retention.ms", value="1000")
    assert [p.partition_id for p in partitions] == [0, 1, 2, 3]
    for p in partitions:
        assert isinstance(p, PartitionRecord) and p.topic_id == topic_record.topic_id
        assert p.isr == p.replicas and p.leader == p.replicas[0]
        assert (p.leader_epoch, p.partition_epoch) == (0, 0)
    after = apply_records(image, result.records)
    assert len(after.topics.by_name["orders"].partitions) == 4
    assert after.configs.get(ConfigResource(TOPIC_RESOURCE, "orders")) == {"retention.ms": "1000"}
    (entry,) = roundtrip(result.response).topics
    assert entry.error_code == ErrorCode.none and entry.name == "orders"
    if version >= 7:
        assert entry.topic_id == topic_record.topic_id


@pytest.mark.parametrize("version", [5, 6, 7])
def test_create_v5_reports_count_factor_and_configs(version: int) -> None:
    """v5+ results carry the partition count, replication factor and every effective
    config with its source (topic override 1, default 5)."""
    result = create(cluster(3), {"name": "t", "num_partitions": 2, "replication_factor": 3,
                                 "configs": {"cleanup.policy": "compact"}}, version=version)
    (entry,) = result.response.topics
    assert (entry.num_partitions, entry.replication_factor) == (2, 3)
    configs = {c.name: c for c in entry.configs}
    assert configs["cleanup.policy"].value == "compact"
    assert configs["cleanup.policy"].config_source == 1
    assert configs["segment.bytes"].value == "1073741824"
    assert configs["segment.bytes"].config_source == 5
    assert not any(c.read_only or c.is_sensitive for c in entry.configs)


def test_create_uses_broker_defaults_for_minus_one() -> None:
    """num_partitions / replication_factor -1 take num.partitions and
    default.replication.factor from the broker config."""
    ctx = context(**{"num.partitions": "5", "default.replication.factor": "2"})
    result = create(cluster(3), {"name": "t"}, ctx=ctx)
    partitions = [r for r in result.records if isinstance(r, PartitionRecord)]
    assert len(partitions) == 5 and all(len(p.replicas) == 2 for p in partitions)


def test_create_validate_only_writes_nothing() -> None:
    """validate_only answers as a real creation would and writes no record."""
    result = create(cluster(3), {"name": "t", "num_partitions": 2, "replication_factor": 1},
                    validate_only=True)
    assert result.records == ()
    assert result.response.topics[0].error_code == ErrorCode.none
    assert result.response.topics[0].num_partitions == 2


def test_create_internal_underscore_names_allowed() -> None:
    """Names starting with "__" (internal topics) may be created; __cluster_metadata may not."""
    result = create(cluster(1), {"name": "__consumer_offsets", "num_partitions": 1},
                    {"name": "__cluster_metadata", "num_partitions": 1})
    errors = results_by_name(result.response)
    assert errors["__consumer_offsets"] == (ErrorCode.none, None)
    assert errors["__cluster_metadata"] == (
        ErrorCode.invalid_request, "Creation of internal topic __cluster_metadata is prohibited.")


LONG_NAME = "x" * 250
CREATE_ERRORS = [
    ({"name": ""}, ErrorCode.invalid_topic_exception,
     "Topic name is invalid: the empty string is not allowed"),
    ({"name": "."}, ErrorCode.invalid_topic_exception, "Topic name is invalid: '.' is not allowed"),
    ({"name": ".."}, ErrorCode.invalid_topic_exception,
     "Topic name is invalid: '..' is not allowed"),
    ({"name": LONG_NAME}, ErrorCode.invalid_topic_exception,
     f"Topic name is invalid: the length of '{LONG_NAME}' is longer than the max allowed "
     "length 249"),
    ({"name": "a/b"}, ErrorCode.invalid_topic_exception,
     "Topic name is invalid: 'a/b' contains one or more characters other than ASCII "
     "alphanumerics, '.', '_' and '-'"),
    ({"name": "exists"}, ErrorCode.topic_already_exists, "Topic 'exists' already exists."),
    ({"name": "my.topic"}, ErrorCode.invalid_topic_exception,
     "Topic 'my.topic' collides with existing topic: my_topic"),
    ({"name": "t", "replication_factor": 0}, ErrorCode.invalid_replication_factor,
     "Replication factor must be larger than 0, or -1 to use the default value."),
    ({"name": "t", "replication_factor": -2}, ErrorCode.invalid_replication_factor,
     "Replication factor must be larger than 0, or -1 to use the default value."),
    ({"name": "t", "num_partitions": 0}, ErrorCode.invalid_partitions,
     "Number of partitions was set to an invalid non-positive value."),
    ({"name": "t", "num_partitions": -3}, ErrorCode.invalid_partitions,
     "Number of partitions was set to an invalid non-positive value."),
    ({"name": "t", "replication_factor": 3}, ErrorCode.invalid_replication_factor,
     "Unable to replicate the partition 3 time(s): The target replication factor of 3 "
     "cannot be reached because only 2 broker(s) are registered or some brokers have all "
     "their log directories cordoned."),
    ({"name": "t", "configs": {"retention.ms": "soon"}}, ErrorCode.invalid_config,
     "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
    ({"name": "t", "configs": {"no.such.config": "1"}}, ErrorCode.invalid_config,
     "Unknown topic config name: no.such.config"),
    ({"name": "t", "configs": {"retention.ms": None}}, ErrorCode.invalid_config,
     "Null value not supported for topic configs: retention.ms"),
    ({"name": "t", "assignments": {0: [1]}, "replication_factor": 1}, ErrorCode.invalid_request,
     "A manual partition assignment was specified, but replication factor was not set to -1."),
    ({"name": "t", "assignments": {0: [1]}, "num_partitions": 1}, ErrorCode.invalid_request,
     "A manual partition assignment was specified, but numPartitions was not set to -1."),
    ({"name": "t", "assignments": {0: [1], 2: [2]}}, ErrorCode.invalid_replica_assignment,
     "partitions should be a consecutive 0-based integer sequence"),
    ({"name": "t", "assignments": {0: [1, 1]}}, ErrorCode.invalid_replica_assignment,
     "The manual partition assignment includes the broker 1 more than once."),
    ({"name": "t", "assignments": {0: [1, 9]}}, ErrorCode.invalid_replica_assignment,
     "The manual partition assignment includes broker 9, but no such broker is registered."),
    ({"name": "t", "assignments": {0: []}}, ErrorCode.invalid_replica_assignment,
     "The manual partition assignment includes an empty replica list."),
    ({"name": "t", "assignments": {0: [1, 2], 1: [1]}}, ErrorCode.invalid_replica_assignment,
     "The manual partition assignment includes a partition with 1 replica(s), but this is "
     "not consistent with previous partitions, which have 2 replica(s)."),
    ({"name": "t", "assignments": {0: [3]}}, ErrorCode.invalid_replica_assignment,
     "All brokers specified in the manual partition assignment for partition 0 are fenced "
     "or in controlled shutdown."),
]


@pytest.mark.parametrize(("topic", "code", "message"), CREATE_ERRORS)
def test_create_errors(topic: dict[str, Any], code: ErrorCode, message: str) -> None:
    """Each invalid topic fails with Kafka's code and message and writes no record, while a
    valid topic in the same request is still created."""
    image = with_topic(with_topic(cluster(3, fenced=(3,)), "exists", 1, 1), "my_topic", 1, 1)
    result = create(image, topic, {"name": "fine", "num_partitions": 1})
    assert results_by_name(result.response)[topic["name"]] == (code, message)
    assert results_by_name(result.response)["fine"] == (ErrorCode.none, None)
    assert {r.name for r in result.records if isinstance(r, TopicRecord)} == {"fine"}
    assert all(not isinstance(r, ConfigRecord) or r.resource_name == "fine"
               for r in result.records)
    apply_records(image, result.records)
    roundtrip(result.response)


def test_create_duplicate_name_in_request_fails_once() -> None:
    """A name given twice in one request gets one INVALID_REQUEST result and no records."""
    result = create(cluster(1), {"name": "t"}, {"name": "t"}, {"name": "u"})
    assert [t.name for t in result.response.topics] == ["t", "u"]
    assert results_by_name(result.response)["t"] == (ErrorCode.invalid_request,
                                                      "Duplicate topic name.")
    assert {r.name for r in result.records if isinstance(r, TopicRecord)} == {"u"}


def test_create_colliding_names_in_one_request() -> None:
    """Of two new names that differ only in '.' vs '_', the second is rejected."""
    result = create(cluster(1), {"name": "a.b"}, {"name": "a_b"})
    assert results_by_name(result.response)["a_b"] == (
        ErrorCode.invalid_topic_exception, "Topic 'a_b' collides with existing topic: a.b")


def test_create_all_brokers_fenced() -> None:
    """With every broker fenced, creation fails as Kafka's placer does."""
    result = create(cluster(2, fenced=(1, 2)), {"name": "t"})
    assert results_by_name(result.response)["t"] == (
        ErrorCode.invalid_replication_factor,
        "Unable to replicate the partition 1 time(s): All brokers are currently fenced.")
    assert result.records == ()


def test_create_no_brokers() -> None:
    """With no broker registered, replication factor 1 cannot be reached."""
    result = create(EMPTY, {"name": "t"})
    assert results_by_name(result.response)["t"] == (
        ErrorCode.invalid_replication_factor,
        "Unable to replicate the partition 1 time(s): The target replication factor of 1 "
        "cannot be reached because only 0 broker(s) are registered or some brokers have "
        "all their log directories cordoned.")


def test_create_manual_assignment() -> None:
    """A manual assignment is used as given; fenced replicas stay out of the ISR."""
    image = cluster(3, fenced=(3,))
    result = create(image, {"name": "t", "assignments": {1: [2, 3], 0: [3, 1]}})
    partitions = {r.partition_id: r for r in result.records if isinstance(r, PartitionRecord)}
    assert partitions[0].replicas == (3, 1) and partitions[0].isr == (1,)
    assert partitions[0].leader == 1
    assert partitions[1].replicas == (2, 3) and partitions[1].isr == (2,)
    assert result.response.topics[0].replication_factor == 2
    apply_records(image, result.records)


def test_create_too_many_records_fails_whole_request() -> None:
    """A request that would write more than MAX_RECORDS_PER_USER_OP records fails every
    topic with POLICY_VIOLATION and writes nothing."""
    result = create(cluster(1), {"name": "small", "num_partitions": 1},
                    {"name": "huge", "num_partitions": MAX_RECORDS_PER_USER_OP})
    assert result.records == ()
    assert {t.error_code for t in result.response.topics} == {ErrorCode.policy_violation}


def test_create_topic_ids_are_fresh_uuid4() -> None:
    """Created topics get distinct version-4 ids not used by any existing topic."""
    image = with_topic(cluster(1), "a", 1, 1)
    result = create(image, *({"name": f"t{i}", "num_partitions": 1} for i in range(20)))
    ids = [r.topic_id for r in result.records if isinstance(r, TopicRecord)]
    assert len(set(ids)) == 20 and all(i.version == 4 for i in ids)
    assert image.topics.by_name["a"].topic_id not in ids


@given(
    n_brokers=st.integers(1, 7),
    fenced=st.sets(st.integers(1, 7), max_size=3),
    shutting_down=st.sets(st.integers(1, 7), max_size=2),
    n_partitions=st.integers(1, 40),
    rf_seed=st.integers(0, 100),
    seed=st.integers(0, 2**32),
)
def test_placement_properties(n_brokers: int, fenced: set[int], shutting_down: set[int],
                              n_partitions: int, rf_seed: int, seed: int) -> None:
    """Placed replica sets have rf distinct usable brokers; leaders differ by at most one
    across usable brokers (exactly equal when partitions are a multiple of them)."""
    fenced_ids = tuple(b for b in fenced if b <= n_brokers)
    down_ids = tuple(b for b in shutting_down if b <= n_brokers and b not in fenced_ids)
    image = cluster(n_brokers, fenced_ids, down_ids)
    usable = [b for b in range(1, n_brokers + 1) if b not in fenced_ids and b not in down_ids]
    if not usable:
        return
    rf = 1 + rf_seed % len(usable)
    result = create(image, {"name": "t", "num_partitions": n_partitions,
                            "replication_factor": rf}, ctx=context(seed))
    partitions = [r for r in result.records if isinstance(r, PartitionRecord)]
    assert len(partitions) == n_partitions
    for p in partitions:
        assert len(p.replicas) == rf == len(set(p.replicas))
        assert set(p.replicas) <= set(usable)
    leaders = Counter({b: 0 for b in usable}) + Counter(p.leader for p in partitions)
    counts = [leaders[b] for b in usable]
    assert max(counts) - min(counts) <= 1
    if n_partitions % len(usable) == 0:
        replicas = Counter(b for p in partitions for b in p.replicas)
        assert set(counts) == {n_partitions // len(usable)}
        assert {replicas[b] for b in usable} == {rf * n_partitions // len(usable)}
    after = apply_records(image, result.records)
    assert len(after.topics.by_name["t"].partitions) == n_partitions


@given(seed=st.integers(0, 2**32), n=st.integers(2, 6))
def test_place_replicas_staggers_followers(seed: int, n: int) -> None:
    """Within each block of n partitions, every broker is the j-th follower exactly once."""
    brokers = list(range(10, 10 + n))
    assignments = place_replicas(brokers, 0, 2 * n, n, random.Random(seed))
    for block in (assignments[:n], assignments[n:]):
        for j in range(n):
            assert sorted(a[j] for a in block) == brokers


def test_validate_topic_name_accepts_legal_names() -> None:
    """Legal names (alphanumerics, '.', '_', '-', up to 249 chars) pass."""
    for name in ("a", "A-b_c.d", "x" * 249, "__consumer_offsets", "..."):
        assert validate_topic_name(name) is None


def test_create_does_not_mutate_image() -> None:
    """A command leaves the image it read unchanged (images are values)."""
    image = cluster(3)
    before = apply_records(image, [])
    create(image, {"name": "t", "num_partitions": 3})
    assert image == before


# --- DeleteTopics ------------------------------------------------------------------------

def delete_request(version: int, *entries: str | uuid.UUID | tuple[str, uuid.UUID]) -> Any:
    """DeleteTopics by name (v1-6) or by id / (name, id) (v6)."""
    cls = request_type(20, version)
    if version < 6:
        return wire(cls(topic_names=tuple(entries), timeout=TIMEOUT))
    state_cls = nested(cls, "DeleteTopicState")
    states = []
    for e in entries:
        if isinstance(e, str):
            states.append(state_cls(name=e, topic_id=None))
        elif isinstance(e, uuid.UUID):
            states.append(state_cls(name=None, topic_id=e))
        else:
            states.append(state_cls(name=e[0], topic_id=e[1]))
    return wire(cls(topics=tuple(states), timeout=TIMEOUT))


def two_topics() -> MetadataImage:
    return with_topic(with_topic(cluster(2), "a", 2, 1, {"retention.ms": "5"}), "b", 1, 1)


@pytest.mark.parametrize("version", range(1, 7))
def test_delete_by_name(version: int) -> None:
    """Deleting by name writes one RemoveTopicRecord per topic; the topic and its configs
    leave the image; every version's response encodes."""
    image = two_topics()
    a_id = image.topics.by_name["a"].topic_id
    result = delete_topics(image, delete_request(version, "a", "missing"), version, context())
    assert result.records == (RemoveTopicRecord(topic_id=a_id),)
    after = apply_records(image, result.records)
    assert "a" not in after.topics.by_name and "b" in after.topics.by_name
    assert after.configs.get(ConfigResource(TOPIC_RESOURCE, "a")) == {}
    decoded = roundtrip(result.response)
    codes = {r.name: r.error_code for r in decoded.responses}
    assert codes == {"a": ErrorCode.none, "missing": ErrorCode.unknown_topic_or_partition}


@pytest.mark.parametrize("version", range(1, 7))
def test_delete_internal_topics_refused(version: int) -> None:
    """__consumer_offsets and __transaction_state, by name (and by id from v6), are refused
    with INVALID_TOPIC_EXCEPTION and kept; the other topics of the request are deleted."""
    image = with_topic(with_topic(two_topics(), "__consumer_offsets", 3, 1),
                       "__transaction_state", 2, 1)
    a_id = image.topics.by_name["a"].topic_id
    txn_id = image.topics.by_name["__transaction_state"].topic_id
    entries: list[str | uuid.UUID] = ["__consumer_offsets", "a"]
    entries.append(txn_id if version >= 6 else "__transaction_state")
    result = delete_topics(image, delete_request(version, *entries), version, context())
    assert result.records == (RemoveTopicRecord(topic_id=a_id),)
    after = apply_records(image, result.records)
    assert {"__consumer_offsets", "__transaction_state"} <= set(after.topics.by_name)
    decoded = roundtrip(result.response)
    errors = {r.name: (r.error_code, getattr(r, "error_message", None))  # v5+
              for r in decoded.responses}
    for name in ("__consumer_offsets", "__transaction_state"):
        message = f"Cannot delete internal topic {name}" if version >= 5 else None
        assert errors[name] == (ErrorCode.invalid_topic_exception, message)
    assert errors["a"][0] == ErrorCode.none


def test_delete_v6_by_id_and_errors() -> None:
    """v6: by id; unknown id, both name and id, neither, duplicates and a name that maps to
    an id also given are errors with Kafka's messages; only valid topics are removed."""
    image = two_topics()
    a_id, b_id = image.topics.by_name["a"].topic_id, image.topics.by_name["b"].topic_id
    unknown = uuid.UUID(int=12345)
    request = delete_request(6, a_id, unknown, ("b", b_id), "b", "b", b_id)
    result = delete_topics(image, request, 6, context())
    slots = [(r.name, r.topic_id, r.error_code, r.error_message) for r in result.response.responses]
    assert slots[0] == ("a", a_id, ErrorCode.none, None)
    assert slots[1] == (None, unknown, ErrorCode.unknown_topic_id,
                        "This server does not host this topic ID.")
    assert slots[2] == ("b", b_id, ErrorCode.invalid_request,
                        "You may not specify both topic name and topic id.")
    assert slots[3] == ("b", None, ErrorCode.invalid_request, "Duplicate topic name.")
    assert slots[4] == ("b", b_id, ErrorCode.none, None)
    assert result.records == (RemoveTopicRecord(topic_id=a_id), RemoveTopicRecord(topic_id=b_id))
    roundtrip(result.response)

    request = delete_request(6, "a", a_id, (None, None))  # type: ignore[arg-type]
    result = delete_topics(image, request, 6, context())
    errors = [(r.error_code, r.error_message) for r in result.response.responses]
    mapped = (ErrorCode.invalid_request,
              "The provided topic name maps to an ID that was already supplied.")
    assert errors == [mapped, mapped,
                      (ErrorCode.invalid_request, "Neither topic name nor id were specified.")]
    assert result.records == ()


def test_delete_duplicate_id() -> None:
    """An id given twice fails with INVALID_REQUEST and deletes nothing."""
    image = two_topics()
    a_id = image.topics.by_name["a"].topic_id
    result = delete_topics(image, delete_request(6, a_id, a_id), 6, context())
    assert [(r.error_code, r.error_message) for r in result.response.responses] == [
        (ErrorCode.invalid_request, "Duplicate topic id.")]
    assert result.records == ()


@pytest.mark.parametrize(("version", "code"), [
    (1, ErrorCode.invalid_request), (2, ErrorCode.invalid_request),
    (3, ErrorCode.topic_deletion_disabled), (6, ErrorCode.topic_deletion_disabled),
])
def test_delete_disabled(version: int, code: ErrorCode) -> None:
    """delete.topic.enable=false fails every topic (INVALID_REQUEST before v3) and
    writes nothing."""
    ctx = context(**{"delete.topic.enable": "false"})
    result = delete_topics(two_topics(), delete_request(version, "a", "b"), version, ctx)
    assert result.records == ()
    assert {r.error_code for r in result.response.responses} == {code}


# --- CreatePartitions --------------------------------------------------------------------

def partitions_request(version: int, *topics: tuple[str, int, list[list[int]] | None],
                       validate_only: bool = False) -> Any:
    cls = request_type(37, version)
    topic_cls = nested(cls, "CreatePartitionsTopic")
    assignment_cls = nested(cls, "CreatePartitionsAssignment")
    return wire(cls(
        topics=tuple(
            topic_cls(name=name, count=count,
                      assignments=None if assignments is None else tuple(
                          assignment_cls(broker_ids=tuple(b)) for b in assignments))
            for name, count, assignments in topics
        ),
        timeout=TIMEOUT,
        validate_only=validate_only,
    ))


@pytest.mark.parametrize("version", range(0, 4))
def test_create_partitions_grows_topic(version: int) -> None:
    """New partitions get ids after the existing ones and partition 0's replication factor;
    the image then has the new count; every version's response encodes."""
    image = with_topic(cluster(4), "t", 3, 3)
    result = create_partitions(image, partitions_request(version, ("t", 7, None)), version,
                               context())
    new = [r for r in result.records if isinstance(r, PartitionRecord)]
    assert [p.partition_id for p in new] == [3, 4, 5, 6]
    assert all(len(set(p.replicas)) == 3 and p.isr == p.replicas for p in new)
    after = apply_records(image, result.records)
    assert len(after.topics.by_name["t"].partitions) == 7
    (entry,) = roundtrip(result.response).results
    assert entry.error_code == ErrorCode.none


def test_create_partitions_manual_assignment() -> None:
    """Given assignments are used for the new partitions, fenced replicas out of the ISR."""
    image = with_topic(cluster(3, fenced=(3,)), "t", 1, 2)
    result = create_partitions(image, partitions_request(3, ("t", 3, [[3, 1], [2, 1]])), 3,
                               context())
    new = [(r.partition_id, r.replicas, r.isr, r.leader) for r in result.records]
    assert new == [(1, (3, 1), (1,), 1), (2, (2, 1), (2, 1), 2)]


def test_create_partitions_errors() -> None:
    """Unknown topic, no increase, wrong assignment count or content, too few brokers and
    duplicates fail with Kafka's codes and messages and write nothing for those topics."""
    image = with_topic(with_topic(with_topic(cluster(2), "t", 2, 2), "u", 1, 1), "w", 1, 1)
    image = apply_records(image, [BrokerRegistrationChangeRecord(broker_id=2, broker_epoch=12,
                                                                 fenced=True)])
    request = partitions_request(
        3, ("missing", 2, None), ("t", 2, None), ("t", 1, None), ("u", 3, [[1]]),
        ("u", 2, [[1, 1]]), ("v", 1, None),
    )
    result = create_partitions(image, request, 3, context())
    errors = {r.name: (r.error_code, r.error_message) for r in result.response.results}
    assert errors["missing"] == (ErrorCode.unknown_topic_or_partition, None)
    assert errors["t"] == (ErrorCode.invalid_request, "Duplicate topic name.")
    assert errors["u"] == (ErrorCode.invalid_request, "Duplicate topic name.")
    assert result.records == ()
    cases = [
        (("t", 2, None), ErrorCode.invalid_partitions, "Topic already has 2 partition(s)."),
        (("t", 1, None), ErrorCode.invalid_partitions,
         "The topic t currently has 2 partition(s); 1 would not be an increase."),
        (("u", 3, [[1]]), ErrorCode.invalid_replica_assignment,
         "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."),
        (("u", 2, [[1, 1]]), ErrorCode.invalid_replica_assignment,
         "The manual partition assignment includes the broker 1 more than once."),
        (("u", 2, [[2]]), ErrorCode.invalid_replica_assignment,
         "All brokers specified in the manual partition assignment for partition 1 are fenced "
         "or in controlled shutdown."),
        (("t", 3, None), ErrorCode.invalid_replication_factor,
         "The target replication factor of 2 cannot be reached because only 1 broker(s) are "
         "registered or some brokers have all their log directories cordoned."),
    ]
    for topic, code, message in cases:
        result = create_partitions(image, partitions_request(3, topic, ("w", 2, None)), 3,
                                   context())
        errors = {r.name: (r.error_code, r.error_message) for r in result.response.results}
        assert errors == {topic[0]: (code, message), "w": (ErrorCode.none, None)}
        w_id = image.topics.by_name["w"].topic_id
        assert [(r.topic_id, r.partition_id) for r in result.records] == [(w_id, 1)]


def test_create_partitions_validate_only() -> None:
    """validate_only reports success and writes nothing."""
    image = with_topic(cluster(2), "t", 1, 1)
    result = create_partitions(image, partitions_request(3, ("t", 4, None), validate_only=True),
                               3, context())
    assert result.records == ()
    assert result.response.results[0].error_code == ErrorCode.none
