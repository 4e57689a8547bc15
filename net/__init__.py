"""The Kafka wire protocol: framing, headers, the API registry, a trio server and client."""
