"""The differential check of scripts/vs-kafka: the same requests to Apache Kafka and
kraft, answers compared field by field (see check.py)."""
