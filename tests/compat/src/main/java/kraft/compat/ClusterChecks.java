package kraft.compat;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

/**
 * AdminClient calls that need three brokers: electLeaders and partition
 * reassignment. The cluster these run on has auto.leader.rebalance.enable=false,
 * so that no automatic preferred-leader election races the ones made here.
 */
final class ClusterChecks {
    private ClusterChecks() {}

    private static TopicPartitionInfo partition(Admin admin, String topic) throws Exception {
        return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic)
            .partitions().get(0);
    }

    private interface Probe {
        boolean holds(TopicPartitionInfo p) throws Exception;
    }

    /** Waits until partition 0 of `topic` satisfies `probe` and no reassignment is in progress. */
    private static TopicPartitionInfo await(Admin admin, String topic, Probe probe, String what)
            throws Exception {
        long deadline = System.currentTimeMillis() + Common.WAIT_MS;
        TopicPartitionInfo p = partition(admin, topic);
        while (!(probe.holds(p) && admin.listPartitionReassignments().reassignments().get()
                 .keySet().stream().noneMatch(tp -> tp.topic().equals(topic)))) {
            if (System.currentTimeMillis() > deadline) {
                throw new TimeoutException("waiting for " + what + "; partition is " + p);
            }
            Thread.sleep(50);
            p = partition(admin, topic);
        }
        return p;
    }

    private static List<Integer> ids(List<org.apache.kafka.common.Node> nodes) {
        return nodes.stream().map(n -> n.id()).toList();
    }

    private static String electionError(Admin admin, ElectionType type, TopicPartition tp)
            throws Exception {
        Optional<Throwable> error = admin.electLeaders(type, Set.of(tp)).partitions().get().get(tp);
        return error.map(t -> t.getClass().getSimpleName()).orElse(null);
    }

    /**
     * A partition with replicas [2, 3, 1] is led by 2 and needs no election;
     * reordering the replicas to [3, 2, 1] keeps leader 2, and a preferred
     * election then moves leadership to 3; records written before survive.
     */
    static Map<String, Object> electLeaders(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("elect");
        TopicPartition tp = new TopicPartition(topic, 0);
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(2, 3, 1))))).all().get();
        Map<String, Object> facts = new LinkedHashMap<>();
        TopicPartitionInfo created = await(admin, topic,
            p -> p.leader() != null && p.isr().size() == 3, "leader and a full ISR");
        facts.put("leader_created", created.leader().id());
        ConsumerChecks.produce(ctx, topic, 1, 30, null);
        facts.put("preferred_not_needed", electionError(admin, ElectionType.PREFERRED, tp));
        facts.put("unclean_not_needed", electionError(admin, ElectionType.UNCLEAN, tp));
        admin.alterPartitionReassignments(Map.of(tp, Optional.of(
            new NewPartitionReassignment(List.of(3, 2, 1))))).all().get();
        TopicPartitionInfo reordered = await(admin, topic,
            p -> ids(p.replicas()).equals(List.of(3, 2, 1)), "replicas reordered to [3, 2, 1]");
        facts.put("leader_after_reorder", reordered.leader().id());
        facts.put("preferred_election", electionError(admin, ElectionType.PREFERRED, tp));
        TopicPartitionInfo elected = await(admin, topic,
            p -> p.leader() != null && p.leader().id() == 3, "leader 3");
        facts.put("leader_after_election", elected.leader().id());
        facts.put("unknown_partition", electionError(admin, ElectionType.PREFERRED,
            new TopicPartition(ctx.name("no-such-topic"), 0)));
        var read = Common.readAll(ctx.bootstrap(), Map.of(tp, 30L), Map.of());
        facts.put("records_after_election", read.getOrDefault(tp, List.of()).size());
        return facts;
    }

    /**
     * Moving a partition from replicas [1, 2] to [2, 3] completes (listed
     * while in progress, then gone), keeps its records, and leaves the new
     * replicas in the ISR; cancelling when nothing moves, a replica on an
     * unknown broker and an unknown topic are refused.
     */
    static Map<String, Object> reassignment(Checks.Context ctx) throws Exception {
        Admin admin = ctx.admin();
        String topic = ctx.name("reassign");
        TopicPartition tp = new TopicPartition(topic, 0);
        admin.createTopics(List.of(new NewTopic(topic, Map.of(0, List.of(1, 2))))).all().get();
        await(admin, topic, p -> p.leader() != null && p.isr().size() == 2, "a full ISR");
        ConsumerChecks.produce(ctx, topic, 1, 50, null);
        Map<String, Object> facts = new LinkedHashMap<>();
        admin.alterPartitionReassignments(Map.of(tp, Optional.of(
            new NewPartitionReassignment(List.of(2, 3))))).all().get();
        TopicPartitionInfo moved = await(admin, topic,
            p -> ids(p.replicas()).equals(List.of(2, 3)) && p.isr().size() == 2,
            "replicas [2, 3] in the ISR");
        facts.put("replicas_after", ids(moved.replicas()));
        facts.put("isr_after", new TreeSet<>(ids(moved.isr())));
        facts.put("leader_after", moved.leader().id());
        var read = Common.readAll(ctx.bootstrap(), Map.of(tp, 50L), Map.of());
        List<ConsumerRecord<byte[], byte[]>> records = read.getOrDefault(tp, List.of());
        List<String> values = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : records) values.add(Common.text(r.value()));
        facts.put("records_after", records.size());
        facts.put("values_in_order", values.equals(
            java.util.stream.IntStream.range(0, 50).mapToObj(i -> "v-" + i).toList()));
        facts.put("cancel_none", Common.errorOf(() -> admin.alterPartitionReassignments(
            Map.of(tp, Optional.empty())).all().get()));
        facts.put("unknown_broker", Common.errorOf(() -> admin.alterPartitionReassignments(
            Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(2, 99))))).all().get()));
        facts.put("unknown_topic", Common.errorOf(() -> admin.alterPartitionReassignments(
            Map.of(new TopicPartition(ctx.name("no-such-topic"), 0),
                   Optional.of(new NewPartitionReassignment(List.of(1))))).all().get()));
        TopicDescription description = admin.describeTopics(List.of(topic)).allTopicNames().get()
            .get(topic);
        facts.put("replicas_final", Common.replicas(description));
        return facts;
    }
}
