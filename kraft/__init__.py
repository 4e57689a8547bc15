"""kraft: a Kafka-compatible broker in KRaft mode, written in Python on trio."""

__version__ = "0.1.0"
