"""The classic group coordinator: consumer groups and committed offsets.

- records: Kafka's `__consumer_offsets` record formats.
- types, group: the classic group state machine (pure, time passed in).
- loader, shard: reading a `__consumer_offsets` partition back; ordered acks=all writes.
- coordinator: the trio service that owns the shards, timers and expiry.
- api: the group APIs as request handlers call them.
"""
