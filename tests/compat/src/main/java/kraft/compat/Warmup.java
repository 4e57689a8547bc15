package kraft.compat;

import java.time.Duration;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * The training run of the JVM's class-data-sharing archive (see kafka_dist.py):
 * loads the main class of each tool named in the arguments and builds an
 * AdminClient, a producer and a consumer (which connect to nothing), so that
 * the archive holds the classes every tool and check starts with.
 */
public final class Warmup {
    private Warmup() {}

    public static void main(String[] args) throws Exception {
        for (String mainClass : args) {
            Class.forName(mainClass, true, Warmup.class.getClassLoader());
        }
        String nowhere = "127.0.0.1:1";
        try (Admin admin = Admin.create(Common.admin(nowhere));
             KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(Common.producer(nowhere, Map.of()));
             KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(Common.consumer(nowhere, "warmup", Map.of()))) {
            admin.close(Duration.ZERO);
            producer.close(Duration.ZERO);
            consumer.close(Duration.ZERO);
        }
    }
}
