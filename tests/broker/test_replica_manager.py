"""ReplicaManager checkpoints: what is on disk survives until the partitions open."""

from __future__ import annotations

from pathlib import Path

from kraft.log.checkpoint import read_offset_checkpoint, write_offset_checkpoint

from kraft.broker.replica_manager import (
    LOG_START_OFFSET_FILE,
    RECOVERY_POINT_FILE,
    REPLICATION_OFFSET_FILE,
    ReplicaManager,
)
from kraft.config import KafkaConfig


def test_checkpoints_written_before_the_first_image_keep_their_entries(tmp_path: Path) -> None:
    """A checkpoint (or a shutdown) before the first metadata image opens any
    partition rewrites the files with the entries they had, not empty ones: the
    logs would otherwise reopen with recovery point 0 and lose their log start
    and high watermark."""
    files = (RECOVERY_POINT_FILE, REPLICATION_OFFSET_FILE, LOG_START_OFFSET_FILE)
    for name in files:
        write_offset_checkpoint(tmp_path / name, {("t", 0): 1234})
    manager = ReplicaManager(KafkaConfig({"log.dirs": str(tmp_path)}), node_id=1)
    manager._write_checkpoints_job()()
    manager.shutdown()
    for name in files:
        assert read_offset_checkpoint(tmp_path / name) == {("t", 0): 1234}
