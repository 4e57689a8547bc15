"""One partition's log on disk, in Kafka's layout. Knows nothing of Raft or brokers."""
