"""One partition's log on disk, in Kafka's layout. Knows nothing of Raft or brokers.

Entry point: `log.log.PartitionLog` (open, append as leader/follower, read,
ListOffsets, truncation, retention, flush), configured by `log.config.LogConfig`.
Below it: `log.segment` (one `.log` + `.index` + `.timeindex`), `log.index`,
`log.loader` (crash recovery on open), `log.read`, `log.retention`,
`log.epoch` (leader-epoch-checkpoint), `log.checkpoint` (Kafka's checkpoint
file format, also for the broker's per-log-dir offset checkpoints),
`log.batch` / `log.records` (record batch v2 format, validation, builder),
`log.fileio`, `log.results` and `log.errors`.

Never imports `kraft` or `net`.
"""
