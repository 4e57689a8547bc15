"""The transaction coordinator (KIP-98, KIP-360, KIP-447): transactional ids and
the state of their transactions, on `__transaction_state`.

- records: Kafka's `__transaction_state` key and value formats.
- metadata: a transactional id's state and the transitions Kafka allows.
- loader: reading a `__transaction_state` partition back.
- markers: WriteTxnMarkers to the leaders of a transaction's partitions.
- coordinator: the trio service that owns the led partitions, answers the
  transaction APIs, completes transactions and aborts timed-out ones.
"""
