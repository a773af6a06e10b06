"""The live pipeline: the Faust app, router, shards, checkpoints and the `edc-latency worker` command."""
