package kraft.compat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;

/** The Java producer: every codec with headers, large batches, an oversized record. */
final class ProducerChecks {
    private ProducerChecks() {}

    /** One record as sent: where it went and what it carried. */
    private record Sent(int index, int partition, byte[] key, byte[] value, List<Header> headers) {}

    private static Sent record(int index, int partitions, int size, String codec) {
        List<Header> headers = List.of(
            new RecordHeader("index", Common.bytes(Integer.toString(index))),
            new RecordHeader("codec", Common.bytes(codec)),
            new RecordHeader("null-value", null));
        return new Sent(index, index % partitions, Common.bytes("key-" + index),
                        Common.payload(index, size), headers);
    }

    /**
     * 3000 records over 3 partitions with compression.type=codec and Kafka's
     * producer defaults (acks=all, idempotence), each with three headers (one
     * with a null value), read back with a consumer and compared one by one.
     */
    static Map<String, Object> codec(Checks.Context ctx, String codec) throws Exception {
        String topic = ctx.name("codec-" + codec);
        int partitions = 3;
        Common.createTopic(ctx.admin(), topic, partitions, ctx.replicas(), Map.of());
        List<Sent> sent = new ArrayList<>();
        for (int i = 0; i < 3000; i++) sent.add(record(i, partitions, 20 + (i * 37) % 700, codec));
        Map<String, Object> facts = produceAndReadBack(ctx, topic, partitions, sent,
            Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                   ProducerConfig.LINGER_MS_CONFIG, 5));
        facts.put("producer_states", producerStates(ctx, topic, partitions));
        return facts;
    }

    /**
     * 120 records of 60 KiB in batches of up to 512 KiB, then one record of
     * 1,000,000 bytes (under max.request.size and message.max.bytes), read back.
     */
    static Map<String, Object> largeBatches(Checks.Context ctx) throws Exception {
        String topic = ctx.name("large");
        int partitions = 2;
        Common.createTopic(ctx.admin(), topic, partitions, ctx.replicas(), Map.of());
        List<Sent> sent = new ArrayList<>();
        for (int i = 0; i < 120; i++) sent.add(record(i, partitions, 60 * 1024, "none"));
        sent.add(record(120, partitions, 1_000_000, "none"));
        return produceAndReadBack(ctx, topic, partitions, sent,
            Map.of(ProducerConfig.BATCH_SIZE_CONFIG, 512 * 1024,
                   ProducerConfig.LINGER_MS_CONFIG, 100));
    }

    /**
     * A 2 MiB record from a producer allowed 4 MiB requests is refused by the
     * broker (message.max.bytes); the same producer then still sends a small one.
     */
    static Map<String, Object> tooLarge(Checks.Context ctx) throws Exception {
        String topic = ctx.name("too-large");
        Common.createTopic(ctx.admin(), topic, 1, ctx.replicas(), Map.of());
        Map<String, Object> facts = new LinkedHashMap<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Common.producer(
                ctx.bootstrap(), Map.of(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 4 << 20,
                                        ProducerConfig.BUFFER_MEMORY_CONFIG, 16 << 20)))) {
            byte[] big = Common.payload(0, 2 << 20);
            facts.put("error", Common.errorOf(
                () -> producer.send(new ProducerRecord<>(topic, 0, null, big)).get()));
            RecordMetadata small = producer.send(
                new ProducerRecord<>(topic, 0, null, Common.bytes("small"))).get();
            facts.put("small_offset", small.offset());
        }
        return facts;
    }

    /**
     * A transactional producer commits 10 records and aborts 10 more: a
     * read_committed consumer sees exactly the committed ones (offsets 0-9,
     * then a marker), a read_uncommitted consumer all 20.
     */
    static Map<String, Object> transactional(Checks.Context ctx) throws Exception {
        String topic = ctx.name("transactions");
        Common.createTopic(ctx.admin(), topic, 1, ctx.replicas(), Map.of());
        Map<String, Object> facts = new LinkedHashMap<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Common.producer(
                ctx.bootstrap(), Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, ctx.name("txn"),
                                        ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000)))) {
            producer.initTransactions();
            for (boolean commit : new boolean[] {true, false}) {
                producer.beginTransaction();
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, null,
                        Common.bytes((commit ? "committed-" : "aborted-") + i)));
                }
                if (commit) {
                    producer.commitTransaction();
                } else {
                    // Written before the abort: without the flush an abort within
                    // linger.ms drops the unsent batches (Kafka's client does that too).
                    producer.flush();
                    producer.abortTransaction();
                }
            }
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        for (String isolation : List.of("read_committed", "read_uncommitted")) {
            List<String> values = new ArrayList<>();
            try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(
                    Common.consumer(ctx.bootstrap(), null, Map.of(
                        org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        isolation)))) {
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                long end = consumer.endOffsets(List.of(tp)).get(tp);
                long deadline = System.currentTimeMillis() + Common.WAIT_MS;
                while (consumer.position(tp) < end && System.currentTimeMillis() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Common.POLL)) {
                        values.add(Common.text(r.value()));
                    }
                }
                facts.put(isolation + "_end", end);
            }
            facts.put(isolation, values);
        }
        return facts;
    }

    private static Map<String, Object> produceAndReadBack(
            Checks.Context ctx, String topic, int partitions, List<Sent> sent,
            Map<String, Object> extra) throws Exception {
        Map<String, Object> facts = new LinkedHashMap<>();
        var props = Common.producer(ctx.bootstrap(), extra);
        ProducerConfig effective = new ProducerConfig(props);
        facts.put("acks", effective.getString(ProducerConfig.ACKS_CONFIG));
        facts.put("idempotence", effective.getBoolean(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG));
        List<RecordMetadata> acked = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (Sent s : sent) {
                futures.add(producer.send(new ProducerRecord<>(
                    topic, s.partition(), null, s.key(), s.value(), s.headers())));
            }
            producer.flush();
            for (Future<RecordMetadata> f : futures) acked.add(f.get());
        }
        // Offsets the producer was given, per partition, in send order.
        Map<Integer, List<Long>> offsets = new HashMap<>();
        for (RecordMetadata m : acked) {
            offsets.computeIfAbsent(m.partition(), p -> new ArrayList<>()).add(m.offset());
        }
        boolean contiguous = true;
        Map<TopicPartition, Long> ends = new HashMap<>();
        for (int p = 0; p < partitions; p++) {
            List<Long> list = offsets.getOrDefault(p, List.of());
            for (int i = 0; i < list.size(); i++) contiguous &= list.get(i) == i;
            ends.put(new TopicPartition(topic, p), (long) list.size());
        }
        var read = Common.readAll(ctx.bootstrap(), ends, Map.of());
        List<String> mismatches = new ArrayList<>();
        int received = 0;
        boolean timestampsMatch = true;
        for (int p = 0; p < partitions; p++) {
            List<ConsumerRecord<byte[], byte[]>> got =
                read.getOrDefault(new TopicPartition(topic, p), List.of());
            received += got.size();
            int finalP = p;
            List<Sent> want = sent.stream().filter(s -> s.partition() == finalP).toList();
            List<RecordMetadata> wantMeta = acked.stream().filter(m -> m.partition() == finalP)
                .toList();
            for (int i = 0; i < Math.max(got.size(), want.size()); i++) {
                String problem = i >= got.size() ? "missing" : i >= want.size() ? "extra"
                    : differs(want.get(i), got.get(i));
                if (problem == null && got.get(i).offset() != i) problem = "offset " + got.get(i).offset();
                if (problem != null && mismatches.size() < 5) {
                    mismatches.add("partition " + p + " record " + i + ": " + problem);
                }
                if (i < got.size() && i < wantMeta.size()) {
                    timestampsMatch &= got.get(i).timestampType() == TimestampType.CREATE_TIME
                        && got.get(i).timestamp() == wantMeta.get(i).timestamp();
                }
            }
        }
        facts.put("sent", sent.size());
        facts.put("acked_offsets_contiguous", contiguous);
        facts.put("received", received);
        facts.put("mismatches", mismatches);
        facts.put("timestamps_match", timestampsMatch);
        return facts;
    }

    private static String differs(Sent want, ConsumerRecord<byte[], byte[]> got) {
        if (!Arrays.equals(want.key(), got.key())) return "key " + Common.text(got.key());
        if (!Arrays.equals(want.value(), got.value())) {
            return "value of " + (got.value() == null ? "null" : got.value().length + " bytes");
        }
        Header[] headers = got.headers().toArray();
        if (headers.length != want.headers().size()) return headers.length + " headers";
        for (int h = 0; h < headers.length; h++) {
            Header w = want.headers().get(h);
            if (!w.key().equals(headers[h].key()) || !Arrays.equals(w.value(), headers[h].value())) {
                return "header " + h + " " + headers[h].key();
            }
        }
        return null;
    }

    /** DescribeProducers for each partition: the idempotent producers its leader tracks. */
    static List<Map<String, Object>> producerStates(Checks.Context ctx, String topic,
                                                    int partitions) throws ExecutionException,
                                                                           InterruptedException {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
        var result = ctx.admin().describeProducers(tps).all().get();
        List<Map<String, Object>> out = new ArrayList<>();
        for (TopicPartition tp : tps) {
            for (ProducerState state : result.get(tp).activeProducers()) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("partition", tp.partition());
                row.put("producer_id", state.producerId());
                row.put("producer_epoch", state.producerEpoch());
                row.put("last_sequence", state.lastSequence());
                out.add(row);
            }
        }
        return out;
    }
}
