"""`kraft metadata dump` / `show` over a metadata log written through the raft disk log."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from kraft.cli import main
from kraft.metadata import records as mr
from kraft.raft.batches import encode_snapshot
from kraft.raft.disk_log import DiskLog
from kraft.raft.types import Entry, LeaderChangeMessage, OffsetAndEpoch

TOPIC_ID = uuid.UUID(int=77)


def _write_log(d: Path) -> None:
    log = DiskLog(d)
    records = [
        mr.FeatureLevelRecord(name="metadata.version", feature_level=21),
        mr.RegisterBrokerRecord(
            broker_id=1, incarnation_id=uuid.UUID(int=5), broker_epoch=2, fenced=False,
            endpoints=(mr.BrokerEndpoint(name="PLAINTEXT", host="127.0.0.1", port=9092),),
        ),
        mr.TopicRecord(name="orders", topic_id=TOPIC_ID),
        mr.PartitionRecord(partition_id=0, topic_id=TOPIC_ID, replicas=(1,), isr=(1,),
                           leader=1, leader_epoch=0, partition_epoch=0),
        mr.ConfigRecord(resource_type=mr.TOPIC_RESOURCE, resource_name="orders",
                        name="retention.ms", value="1000"),
        mr.RegisterControllerRecord(
            controller_id=1, incarnation_id=uuid.UUID(int=6),
            endpoints=(mr.BrokerEndpoint(name="CONTROLLER", host="127.0.0.1", port=9093),),
            features=(mr.BrokerFeature(name="kraft.version", min_supported_version=0,
                                       max_supported_version=1),)),
    ]
    log.append([Entry(0, 1, b"", LeaderChangeMessage(1, (1,), (1,)))])
    for i, r in enumerate(records):
        log.append([Entry(i + 1, 1, mr.encode(r))])  # one batch each
    log.flush()
    log.close()


def test_dump_lists_every_record_in_order(tmp_path: Path, capsys) -> None:
    """dump --json prints each record with offset, epoch, timestamp, type and fields."""
    _write_log(tmp_path)
    assert main(["metadata", "dump", str(tmp_path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["type"] for r in lines] == [
        "LeaderChange", "FeatureLevelRecord", "RegisterBrokerRecord", "TopicRecord",
        "PartitionRecord", "ConfigRecord", "RegisterControllerRecord",
    ]
    assert [r["offset"] for r in lines] == list(range(7))
    assert lines[6]["record"]["endpoints"][0]["port"] == 9093
    assert lines[3]["record"]["name"] == "orders" and lines[3]["epoch"] == 1
    assert all(r["timestamp"] > 0 for r in lines)


def test_show_prints_the_final_image(tmp_path: Path, capsys) -> None:
    """show replays the records into tables of brokers, controllers, topics, partitions
    and configs."""
    _write_log(tmp_path)
    assert main(["metadata", "show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "PLAINTEXT://127.0.0.1:9092" in out
    assert "CONTROLLER://127.0.0.1:9093" in out and "kraft.version:0-1" in out
    assert "orders" in out and str(TOPIC_ID) in out and "retention.ms" in out
    assert "metadata.version" in out


def test_torn_tail_is_reported_not_fatal_and_nothing_is_modified(tmp_path: Path, capsys) -> None:
    """A torn last batch ends the dump with a note; the files are left as they were."""
    _write_log(tmp_path)
    segment = tmp_path / "__cluster_metadata-0" / "00000000000000000000.log"
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])
    before = {p: p.read_bytes() for p in (tmp_path / "__cluster_metadata-0").iterdir()}
    assert main(["metadata", "dump", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ConfigRecord" in out and "RegisterControllerRecord" not in out
    assert "torn or corrupt tail" in out
    assert {p: p.read_bytes() for p in (tmp_path / "__cluster_metadata-0").iterdir()} == before


def test_snapshot_comes_first(tmp_path: Path, capsys) -> None:
    """Records of the newest snapshot are printed before the log after it."""
    log = DiskLog(tmp_path)
    topic = mr.TopicRecord(name="snap", topic_id=TOPIC_ID)
    log.append([Entry(i, 1, b"x") for i in range(4)])
    log.write_snapshot(OffsetAndEpoch(4, 1), encode_snapshot([mr.encode(topic)], 0))
    log.delete_before_snapshot(OffsetAndEpoch(4, 1))
    log.append([Entry(4, 2, mr.encode(mr.NoOpRecord()))])
    log.flush()
    log.close()
    assert main(["metadata", "dump", str(tmp_path / "__cluster_metadata-0")]) == 0
    out = capsys.readouterr().out.splitlines()
    kinds = [line.split()[4] for line in out if not line.startswith("#")]
    assert kinds == ["SnapshotHeader", "TopicRecord", "SnapshotFooter", "NoOpRecord"]
    assert out[0].startswith("snapshot")


def test_dump_redacts_scram_secrets(tmp_path: Path, capsys) -> None:
    """A SCRAM credential is dumped with its user, mechanism and iterations, never its
    salt or keys."""
    log = DiskLog(tmp_path)
    record = mr.UserScramCredentialRecord(name="alice", mechanism=2, salt=b"SALTSALT",
                                          stored_key=b"STOREDKEY", server_key=b"SERVERKEY",
                                          iterations=4096)
    log.append([Entry(0, 1, mr.encode(record))])
    log.flush()
    log.close()
    assert main(["metadata", "dump", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "4096" in out and "[redacted]" in out
    for secret in (b"SALTSALT", b"STOREDKEY", b"SERVERKEY"):
        assert secret.decode() not in out
        assert secret.hex() not in out
        assert base64.b64encode(secret).decode() not in out
