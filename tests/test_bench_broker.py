"""The bare sink of scripts/bench_broker.py is a correct reference, and the script runs.

The sink is the same-run reference for the broker's produce path, so its
figures only mean something if real clients' records really land in its file
intact: librdkafka (confluent-kafka) and kafka-python produce to it here, and
the file is read back batch by batch. CRC validation is checked directly on
`BareSink.append`. The last test runs the script's `--quick --target sink`
mode with few records and checks that it prints its figures.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import confluent_kafka
import kafka
import trio
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.log.batch import ATTRIBUTES_OFFSET, iter_batches
from kraft.log.records import Record, build_batch, iter_records

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_broker.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("bench_broker", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench_broker = _load_script()


def _values_in_file(path: Path) -> list[bytes | None]:
    data = path.read_bytes()
    return [r.value for pos, _ in iter_batches(data) for r in iter_records(data, pos)]


async def _with_sink(path: Path, produce) -> list:
    """Serve a BareSink on a free port while `produce(bootstrap)` runs in a thread."""
    sink = bench_broker.BareSink(path, "127.0.0.1")
    try:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(sink.serve)
            result = await trio.to_thread.run_sync(produce, f"127.0.0.1:{port}")
            nursery.cancel_scope.cancel()
        return result
    finally:
        sink.close()


async def test_librdkafka_records_land_in_the_sink_file_with_valid_crcs(tmp_path):
    """confluent-kafka's records are acknowledged at offsets 0..n-1 and stored intact."""
    values = [b"value-%d" % i for i in range(300)]

    def produce(bootstrap: str) -> list:
        reports: list = []
        producer = confluent_kafka.Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"}
        )
        for value in values:
            producer.produce("t", value, partition=0,
                             on_delivery=lambda err, msg: reports.append((err, msg.offset())))
        assert producer.flush(30) == 0
        return reports

    reports = await _with_sink(tmp_path / "sink.log", produce)
    assert [err for err, _ in reports if err is not None] == []
    assert sorted(offset for _, offset in reports) == list(range(len(values)))
    assert bench_broker.count_records(tmp_path / "sink.log") == (len(values), 0)
    assert _values_in_file(tmp_path / "sink.log") == values


async def test_kafka_python_records_land_in_the_sink_file(tmp_path):
    """kafka-python (idempotence off: the sink has no InitProducerId) produces to the sink."""
    values = [b"kp-%d" % i for i in range(200)]

    def produce(bootstrap: str) -> list[int]:
        producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                       acks=1, linger_ms=5)
        try:
            futures = [producer.send("t", value, partition=0) for value in values]
            producer.flush(30)
            return [f.get(timeout=30).offset for f in futures]
        finally:
            producer.close(5)

    offsets = await _with_sink(tmp_path / "sink.log", produce)
    assert offsets == list(range(len(values)))
    assert bench_broker.count_records(tmp_path / "sink.log") == (len(values), 0)
    assert _values_in_file(tmp_path / "sink.log") == values


@given(
    values=st.lists(st.binary(max_size=40), min_size=1, max_size=5),
    flip=st.integers(min_value=0),
    xor=st.integers(min_value=1, max_value=255),
)
def test_append_refuses_any_byte_flipped_under_the_crc(tmp_path_factory, values, flip, xor):
    """A batch with any CRC-covered byte changed is CORRUPT_MESSAGE and nothing is written;
    the intact batch is appended at the next base offset."""
    path = tmp_path_factory.mktemp("sink") / "sink.log"
    sink = bench_broker.BareSink(path, "127.0.0.1")
    try:
        batch = build_batch([Record(key=None, value=v, timestamp=1) for v in values])
        assert sink.append("t", 0, batch) == (ErrorCode.none, 0)
        size = path.stat().st_size
        bad = bytearray(batch)
        bad[ATTRIBUTES_OFFSET + flip % (len(batch) - ATTRIBUTES_OFFSET)] ^= xor
        assert sink.append("t", 0, bytes(bad)) == (ErrorCode.corrupt_message, -1)
        assert path.stat().st_size == size
        assert sink.append("t", 0, batch) == (ErrorCode.none, len(values))
        assert bench_broker.count_records(path) == (2 * len(values), 0)
    finally:
        sink.close()


def test_quick_sink_run_prints_its_figures(tmp_path):
    """`--quick --target sink` measures the sink and prints every sink figure, nothing lost."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--target", "sink", "--records", "2000",
         "--ready-runs", "1", "--latency-seconds", "0.5", "--rate", "200", "--ref-mib", "8",
         "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout.split("----- markdown")[0]
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")
            for line in table.splitlines()
            if line.startswith("| ") and not line.startswith(("| figure", "| ---"))}
    assert "start to ready, p50 (s)" in rows
    float(rows["start to ready, p50 (s)"][2])
    produce = [cells for label, cells in rows.items() if label.startswith("produce 2,000 x 100")]
    assert produce and all("rec/s" in cells[2] and "LOST" not in cells[2] for cells in produce)
    assert all(cells[3] == "not run" for label, cells in rows.items()
               if not label.startswith("reference"))
    assert "## Broker, single node" in done.stdout


def test_startup_timeline_lists_the_steps_of_a_start_in_order():
    """scripts/startup_timeline.py runs a `kraft dev` start and lists its steps in order,
    from the interpreter to the ready line, with wall and CPU times."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "startup_timeline.py"), "--runs", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split(" | ") for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith(("| step", "| ---"))]
    steps = [cells[0].lstrip("| ") for cells in rows]
    wanted = ["interpreter up", "import trio begins", "import kraft.node begins",
              "elected leader", "active controller", "unfenced", "ready line read"]
    positions = [next(i for i, step in enumerate(steps) if want in step) for want in wanted]
    assert positions == sorted(positions), steps
    assert all(float(cells[1]) >= 0 and float(cells[2]) >= 0 for cells in rows)


def test_startup_only_compares_two_checkouts_beside_one_floor():
    """`--startup-only --compare-with DIR` prints start-to-ready figures for this checkout
    and DIR's (here the same one) in two columns, with the same floor."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--startup-only", "--ready-runs", "1",
         "--compare-with", str(ROOT)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split(" | ")[0].lstrip("| "): line.rstrip(" |").split(" | ")[1:]
            for line in done.stdout.splitlines()
            if line.startswith("| ") and not line.startswith(("| figure", "| ---"))}
    assert len(rows["start to ready, p50 (s)"]) == 2
    assert all(float(value) > 0 for value in rows["start to ready, p50 (s)"])
    floors = rows['reference: `python -c "import trio"`, p50 (s)']
    assert floors[0] == floors[1]
