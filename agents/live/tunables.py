"""The live pipeline's fixed tunables, in one place, each with the reason for its value.

Operators set what depends on their deployment in ``agents/settings.py`` (``Settings``:
timeouts, intervals, sizes, topics). What is here follows from how Faust, aiokafka and
the engine behave, was measured, and is not meant to be changed per deployment; a
change is a code change with its measurement (BENCHMARKS.md).
"""

from __future__ import annotations

# -- the router (agents/live/app.py) ---------------------------------------------------------

# Input messages routed as one batch: its per-batch costs (one produce request, one shard
# message per shard) are amortised over this many.
ROUTER_BATCH = 2000
# A batch is cut after this long however few messages it holds: a publish waits at most
# this long before it is forwarded (the freshness target is 1 s at p99).
ROUTER_WITHIN_S = 0.05
# A failed send is retried with a backoff that doubles from 0.1 s up to this pause.
SEND_RETRY_MAX_S = 5.0
# Every shard hears of every input's progress at least this often (progress.py), or half
# of input_idle_after when that is shorter.
PROGRESS_EVERY_S = 5.0

# -- Kafka clients ---------------------------------------------------------------------------

# Faust hard-codes a 1.5 s fetch wait; a broker that holds fetches for the full wait (the
# embedded one does) then delays every hop by up to 1.5 s. Two hops separate a publish
# from its metric, and the freshness target is 1 s at p99.
FETCH_MAX_WAIT_MS = 100
# The Faust producer waits this long to fill a produce request: a few ms batch a burst
# without costing the freshness target.
PRODUCER_LINGER_MS = 5
# Faust commits consumed offsets this often: a restart re-reads at most this much, which
# the shards drop by offset and event id.
COMMIT_INTERVAL_S = 1.0
# A checkpoint message fits a produce request of this size (checkpoints are chunked
# under it: agents/live/checkpoints.py CHUNK_BYTES).
CHECKPOINT_REQUEST_BYTES = 1 << 20

# -- the metrics endpoint (agents/metrics/http.py) -------------------------------------------

# The most of the Kafka loop's time that collecting the metrics may take: each collection
# walks the shards' retained state on that loop (stage figures, at-risk, backlog), so a
# costly one is reused for longer, whatever the scrape rate. At 20 scrapes a second over
# 100k messages of the simulator it had taken 30% of the loop (BENCHMARKS.md, "Live worker
# on the new input"); at a scrape every 15 s it never binds.
METRICS_COLLECT_LOOP_SHARE = 0.1

# -- the broker probe (readiness and lag) ----------------------------------------------------

# The broker is probed this often, or a third of broker_unreachable_after when that is
# shorter, so an outage is seen well within the time after which /readyz fails.
BROKER_PROBE_EVERY_S = 5.0

# -- shard restore (agents/live/shard_engines.py) --------------------------------------------

# A restore that fails (the broker unreachable mid-rebalance, a timeout) is retried after
# 1, 2, 4 and 8 s; then the worker stops, rather than own shards it never applies.
RESTORE_ATTEMPTS = 5
RESTORE_FIRST_BACKOFF_S = 1.0
