"""Audit replay: recompute any period from a JSONL export or the topics into a reproducible report."""
