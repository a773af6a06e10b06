"""The floor of the live benchmark: a Faust agent that only counts messages.

Usage: python bench/bare_faust.py BOOTSTRAP TOPIC[,TOPIC…] COUNT — prints {"msg_per_s": …}
once COUNT messages were seen (timed from the first one), then exits.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid

import faust

from agents.live.app import lower_fetch_wait

# The worker's consumer settings, so the floor differs from it only by the work done.
lower_fetch_wait()
bootstrap, topic_names, expected = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
# Outside the working directory; removed before the hard exit below skips any clean-up.
DATADIR = tempfile.mkdtemp(prefix="bench-bare-faust-")
app = faust.App(
    f"bare-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}", store="memory://",
    web_enabled=False, topic_allow_declare=False, consumer_auto_offset_reset="earliest",
    broker_session_timeout=10.0, broker_heartbeat_interval=2.5, datadir=DATADIR,
)  # fmt: skip
source = app.topic(*topic_names, value_serializer="raw", key_serializer="raw")
seen = {"n": 0, "first": 0.0}


@app.agent(source)
async def count(stream):  # type: ignore[no-untyped-def]
    async for _event in stream.events():
        if seen["n"] == 0:
            seen["first"] = time.monotonic()
        seen["n"] += 1
        if seen["n"] >= expected:
            elapsed = time.monotonic() - seen["first"]
            print(json.dumps({"msg_per_s": (expected - 1) / elapsed}), flush=True)
            shutil.rmtree(DATADIR, ignore_errors=True)
            os._exit(0)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "--loglevel", "WARNING"]
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.spinner = None  # as the worker (agents/live/worker.py): no root logger at DEBUG
    worker.execute_from_commandline()
