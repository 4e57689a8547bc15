"""Apache Kafka from Maven Central, for the compat tier and scripts/vs-kafka.

`ensure()` makes sure Kafka's artifacts (kafka_2.13, kafka-tools,
kafka-clients, kafka-streams at the version pinned in tests/compat/pom.xml,
with their dependencies) are in the local Maven repository and the tier's
Java programs (tests/compat/src/main/java) are compiled, and returns a
`KafkaDist`: the java executable and the classpath, with helpers that build
the command line of Kafka's tools and of the broker.

    from tests.compat.kafka_dist import ensure, missing_tools
    if (why := missing_tools()) is None:
        kafka = ensure()
        subprocess.run(kafka.tool("kafka-topics", "--bootstrap-server", b, "--list"))

Theory of operation. Maven runs only when something changed: a stamp file
(target/kraft-dist.json) records a fingerprint of the build's inputs (pom.xml
and every file under src/) and the classpath Maven wrote; when the fingerprint
matches and every jar on that classpath still exists, `ensure()` returns at
once (a few milliseconds) without starting Maven. Otherwise it runs
`mvn -q -B process-classes`, offline first when the local repository already
holds this Kafka version (8 s warm instead of a network round trip per
artifact), online when that fails or the cache is cold. A file lock serialises
concurrent callers (pytest and a script at once); the second waits and then
finds the stamp fresh.

Start-up. A JVM with Kafka's classpath spends about 2 CPU-seconds loading
classes before a tool does anything, and the tier starts dozens of them on two
cores. After each build the compiled programs are packed into
target/kraft-compat.jar (class-data sharing accepts only jars) and one
training run (kraft.compat.Warmup) dumps the classes it loaded into a dynamic
CDS archive, target/kafka-cds.jsa; `command()` with the default, quick JVM
options maps it in, which halves a tool's start. The archive belongs to one
java binary; a different java rebuilds it. Commands with explicit JVM options
(Kafka's own, for measurements) do not use it.

The cache is Maven's own local repository, ~/.m2/repository unless Maven's
settings or KRAFT_MAVEN_REPO say otherwise: every clone and worktree of kraft
on the machine (and CI's fresh clone, which runs on the same machine) shares
one download of about 140 MB, which survives `git clean`, and a person's plain
`mvn` commands in tests/compat use the same cache. No Kafka jar is committed.

Logging: Kafka 4.x logs through slf4j to log4j2. `log4j_tools` (WARN and
above to stderr, as Kafka's tools-log4j2.yaml) is used for tools and clients;
`log4j_broker` (INFO to $kafka.logs.dir/server.log, WARN to stderr) for a
broker started with `broker_command`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
SOURCES = HERE / "src"
TARGET = HERE / "target"
STAMP = TARGET / "kraft-dist.json"
CLASSES = TARGET / "classes"
COMPAT_JAR = TARGET / "kraft-compat.jar"
CDS_ARCHIVE = TARGET / "kafka-cds.jsa"
CLASSPATH_FILE = TARGET / "classpath.txt"
LOCK = TARGET / "kraft-dist.lock"
LOG4J_TOOLS = HERE / "log4j2-tools.xml"
LOG4J_BROKER = HERE / "log4j2-broker.xml"
MAVEN_TIMEOUT_S = 900.0

# Kafka's command-line tools (bin/<name>.sh in Kafka's distribution) and the
# main class each runs in Kafka 4.4.
TOOLS: dict[str, str] = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-configs": "org.apache.kafka.tools.ConfigCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-producer-perf-test": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
    "kafka-transactions": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-groups": "org.apache.kafka.tools.GroupsCommand",
    "kafka-acls": "org.apache.kafka.tools.AclCommand",
    "kafka-storage": "kafka.tools.StorageTool",
    "kafka-server-start": "kafka.Kafka",
}

# kafka-run-class.sh's defaults (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS):
# what a person running Kafka's scripts gets. For measurements against Kafka.
KAFKA_HEAP_OPTS: tuple[str, ...] = ("-Xmx256M",)
KAFKA_JVM_PERFORMANCE_OPTS: tuple[str, ...] = (
    "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
)
# kafka-server-start.sh's heap.
KAFKA_BROKER_HEAP_OPTS: tuple[str, ...] = ("-Xmx1G", "-Xms1G")
# For short-lived tools and checks in tests: the C1 compiler only and the
# serial collector start a JVM about a third faster on two cores; the JVM's own
# warnings go to stderr, never into a tool's output on stdout.
QUICK_JVM_OPTS: tuple[str, ...] = (
    "-Xmx512M", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
    "-Xlog:disable", "-Xlog:all=warning:stderr",
)


class KafkaDistError(Exception):
    """Kafka's artifacts could not be had (Maven failed); the message says why."""


