"""Cluster metadata: records (records.py), the immutable image (image.py), the delta
that replays records into a new image (delta.py), and snapshots (snapshot.py)."""
