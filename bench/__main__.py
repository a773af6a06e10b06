"""`make bench`: every figure beside its floor measured in the same run, as one JSON object.

Also rewrites the figures section of BENCHMARKS.md. Sizes can be lowered for a
quick look: EDC_BENCH_SCALE=0.1 make bench.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from agents.harness.broker import EmbeddedBroker
from bench import engine, live, replay, scrape, validation
from schemas.compiled import summary as compiled_summary


def main() -> int:
    scale = float(os.environ.get("EDC_BENCH_SCALE", "1"))
    started = time.time()
    figures: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # The machine is shared: how busy it was when the run started (1, 5, 15 min).
            "load_average_at_start": [round(n, 2) for n in os.getloadavg()],
            # Which modules run compiled (schemas/compiled.py); *_interpreted figures beside.
            "compiled": compiled_summary(),
        },
        "scale": scale,
    }

    def step(name: str, compute) -> None:  # type: ignore[no-untyped-def]
        t = time.time()
        print(f"[bench] {name}…", file=sys.stderr, flush=True)
        figures[name] = compute()
        print(
            f"[bench] {name}: {figures[name]} ({time.time() - t:.0f}s)", file=sys.stderr, flush=True
        )

    values = validation.simulated_values(int(200_000 * scale))
    step("validation", lambda: validation.cost_per_event(values))
    values.clear()
    parsed = engine.simulated_events(int(300_000 * scale))
    step("engine_throughput", lambda: engine.events_per_second(parsed))
    parsed.clear()
    # The same step with the engine from its .py source (setup.py compiles it at install).
    step(
        "engine_throughput_interpreted",
        lambda: engine.interpreted_events_per_second(int(300_000 * scale)),
    )
    step("engine_memory", lambda: engine.bytes_per_pending_entry(int(1_000_000 * scale)))
    step("engine_snapshot_publish", lambda: engine.snapshot_publish_cost(int(100_000 * scale)))
    step("metrics_scrape_50_studies_x_20_sites", scrape.per_scrape_cost)
    step("metrics_scrape_over_http", scrape.http_scrape_cost)
    step("replay_from_file", lambda: replay.replay_file(int(1_000_000 * scale)))
    step("replay_realistic_mix", lambda: replay.replay_realistic(int(1_000_000 * scale)))
    with EmbeddedBroker() as broker:
        messages = live.simulated_messages(int(100_000 * scale))
        step("live_worker", lambda: live.throughput(broker.bootstrap_servers, messages))
        step("freshness", lambda: live.freshness(broker.bootstrap_servers))
        step("recovery", lambda: live.recovery(broker.bootstrap_servers, int(1_000_000 * scale)))
    figures["load_average_at_end"] = [round(n, 2) for n in os.getloadavg()]
    figures["total_seconds"] = round(time.time() - started)
    text = json.dumps(figures, indent=2)
    print(text)
    _write_benchmarks_md(text, figures["total_seconds"])
    return 0


def _write_benchmarks_md(text: str, seconds: object) -> None:
    """Replace the "Latest run" section of BENCHMARKS.md; the prose above it stays."""
    path = Path("BENCHMARKS.md")
    head = path.read_text().split("## Latest run")[0] if path.exists() else "# Benchmarks\n\n"
    path.write_text(f"{head}## Latest run ({seconds} s in all)\n\n```json\n{text}\n```\n")


if __name__ == "__main__":
    sys.exit(main())
