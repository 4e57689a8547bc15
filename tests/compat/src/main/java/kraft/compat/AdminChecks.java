package kraft.compat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;

/** The AdminClient against any cluster: topics, partitions, configs, records, groups, cluster. */
final class AdminChecks {
    private AdminChecks() {}

    /**
     * createTopics (good, duplicate, invalid config, unknown config, illegal
     * name, too many replicas, validateOnly), listTopics, describeTopics,
     * createPartitions (grow, shrink refused, unknown topic), deleteTopics.
     */
    static Map<String, Object> topics(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("topics");
        int rf = ctx.replicas();
        Map<String, Object> facts = new LinkedHashMap<>();
        TopicDescription created = Common.createTopic(admin, topic, 2, rf,
            Map.of("cleanup.policy", "compact", "retention.ms", "3600000"));
        facts.put("create_again", Common.errorOf(() -> admin.createTopics(
            List.of(new NewTopic(topic, 2, (short) rf))).all().get()));
        facts.put("create_bad_value", Common.errorOf(() -> admin.createTopics(List.of(
            new NewTopic(ctx.name("bad-value"), 1, (short) rf).configs(
                Map.of("retention.ms", "soon"))))
            .all().get()));
        facts.put("create_unknown_config", Common.errorOf(() -> admin.createTopics(List.of(
            new NewTopic(ctx.name("unknown-config"), 1, (short) rf).configs(
                Map.of("no.such.config", "1"))))
            .all().get()));
        facts.put("create_illegal_name", Common.errorOf(() -> admin.createTopics(
            List.of(new NewTopic("illegal name!", 1, (short) rf))).all().get()));
        facts.put("create_too_many_replicas", Common.errorOf(() -> admin.createTopics(List.of(
            new NewTopic(ctx.name("too-many"), 1, (short) (ctx.brokers() + 1)))).all().get()));
        String validated = ctx.name("validate-only");
        facts.put("validate_only", Common.errorOf(() -> admin.createTopics(
            List.of(new NewTopic(validated, 1, (short) rf)),
            new CreateTopicsOptions().validateOnly(true)).all().get()));
        Set<String> listed = admin.listTopics().names().get();
        facts.put("listed", listed.contains(topic));
        facts.put("validate_only_listed", listed.contains(validated));
        facts.put("topic_id_set", !created.topicId().toString().equals("AAAAAAAAAAAAAAAAAAAAAA"));
        facts.put("internal", created.isInternal());
        facts.put("partitions", created.partitions().size());
        facts.put("replicas", Common.replicas(created));
        List<Integer> isr = new ArrayList<>();
        for (TopicPartitionInfo p : created.partitions()) isr.add(p.isr().size());
        facts.put("isr_sizes", isr);
        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(5))).all().get();
        facts.put("partitions_after_increase", Common.awaitLeaders(admin, topic, 5)
            .partitions().size());
        facts.put("decrease", Common.errorOf(() -> admin.createPartitions(
            Map.of(topic, NewPartitions.increaseTo(3))).all().get()));
        facts.put("increase_unknown", Common.errorOf(() -> admin.createPartitions(
            Map.of(ctx.name("no-such-topic"), NewPartitions.increaseTo(3))).all().get()));
        admin.deleteTopics(List.of(topic)).all().get();
        long deadline = System.currentTimeMillis() + Common.WAIT_MS;
        while (admin.listTopics().names().get().contains(topic)
               && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        facts.put("listed_after_delete", admin.listTopics().names().get().contains(topic));
        facts.put("describe_deleted", Common.errorOf(
            () -> admin.describeTopics(List.of(topic)).allTopicNames().get()));
        facts.put("delete_unknown", Common.errorOf(
            () -> admin.deleteTopics(List.of(ctx.name("no-such-topic"))).all().get()));
        return facts;
    }

    private static Map<String, Object> entry(Config config, String name) {
        ConfigEntry e = config.get(name);
        if (e == null) return null;
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("value", e.value());
        out.put("source", e.source().toString());
        out.put("read_only", e.isReadOnly());
        return out;
    }

    private static Config describe(Admin admin, ConfigResource resource) throws Exception {
        return admin.describeConfigs(List.of(resource)).all().get().get(resource);
    }

    /**
     * describeConfigs of a topic (dynamic and default entries) and of a broker;
     * incrementalAlterConfigs SET, APPEND and DELETE; an invalid value and an
     * unknown name are refused.
     */
    static Map<String, Object> configs(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("configs");
        Common.createTopic(admin, topic, 1, ctx.replicas(), Map.of("retention.ms", "3600000"));
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Map<String, Object> facts = new LinkedHashMap<>();
        Config before = Common.retryWhileUnknown(() -> describe(admin, resource));
        facts.put("retention_ms", entry(before, "retention.ms"));
        facts.put("cleanup_policy", entry(before, "cleanup.policy"));
        facts.put("max_message_bytes", entry(before, "max.message.bytes"));
        admin.incrementalAlterConfigs(Map.of(resource, List.of(
            new AlterConfigOp(new ConfigEntry("segment.bytes", "1048576"), AlterConfigOp.OpType.SET),
            new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"),
                              AlterConfigOp.OpType.APPEND),
            new AlterConfigOp(new ConfigEntry("retention.ms", null), AlterConfigOp.OpType.DELETE))))
            .all().get();
        // Another broker may answer the describe before it has replayed the change
        // (no read-your-writes across brokers, in Kafka either): ask until the SET
        // shows, for at most 30 s; the facts are the last answer.
        Config after = describe(admin, resource);
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!"1048576".equals(after.get("segment.bytes").value())
               && System.nanoTime() < deadline) {
            Thread.sleep(Common.POLL.toMillis());
            after = describe(admin, resource);
        }
        facts.put("segment_bytes_after", entry(after, "segment.bytes"));
        facts.put("cleanup_policy_after", entry(after, "cleanup.policy"));
        facts.put("retention_ms_after", entry(after, "retention.ms"));
        facts.put("set_bad_value", Common.errorOf(() -> admin.incrementalAlterConfigs(
            Map.of(resource, List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "soon"),
                                                       AlterConfigOp.OpType.SET)))).all().get()));
        facts.put("set_unknown_name", Common.errorOf(() -> admin.incrementalAlterConfigs(
            Map.of(resource, List.of(new AlterConfigOp(new ConfigEntry("no.such.config", "1"),
                                                       AlterConfigOp.OpType.SET)))).all().get()));
        facts.put("describe_unknown_topic", Common.errorOf(() -> describe(admin,
            new ConfigResource(ConfigResource.Type.TOPIC, ctx.name("no-such-topic")))));
        String brokerId = Integer.toString(admin.describeCluster().nodes().get().iterator().next()
            .id());
        Config broker = describe(admin, new ConfigResource(ConfigResource.Type.BROKER, brokerId));
        facts.put("broker_message_max_bytes", entry(broker, "message.max.bytes"));
        facts.put("broker_node_id", entry(broker, "node.id"));
        facts.put("broker_entries", broker.entries().size());
        return facts;
    }

    private static Map<String, Object> offsets(Admin admin, TopicPartition tp) throws Exception {
        Map<String, Object> out = new LinkedHashMap<>();
        Map<String, OffsetSpec> specs = new LinkedHashMap<>();
        specs.put("earliest", OffsetSpec.earliest());
        specs.put("latest", OffsetSpec.latest());
        specs.put("max_timestamp", OffsetSpec.maxTimestamp());
        for (var spec : specs.entrySet()) {
            var info = admin.listOffsets(Map.of(tp, spec.getValue())).partitionResult(tp).get();
            out.put(spec.getKey(), List.of(info.offset(), info.timestamp()));
        }
        return out;
    }

    /**
     * listOffsets (earliest, latest, max timestamp) before and after
     * deleteRecords; a consumer then starts at the new log start; deleting
     * past the high watermark is refused; beforeOffset(-1) deletes up to it.
     * (An unknown topic is not tried: the AdminClient retries its metadata
     * until the call times out, against Kafka as well.)
     */
    static Map<String, Object> records(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("records");
        Common.createTopic(admin, topic, 1, ctx.replicas(), Map.of());
        long base = (System.currentTimeMillis() / 1000 - 3600) * 1000;
        ConsumerChecks.produce(ctx, topic, 1, 100, base);
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<String, Object> facts = new LinkedHashMap<>();
        facts.put("base", base);
        facts.put("offsets_before", offsets(admin, tp));
        facts.put("low_watermark", admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(40)))
            .lowWatermarks().get(tp).get().lowWatermark());
        facts.put("offsets_after", offsets(admin, tp));
        try (KafkaConsumer<byte[], byte[]> c =
                 new KafkaConsumer<>(Common.consumer(ctx.bootstrap(), null, Map.of()))) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            facts.put("consumer_start", c.position(tp));
        }
        facts.put("delete_past_end", Common.errorOf(() -> admin.deleteRecords(
            Map.of(tp, RecordsToDelete.beforeOffset(200))).all().get()));
        facts.put("low_watermark_all", admin.deleteRecords(
            Map.of(tp, RecordsToDelete.beforeOffset(-1))).lowWatermarks().get(tp).get()
            .lowWatermark());
        return facts;
    }

    private static Map<String, Long> groupOffsets(Admin admin, String group) throws Exception {
        Map<String, Long> out = new TreeMap<>();
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
            .forEach((tp, om) -> out.put(tp.toString(), om == null ? null : om.offset()));
        return out;
    }

    private static String listedState(Admin admin, String group) throws Exception {
        Collection<GroupListing> all = admin.listGroups(ListGroupsOptions.forConsumerGroups())
            .all().get();
        for (GroupListing g : all) {
            if (g.groupId().equals(group)) {
                return g.groupState().map(Object::toString).orElse("(no state)");
            }
        }
        return null;
    }

    /**
     * Offsets of a group with no members: alter, list, describe, delete one
     * partition's offset, delete the group; an active group refuses deletion
     * and offset changes.
     */
    static Map<String, Object> groups(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("groups");
        String group = ctx.name("group-offsets");
        String active = ctx.name("group-active");
        Common.createTopic(admin, topic, 2, ctx.replicas(), Map.of());
        ConsumerChecks.produce(ctx, topic, 2, 10, null);
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        Map<String, Object> facts = new LinkedHashMap<>();
        admin.alterConsumerGroupOffsets(group, Map.of(
            p0, new OffsetAndMetadata(3), p1, new OffsetAndMetadata(5))).all().get();
        facts.put("listed_state", listedState(admin, group));
        ConsumerGroupDescription described = admin.describeConsumerGroups(List.of(group)).all()
            .get().get(group);
        facts.put("described_state", described.groupState().toString());
        facts.put("described_members", described.members().size());
        facts.put("offsets", groupOffsets(admin, group));
        admin.deleteConsumerGroupOffsets(group, Set.of(p0)).all().get();
        facts.put("offsets_after_delete_p0", groupOffsets(admin, group));
        try (KafkaConsumer<byte[], byte[]> c =
                 new KafkaConsumer<>(Common.consumer(ctx.bootstrap(), active, Map.of()))) {
            c.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + Common.WAIT_MS;
            while (c.assignment().isEmpty() && System.currentTimeMillis() < deadline) {
                c.poll(Common.POLL);
            }
            c.commitSync();
            facts.put("active_assignment", c.assignment().size());
            facts.put("delete_active", Common.errorOf(
                () -> admin.deleteConsumerGroups(List.of(active)).all().get()));
            facts.put("alter_active", Common.errorOf(() -> admin.alterConsumerGroupOffsets(
                active, Map.of(p0, new OffsetAndMetadata(0))).all().get()));
            facts.put("delete_offsets_active", Common.errorOf(
                () -> admin.deleteConsumerGroupOffsets(active, Set.of(p0)).all().get()));
            facts.put("active_state", admin.describeConsumerGroups(List.of(active)).all().get()
                .get(active).groupState().toString());
        }
        admin.deleteConsumerGroups(List.of(group)).all().get();
        facts.put("listed_after_delete", listedState(admin, group));
        facts.put("described_after_delete", admin.describeConsumerGroups(List.of(group)).all()
            .get().get(group).groupState().toString());
        facts.put("delete_unknown", Common.errorOf(() -> admin.deleteConsumerGroups(
            List.of(ctx.name("no-such-group"))).all().get()));
        return facts;
    }

    /** describeCluster, describeMetadataQuorum and describeFeatures. */
    static Map<String, Object> cluster(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        Map<String, Object> facts = new LinkedHashMap<>();
        DescribeClusterResult cluster = admin.describeCluster();
        facts.put("cluster_id", cluster.clusterId().get());
        Set<Integer> nodes = new TreeSet<>();
        for (Node n : cluster.nodes().get()) nodes.add(n.id());
        facts.put("nodes", nodes);
        Node controller = cluster.controller().get();
        facts.put("controller", controller == null ? null : controller.id());
        QuorumInfo quorum = admin.describeMetadataQuorum().quorumInfo().get();
        facts.put("quorum_leader", quorum.leaderId());
        facts.put("quorum_epoch", quorum.leaderEpoch());
        facts.put("quorum_high_watermark", quorum.highWatermark());
        Set<Integer> voters = new TreeSet<>();
        List<Long> voterEnds = new ArrayList<>();
        for (QuorumInfo.ReplicaState v : quorum.voters()) {
            voters.add(v.replicaId());
            voterEnds.add(v.logEndOffset());
        }
        facts.put("quorum_voters", voters);
        facts.put("quorum_voter_log_end_offsets", voterEnds);
        Set<Integer> observers = new TreeSet<>();
        for (QuorumInfo.ReplicaState o : quorum.observers()) observers.add(o.replicaId());
        facts.put("quorum_observers", observers);
        FeatureMetadata features = admin.describeFeatures().featureMetadata().get();
        Map<String, Object> finalized = new TreeMap<>();
        features.finalizedFeatures().forEach((name, range) ->
            finalized.put(name, List.of(range.minVersionLevel(), range.maxVersionLevel())));
        facts.put("finalized_features", finalized);
        facts.put("supported_features", new TreeSet<>(features.supportedFeatures().keySet()));
        return facts;
    }

    /** describeLogDirs and describeReplicaLogDirs: where each replica of a topic lives. */
    static Map<String, Object> logDirs(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("log-dirs");
        Common.createTopic(admin, topic, 2, ctx.replicas(), Map.of());
        ConsumerChecks.produce(ctx, topic, 2, 20, null);
        List<Integer> brokers = new ArrayList<>();
        for (Node n : admin.describeCluster().nodes().get()) brokers.add(n.id());
        Map<String, Object> facts = new LinkedHashMap<>();
        List<Map<String, Object>> replicas = new ArrayList<>();
        var all = admin.describeLogDirs(brokers).allDescriptions().get();
        int dirs = 0;
        boolean spaceKnown = true;
        for (var byBroker : all.entrySet()) {
            for (var dir : byBroker.getValue().entrySet()) {
                dirs++;
                LogDirDescription d = dir.getValue();
                spaceKnown &= d.totalBytes().isPresent() && d.usableBytes().isPresent();
                for (Map.Entry<TopicPartition, ReplicaInfo> r : d.replicaInfos().entrySet()) {
                    if (!r.getKey().topic().equals(topic)) continue;
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("broker", byBroker.getKey());
                    row.put("partition", r.getKey().partition());
                    row.put("size", r.getValue().size());
                    row.put("offset_lag", r.getValue().offsetLag());
                    row.put("is_future", r.getValue().isFuture());
                    replicas.add(row);
                }
            }
        }
        replicas.sort((x, y) -> (x.get("partition") + "/" + x.get("broker"))
            .compareTo(y.get("partition") + "/" + y.get("broker")));
        facts.put("brokers", all.size());
        facts.put("dirs", dirs);
        facts.put("space_known", spaceKnown);
        facts.put("replicas", replicas);
        facts.put("rf", ctx.replicas());
        return facts;
    }
}
