package kraft.compat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;

/** The Java consumer, classic group protocol: rebalance, commit, seek, offsetsForTimes. */
final class ConsumerChecks {
    private ConsumerChecks() {}

    /** Sends `count` records "v-i" round-robin over `partitions` partitions, with timestamps. */
    static void produce(Checks.Context ctx, String topic, int partitions, int count,
                        Long baseTimestamp) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(Common.producer(ctx.bootstrap(), Map.of()))) {
            for (int i = 0; i < count; i++) {
                Long ts = baseTimestamp == null ? null : baseTimestamp + i * 1000L;
                producer.send(new ProducerRecord<>(topic, i % partitions, ts,
                                                   Common.bytes("k-" + i), Common.bytes("v-" + i)));
            }
            producer.flush();
        }
    }

    /** A consumer that commits what it consumed whenever it polls and before it loses partitions. */
    private static final class Member implements ConsumerRebalanceListener {
        final String name;
        final KafkaConsumer<byte[], byte[]> consumer;
        final Set<String> consumed;
        int revocations;

        Member(Checks.Context ctx, String group, String name, String topic, Set<String> consumed) {
            this.name = name;
            this.consumed = consumed;
            this.consumer = new KafkaConsumer<>(Common.consumer(ctx.bootstrap(), group, Map.of(
                ConsumerConfig.CLIENT_ID_CONFIG, name,
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 20)));
            consumer.subscribe(List.of(topic), this);
        }

        void poll() {
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Common.POLL)) {
                consumed.add(r.partition() + "@" + r.offset());
            }
            try {
                consumer.commitSync();
            } catch (RebalanceInProgressException e) {
                // The group is rebalancing: onPartitionsRevoked commits before it completes.
            }
        }

        Set<Integer> assignment() {
            Set<Integer> out = new TreeSet<>();
            for (TopicPartition tp : consumer.assignment()) out.add(tp.partition());
            return out;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            revocations++;
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (TopicPartition tp : partitions) {
                offsets.put(tp, new OffsetAndMetadata(consumer.position(tp)));
            }
            consumer.commitSync(offsets);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
    }

    private interface Condition {
        boolean holds();
    }

    private static void pollUntil(List<Member> members, Condition done, String what)
            throws TimeoutException {
        long deadline = System.currentTimeMillis() + Common.WAIT_MS;
        while (!done.holds()) {
            if (System.currentTimeMillis() > deadline) {
                StringBuilder state = new StringBuilder();
                for (Member m : members) state.append(' ').append(m.name).append('=')
                    .append(m.assignment());
                throw new TimeoutException("waiting for " + what + ";" + state);
            }
            for (Member m : members) m.poll();
        }
    }

    /**
     * Member a subscribes alone and gets all 4 partitions; member b joins and
     * the group rebalances to two disjoint halves; together they consume all
     * 400 records and commit; a leaves and b gets everything.
     */
    static Map<String, Object> groupRebalance(Checks.Context ctx) throws Exception {
        String topic = ctx.name("rebalance");
        String group = ctx.name("group-rebalance");
        int partitions = 4;
        int count = 400;
        Common.createTopic(ctx.admin(), topic, partitions, ctx.replicas(), Map.of());
        produce(ctx, topic, partitions, count, null);
        Map<String, Object> facts = new LinkedHashMap<>();
        Set<String> consumed = new HashSet<>();
        Member a = new Member(ctx, group, "member-a", topic, consumed);
        Member b = null;
        boolean aOpen = true;
        try {
            pollUntil(List.of(a), () -> a.assignment().size() == partitions && consumed.size() >= 40,
                      "member-a alone to own every partition");
            facts.put("assignment_a_alone", a.assignment());
            Member joined = new Member(ctx, group, "member-b", topic, consumed);
            b = joined;
            pollUntil(List.of(a, joined), () -> {
                Set<Integer> union = new TreeSet<>(a.assignment());
                union.addAll(joined.assignment());
                return !a.assignment().isEmpty() && !joined.assignment().isEmpty()
                    && union.size() == partitions
                    && a.assignment().size() + joined.assignment().size() == partitions;
            }, "the group to split the partitions between a and b");
            facts.put("assignment_a_shared", a.assignment());
            facts.put("assignment_b_shared", joined.assignment());
            facts.put("revocations_a", a.revocations);
            pollUntil(List.of(a, joined), () -> consumed.size() == count, "all records consumed");
            facts.put("consumed_unique", consumed.size());
            for (Member m : List.of(a, joined)) m.consumer.commitSync();
            ConsumerGroupDescription shared = ctx.admin().describeConsumerGroups(List.of(group))
                .all().get().get(group);
            facts.put("group_state_shared", shared.groupState().toString());
            facts.put("group_assignor", shared.partitionAssignor());
            facts.put("group_members_shared", members(shared));
            facts.put("committed_shared", committed(ctx, group));
            a.consumer.close();
            aOpen = false;
            pollUntil(List.of(joined), () -> joined.assignment().size() == partitions,
                      "member-b to own every partition after member-a left");
            facts.put("assignment_b_after_a_left", joined.assignment());
            ConsumerGroupDescription after = ctx.admin().describeConsumerGroups(List.of(group))
                .all().get().get(group);
            facts.put("group_members_after_a_left", members(after));
        } finally {
            if (aOpen) a.consumer.close();
            if (b != null) b.consumer.close();
        }
        ConsumerGroupDescription empty = ctx.admin().describeConsumerGroups(List.of(group))
            .all().get().get(group);
        facts.put("group_state_closed", empty.groupState().toString());
        facts.put("committed_closed", committed(ctx, group));
        return facts;
    }

    private static List<Map<String, Object>> members(ConsumerGroupDescription group) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (MemberDescription m : group.members()) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("client_id", m.clientId());
            Set<Integer> parts = new TreeSet<>();
            for (TopicPartition tp : m.assignment().topicPartitions()) parts.add(tp.partition());
            row.put("partitions", parts);
            out.add(row);
        }
        out.sort((x, y) -> x.get("client_id").toString().compareTo(y.get("client_id").toString()));
        return out;
    }

    static Map<String, Long> committed(Checks.Context ctx, String group) throws Exception {
        Map<String, Long> out = new java.util.TreeMap<>();
        ctx.admin().listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
            .forEach((tp, om) -> out.put(tp.toString(), om.offset()));
        return out;
    }

    /**
     * A consumer of the KIP-848 group protocol (group.protocol=consumer)
     * subscribes, is assigned both partitions and reads every record.
     */
    static Map<String, Object> consumerProtocol(Checks.Context ctx) throws Exception {
        String topic = ctx.name("kip848");
        Common.createTopic(ctx.admin(), topic, 2, ctx.replicas(), Map.of());
        produce(ctx, topic, 2, 20, null);
        Map<String, Object> facts = new LinkedHashMap<>();
        Set<String> consumed = new HashSet<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Common.consumer(
                ctx.bootstrap(), ctx.name("group-kip848"),
                Map.of(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer")))) {
            c.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + Common.WAIT_MS;
            while (consumed.size() < 20 && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Common.POLL)) {
                    consumed.add(r.partition() + "@" + r.offset());
                }
            }
            Set<Integer> assigned = new TreeSet<>();
            for (TopicPartition tp : c.assignment()) assigned.add(tp.partition());
            facts.put("assignment", assigned);
            c.commitSync();
        }
        facts.put("consumed", consumed.size());
        return facts;
    }

    /**
     * assign + seek(10) reads from offset 10; commitSync(25, metadata) is what
     * committed() returns and where a new member of the group starts;
     * seekToBeginning/seekToEnd and beginningOffsets/endOffsets agree.
     */
    static Map<String, Object> commitAndSeek(Checks.Context ctx) throws Exception {
        String topic = ctx.name("seek");
        String group = ctx.name("group-seek");
        Common.createTopic(ctx.admin(), topic, 1, ctx.replicas(), Map.of());
        produce(ctx, topic, 1, 50, null);
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<String, Object> facts = new LinkedHashMap<>();
        try (KafkaConsumer<byte[], byte[]> c =
                 new KafkaConsumer<>(Common.consumer(ctx.bootstrap(), group, Map.of()))) {
            c.assign(List.of(tp));
            c.seek(tp, 10);
            facts.put("first_after_seek", firstOffset(c));
            c.commitSync(Map.of(tp, new OffsetAndMetadata(25, "checkpoint")));
            OffsetAndMetadata committed = c.committed(Set.of(tp)).get(tp);
            facts.put("committed_offset", committed.offset());
            facts.put("committed_metadata", committed.metadata());
            c.seekToBeginning(List.of(tp));
            facts.put("position_beginning", c.position(tp));
            c.seekToEnd(List.of(tp));
            facts.put("position_end", c.position(tp));
            facts.put("beginning_offset", c.beginningOffsets(List.of(tp)).get(tp));
            facts.put("end_offset", c.endOffsets(List.of(tp)).get(tp));
        }
        try (KafkaConsumer<byte[], byte[]> c =
                 new KafkaConsumer<>(Common.consumer(ctx.bootstrap(), group, Map.of()))) {
            c.subscribe(List.of(topic));
            facts.put("first_after_rejoin", firstOffset(c));
        }
        return facts;
    }

    private static long firstOffset(KafkaConsumer<byte[], byte[]> c) throws TimeoutException {
        long deadline = System.currentTimeMillis() + Common.WAIT_MS;
        while (System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Common.POLL)) return r.offset();
        }
        throw new TimeoutException("no record polled");
    }

    /**
     * 50 records with timestamps base + i s: offsetsForTimes finds the first
     * record at or after each time (null past the last one).
     */
    static Map<String, Object> offsetsForTimes(Checks.Context ctx) throws Exception {
        String topic = ctx.name("times");
        Common.createTopic(ctx.admin(), topic, 1, ctx.replicas(), Map.of());
        long base = (System.currentTimeMillis() / 1000 - 3600) * 1000;
        produce(ctx, topic, 1, 50, base);
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<String, Object> facts = new LinkedHashMap<>();
        facts.put("base", base);
        try (KafkaConsumer<byte[], byte[]> c =
                 new KafkaConsumer<>(Common.consumer(ctx.bootstrap(), null, Map.of()))) {
            Map<String, Object> found = new LinkedHashMap<>();
            for (long delta : new long[] {-1000, 0, 5500, 49_000, 100_000}) {
                OffsetAndTimestamp at = c.offsetsForTimes(Map.of(tp, base + delta)).get(tp);
                found.put(Long.toString(delta), at == null ? null
                    : List.of(at.offset(), at.timestamp() - base));
            }
            facts.put("found", found);
        }
        return facts;
    }
}
