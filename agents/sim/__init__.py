"""The simulated trial: a pure event generator and the `edc-latency simulate` command."""
