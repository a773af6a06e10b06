"""The audit commands (`export`, `verify`, `replay`) and their evidence: framing, manifests, chains."""
