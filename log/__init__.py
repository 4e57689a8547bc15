"""One partition's log on disk, in Kafka's layout. Knows nothing of Raft or brokers.

Entry point: `kraft.log.log.PartitionLog` (open, append as leader/follower, read,
ListOffsets, truncation, retention, flush), configured by `kraft.log.config.LogConfig`.
Below it: `kraft.log.segment` (one `.log` + `.index` + `.timeindex`), `kraft.log.index`,
`kraft.log.loader` (crash recovery on open), `kraft.log.read`, `kraft.log.retention`,
`kraft.log.epoch` (leader-epoch-checkpoint), `kraft.log.checkpoint` (Kafka's checkpoint
file format, also for the broker's per-log-dir offset checkpoints),
`kraft.log.batch` / `kraft.log.records` (record batch v2 format, validation, builder),
`kraft.log.fileio`, `kraft.log.crc` (CRC-32C), `kraft.log.results` and `kraft.log.errors`.

Never imports the rest of kraft (`kraft.net` included): it installs as `kraft.log`
only so that a user's own `log` module cannot shadow it (docs/design.md).
"""
