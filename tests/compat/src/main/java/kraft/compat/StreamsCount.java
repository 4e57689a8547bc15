package kraft.compat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * A small Kafka Streams application: counts words. Sentences are read from
 * the input topic, split into words, re-keyed by word (through the repartition
 * topic APP-words-repartition) and counted in a state store backed by the
 * changelog topic APP-word-counts-changelog; every new count goes to the
 * output topic.
 *
 * <p>Usage: {@code StreamsCount BOOTSTRAP REPLICAS APP_ID GUARANTEE INPUT OUTPUT
 * STATE_DIR PRODUCE_FILE EXPECT_FILE}. It sends each line of PRODUCE_FILE to
 * INPUT, runs the application with processing.guarantee=GUARANTEE until the
 * latest count of every word on OUTPUT equals its count in EXPECT_FILE (all
 * sentences sent so far, by every run with this APP_ID) or a minute passes,
 * then prints one JSON line of what it saw: the latest counts, the states
 * the application went through, any error, the internal topics and their
 * configs, and the group's committed offsets against the input's end.
 */
public final class StreamsCount {
    private static final long WAIT_MS = 60_000;

    private StreamsCount() {}

    static List<String> words(String sentence) {
        List<String> out = new ArrayList<>();
        for (String w : sentence.toLowerCase(Locale.ROOT).split("[^a-z0-9]+")) {
            if (!w.isEmpty()) out.add(w);
        }
        return out;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 9) {
            System.err.println("usage: StreamsCount BOOTSTRAP REPLICAS APP_ID GUARANTEE INPUT "
                               + "OUTPUT STATE_DIR PRODUCE_FILE EXPECT_FILE");
            System.exit(2);
        }
        String bootstrap = args[0];
        short replicas = Short.parseShort(args[1]);
        String appId = args[2];
        String guarantee = args[3];
        String input = args[4];
        String output = args[5];
        Map<String, Long> expected = new TreeMap<>();
        for (String line : Files.readAllLines(Path.of(args[8]))) {
            for (String w : words(line)) expected.merge(w, 1L, Long::sum);
        }
        Map<String, Object> facts = new LinkedHashMap<>();
        try (Admin admin = Admin.create(Common.admin(bootstrap))) {
            for (String topic : List.of(input, output)) {
                try {
                    admin.createTopics(List.of(new NewTopic(topic, 2, replicas))).all().get();
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) throw e;
                }
                Common.awaitLeaders(admin, topic, 2);
            }
            produce(bootstrap, input, Files.readAllLines(Path.of(args[7])));
            run(bootstrap, replicas, appId, guarantee, input, output, Path.of(args[6]), expected,
                facts);
            facts.put("internal_topics", internalTopics(admin, appId));
            Map<String, Long> committed = new TreeMap<>();
            admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get()
                .forEach((tp, om) -> committed.put(tp.toString(), om == null ? null : om.offset()));
            facts.put("committed", committed);
            Map<String, Long> ends = new TreeMap<>();
            try (KafkaConsumer<byte[], byte[]> c =
                     new KafkaConsumer<>(Common.consumer(bootstrap, null, Map.of()))) {
                List<TopicPartition> tps = List.of(new TopicPartition(input, 0),
                                                   new TopicPartition(input, 1));
                c.endOffsets(tps).forEach((tp, end) -> ends.put(tp.toString(), end));
            }
            facts.put("input_end_offsets", ends);
        }
        System.out.println("STREAMS " + Json.write(facts));
    }

    private static void produce(String bootstrap, String topic, List<String> lines)
            throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(
                props, new StringSerializer(), new StringSerializer())) {
            for (int i = 0; i < lines.size(); i++) {
                producer.send(new ProducerRecord<>(topic, "line-" + i, lines.get(i)));
            }
            producer.flush();
        }
    }

    private static void run(String bootstrap, short replicas, String appId, String guarantee,
                            String input, String output, Path stateDir,
                            Map<String, Long> expected, Map<String, Object> facts)
            throws Exception {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(StreamsCount::words)
            .groupBy((key, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
            .count(Materialized.as("word-counts"))
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, (int) replicas);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        List<String> states = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        Map<String, Long> latest = new TreeMap<>();
        int outputRecords = 0;
        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        try {
            streams.setStateListener((now, before) -> {
                synchronized (states) {
                    states.add(now.toString());
                }
            });
            streams.setUncaughtExceptionHandler(e -> {
                synchronized (errors) {
                    errors.add(e.toString());
                }
                return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                    .SHUTDOWN_CLIENT;
            });
            streams.start();
            Map<String, Object> readProps = new HashMap<>();
            readProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            Properties consumerProps = Common.consumer(bootstrap, null, readProps);
            consumerProps.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG,
                              StringDeserializer.class.getName());
            consumerProps.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                              LongDeserializer.class.getName());
            try (KafkaConsumer<String, Long> consumer = new KafkaConsumer<>(consumerProps)) {
                List<TopicPartition> tps = List.of(new TopicPartition(output, 0),
                                                   new TopicPartition(output, 1));
                consumer.assign(tps);
                consumer.seekToBeginning(tps);
                long deadline = System.currentTimeMillis() + WAIT_MS;
                while (!latest.equals(expected) && System.currentTimeMillis() < deadline
                       && !Set.of(KafkaStreams.State.ERROR, KafkaStreams.State.PENDING_ERROR,
                                  KafkaStreams.State.NOT_RUNNING).contains(streams.state())) {
                    for (ConsumerRecord<String, Long> r : consumer.poll(Common.POLL)) {
                        latest.put(r.key(), r.value());
                        outputRecords++;
                    }
                }
            }
            facts.put("state_at_end", streams.state().toString());
        } finally {
            // Leave the group on close (Streams does not by default), so that the
            // next run with this application id is assigned at once instead of
            // after this member's session times out.
            long closing = System.nanoTime();
            facts.put("closed", streams.close(CloseOptions.groupMembershipOperation(
                CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(
                Duration.ofSeconds(60))));
            facts.put("close_seconds", (System.nanoTime() - closing) / 1e9);
        }
        facts.put("expected_reached", latest.equals(expected));
        facts.put("counts", latest);
        facts.put("output_records", outputRecords);
        synchronized (states) {
            facts.put("states", new ArrayList<>(states));
        }
        synchronized (errors) {
            facts.put("errors", new ArrayList<>(errors));
        }
    }

    /** The application's internal topics, with the configs Streams created them with. */
    private static Map<String, Object> internalTopics(Admin admin, String appId) throws Exception {
        Map<String, Object> out = new TreeMap<>();
        for (String name : admin.listTopics().names().get()) {
            if (!name.startsWith(appId + "-")
                || !(name.endsWith("-changelog") || name.endsWith("-repartition"))) {
                continue;
            }
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, name);
            Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            Map<String, Object> row = new LinkedHashMap<>();
            for (String key : Arrays.asList("cleanup.policy", "retention.ms", "segment.bytes",
                                            "message.timestamp.type")) {
                row.put(key, config.get(key) == null ? null : config.get(key).value());
            }
            row.put("partitions", admin.describeTopics(List.of(name)).allTopicNames().get()
                .get(name).partitions().size());
            out.put(name, row);
        }
        return out;
    }
}
