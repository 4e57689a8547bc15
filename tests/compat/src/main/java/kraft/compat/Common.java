package kraft.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** What every check needs: client properties, topics, deterministic records, bounded waits. */
final class Common {
    static final Duration POLL = Duration.ofMillis(100);
    static final long WAIT_MS = 60_000;

    private Common() {}

    static Properties admin(String bootstrap) {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return props;
    }

    /** A producer with Kafka's defaults (acks=all, idempotence on) unless `extra` says otherwise. */
    static Properties producer(String bootstrap, Map<String, Object> extra) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.putAll(extra);
        return props;
    }

    /** A consumer of the classic group protocol; no group when `group` is null. */
    static Properties consumer(String bootstrap, String group, Map<String, Object> extra) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                  ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        if (group != null) props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.putAll(extra);
        return props;
    }

    /** Creates `name` and waits until every partition has a leader in the metadata. */
    static TopicDescription createTopic(Admin admin, String name, int partitions, int replicas,
                                        Map<String, String> configs) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) replicas).configs(configs)))
             .all().get();
        return awaitLeaders(admin, name, partitions);
    }

    static TopicDescription awaitLeaders(Admin admin, String name, int partitions)
            throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            try {
                TopicDescription description = admin.describeTopics(List.of(name))
                    .allTopicNames().get().get(name);
                if (description.partitions().size() == partitions && description.partitions()
                        .stream().allMatch(p -> p.leader() != null && !p.leader().isEmpty())) {
                    return description;
                }
            } catch (ExecutionException e) {
                if (System.currentTimeMillis() > deadline) throw e;
            }
            if (System.currentTimeMillis() > deadline) {
                throw new TimeoutException("topic " + name + " has no leader for every partition");
            }
            Thread.sleep(50);
        }
    }

    /** Replica ids per partition, in partition order. */
    static List<List<Integer>> replicas(TopicDescription description) {
        List<List<Integer>> out = new ArrayList<>();
        for (TopicPartitionInfo p : description.partitions()) {
            out.add(p.replicas().stream().map(n -> n.id()).toList());
        }
        return out;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String text(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** The value of record `index`: `size` bytes of a pattern that depends on index and position. */
    static byte[] payload(int index, int size) {
        byte[] out = new byte[size];
        long x = 0x9E3779B97F4A7C15L * (index + 1);
        for (int i = 0; i < size; i++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            // Half the bytes from a small alphabet so every codec has something to compress.
            out[i] = (i & 1) == 0 ? (byte) ('a' + (x & 7)) : (byte) x;
        }
        return out;
    }

    /** Every record of `partitions` from their beginning up to `endOffsets` (exclusive). */
    static Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> readAll(
            String bootstrap, Map<TopicPartition, Long> endOffsets, Map<String, Object> extra)
            throws TimeoutException {
        Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> out = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(consumer(bootstrap, null, extra))) {
            consumer.assign(endOffsets.keySet());
            consumer.seekToBeginning(endOffsets.keySet());
            long deadline = System.currentTimeMillis() + WAIT_MS;
            while (!reached(consumer, endOffsets)) {
                if (System.currentTimeMillis() > deadline) {
                    throw new TimeoutException("read " + count(out) + " records, positions "
                        + positions(consumer, endOffsets.keySet()) + ", wanted " + endOffsets);
                }
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                    out.computeIfAbsent(new TopicPartition(r.topic(), r.partition()),
                                        k -> new ArrayList<>()).add(r);
                }
            }
        }
        return out;
    }

    private static boolean reached(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> ends) {
        for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) return false;
        }
        return true;
    }

    static Map<String, Long> positions(KafkaConsumer<?, ?> consumer,
                                       Collection<TopicPartition> partitions) {
        Map<String, Long> out = new HashMap<>();
        for (TopicPartition tp : partitions) out.put(tp.toString(), consumer.position(tp));
        return out;
    }

    static int count(Map<?, ? extends List<?>> byPartition) {
        return byPartition.values().stream().mapToInt(List::size).sum();
    }

    /** The class name of what a client call failed with (ExecutionException unwrapped), or null. */
    static String errorOf(ThrowingRunnable action) {
        try {
            action.run();
            return null;
        } catch (ExecutionException e) {
            return e.getCause().getClass().getSimpleName();
        } catch (Exception e) {
            return e.getClass().getSimpleName();
        }
    }

    /**
     * `call`, retried while it fails with UnknownTopicOrPartitionException, for at
     * most WAIT_MS. A topic's creation is acknowledged once the controller has
     * committed it; each broker learns of it when it next reads the metadata log,
     * so a request that the AdminClient sends to another broker right after may
     * not find it yet (in Kafka as well: its own tests wait for every broker).
     */
    static <T> T retryWhileUnknown(java.util.concurrent.Callable<T> call) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MS;
        while (true) {
            try {
                return call.call();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)
                    || System.currentTimeMillis() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    @FunctionalInterface
    interface ThrowingRunnable {
        void run() throws Exception;
    }
}
