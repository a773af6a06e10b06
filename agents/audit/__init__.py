"""Audit evidence: the export file's framing, its manifest and the chain of manifests."""
