package kraft.compat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;

/**
 * Runs named checks of the Java client against a broker, in one JVM, and prints
 * one line per check: {@code CHECK {"check": name, "ok": true, "facts": {...}}}
 * or {@code CHECK {"check": name, "ok": false, "error": "stack trace"}}.
 *
 * <p>A check does what an application would do with the producer, the consumer
 * or the AdminClient and reports what it observed as facts (records read back,
 * offsets, group states, error class names); the Python tests in tests/compat
 * assert on them. A failing check does not stop the others.
 *
 * <p>Usage: {@code Checks BOOTSTRAP BROKERS RUN_ID CHECK...}; BROKERS is the
 * number of brokers (topics get min(3, BROKERS) replicas), RUN_ID makes topic
 * and group names unique to this run.
 */
public final class Checks {
    /** What a check gets: where the cluster is, and one shared AdminClient. */
    record Context(String bootstrap, int brokers, String runId, Admin admin) {
        int replicas() {
            return Math.min(3, brokers);
        }

        /** A topic or group name unique to this check and run. */
        String name(String base) {
            return base + "-" + runId;
        }
    }

    @FunctionalInterface
    interface Check {
        Map<String, Object> run(Context ctx) throws Exception;
    }

    static final Map<String, Check> CHECKS = new LinkedHashMap<>();

    static {
        for (String codec : List.of("none", "gzip", "snappy", "lz4", "zstd")) {
            CHECKS.put("produce_" + codec, ctx -> ProducerChecks.codec(ctx, codec));
        }
        CHECKS.put("produce_large_batches", ProducerChecks::largeBatches);
        CHECKS.put("produce_too_large", ProducerChecks::tooLarge);
        CHECKS.put("produce_transactional", ProducerChecks::transactional);
        CHECKS.put("consumer_protocol_consumer", ConsumerChecks::consumerProtocol);
        CHECKS.put("consumer_group_rebalance", ConsumerChecks::groupRebalance);
        CHECKS.put("consumer_commit_seek", ConsumerChecks::commitAndSeek);
        CHECKS.put("consumer_offsets_for_times", ConsumerChecks::offsetsForTimes);
        CHECKS.put("admin_topics", AdminChecks::topics);
        CHECKS.put("admin_configs", AdminChecks::configs);
        CHECKS.put("admin_records", AdminChecks::records);
        CHECKS.put("admin_groups", AdminChecks::groups);
        CHECKS.put("admin_cluster", AdminChecks::cluster);
        CHECKS.put("admin_log_dirs", AdminChecks::logDirs);
        CHECKS.put("admin_elect_leaders", ClusterChecks::electLeaders);
        CHECKS.put("admin_reassignment", ClusterChecks::reassignment);
    }

    private Checks() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: Checks BOOTSTRAP BROKERS RUN_ID CHECK... (checks: "
                               + String.join(" ", CHECKS.keySet()) + ")");
            System.exit(2);
        }
        Context base = new Context(args[0], Integer.parseInt(args[1]), args[2], null);
        for (int i = 3; i < args.length; i++) {
            if (!CHECKS.containsKey(args[i])) {
                System.err.println("unknown check " + args[i] + "; known: " + CHECKS.keySet());
                System.exit(2);
            }
        }
        try (Admin admin = Admin.create(Common.admin(base.bootstrap()))) {
            Context ctx = new Context(base.bootstrap(), base.brokers(), base.runId(), admin);
            for (int i = 3; i < args.length; i++) {
                System.out.println("CHECK " + Json.write(run(args[i], ctx)));
                System.out.flush();
            }
        }
    }

    private static Map<String, Object> run(String name, Context ctx) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("check", name);
        long started = System.nanoTime();
        try {
            out.put("facts", CHECKS.get(name).run(ctx));
            out.put("ok", true);
        } catch (Throwable t) {
            StringWriter trace = new StringWriter();
            t.printStackTrace(new PrintWriter(trace));
            out.put("ok", false);
            out.put("error", trace.toString());
        }
        out.put("seconds", (System.nanoTime() - started) / 1e9);
        return out;
    }
}
