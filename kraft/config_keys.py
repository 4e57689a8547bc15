"""Every server.properties key kraft knows: Kafka's name, type, default and check.

`KEYS` is the single declaration of the broker, controller and quorum keys
(ConfigKey, kraft.log.configdef). KafkaConfig (kraft.config) parses
server.properties with it, QuorumConfig (kraft.raft.config) takes its
defaults from it, and DescribeConfigs and the dynamic broker config commands
(kraft.topic_configs) describe and validate with it. Types, defaults and
checks are Kafka 4.0's (KafkaConfig's ConfigDef: ServerConfigs, KRaftConfigs,
SocketServerConfigs, ReplicationConfigs, ServerLogConfigs, CleanerConfig,
GroupCoordinatorConfig, QuorumConfig, ...); `dynamic` marks the keys of
Kafka's DynamicBrokerConfig.AllDynamicConfigs.

A broker key that is a synonym of a topic config (log.segment.bytes for
segment.bytes, ...) is declared from that topic config (kraft.log.config),
so type, default and check are written once. Kafka keys kraft does not act
on are declared with the reason (`unused`): the thread-pool and buffer
tuning keys a trio broker has no use for, and the Java-only security keys
(Kerberos, JSSE providers). They parse, validate, store and describe like
the rest; setting them is logged at DEBUG. The rest of the keys of Kafka
4.4's broker, for what kraft does not need or does not build, are declared
in kraft.config_keys_kafka and merged into KEYS (a value that would turn on
a feature kraft does not build is refused there). The password keys
kraft.security reads (PASSWORD_KEYS, JAAS configs under a listener and
mechanism prefix) are declared apart, not in KEYS: kraft.security reads
them from the raw properties, and DescribeConfigs lists them as Kafka does,
sensitive and without a value.
"""

from __future__ import annotations

from typing import Any, Final

from kraft.config_keys_kafka import TUNING, UNBUILT
from kraft.log.config import TOPIC_CONFIGS
from kraft.log.configdef import LONG_MAX, ConfigKey, Type, at_least, invalid, one_of


class ConfigError(Exception):
    """A configuration value is missing, malformed or inconsistent; str() is one line
    a person can act on. (Defined here, beside the keys, so that kraft.raft.config
    need not import kraft.config, which loads it; kraft.config re-exports it.)"""

__all__ = ["CLUSTER_LEVEL_LISTENER_CONFIGS", "INT_MAX", "KEYS", "LIST_TYPED_CSV",
           "PASSWORD_CONFIGS", "PASSWORD_KEYS"]

INT_MAX: Final = (1 << 31) - 1
_MB = 1024 * 1024

_THREADS = "kraft runs every listener, request and log task on one trio event loop"
_BUFFERS = "kraft leaves socket buffer sizes and backlogs to the operating system"
_CLEANER = "kraft's log cleaner runs as one task of the event loop, without I/O buffers or limits"
_JAVA_TLS = "Java's JSSE setting; kraft's TLS is Python's ssl module (OpenSSL)"
_NO_KERBEROS = "kraft serves no GSSAPI (Kerberos) and no OAUTHBEARER"
_NO_QUOTAS = "kraft has no connection quotas"
_NO_KIP_848 = ("kraft serves the classic group protocol; this is a default and bound of the "
               "KIP-848 group configs, which are stored and described")
_NO_SHARE = "kraft has no share groups (KIP-932); a default and bound of the share group configs"


def _key(name: str, type_: Type, default: Any, doc: str, validator: Any = None,
         **flags: Any) -> ConfigKey:
    return ConfigKey(name, type_, default, doc, validator, **flags)


def _synonym(topic: str, name: str | None = None, *, default: Any = ...,
             dynamic: bool = True) -> ConfigKey:
    """The broker key that gives topic config `topic` its default (Kafka's primary
    ServerTopicConfigSynonyms entry): same type, check, doc and (unless given) default;
    acted on exactly when the topic config is."""
    t = TOPIC_CONFIGS[topic]
    broker_name = name or t.synonyms[0][0]
    return ConfigKey(broker_name, t.type, t.default if default is ... else default,
                     f"Default of topic config {topic}: {t.doc}", t.validator,
                     dynamic=dynamic, unused=t.unused)


def _off_or_at_least_1(name: str, value: Any) -> None:
    """-1 (off) or a positive duration."""
    if value != -1 and value < 1:
        raise invalid(name, value, "Value must be -1 (off) or at least 1")


_SECURITY_PROTOCOL_MAP = ("CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,"
                          "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL")

