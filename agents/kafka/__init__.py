"""Kafka I/O every command shares: topic specs and creation, broker checks, codecs, reading to the end."""
