"""The real parts run for the demo, tests and benchmarks: an embedded broker, worker subprocesses."""