_CORE: Final = [
    # identity and roles (KRaftConfigs, QuorumConfig)
    _key("node.id", Type.INT, -1, "The node's id in the cluster; required."),
    _key("broker.id", Type.INT, -1, "The node's id (Kafka's older name of node.id): "
         "either sets the other; when both are set they must be equal."),
    _key("broker.rack", Type.STRING, None, "Rack of the broker, registered with the "
         "controller and given to clients (replica placement does not use it yet)."),
    _key("process.roles", Type.LIST, [], "broker, controller, or both.",
         one_of("broker", "controller")),
    _key("controller.quorum.voters", Type.LIST, [],
         "The static controller quorum: id@host:port of each voter."),
    _key("controller.quorum.bootstrap.servers", Type.LIST, [],
         "host:port of controllers to discover a dynamic quorum from (KIP-853); the "
         "voter set is the one `kraft storage format` recorded."),
    _key("controller.listener.names", Type.STRING, None,
         "Listeners the controllers use; the first is the one brokers connect to.", csv=True),
    # listeners (SocketServerConfigs)
    _key("listeners", Type.STRING, "PLAINTEXT://:9092", "NAME://host:port of each listener.",
         dynamic=True, per_broker=True, csv=True),
    # Read-only in Kafka 4.4 (a KRaft broker cannot re-register other endpoints).
    _key("advertised.listeners", Type.STRING, None,
         "Addresses given to clients, when they differ from listeners.", csv=True),
    _key("listener.security.protocol.map", Type.STRING, _SECURITY_PROTOCOL_MAP,
         "Security protocol of each listener name.", dynamic=True, per_broker=True, csv=True),
    _key("inter.broker.listener.name", Type.STRING, None,
         "Listener that brokers use to reach each other."),
    _key("security.inter.broker.protocol", Type.STRING, "PLAINTEXT",
         "Security protocol between brokers (the listener of that name); exclusive with "
         "inter.broker.listener.name.",
         one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")),
    _key("sasl.mechanism.controller.protocol", Type.STRING, "GSSAPI",
         "SASL mechanism used to reach the controllers."),
    # authorization (KafkaConfig's authorizer.class.name; StandardAuthorizer's own keys)
    _key("authorizer.class.name", Type.STRING, "",
         "The authorizer: empty (none) or org.apache.kafka.metadata.authorizer."
         "StandardAuthorizer."),
    _key("super.users", Type.STRING, None,
         "Principals (User:name) separated by ';' that every ACL check allows."),
    _key("allow.everyone.if.no.acl.found", Type.BOOLEAN, False,
         "Allow an operation on a resource no ACL matches."),
    _key("socket.request.max.bytes", Type.INT, 100 * _MB,
         "Largest request the broker reads.", at_least(1)),
    _key("max.connections", Type.INT, INT_MAX, "Most connections a listener accepts.",
         at_least(0), dynamic=True),
    _key("connections.max.idle.ms", Type.LONG, 600000,
         "A connection with no request for this long is closed."),
    _key("max.incremental.fetch.session.cache.slots", Type.INT, 1000,
         "Most incremental fetch sessions the broker keeps.", at_least(0)),
    # storage (ServerLogConfigs)
    _key("log.dirs", Type.STRING, None, "Directories holding partition data (beats log.dir).",
         csv=True),
    _key("log.dir", Type.STRING, "/tmp/kafka-logs",
         "Directories holding partition data, when log.dirs is not set.", csv=True),
    _key("metadata.log.dir", Type.STRING, None,
         "Directory of the metadata log (default: the first log dir)."),
    _synonym("segment.bytes"),
    _synonym("segment.ms", default=None),
    _key("log.roll.hours", Type.INT, 168, "segment.ms in hours, when log.roll.ms is not set.",
         at_least(1)),
    _synonym("retention.ms", default=None),
    _key("log.retention.minutes", Type.INT, None,
         "retention.ms in minutes, when log.retention.ms is not set."),
    _key("log.retention.hours", Type.INT, 168,
         "retention.ms in hours, when neither log.retention.ms nor .minutes is set."),
    _synonym("retention.bytes"),
    _key("log.retention.check.interval.ms", Type.LONG, 300000,
         "How often segments are checked for deletion.", at_least(1)),
    _synonym("index.interval.bytes"),
    _synonym("segment.index.bytes"),
    _synonym("flush.messages"),
    _synonym("flush.ms", default=None),
    _synonym("max.message.bytes"),
    _synonym("message.timestamp.type"),
    # compaction (CleanerConfig)
    _synonym("cleanup.policy"),
    _key("log.cleaner.enable", Type.BOOLEAN, True, "Run the log cleaner (compaction)."),
    _key("log.cleaner.backoff.ms", Type.LONG, 15000,
         "Sleep of the cleaner when there is nothing to clean.", at_least(0), dynamic=True),
    _key("log.cleaner.dedupe.buffer.size", Type.LONG, 128 * _MB,
         "Memory for the cleaner's offset map.", dynamic=True),
    _synonym("delete.retention.ms"),
    _synonym("min.compaction.lag.ms"),
    _synonym("max.compaction.lag.ms"),
    _synonym("min.cleanable.dirty.ratio"),
    # topics
    _key("num.partitions", Type.INT, 1, "Partitions of a topic created without a count.",
         at_least(1)),
    _key("default.replication.factor", Type.INT, 1,
         "Replication factor of a topic created without one."),
    _synonym("min.insync.replicas"),
    _key("auto.create.topics.enable", Type.BOOLEAN, True,
         "Create a topic when Metadata asks for an unknown one."),
    _key("delete.topic.enable", Type.BOOLEAN, True, "Allow DeleteTopics."),
    _synonym("unclean.leader.election.enable"),
    _key("auto.leader.rebalance.enable", Type.BOOLEAN, True,
         "Move leadership back to preferred replicas periodically."),
    _key("leader.imbalance.check.interval.seconds", Type.LONG, 300,
         "How often the controller checks leader balance.", at_least(1)),
    # replication (ReplicationConfigs)
    _key("replica.lag.time.max.ms", Type.LONG, 30000,
         "A follower that has not caught up for this long leaves the ISR."),
    _key("replica.fetch.max.bytes", Type.INT, _MB, "Bytes a follower fetches per partition.",
         at_least(0)),
    _key("fetch.max.bytes", Type.INT, 55 * _MB, "Most bytes of a fetch response (the "
         "request's max_bytes is capped to it; the first batch is returned whole).",
         at_least(1024)),
    _key("replica.fetch.wait.max.ms", Type.INT, 500, "Long-poll wait of a follower's fetch."),
    _key("replica.fetch.min.bytes", Type.INT, 1, "Bytes a follower's fetch waits for."),
    _key("replica.fetch.backoff.ms", Type.INT, 1000,
         "Sleep of a follower after a failed fetch.", at_least(0)),
    _key("kraft.replica.fetch.response.timeout.ms", Type.INT, 3000,
         "kraft: how long a follower waits for a fetch response beyond "
         "replica.fetch.wait.max.ms before it closes that connection and fetches again on a "
         "new one (Kafka waits replica.socket.timeout.ms, 30 s): bounds how long a fetch "
         "sent into a network partition holds the follower after the heal.", at_least(1)),
    _key("kraft.replica.fetch.silence.max.ms", Type.INT, 7000,
         "kraft: a follower from which the leader has received no fetch at all for this long "
         "leaves the ISR (through AlterPartition, as after replica.lag.time.max.ms, which "
         "still applies to a follower that fetches but lags); the default is "
         "broker.session.timeout.ms minus broker.heartbeat.interval.ms at their defaults, "
         "the soonest the controller can fence a broker silent for as long. -1 turns this "
         "off.", _off_or_at_least_1),
    # broker lifecycle (KRaftConfigs)
    _key("broker.heartbeat.interval.ms", Type.INT, 2000,
         "Interval of broker heartbeats to the controller."),
    _key("broker.session.timeout.ms", Type.INT, 9000,
         "A broker without a heartbeat for this long is fenced."),
    _key("kraft.broker.session.disconnect.grace.ms", Type.INT, 500,
         "kraft: a broker whose heartbeat connection to the active controller closed (its "
         "process died: the kernel closed it) and that has not heartbeated on a new one "
         "within this grace is fenced without waiting for broker.session.timeout.ms; "
         "-1 turns this off."),
    _key("kraft.broker.session.self.fence.enable", Type.BOOLEAN, True,
         "kraft: a broker whose heartbeats have gone unanswered for broker.session.timeout.ms "
         "(counted from the send of the last answered one) presumes the controller fenced it "
         "and answers produce requests to the partitions it leads NOT_LEADER_OR_FOLLOWER, "
         "including acks=all requests still waiting, until a heartbeat is answered again."),
    # quorum (QuorumConfig, KIP-595)
    _key("controller.quorum.election.timeout.ms", Type.INT, 1000,
         "Time without a leader before a voter starts an election."),
    _key("controller.quorum.fetch.timeout.ms", Type.INT, 2000,
         "Time without a successful fetch before a follower looks for a new leader."),
    _key("controller.quorum.election.backoff.max.ms", Type.INT, 1000,
         "Longest backoff before a candidate retries an election."),
    _key("controller.quorum.request.timeout.ms", Type.INT, 2000,
         "Timeout of a quorum request."),
    _key("controller.quorum.retry.backoff.ms", Type.INT, 20,
         "Backoff before a failed quorum request is retried."),
    _key("controller.quorum.append.linger.ms", Type.INT, 25,
         "How long the leader gathers records before appending a batch."),
    # kraft's own failover keys, not Kafka's (reasoning: docs/design.md, "Failing over")
    _key("kraft.quorum.election.on.leader.connection.loss.enable", Type.BOOLEAN, True,
         "A voter whose connection to the quorum leader is refused or reset (not timed out) "
         "starts a pre-vote within a quarter of the election timeout, instead of waiting for "
         "controller.quorum.fetch.timeout.ms."),
    # kraft's opt-in replica balancer, not Kafka's (kraft.controller.balancer)
    _key("kraft.balancer.enable", Type.BOOLEAN, False,
         "kraft: the active controller spreads partition replicas and preferred leaders over "
         "the brokers, by reassignments, when a broker joins or leaves."),
    _key("kraft.balancer.interval.ms", Type.INT, 10000,
         "kraft: how often the balancer plans moves.", at_least(1)),
    _key("kraft.balancer.max.moves", Type.INT, 10,
         "kraft: most reassignments in flight that the balancer lets run at once (counting "
         "those others started).", at_least(1)),
    # metadata log and snapshots (KIP-630, KIP-835)
    _key("metadata.log.max.record.bytes.between.snapshots", Type.LONG, 20 * _MB,
         "Bytes of new metadata records after which a snapshot is taken.", at_least(1)),
    _key("metadata.log.max.snapshot.interval.ms", Type.LONG, 3600000,
         "Time after which a snapshot is taken if there are new records.", at_least(0),
         unused="kraft takes metadata snapshots by size only"),
    _key("metadata.log.segment.bytes", Type.INT, 1 << 30,
         "Segment size of the metadata log.", at_least(12)),
    _key("metadata.log.segment.ms", Type.LONG, 604800000,
         "Age at which the metadata log rolls a segment.",
         unused="kraft rolls metadata log segments by size only"),
    _key("metadata.max.retention.bytes", Type.LONG, 100 * _MB,
         "Metadata log bytes kept behind the latest snapshot.",
         unused="kraft's metadata log cleaning follows snapshots, not this limit"),
    _key("metadata.max.retention.ms", Type.LONG, 604800000,
         "Age of metadata log segments kept behind the latest snapshot.",
         unused="kraft's metadata log cleaning follows snapshots, not this limit"),
    _key("metadata.max.idle.interval.ms", Type.INT, 500,
         "Interval of the controller's NoOpRecords when nothing else is written.", at_least(0)),
    # group coordinator (GroupCoordinatorConfig)
    _key("offsets.topic.num.partitions", Type.INT, 50, "Partitions of __consumer_offsets.",
         at_least(1)),
    _key("offsets.topic.replication.factor", Type.SHORT, 3,
         "Replication factor of __consumer_offsets.", at_least(1)),
    _key("offsets.topic.segment.bytes", Type.INT, 100 * _MB,
         "segment.bytes of __consumer_offsets, set when it is created.", at_least(1)),
    # Kafka 4.x's quickstart server.properties sets these (issue 14: it must start
    # unmodified); share groups do not exist in kraft. (Its transaction.state.log.*
    # keys are declared with the transaction coordinator's below.)
    _key("share.coordinator.state.topic.replication.factor", Type.SHORT, 3,
         "Replication factor of __share_group_state.", at_least(1), unused=_NO_SHARE),
    _key("share.coordinator.state.topic.min.isr", Type.SHORT, 2,
         "min.insync.replicas of __share_group_state.", at_least(1), unused=_NO_SHARE),
    _key("offsets.retention.minutes", Type.INT, 10080,
         "How long committed offsets of an empty group are kept.", at_least(1)),
    _key("offsets.retention.check.interval.ms", Type.LONG, 600000,
         "How often expired offsets are removed.", at_least(1)),
    _key("offsets.commit.timeout.ms", Type.INT, 5000,
         "How long an offset commit waits for replication.", at_least(1)),
    _key("offset.metadata.max.bytes", Type.INT, 4096,
         "Largest metadata string of a committed offset."),
    _key("group.initial.rebalance.delay.ms", Type.INT, 3000,
         "Wait for more members before the first rebalance of a new group."),
    _key("group.min.session.timeout.ms", Type.INT, 6000,
         "Shortest session timeout a classic group member may ask for."),
    _key("group.max.session.timeout.ms", Type.INT, 1800000,
         "Longest session timeout a classic group member may ask for."),
    _key("group.max.size", Type.INT, INT_MAX, "Most members of a classic group; a JoinGroup "
         "beyond it is GROUP_MAX_SIZE_REACHED.", at_least(1)),
    # idempotent producers (TransactionLogConfig)
    _key("producer.id.expiration.ms", Type.INT, 86400000,
         "Time after which an idle producer id's state is dropped.", at_least(1), dynamic=True),
    _key("producer.id.expiration.check.interval.ms", Type.INT, 600000,
         "How often idle producer ids are looked for.", at_least(1)),
    # transaction coordinator (TransactionStateManagerConfig, TransactionLogConfig)
    _key("transaction.state.log.num.partitions", Type.INT, 50,
         "Partitions of __transaction_state.", at_least(1)),
    _key("transaction.state.log.replication.factor", Type.SHORT, 3,
         "Replication factor of __transaction_state.", at_least(1)),
    _key("transaction.state.log.min.isr", Type.INT, 2,
         "min.insync.replicas of __transaction_state.", at_least(1)),
    _key("transaction.state.log.segment.bytes", Type.INT, 104857600,
         "Segment size of __transaction_state.", at_least(1)),
    _key("transaction.max.timeout.ms", Type.INT, 900000,
         "Largest transaction timeout a producer may ask for.", at_least(1)),
    _key("transaction.abort.timed.out.transaction.cleanup.interval.ms", Type.INT, 10000,
         "How often timed-out transactions are looked for and aborted.", at_least(1)),
    _key("transactional.id.expiration.ms", Type.INT, 604800000,
         "Time after which an idle transactional id is forgotten.", at_least(1)),
    _key("transaction.remove.expired.transaction.cleanup.interval.ms", Type.INT, 3600000,
         "How often expired transactional ids are looked for.", at_least(1)),
]

# Defaults and bounds of the GROUP resource configs (kraft.group_configs).
_GROUP_BOUNDS: Final = [
    _key("group.consumer.session.timeout.ms", Type.INT, 45000,
         "Default of group config consumer.session.timeout.ms.", at_least(1), unused=_NO_KIP_848),
    _key("group.consumer.min.session.timeout.ms", Type.INT, 45000,
         "Lowest consumer.session.timeout.ms a group may set.", at_least(1), unused=_NO_KIP_848),
    _key("group.consumer.max.session.timeout.ms", Type.INT, 60000,
         "Highest consumer.session.timeout.ms a group may set.", at_least(1), unused=_NO_KIP_848),
    _key("group.consumer.heartbeat.interval.ms", Type.INT, 5000,
         "Default of group config consumer.heartbeat.interval.ms.", at_least(1),
         unused=_NO_KIP_848),
    _key("group.consumer.min.heartbeat.interval.ms", Type.INT, 5000,
         "Lowest consumer.heartbeat.interval.ms a group may set.", at_least(1),
         unused=_NO_KIP_848),
    _key("group.consumer.max.heartbeat.interval.ms", Type.INT, 15000,
         "Highest consumer.heartbeat.interval.ms a group may set.", at_least(1),
         unused=_NO_KIP_848),
    _key("group.share.session.timeout.ms", Type.INT, 45000,
         "Default of group config share.session.timeout.ms.", at_least(1), unused=_NO_SHARE),
    _key("group.share.min.session.timeout.ms", Type.INT, 45000,
         "Lowest share.session.timeout.ms a group may set.", at_least(1), unused=_NO_SHARE),
    _key("group.share.max.session.timeout.ms", Type.INT, 60000,
         "Highest share.session.timeout.ms a group may set.", at_least(1), unused=_NO_SHARE),
    _key("group.share.heartbeat.interval.ms", Type.INT, 5000,
         "Default of group config share.heartbeat.interval.ms.", at_least(1), unused=_NO_SHARE),
    _key("group.share.min.heartbeat.interval.ms", Type.INT, 5000,
         "Lowest share.heartbeat.interval.ms a group may set.", at_least(1), unused=_NO_SHARE),
    _key("group.share.max.heartbeat.interval.ms", Type.INT, 15000,
         "Highest share.heartbeat.interval.ms a group may set.", at_least(1), unused=_NO_SHARE),
    _key("group.share.record.lock.duration.ms", Type.INT, 30000,
         "Default of group config share.record.lock.duration.ms.", at_least(1000),
         unused=_NO_SHARE),
    _key("group.share.min.record.lock.duration.ms", Type.INT, 15000,
         "Lowest share.record.lock.duration.ms a group may set.", at_least(1000),
         unused=_NO_SHARE),
    _key("group.share.max.record.lock.duration.ms", Type.INT, 60000,
         "Highest share.record.lock.duration.ms a group may set.", at_least(1000),
         unused=_NO_SHARE),
]

# Broker synonyms of the topic configs kraft stores but does not act on: dynamic in
# Kafka (DynamicLogConfig), so they can be set, stored and described.
_UNUSED_TOPIC_SYNONYMS: Final = [
    _synonym(topic, default=None if topic == "segment.jitter.ms" else ...)
    for topic in ("compression.type", "compression.gzip.level", "compression.lz4.level",
                  "compression.zstd.level", "file.delete.delay.ms", "preallocate",
                  "segment.jitter.ms", "message.timestamp.before.max.ms",
                  "message.timestamp.after.max.ms", "local.retention.bytes",
                  "local.retention.ms", "max.decompressed.message.bytes",
                  "remote.copy.lag.bytes", "remote.copy.lag.ms")
]

# Kafka's tuning keys (thread pools, buffers, rates) that a trio broker has no use for.
_TUNING: Final = [
    _key("num.network.threads", Type.INT, 3, "Threads receiving requests.", at_least(1),
         dynamic=True, unused=_THREADS),
    _key("num.io.threads", Type.INT, 8, "Threads processing requests.", at_least(1),
         dynamic=True, unused=_THREADS),
    _key("background.threads", Type.INT, 10, "Threads for background tasks.", at_least(1),
         dynamic=True, unused=_THREADS),
    _key("num.recovery.threads.per.data.dir", Type.INT, 2,
         "Threads per log dir recovering logs at startup.", at_least(1), dynamic=True,
         unused=_THREADS),
    _key("num.replica.fetchers", Type.INT, 1, "Fetcher threads per source broker.",
         dynamic=True, unused=_THREADS),
    _key("num.replica.alter.log.dirs.threads", Type.INT, None,
         "Threads moving replicas between log dirs.", unused=_THREADS),
    _key("group.coordinator.threads", Type.INT, 4, "Threads of the group coordinator.",
         at_least(1), unused=_THREADS),
    _key("log.cleaner.threads", Type.INT, 1, "Threads of the log cleaner.", at_least(0),
         dynamic=True, unused=_CLEANER),
    _key("log.cleaner.io.buffer.size", Type.INT, 512 * 1024, "I/O buffer of the log cleaner.",
         at_least(0), dynamic=True, unused=_CLEANER),
    _key("log.cleaner.io.buffer.load.factor", Type.DOUBLE, 0.9,
         "Load factor of the cleaner's offset map.", dynamic=True, unused=_CLEANER),
    _key("log.cleaner.io.max.bytes.per.second", Type.DOUBLE, 1.7976931348623157e308,
         "I/O throttle of the log cleaner.", dynamic=True, unused=_CLEANER),
    _key("queued.max.requests", Type.INT, 500, "Requests queued for the I/O threads.",
         at_least(1), unused=_THREADS),
    _key("queued.max.request.bytes", Type.LONG, -1, "Bytes of queued requests.",
         unused=_THREADS),
    _key("socket.send.buffer.bytes", Type.INT, 100 * 1024, "SO_SNDBUF of broker sockets.",
         unused=_BUFFERS),
    _key("socket.receive.buffer.bytes", Type.INT, 100 * 1024, "SO_RCVBUF of broker sockets.",
         unused=_BUFFERS),
    _key("socket.listen.backlog.size", Type.INT, 50, "Backlog of listening sockets.",
         at_least(1), unused=_BUFFERS),
    _key("replica.socket.receive.buffer.bytes", Type.INT, 64 * 1024,
         "SO_RCVBUF of follower fetch sockets.", unused=_BUFFERS),
    _key("offsets.load.buffer.size", Type.INT, 5 * _MB,
         "Read buffer used to load __consumer_offsets.", at_least(1), unused=_BUFFERS),
    _key("max.connections.per.ip", Type.INT, INT_MAX, "Most connections from one address.",
         at_least(0), dynamic=True, unused=_NO_QUOTAS),
    _key("max.connections.per.ip.overrides", Type.STRING, "",
         "Per-address overrides of max.connections.per.ip.", dynamic=True, unused=_NO_QUOTAS),
    _key("max.connection.creation.rate", Type.INT, INT_MAX,
         "New connections a listener accepts per second.", at_least(0), dynamic=True,
         unused=_NO_QUOTAS),
    _key("leader.replication.throttled.rate", Type.LONG, LONG_MAX,
         "Replication throttle of leaders, bytes per second (dynamic only: "
         "kraft.broker.replication_quota).", at_least(0), dynamic=True),
    _key("follower.replication.throttled.rate", Type.LONG, LONG_MAX,
         "Replication throttle of followers, bytes per second (dynamic only: "
         "kraft.broker.replication_quota).", at_least(0), dynamic=True),
    _key("replica.alter.log.dirs.io.max.bytes.per.second", Type.LONG, LONG_MAX,
         "Throttle of replica moves between log dirs.", at_least(0), dynamic=True,
         unused="kraft does not move replicas between a broker's log directories"),
    _key("metric.reporters", Type.LIST, ["org.apache.kafka.common.metrics.JmxReporter"],
         "Classes receiving the broker's metrics.",
         dynamic=True, unused="kraft has no metrics reporters"),
    _key("transaction.partition.verification.enable", Type.BOOLEAN, True,
         "Verify transactional produces (KIP-890).", dynamic=True),
]


def _listener(name: str, type_: Type, default: Any, doc: str, validator: Any = None, *,
              listener_only: bool = False, unused: str | None = None,
              dynamic: bool = True) -> ConfigKey:
    """A security key a listener may override (`listener.name.<listener>.<key>`, which
    may also be set dynamically per broker, as Kafka's); `dynamic` False: the bare key
    cannot be changed at runtime (Kafka 4.4 describes it read-only)."""
    return ConfigKey(name, type_, default, doc, validator, dynamic=dynamic, per_broker=True,
                     listener_only=listener_only, unused=unused)


# Kafka's non-password DynamicListenerConfig keys (BrokerSecurityConfigs, SslConfigs,
# SaslConfigs); `listener_only` ones are SslConfigs.RECONFIGURABLE_CONFIGS.
_SECURITY: Final = [
    _listener("principal.builder.class", Type.CLASS,
              "org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder",
              "Builds the principal of an authenticated connection."),
    _listener("ssl.protocol", Type.STRING, "TLSv1.3", "TLS protocol of the SSLContext.",
              unused="the versions are those of ssl.enabled.protocols"),
    _listener("ssl.provider", Type.STRING, None, "Security provider of the SSLContext.",
              unused=_JAVA_TLS),
    _listener("ssl.cipher.suites", Type.LIST, [], "Allowed TLS cipher suites."),
    _listener("ssl.enabled.protocols", Type.LIST, ["TLSv1.2", "TLSv1.3"],
              "Allowed TLS protocols."),
    _listener("ssl.keystore.type", Type.STRING, "JKS", "Format of the key store.",
              listener_only=True),
    _listener("ssl.keystore.location", Type.STRING, None, "Path of the key store.",
              listener_only=True),
    _listener("ssl.truststore.type", Type.STRING, "JKS", "Format of the trust store.",
              listener_only=True),
    _listener("ssl.truststore.location", Type.STRING, None, "Path of the trust store.",
              listener_only=True),
    _listener("ssl.keymanager.algorithm", Type.STRING, "SunX509", "Key manager algorithm.",
              unused=_JAVA_TLS),
    _listener("ssl.trustmanager.algorithm", Type.STRING, "PKIX", "Trust manager algorithm.",
              unused=_JAVA_TLS),
    _listener("ssl.endpoint.identification.algorithm", Type.STRING, "https",
              "Host name verification of peers."),
    _listener("ssl.secure.random.implementation", Type.STRING, None,
              "SecureRandom of TLS operations.", unused=_JAVA_TLS),
    _listener("ssl.client.auth", Type.STRING, "none", "Whether clients must present a certificate.",
              one_of("required", "requested", "none")),
    _listener("ssl.engine.factory.class", Type.CLASS, None, "Custom SSLEngine factory."),
    _listener("sasl.mechanism.inter.broker.protocol", Type.STRING, "GSSAPI",
              "SASL mechanism between brokers."),
    _listener("ssl.principal.mapping.rules", Type.STRING, "DEFAULT",
              "Rules mapping a client certificate's subject to a principal name.",
              dynamic=False),
    _listener("sasl.server.max.receive.size", Type.INT, 524288,
              "Largest frame accepted before a connection has authenticated.", at_least(1),
              dynamic=False),
    _listener("connections.max.reauth.ms", Type.LONG, 0,
              "Session lifetime of SASL connections before re-authentication (KIP-368).",
              dynamic=False),
    _listener("connection.failed.authentication.delay.ms", Type.INT, 100,
              "Delay before a failed authentication's connection is closed.", at_least(0),
              dynamic=False),
    _listener("sasl.enabled.mechanisms", Type.LIST, ["GSSAPI"], "SASL mechanisms served."),
    _listener("sasl.kerberos.service.name", Type.STRING, None, "Kerberos principal name.",
              unused=_NO_KERBEROS),
    _listener("sasl.kerberos.kinit.cmd", Type.STRING, "/usr/bin/kinit", "Kerberos kinit command.",
              unused=_NO_KERBEROS),
    _listener("sasl.kerberos.ticket.renew.window.factor", Type.DOUBLE, 0.8,
              "Share of a ticket's life after which it is renewed.", unused=_NO_KERBEROS),
    _listener("sasl.kerberos.ticket.renew.jitter", Type.DOUBLE, 0.05,
              "Random jitter added to the renewal time.", unused=_NO_KERBEROS),
    _listener("sasl.kerberos.min.time.before.relogin", Type.LONG, 60000,
              "Shortest time between refresh attempts of the login thread.",
              unused=_NO_KERBEROS),
    _listener("sasl.kerberos.principal.to.local.rules", Type.LIST, ["DEFAULT"],
              "Rules mapping principal names to short names.", unused=_NO_KERBEROS),
    _listener("sasl.login.refresh.window.factor", Type.DOUBLE, 0.8,
              "Share of a credential's life after which it is refreshed.",
              unused=_NO_KERBEROS),
    _listener("sasl.login.refresh.window.jitter", Type.DOUBLE, 0.05,
              "Random jitter added to the refresh time.", unused=_NO_KERBEROS),
    _listener("sasl.login.refresh.min.period.seconds", Type.SHORT, 60,
              "Shortest time between credential refreshes.",
              unused=_NO_KERBEROS),
    _listener("sasl.login.refresh.buffer.seconds", Type.SHORT, 300,
              "Time kept before a credential expires when refreshing it.",
              unused=_NO_KERBEROS),
]

KEYS: Final[dict[str, ConfigKey]] = {
    k.name: k for k in [*_CORE, *_GROUP_BOUNDS, *_UNUSED_TOPIC_SYNONYMS, *_TUNING, *_SECURITY,
                        *TUNING, *UNBUILT]
}

# DynamicBrokerConfig.ClusterLevelListenerConfigs: listener-prefixed, yet settable as the
# cluster-wide default.
CLUSTER_LEVEL_LISTENER_CONFIGS: Final = frozenset(
    {"max.connections", "max.connection.creation.rate", "num.network.threads"})

# The keys a `listener.name.<listener>.` prefix sets for one listener (kraft.security.listener
# reads them per listener); any other key under that prefix has no effect.
LISTENER_CONFIGS: Final = frozenset(k.name for k in _SECURITY) | CLUSTER_LEVEL_LISTENER_CONFIGS


def _password(name: str, doc: str) -> ConfigKey:
    return ConfigKey(name, Type.PASSWORD, None, doc, dynamic=True, per_broker=True)


# Kafka's dynamic password keys. Not in KEYS (see the module docstring): kraft.security
# reads them from the raw properties; DescribeConfigs lists them as Kafka does, sensitive
# and without a value (kraft.topic_configs.describe_broker_configs).
PASSWORD_KEYS: Final = {k.name: k for k in [
    _password("ssl.keystore.password", "Password of the key store."),
    _password("ssl.key.password", "Password of the private key in the key store."),
    _password("ssl.truststore.password", "Password of the trust store."),
    _password("ssl.keystore.key", "Private key in PEM format (ssl.keystore.type=PEM)."),
    _password("ssl.keystore.certificate.chain", "Certificate chain in PEM format "
              "(ssl.keystore.type=PEM)."),
    _password("ssl.truststore.certificates", "Trusted certificates in PEM format "
              "(ssl.truststore.type=PEM)."),
    _password("sasl.jaas.config", "JAAS login context of a listener's SASL mechanism "
              "(listener.name.<listener>.<mechanism>.sasl.jaas.config)."),
]}
PASSWORD_CONFIGS: Final = frozenset(PASSWORD_KEYS)

# The comma-separated STRING keys (`csv`) that Kafka types LIST, as DescribeConfigs
# shows them (listener.security.protocol.map is a STRING in Kafka too).
LIST_TYPED_CSV: Final = frozenset(
    {"controller.listener.names", "listeners", "advertised.listeners", "log.dirs", "log.dir"})

assert len(KEYS) == len(_CORE) + len(_GROUP_BOUNDS) + len(_UNUSED_TOPIC_SYNONYMS) + len(
    _TUNING) + len(_SECURITY) + len(TUNING) + len(UNBUILT), "a key is declared twice"
