"""Mutation testing of the pure core (``make mutation``; TESTING.md says how to read it)."""