def missing_tools() -> str | None:
    """None when java and mvn are available, else one line saying what is missing."""
    missing = [name for name, path in (("java", java_path()), ("mvn", shutil.which("mvn")))
               if path is None]
    if not missing:
        return None
    return (f"{' and '.join(missing)} not found (the compat tier needs a JDK 17+ and Maven: "
            "apt-get install openjdk-17-jdk-headless maven)")


def java_path() -> str | None:
    """$JAVA_HOME/bin/java when JAVA_HOME is set (as kafka-run-class.sh), else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def kafka_version() -> str:
    """The Kafka version pinned in pom.xml (`<kafka.version>`)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise KafkaDistError(f"{POM} has no <kafka.version> property")
    return match.group(1).strip()


def local_repository() -> Path:
    """The Maven local repository the build uses: $KRAFT_MAVEN_REPO, else ~/.m2/repository."""
    override = os.environ.get("KRAFT_MAVEN_REPO")
    return Path(override).expanduser().resolve() if override else Path.home() / ".m2/repository"


@dataclasses.dataclass(frozen=True, slots=True)
class KafkaDist:
    """Kafka `version` on `classpath` (the compiled compat programs first), run by `java`."""

    version: str
    java: str
    classpath: tuple[str, ...]
    cds_archive: Path | None = None
    log4j_tools: Path = LOG4J_TOOLS
    log4j_broker: Path = LOG4J_BROKER

    @property
    def classpath_arg(self) -> str:
        return os.pathsep.join(self.classpath)

    def command(self, main_class: str, *args: str, jvm_opts: Sequence[str] | None = None,
                log4j: Path | None = None, logs_dir: Path | None = None) -> list[str]:
        """The command line that runs `main_class` with `args`. `jvm_opts` None
        means QUICK_JVM_OPTS and the CDS archive; given, exactly those options.
        Logging follows `log4j` (default: the tools' configuration, WARN to
        stderr); `logs_dir` sets kafka.logs.dir for configurations that write files."""
        if jvm_opts is None:
            jvm_opts = QUICK_JVM_OPTS
            if self.cds_archive is not None:
                jvm_opts = (*jvm_opts, f"-XX:SharedArchiveFile={self.cds_archive}")
        props = [f"-Dlog4j2.configurationFile={log4j or self.log4j_tools}"]
        if logs_dir is not None:
            props.append(f"-Dkafka.logs.dir={logs_dir}")
        return [self.java, *jvm_opts, *props, "-cp", self.classpath_arg, main_class, *args]

    def tool(self, name: str, *args: str, jvm_opts: Sequence[str] | None = None) -> list[str]:
        """The command line of Kafka's tool `name` (a key of TOOLS, e.g.
        "kafka-topics"), as its bin/<name>.sh would run it."""
        try:
            main_class = TOOLS[name]
        except KeyError:
            raise KeyError(f"unknown Kafka tool {name!r}; known: {', '.join(sorted(TOOLS))}") \
                from None
        return self.command(main_class, *args, jvm_opts=jvm_opts)

    def broker_command(self, config: Path, logs_dir: Path, *overrides: str) -> list[str]:
        """kafka-server-start.sh CONFIG [--override k=v ...]: Kafka's heap and JVM
        options, INFO logs in logs_dir/server.log, warnings on stderr."""
        args = [str(config)]
        for override in overrides:
            args += ["--override", override]
        return self.command(TOOLS["kafka-server-start"], *args,
                            jvm_opts=(*KAFKA_BROKER_HEAP_OPTS, *KAFKA_JVM_PERFORMANCE_OPTS),
                            log4j=self.log4j_broker, logs_dir=logs_dir)

    def run(self, main_class: str, *args: str, timeout: float = 120.0,
            input: str | None = None, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run `main_class` to completion (text mode, stdout and stderr captured)."""
        return subprocess.run(self.command(main_class, *args), input=input, text=True,
                              capture_output=True, timeout=timeout, cwd=cwd, env=env,
                              stdin=None if input is not None else subprocess.DEVNULL)


def fingerprint() -> str:
    """sha256 over the build's inputs: pom.xml and every file under src/ (name and content)."""
    digest = hashlib.sha256()
    digest.update(POM.read_bytes())
    for path in sorted(p for p in SOURCES.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(HERE)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _fresh(java: str) -> KafkaDist | None:
    """The dist the stamp describes, if the stamp matches the inputs and java, and
    its files exist."""
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return None
    classpath = stamp.get("classpath")
    if (stamp.get("fingerprint") != fingerprint() or not isinstance(classpath, list)
            or stamp.get("java") != os.path.realpath(java)):
        return None
    if not all(os.path.exists(entry) for entry in classpath):
        return None
    cds = stamp.get("cds_archive")
    if cds is not None and not os.path.exists(cds):
        return None
    return KafkaDist(version=stamp["version"], java=java, classpath=tuple(classpath),
                     cds_archive=Path(cds) if cds else None)


def _pack_classes() -> None:
    """target/classes as target/kraft-compat.jar (CDS accepts only jars on the classpath)."""
    tmp = COMPAT_JAR.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as jar:
        for path in sorted(p for p in CLASSES.rglob("*") if p.is_file()):
            jar.write(path, path.relative_to(CLASSES).as_posix())
    tmp.replace(COMPAT_JAR)


def _dump_cds_archive(java: str, classpath: Sequence[str]) -> Path | None:
    """Run kraft.compat.Warmup once to dump the CDS archive; None (and start-up
    without sharing) if this JVM cannot."""
    CDS_ARCHIVE.unlink(missing_ok=True)
    dist = KafkaDist(version="", java=java, classpath=tuple(classpath))
    cmd = dist.command("kraft.compat.Warmup", *TOOLS.values(),
                       jvm_opts=(*QUICK_JVM_OPTS, f"-XX:ArchiveClassesAtExit={CDS_ARCHIVE}"))
    result = subprocess.run(cmd, text=True, capture_output=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0 or not CDS_ARCHIVE.exists():
        print(f"kafka_dist: no class-data-sharing archive (exit {result.returncode}); tools "
              "start without it", file=sys.stderr)
        return None
    return CDS_ARCHIVE


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    TARGET.mkdir(exist_ok=True)
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _maven(offline: bool) -> subprocess.CompletedProcess[str]:
    cmd = ["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(POM), "process-classes"]
    if offline:
        cmd.insert(1, "-o")
    if "KRAFT_MAVEN_REPO" in os.environ:
        cmd.append(f"-Dmaven.repo.local={local_repository()}")
    return subprocess.run(cmd, text=True, capture_output=True, timeout=MAVEN_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


def ensure(*, log: bool = True) -> KafkaDist:
    """Resolve and compile if anything changed, then return the dist (see the
    module docstring). Raises KafkaDistError with Maven's last lines if Maven
    fails, and KafkaDistError naming the missing tool if java or mvn is absent.
    `log` prints one line to stderr when Maven has to run, and its duration."""
    java = java_path()
    if (dist := _fresh(java or "")) is not None and java is not None:
        return dist
    if (why := missing_tools()) is not None:
        raise KafkaDistError(why)
    assert java is not None
    with _locked():
        if (dist := _fresh(java)) is not None:  # another process built it while we waited
            return dist
        version = kafka_version()
        cached = (local_repository() / "org/apache/kafka/kafka-clients" / version).is_dir()
        started = time.monotonic()
        if log:
            where = "offline, from" if cached else "downloading into"
            print(f"kafka_dist: building tests/compat with Maven ({where} {local_repository()})",
                  file=sys.stderr, flush=True)
        result = _maven(offline=True) if cached else None
        if result is None or result.returncode != 0:
            result = _maven(offline=False)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
            raise KafkaDistError(f"mvn failed for {POM} (exit {result.returncode}):\n{tail}")
        _pack_classes()
        classpath = [str(COMPAT_JAR), *(entry for entry in
                                        CLASSPATH_FILE.read_text().strip().split(os.pathsep)
                                        if entry)]
        cds = _dump_cds_archive(java, classpath)
        STAMP.write_text(json.dumps({"fingerprint": fingerprint(), "version": version,
                                     "java": os.path.realpath(java), "classpath": classpath,
                                     "cds_archive": str(cds) if cds else None}, indent=1))
        if log:
            print(f"kafka_dist: Kafka {version} ready in {time.monotonic() - started:.1f} s",
                  file=sys.stderr, flush=True)
        return KafkaDist(version=version, java=java, classpath=tuple(classpath), cds_archive=cds)


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.compat.kafka_dist [--classpath | --tool NAME ARGS... | --missing]`.

    --missing prints why the compat tier cannot run (java or mvn absent), or
    nothing, and never builds."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--missing"]:
        if (why := missing_tools()) is not None:
            print(why)
        return 0
    try:
        dist = ensure()
    except KafkaDistError as exc:
        print(f"kafka_dist: {exc}", file=sys.stderr)
        return 1
    if args[:1] == ["--classpath"]:
        print(dist.classpath_arg)
    elif args[:1] == ["--tool"] and len(args) >= 2:
        os.execv(dist.java, dist.tool(args[1], *args[2:]))
    elif args:
        print("usage: python -m tests.compat.kafka_dist "
              "[--classpath | --tool NAME ARGS... | --missing]", file=sys.stderr)
        return 2
    else:
        print(f"Kafka {dist.version}: {len(dist.classpath)} classpath entries; java {dist.java}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
