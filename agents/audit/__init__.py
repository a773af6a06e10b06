"""The audit commands: `export` (topics to a file) and `replay` (a file or the topics to a report)."""
