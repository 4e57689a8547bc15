"""Apache Kafka 4.4's broker keys for what kraft does not need or does not build.

kraft.config_keys declares the keys kraft acts on; this module declares, one
table per kind, the rest of the keys a DescribeConfigs of a Kafka 4.4 broker
lists (tests/kafka44_broker_keys.tsv; the password keys kraft.security reads
stay in kraft.config_keys.PASSWORD_CONFIGS). kraft.config_keys merges them
into `KEYS`, so each parses with Kafka's type, defaults to Kafka's default,
is described by DescribeConfigs as Kafka's broker describes it, and setting
it is accepted quietly with its table's reason at DEBUG:

- `TUNING`: knobs of Kafka's threads, purgatories, metrics, quota windows,
  buffers and its own clients' timeouts, with no meaning for a trio broker;
- `UNBUILT`: keys of features kraft does not build (tiered storage,
  delegation tokens, OAUTHBEARER and SASL login, share groups, streams
  groups, KIP-848 consumer groups, client quotas, Java plugins, ...). A value
  that would turn such a feature on fails its check (`refuse`): `kraft start`
  and `kraft format` stop with one line naming the key and the feature, and
  a dynamic update of it is INVALID_CONFIG with the same words.

Kafka's keys that kraft honours are declared in kraft.config_keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from kraft.log.configdef import LONG_MAX, ConfigException, ConfigKey, Type, Validator

__all__ = ["TUNING", "UNBUILT", "refuse"]

_INT_MAX: Final = (1 << 31) - 1
_MB: Final = 1024 * 1024

BOOLEAN, STRING, INT, SHORT, LONG, LIST, CLASS, PASSWORD = (
    Type.BOOLEAN, Type.STRING, Type.INT, Type.SHORT, Type.LONG, Type.LIST, Type.CLASS,
    Type.PASSWORD)
D: Final = "dynamic"  # last item of a row: Kafka lets an admin change the key at runtime


def _is_set(value: Any) -> bool:
    return value not in (None, "", [], False)


def refuse(why: str, turns_on: Callable[[Any], bool] = _is_set) -> Validator:
    """A check refusing a value that `turns_on` a feature kraft does not build, `why`:
    "Invalid value true for configuration remote.log.storage.system.enable: kraft does
    not build remote log storage (tiered storage, KIP-405)" (a password's value is
    shown as [hidden], as Kafka does)."""
    def check(name: str, value: Any) -> None:
        if turns_on(value):
            shown = "[hidden]" if name in _PASSWORDS else value
            if isinstance(shown, list):
                shown = ",".join(shown)
            if isinstance(shown, bool):
                shown = str(shown).lower()
            raise ConfigException(f"Invalid value {shown} for configuration {name}: {why}")
    return check


_PASSWORDS = frozenset({"delegation.token.secret.key",
                        "sasl.oauthbearer.assertion.private.key.passphrase",
                        "sasl.oauthbearer.client.credentials.client.secret"})


def _table(reason: str, rows: list[tuple[Any, ...]]) -> list[ConfigKey]:
    """Keys accepted and not acted on, for `reason`. A row: (name, type, default, doc),
    then optionally a validator (a `refuse` check) and/or D (dynamic)."""
    keys = []
    for name, type_, default, doc, *rest in rows:
        validator = next((r for r in rest if callable(r)), None)
        keys.append(ConfigKey(name, type_, default, doc, validator, dynamic=D in rest,
                              unused=reason))
    return keys


_JAVA_PLUGIN = "kraft loads no Java plugin classes"
_TIERED = "kraft does not build remote log storage (tiered storage, KIP-405)"
_TOKENS = "kraft does not build delegation tokens (KIP-48)"
_TWO_PC = "kraft does not build two-phase commit transactions (KIP-939)"
_AUTO_JOIN = "kraft does not build controllers joining the quorum by themselves (KIP-853)"
_CORDON = "kraft does not build cordoned log directories (KIP-1066)"

TUNING: Final[list[ConfigKey]] = [
    *_table("kraft runs every request, purgatory and coordinator on one trio event loop, "
            "without thread pools or purge intervals", [
        ("group.coordinator.background.threads", INT, 2, "Background threads of the group "
         "coordinator."),
        ("group.coordinator.append.linger.ms", INT, -1, "Linger of group coordinator writes."),
        ("group.coordinator.cached.buffer.max.bytes", INT, 1048588, "Largest buffer the "
         "group coordinator keeps for reuse.", D),
        ("transaction.state.log.load.buffer.size", INT, 5 * _MB, "Read batch size when "
         "loading __transaction_state."),
        ("producer.purgatory.purge.interval.requests", INT, 1000, "Purge interval (requests) "
         "of the produce purgatory."),
        ("fetch.purgatory.purge.interval.requests", INT, 1000, "Purge interval (requests) "
         "of the fetch purgatory."),
        ("delete.records.purgatory.purge.interval.requests", INT, 1, "Purge interval "
         "(requests) of the delete records purgatory."),
        ("add.partitions.to.txn.retry.backoff.ms", INT, 20, "Backoff of a broker retrying "
         "to add a partition to a transaction."),
        ("add.partitions.to.txn.retry.backoff.max.ms", INT, 100, "Longest time a broker "
         "retries adding a partition to a transaction."),
        ("max.request.partition.size.limit", INT, 2000, "Most partitions served in one "
         "request."),
    ]),
    *_table("kraft has no metrics reporters or metric samples", [
        ("metrics.num.samples", INT, 2, "Samples kept to compute metrics."),
        ("metrics.sample.window.ms", LONG, 30000, "Window of one metrics sample."),
        ("metrics.recording.level", STRING, "INFO", "Highest recording level of metrics."),
        ("kafka.metrics.polling.interval.secs", INT, 10, "Polling interval of Yammer "
         "metrics reporters."),
        ("kafka.metrics.reporters", LIST, [], "Yammer metrics reporter classes."),
    ]),
    *_table("kraft's replication throttle counts bytes in Kafka's default windows "
            "(11 windows of 1 s); it has no other quotas", [
        ("replication.quota.window.num", INT, 11, "Samples kept for replication quotas."),
        ("replication.quota.window.size.seconds", INT, 1, "Span of one replication quota "
         "sample."),
        ("alter.log.dirs.replication.quota.window.num", INT, 11, "Samples kept for log dir "
         "move quotas."),
        ("alter.log.dirs.replication.quota.window.size.seconds", INT, 1, "Span of one log "
         "dir move quota sample."),
    ]),
    *_table("kraft's own clients (replica fetchers, controller channel) keep their own "
            "timeouts and sizes", [
        ("controller.socket.timeout.ms", INT, 30000, "Socket timeout of controller-to-broker "
         "channels."),
        ("request.timeout.ms", INT, 30000, "Timeout of the broker's own client requests."),
        ("replica.socket.timeout.ms", INT, 30000, "Socket timeout of replica fetches "
         "(kraft: kraft.replica.fetch.response.timeout.ms)."),
        ("replica.fetch.response.max.bytes", INT, 10 * _MB, "Most bytes of a whole replica "
         "fetch response."),
        ("socket.connection.setup.timeout.ms", LONG, 10000, "Connection setup timeout of "
         "the broker's clients."),
        ("socket.connection.setup.timeout.max.ms", LONG, 30000, "Longest connection setup "
         "timeout of the broker's clients."),
        ("controller.quorum.fetch.max.bytes", INT, _MB, "Most bytes of a quorum Fetch."),
        ("controller.quorum.fetch.snapshot.max.bytes", INT, _MB, "Most bytes of a "
         "FetchSnapshot."),
        ("initial.broker.registration.timeout.ms", INT, 60000, "Time a starting broker "
         "waits for its registration (kraft retries until it is registered)."),
    ]),
    *_table("kraft writes its checkpoints and flushes on its own schedule", [
        ("log.flush.scheduler.interval.ms", LONG, LONG_MAX, "How often logs are checked "
         "for a time-based flush."),
        ("log.flush.offset.checkpoint.interval.ms", INT, 60000, "Interval of the recovery "
         "point checkpoint."),
        ("log.flush.start.offset.checkpoint.interval.ms", INT, 60000, "Interval of the log "
         "start offset checkpoint."),
        ("replica.high.watermark.checkpoint.interval.ms", LONG, 5000, "Interval of the high "
         "watermark checkpoint."),
        ("log.dir.failure.timeout.ms", LONG, 30000, "Time after which a broker that cannot "
         "report a failed log dir shuts down."),
    ]),
    *[key for name, type_, default, doc, reason in [
        ("controlled.shutdown.enable", BOOLEAN, True, "Shut down in a controlled way.",
         "kraft always shuts down in a controlled way"),
        ("early.start.listeners", LIST, None, "Listeners started before the authorizer is "
         "initialized.", "kraft starts every listener once its metadata is loaded"),
        ("log.roll.jitter.hours", INT, 0, "segment.jitter.ms in hours.",
         "kraft adds no jitter to segment rolls"),
        ("offsets.topic.compression.codec", INT, 0, "Compression of __consumer_offsets "
         "writes.", "kraft writes group metadata uncompressed (this key's default)"),
        ("ssl.allow.dn.changes", BOOLEAN, False, "Allow a keystore update to change the "
         "certificate's DN.", "kraft does not compare the names of an updated keystore"),
        ("ssl.allow.san.changes", BOOLEAN, False, "Allow a keystore update to change the "
         "certificate's SANs.", "kraft does not compare the names of an updated keystore"),
    ] for key in _table(reason, [(name, type_, default, doc)])],
]

UNBUILT: Final[list[ConfigKey]] = [
    *_table(_TIERED, [
        ("remote.log.storage.system.enable", BOOLEAN, False, "Enable tiered storage.",
         refuse(_TIERED)),
        ("follower.fetch.last.tiered.offset.enable", BOOLEAN, False, "Empty followers start "
         "from the last tiered offset.", D),
        ("remote.fetch.max.wait.ms", INT, 500, "Longest wait of a fetch of remote data.", D),
        ("remote.list.offsets.request.timeout.ms", LONG, 30000, "Timeout of a remote "
         "ListOffsets.", D),
        ("remote.log.index.file.cache.total.size.bytes", LONG, 1 << 30, "Space of the "
         "remote index cache.", D),
        ("remote.log.manager.copier.thread.pool.size", INT, 10, "Threads copying segments "
         "to remote storage.", D),
        ("remote.log.manager.copy.max.bytes.per.second", LONG, LONG_MAX, "Copy throttle to "
         "remote storage.", D),
        ("remote.log.manager.copy.quota.window.num", INT, 11, "Samples of the copy quota."),
        ("remote.log.manager.copy.quota.window.size.seconds", INT, 1, "Span of a copy quota "
         "sample."),
        ("remote.log.manager.expiration.thread.pool.size", INT, 10, "Threads expiring "
         "remote segments.", D),
        ("remote.log.manager.fetch.max.bytes.per.second", LONG, LONG_MAX, "Fetch throttle "
         "from remote storage.", D),
        ("remote.log.manager.fetch.quota.window.num", INT, 11, "Samples of the fetch quota."),
        ("remote.log.manager.fetch.quota.window.size.seconds", INT, 1, "Span of a fetch "
         "quota sample."),
        ("remote.log.manager.follower.thread.pool.size", INT, 2, "Threads of follower "
         "remote tasks.", D),
        ("remote.log.manager.task.interval.ms", LONG, 30000, "Interval of remote log "
         "tasks."),
        ("remote.log.manager.thread.pool.size", INT, 2, "Threads of remote log tasks."),
        ("remote.log.metadata.custom.metadata.max.bytes", INT, 128, "Largest custom "
         "metadata of a remote segment."),
        ("remote.log.metadata.manager.class.name", STRING,
         "org.apache.kafka.server.log.remote.metadata.storage."
         "TopicBasedRemoteLogMetadataManager", "RemoteLogMetadataManager class."),
        ("remote.log.metadata.manager.class.path", STRING, None, "Class path of the "
         "RemoteLogMetadataManager."),
        ("remote.log.metadata.manager.impl.prefix", STRING, "rlmm.config.", "Prefix of "
         "RemoteLogMetadataManager properties."),
        ("remote.log.metadata.manager.listener.name", STRING, None, "Listener the "
         "RemoteLogMetadataManager connects to."),
        ("remote.log.reader.max.pending.tasks", INT, 100, "Queue size of remote reads."),
        ("remote.log.reader.threads", INT, 10, "Threads reading remote data.", D),
        ("remote.log.storage.manager.class.name", STRING, None, "RemoteStorageManager "
         "class."),
        ("remote.log.storage.manager.class.path", STRING, None, "Class path of the "
         "RemoteStorageManager."),
        ("remote.log.storage.manager.impl.prefix", STRING, "rsm.config.", "Prefix of "
         "RemoteStorageManager properties."),
    ]),
    *_table(_TOKENS, [
        ("delegation.token.secret.key", PASSWORD, None, "Secret that signs delegation "
         "tokens; setting it turns them on.", refuse(_TOKENS)),
        ("delegation.token.expiry.time.ms", LONG, 86400000, "Validity of a token before "
         "it must be renewed."),
        ("delegation.token.max.lifetime.ms", LONG, 604800000, "Longest lifetime of a "
         "token."),
        ("delegation.token.expiry.check.interval.ms", LONG, 3600000, "How often expired "
         "tokens are removed."),
    ]),
    *_table("kraft serves no OAUTHBEARER and no GSSAPI, whose logins these keys configure "
            "(sasl.enabled.mechanisms refuses both)", [
        ("sasl.login.connect.timeout.ms", INT, None, "Connect timeout of the login's "
         "identity provider."),
        ("sasl.login.read.timeout.ms", INT, None, "Read timeout of the login's identity "
         "provider."),
        ("sasl.login.retry.backoff.ms", LONG, 100, "First wait between login attempts."),
        ("sasl.login.retry.backoff.max.ms", LONG, 10000, "Longest wait between login "
         "attempts."),
        ("sasl.oauthbearer.allow.unverified.audience", BOOLEAN, False, "Accept JWTs "
         "without checking their audience."),
        ("sasl.oauthbearer.allow.unverified.issuer", BOOLEAN, False, "Accept JWTs without "
         "checking their issuer."),
        ("sasl.oauthbearer.assertion.algorithm", STRING, "RS256", "Signing algorithm of "
         "the client's JWT assertion."),
        ("sasl.oauthbearer.assertion.claim.aud", STRING, None, "aud claim of the JWT "
         "assertion."),
        ("sasl.oauthbearer.assertion.claim.exp.seconds", INT, 300, "Validity of the JWT "
         "assertion."),
        ("sasl.oauthbearer.assertion.claim.iss", STRING, None, "iss claim of the JWT "
         "assertion."),
        ("sasl.oauthbearer.assertion.claim.jti.include", BOOLEAN, False, "Add a jti claim "
         "to the JWT assertion."),
        ("sasl.oauthbearer.assertion.claim.nbf.seconds", INT, 60, "nbf offset of the JWT "
         "assertion."),
        ("sasl.oauthbearer.assertion.claim.sub", STRING, None, "sub claim of the JWT "
         "assertion."),
        ("sasl.oauthbearer.assertion.file", STRING, None, "File of a pre-made JWT "
         "assertion."),
        ("sasl.oauthbearer.assertion.private.key.file", STRING, None, "PEM key that signs "
         "the JWT assertion."),
        ("sasl.oauthbearer.assertion.private.key.passphrase", PASSWORD, None, "Passphrase "
         "of that key."),
        ("sasl.oauthbearer.assertion.template.file", STRING, None, "Template of the JWT "
         "assertion."),
        ("sasl.oauthbearer.client.credentials.client.id", STRING, None, "OAuth client id."),
        ("sasl.oauthbearer.client.credentials.client.secret", PASSWORD, None, "OAuth "
         "client secret."),
        ("sasl.oauthbearer.clock.skew.seconds", INT, 30, "Clock skew allowed when "
         "checking JWTs."),
        ("sasl.oauthbearer.expected.audience", LIST, [], "Audiences a JWT must name."),
        ("sasl.oauthbearer.expected.issuer", STRING, None, "Issuer a JWT must name."),
        ("sasl.oauthbearer.jwks.endpoint.refresh.ms", LONG, 3600000, "Refresh interval "
         "of the JWKS cache."),
        ("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", LONG, 100, "First wait "
         "between JWKS requests."),
        ("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", LONG, 10000, "Longest "
         "wait between JWKS requests."),
        ("sasl.oauthbearer.jwks.endpoint.url", STRING, None, "URL of the provider's JWKS."),
        ("sasl.oauthbearer.jwt.retriever.class", CLASS,
         "org.apache.kafka.common.security.oauthbearer.DefaultJwtRetriever",
         "Class retrieving JWTs."),
        ("sasl.oauthbearer.jwt.validator.class", CLASS,
         "org.apache.kafka.common.security.oauthbearer.DefaultJwtValidator",
         "Class validating JWTs."),
        ("sasl.oauthbearer.scope", STRING, None, "Scope asked for."),
        ("sasl.oauthbearer.scope.claim.name", STRING, "scope", "Claim holding the scope."),
        ("sasl.oauthbearer.sub.claim.name", STRING, "sub", "Claim holding the subject."),
        ("sasl.oauthbearer.token.endpoint.url", STRING, None, "URL of the provider's token "
         "endpoint."),
    ]),
    *_table(_JAVA_PLUGIN, [
        ("alter.config.policy.class.name", CLASS, None, "AlterConfigPolicy class.",
         refuse(_JAVA_PLUGIN)),
        ("create.topic.policy.class.name", CLASS, None, "CreateTopicPolicy class.",
         refuse(_JAVA_PLUGIN)),
        ("client.quota.callback.class", CLASS, None, "ClientQuotaCallback class.",
         refuse(_JAVA_PLUGIN)),
        ("sasl.server.callback.handler.class", CLASS, None, "SASL server callback handler.",
         refuse(_JAVA_PLUGIN)),
        ("sasl.client.callback.handler.class", CLASS, None, "SASL client callback handler.",
         refuse(_JAVA_PLUGIN)),
        ("sasl.login.callback.handler.class", CLASS, None, "SASL login callback handler.",
         refuse(_JAVA_PLUGIN)),
        ("sasl.login.class", CLASS, None, "SASL Login class.", refuse(_JAVA_PLUGIN)),
        ("security.providers", STRING, None, "Java security provider creator classes.",
         refuse(_JAVA_PLUGIN)),
        ("config.providers", LIST, [], "ConfigProvider aliases (kraft resolves no "
         "${provider:path:key} values).", refuse(_JAVA_PLUGIN), D),
        ("replica.selector.class", STRING, None, "ReplicaSelector class; set, consumers "
         "fetch from followers (KIP-392).",
         refuse("kraft loads no Java plugin classes and does not serve fetches from "
                "followers (KIP-392)")),
    ]),
    *_table("kraft has no share groups (KIP-932)", [
        ("group.share.assignment.interval.ms", INT, 1000, "Interval of share group "
         "assignment updates.", D),
        ("group.share.min.assignment.interval.ms", INT, 0, "Lowest share group "
         "assignment interval."),
        ("group.share.max.assignment.interval.ms", INT, 15000, "Highest share group "
         "assignment interval."),
        ("group.share.assignors", LIST, ["simple"], "Share group assignors."),
        ("group.share.delivery.count.limit", INT, 5, "Delivery attempts of a record."),
        ("group.share.min.delivery.count.limit", INT, 2, "Lowest delivery count limit a "
         "group may set."),
        ("group.share.max.delivery.count.limit", INT, 10, "Highest delivery count limit a "
         "group may set."),
        ("group.share.partition.max.record.locks", INT, 2000, "Record locks per "
         "share-partition."),
        ("group.share.min.partition.max.record.locks", INT, 100, "Lowest record lock limit "
         "a group may set."),
        ("group.share.max.partition.max.record.locks", INT, 4000, "Highest record lock "
         "limit a group may set."),
        ("group.share.max.share.sessions", INT, 2000, "Share sessions per broker."),
        ("group.share.max.size", INT, 200, "Most members of a share group."),
        ("share.coordinator.append.linger.ms", INT, -1, "Linger of share coordinator "
         "writes."),
        ("share.coordinator.cached.buffer.max.bytes", INT, 1048588, "Largest buffer the "
         "share coordinator keeps for reuse.", D),
        ("share.coordinator.load.buffer.size", INT, 5 * _MB, "Read batch size when loading "
         "__share_group_state."),
        ("share.coordinator.snapshot.update.records.per.snapshot", INT, 500, "Update "
         "records between share state snapshots."),
        ("share.coordinator.state.topic.compression.codec", INT, 0, "Compression of "
         "__share_group_state."),
        ("share.coordinator.state.topic.num.partitions", INT, 50, "Partitions of "
         "__share_group_state."),
        ("share.coordinator.state.topic.segment.bytes", INT, 100 * _MB, "Segment size of "
         "__share_group_state."),
        ("share.coordinator.threads", INT, 1, "Threads of the share coordinator."),
        ("share.coordinator.write.timeout.ms", INT, 5000, "Replication wait of share "
         "coordinator writes."),
        ("share.fetch.purgatory.purge.interval.requests", INT, 1000, "Purge interval "
         "(requests) of the share fetch purgatory."),
    ]),
    *_table("kraft has no streams groups (KIP-1071)", [
        ("group.streams.assignment.interval.ms", INT, 1000, "Interval of streams group "
         "assignment updates.", D),
        ("group.streams.min.assignment.interval.ms", INT, 0, "Lowest streams group "
         "assignment interval."),
        ("group.streams.max.assignment.interval.ms", INT, 15000, "Highest streams group "
         "assignment interval."),
        ("group.streams.assignors", LIST, ["sticky"], "Streams group task assignors."),
        ("group.streams.session.timeout.ms", INT, 45000, "Session timeout of streams group "
         "members."),
        ("group.streams.min.session.timeout.ms", INT, 45000, "Lowest session timeout a "
         "group may set."),
        ("group.streams.max.session.timeout.ms", INT, 60000, "Highest session timeout a "
         "group may set."),
        ("group.streams.heartbeat.interval.ms", INT, 5000, "Heartbeat interval of streams "
         "group members."),
        ("group.streams.min.heartbeat.interval.ms", INT, 5000, "Lowest heartbeat interval a "
         "group may set."),
        ("group.streams.max.heartbeat.interval.ms", INT, 15000, "Highest heartbeat interval "
         "a group may set."),
        ("group.streams.initial.rebalance.delay.ms", INT, 3000, "Wait for more members "
         "before a new streams group's first assignment."),
        ("group.streams.max.size", INT, _INT_MAX, "Most members of a streams group."),
        ("group.streams.num.standby.replicas", INT, 0, "Standby replicas of each task."),
        ("group.streams.max.standby.replicas", INT, 2, "Most standby replicas a group may "
         "set."),
        ("group.streams.rack.aware.assignment.tags", LIST, [], "Client tags spreading "
         "standby replicas."),
        ("group.streams.topology.description.plugin.class", CLASS, None, "Plugin "
         "describing streams group topologies."),
        ("errors.deadletterqueue.auto.create.topics.enable", BOOLEAN, False, "Create "
         "dead-letter queue topics automatically (KIP-1191).", D),
        ("errors.deadletterqueue.topic.name.prefix", STRING, "dlq.", "Prefix of dead-letter "
         "queue topics.", D),
    ]),
    *_table("kraft serves the classic group protocol only (no KIP-848 consumer groups)", [
        ("group.coordinator.rebalance.protocols", LIST, ["classic", "consumer", "streams"],
         "Group protocols served (deprecated in Kafka)."),
        ("group.consumer.assignment.interval.ms", INT, 1000, "Interval of consumer group "
         "assignment updates.", D),
        ("group.consumer.min.assignment.interval.ms", INT, 0, "Lowest consumer group "
         "assignment interval."),
        ("group.consumer.max.assignment.interval.ms", INT, 15000, "Highest consumer group "
         "assignment interval."),
        ("group.consumer.assignors", LIST, ["uniform", "range"], "Server-side assignors."),
        ("group.consumer.max.size", INT, _INT_MAX, "Most members of a consumer group."),
        ("group.consumer.migration.policy", STRING, "bidirectional", "Conversion between "
         "classic and consumer groups."),
    ]),
    *_table("kraft has no client quotas", [
        ("quota.window.num", INT, 11, "Samples kept for client quotas."),
        ("quota.window.size.seconds", INT, 1, "Span of one client quota sample."),
        ("controller.quota.window.num", INT, 11, "Samples kept for controller mutation "
         "quotas."),
        ("controller.quota.window.size.seconds", INT, 1, "Span of one controller mutation "
         "quota sample."),
    ]),
    *_table("kraft serves no client telemetry (KIP-714)", [
        ("telemetry.max.bytes", INT, _MB, "Largest telemetry push."),
    ]),
    *_table(_TWO_PC, [
        ("transaction.two.phase.commit.enable", BOOLEAN, False, "Allow two-phase commit "
         "transactions.", refuse(_TWO_PC)),
    ]),
    *_table(_AUTO_JOIN, [
        ("controller.quorum.auto.join.enable", BOOLEAN, False, "A controller adds itself "
         "to the voters.", refuse(_AUTO_JOIN)),
    ]),
    *_table(_CORDON, [
        ("cordoned.log.dirs", LIST, [], "Log dirs where no new replicas are placed.",
         refuse(_CORDON), D),
    ]),
]
