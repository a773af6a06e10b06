"""The demo pages before the breach: in its first two minutes one simulated dashboard loses its
scheduled publishes, its certain breaches reach the page minimum (EdcPublishNow's condition),
and they fall after the catch-up publish.

The demo's simulation in simulated time, without its broker and worker: the simulator's
messages in arrival order into one engine, the live gauges' figures (streams/at_risk.py, as
agents/metrics/collector.py sums them) after every tick of the demo's clock. The demo's
default speed maps its first two minutes of wall time onto simulated time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from agents.demo import TICK_S, _certain_breaches, add_arguments
from agents.settings import Settings, parse_duration_s
from agents.sim.simulator import CATCH_UP_MINUTES, DEFAULT_STUDIES, Simulation
from schemas import PublishEvent
from schemas.parse import parse_event
from schemas.timestamps import US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND
from streams import Engine
from streams.at_risk import outlooks, publish_histories, time_to_breach_by_group

DEMO_WALL_S = 120  # "within the first two minutes of make demo"


def _demo_defaults() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([])


def _certain_breaches_per_tick(simulation: Simulation, settings: Settings, ticks: int, step: int):
    """(simulated instant, {(study, dashboard): certain breaches}) after each demo tick."""
    engine = Engine(settings.engine_config())
    now = simulation.start_us
    for _ in range(ticks):
        for _kind, value in simulation.events_between(now, now + step):
            event = parse_event(value)
            assert not hasattr(event, "reason"), event  # the demo's simulation has no invalid input
            engine.apply(event)
        now += step
        as_of = engine.deadline_clock()
        if as_of is None:
            continue
        expected = outlooks(engine.config, publish_histories([engine]), as_of)
        certain: dict[tuple[str, str], int] = {}
        for study, dashboard, _group, figures in time_to_breach_by_group(engine, as_of, expected):
            if figures.certain_breaches is not None:
                key = (study, dashboard)
                certain[key] = certain.get(key, 0) + figures.certain_breaches
        yield now, certain


def test_within_the_demos_first_two_minutes_a_lost_publish_pages_and_the_catch_up_clears_it():
    args = _demo_defaults()
    speed_s = parse_duration_s(args.speed)  # simulated seconds per wall second
    simulation = Simulation(seed=args.seed)
    # The demo's worker gets the simulator's studies and otherwise the defaults.
    settings = Settings(studies=json.loads(json.dumps(simulation.study_configs_settings())))
    (plan,) = [p for p in simulation.studies if p.lost_publishes is not None]
    dashboard, _from_h, to_h = plan.lost_publishes
    page_min = settings.certain_breach_page_min_of(plan.study_id)
    catch_up_us = simulation.start_us + to_h * US_PER_HOUR + CATCH_UP_MINUTES * US_PER_MINUTE
    step = int(speed_s * TICK_S * US_PER_SECOND)  # simulated time per tick of the demo
    span_us = int(DEMO_WALL_S * speed_s * US_PER_SECOND)
    assert catch_up_us < simulation.start_us + span_us  # the whole story fits in two minutes

    counts = [
        (at, certain.get((plan.study_id, dashboard), 0))
        for at, certain in _certain_breaches_per_tick(simulation, settings, span_us // step, step)
    ]
    paging = [at for at, count in counts if count >= page_min]
    assert paging, f"{plan.study_id}/{dashboard} never reached {page_min} certain breaches"
    assert paging[-1] < catch_up_us  # it pages before the catch-up, not after
    # Visible in the demo's table (refreshed every `--every` wall seconds) at least twice.
    table_every_us = int(args.every * speed_s * US_PER_SECOND)
    assert paging[-1] - paging[0] >= 2 * table_every_us
    before = [count for at, count in counts if at <= catch_up_us][-1]
    after = next(count for at, count in counts if at > catch_up_us)
    assert before >= page_min
    assert after < page_min  # the catch-up publish cleared what it could still save
    assert all(count < page_min for at, count in counts if at > catch_up_us)


def test_the_outage_changes_only_the_lost_publishes_and_the_catch_up():
    """The other simulated events are exactly what they were without it (its own rule and ids,
    the lost publishes' random draws still taken), with invalid and duplicate input too."""
    without = tuple(dataclasses.replace(p, lost_publishes=None) for p in DEFAULT_STUDIES)
    days = 6 * 24 * US_PER_HOUR
    rates = {"invalid_rate": 0.01, "duplicate_rate": 0.01}
    plain = list(Simulation(seed=7, studies=without, **rates).events(days))
    with_outage = list(Simulation(seed=7, **rates).events(days))
    (plan,) = [p for p in DEFAULT_STUDIES if p.lost_publishes is not None]
    dashboard, from_h, to_h = plan.lost_publishes

    def lost(message: tuple[str, bytes]) -> bool:
        event = parse_event(message[1])
        if not isinstance(event, PublishEvent):
            return False
        hours = (event.published_at - Simulation().start_us) // US_PER_HOUR
        return (
            event.study_id == plan.study_id
            and event.dashboard == dashboard
            and from_h <= hours < to_h
        )

    removed = [m for m in plain if lost(m)]
    assert removed  # the outage loses scheduled publishes
    added = [m for m in with_outage if m not in plain]
    assert [json.loads(v)["event_id"] for _k, v in added] == [
        f"pub-catch-up-{plan.study_id}-{dashboard}"
    ]
    assert [m for m in with_outage if m not in added] == [m for m in plain if m not in removed]


def test_the_demos_table_marks_the_dashboards_at_the_page_minimum_not_below_it():
    def sample(name: str, dashboard: str, value: float):  # type: ignore[no-untyped-def]
        return (name, (("dashboard", dashboard), ("study", "CV-204"))), value

    def table_cell(default: int, safety: int) -> str:
        samples = dict(
            [
                sample("edc_certain_breaches_entries", "default", default),
                sample("edc_certain_breaches_entries", "safety", safety),
                sample("edc_certain_breach_page_min", "default", 5),
                sample("edc_certain_breach_page_min", "safety", 5),
            ]
        )
        return _certain_breaches(samples, "CV-204")

    assert table_cell(4, 4) == "8"  # 8 in all, neither dashboard at its minimum
    assert table_cell(5, 0) == "5 page: default"
    assert table_cell(6, 5) == "11 page: default,safety"
