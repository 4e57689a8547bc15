"""The quorum controller: commands that turn requests into metadata records."""
