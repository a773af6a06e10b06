"""Maps engine state onto the metrics of ``agents/metrics/definitions.py`` at scrape time. Nothing else.

Figures come from the engines of the shard partitions this worker owns right
now, merged: counts add up, ages take the maximum. A partition that moves to
another worker disappears from this one's output at the next scrape, so summed
over workers every count equals the truth (ages: take the max over workers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from agents.metrics import definitions as m
from agents.metrics.cardinality import CardinalityGate
from agents.metrics.health import OUTCOMES, CheckpointHealth, TopicHealth
from agents.release import build_labels
from schemas.timestamps import US_PER_SECOND
from streams import AGING_BUCKETS, Engine
from streams.at_risk import outlooks, publish_histories, time_to_breach_by_group
from streams.deadlines import time_left_bucket_names
from streams.freshness import FreshnessHistory, merge_histories, newest_at, verdicts
from streams.queries import AWAITING_DM, AWAITING_SITE, STATE_NAMES
from streams.schedules import Outlook
from streams.stages import StageObservations
from streams.tally import Tally
from streams.visits import ENTERED_BEFORE_VISIT, WITHOUT_VISIT_DATE

BUILD_LABELS = build_labels()  # fixed for the life of the process


def _family(spec: m.MetricSpec, dimensions: tuple[str, ...]) -> Metric:
    labels = spec.label_names(dimensions)
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=labels)
    if spec.kind == "gauge":
        return GaugeMetricFamily(spec.name, spec.help, labels=labels)
    return HistogramMetricFamily(spec.name, spec.help, labels=labels)


def _merge_tally(into: dict[tuple[str, ...], Tally], key: tuple[str, ...], tally: Tally) -> None:
    merged = into.get(key)
    if merged is None:
        merged = into[key] = Tally(tally.bounds_us)
    for i, count in enumerate(tally.bucket_counts):
        merged.bucket_counts[i] += count
    merged.count += tally.count
    merged.sum_us += tally.sum_us
    merged.within_sla += tally.within_sla
    merged.corrected_us += tally.corrected_us
    merged.withdrawn += tally.withdrawn
    merged.breaches_withdrawn += tally.breaches_withdrawn


def _add_histogram(
    family: Metric, labels: list[str], tally: Tally, bounds_s: Iterable[float]
) -> None:
    cumulative = tally.cumulative()
    buckets = [(f"{b:g}", c) for b, c in zip(bounds_s, cumulative, strict=False)]
    buckets.append(("+Inf", cumulative[-1]))
    family.add_metric(labels, buckets, tally.sum_us / US_PER_SECOND)  # type: ignore[attr-defined]


class EngineCollector(Collector):
    """A prometheus_client collector over the engines a worker owns."""

    def __init__(
        self,
        engines: Callable[[], Iterable[Engine]],
        health: dict[str, TopicHealth],
        clock_us: Callable[[], int],
        dimensions: tuple[str, ...] = (),
        gate: CardinalityGate | None = None,
        checkpoint_health: CheckpointHealth | None = None,
        stall_after_s: Callable[[str, str], float] = lambda _study, _dashboard: 6 * 3600.0,
        ready: Callable[[], bool] = lambda: True,
        shard_partitions: int = 1,
        certain_breach_page_min: Callable[[str], int] = lambda _study: 5,
        stale_after_s: Callable[[str, str], float] = lambda _study, _dashboard: 24 * 3600.0,
        visit_thresholds_s: tuple[float, float] | None = None,
    ) -> None:
        # The worker's visit-to-entry thresholds (medium, high; agents/settings.py): a setting
        # of the worker, not of a study, so exported whether or not it owns a shard (as
        # edc_shard_partitions). None: read from the engines' configuration (tests).
        self._visit_thresholds_s = visit_thresholds_s
        self._certain_breach_page_min = certain_breach_page_min  # per study (agents/settings.py)
        self._shard_partitions = shard_partitions
        self._stall_after_s = stall_after_s  # per study and dashboard (agents/settings.py)
        self._stale_after_s = stale_after_s
        self._ready = ready
        self._checkpoint_health = checkpoint_health or CheckpointHealth()
        self._engines = engines
        self._health = health
        self._clock_us = clock_us
        self._dimensions = dimensions
        self._gate = gate
        self._stage_bounds_us = tuple(round(b * US_PER_SECOND) for b in m.LATENCY_BUCKETS_S)

    def _exports(self, study_id: str, group: tuple[str, ...] | None = None) -> bool:
        # Keys the router admitted, or (shards restored from another worker) that fit the caps.
        gate = self._gate
        return gate is None or gate.admits(study_id, group if self._dimensions else None)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # collected lazily; avoids calling the engines at registration

    def collect(self) -> Iterator[Metric]:
        return iter(self.gather()())

    def gather(self) -> Callable[[], list[Metric]]:
        """Read the engines (where they change: the Kafka loop); returns the family builder.

        The builder holds copies only (merged tallies, plain rows), so it may run on
        another thread while the engines move on: that is where the cost of a scrape is.
        """
        engines = list(self._engines())
        now_us = self._clock_us()
        parts = [
            self._latency(engines),
            self._backlog(engines, now_us),
            self._at_risk(engines),
            self._freshness(engines, now_us),
            self._queries(engines, now_us),
            self._visits(engines),
            self._health_metrics(now_us),
            self._state_metrics(self._checkpoint_health),
            self._stages(engines),
        ]
        over_count = self._gate.over if self._gate is not None else 0
        owned_count = len(engines)
        ready = self._ready()
        evicted_count = self._checkpoint_health.evicted_event_ids
        held = [engine.held_back() for engine in engines]
        held_s = max((us for us, _ids in held), default=0) / US_PER_SECOND
        held_ids = sum(ids for _us, ids in held)

        def build() -> list[Metric]:
            families = [family for part in parts for family in part()]
            over = _family(m.OVER_CARDINALITY, ())
            over.add_metric([], over_count)
            owned = _family(m.OWNED_PARTITIONS, ())
            owned.add_metric([], owned_count)
            build_info = _family(m.BUILD_INFO, ())
            build_info.add_metric(list(BUILD_LABELS.values()), 1)
            ready_family = _family(m.WORKER_READY, ())
            ready_family.add_metric([], 1 if ready else 0)
            shards = _family(m.SHARD_PARTITIONS, ())
            shards.add_metric([], self._shard_partitions)
            evicted = _family(m.EVENT_IDS_EVICTED, ())
            evicted.add_metric([], evicted_count)
            held_back = _family(m.RETENTION_HELD_BACK, ())
            held_back.add_metric([], held_s)
            held_back_ids = _family(m.RETENTION_HELD_BACK_IDS, ())
            held_back_ids.add_metric([], held_ids)
            return [
                *families, over, owned, build_info, ready_family, shards, evicted, held_back,
                held_back_ids,
            ]  # fmt: skip

        return build

    def _state_metrics(self, health: CheckpointHealth) -> Callable[[], list[Metric]]:
        rejected_counts = dict(health.rejected)
        skipped_count = health.skipped_shard_records
        skipped_items_count = health.skipped_shard_items

        def build() -> list[Metric]:
            rejected = _family(m.CHECKPOINTS_REJECTED, ())
            for reason, count in rejected_counts.items():
                rejected.add_metric([reason], count)
            skipped = _family(m.SHARD_RECORDS_SKIPPED, ())
            skipped.add_metric([], skipped_count)
            skipped_items = _family(m.SHARD_ITEMS_SKIPPED, ())
            skipped_items.add_metric([], skipped_items_count)
            return [rejected, skipped, skipped_items]

        return build

    def _latency(self, engines: list[Engine]) -> Callable[[], list[Metric]]:
        dims = self._dimensions
        tallies: dict[tuple[str, ...], Tally] = {}
        over_sla: dict[tuple[str, ...], int] = {}
        sla: dict[tuple[str, str], int] = {}
        for engine in engines:
            for study_id, dashboard, group, tally in engine.latency_tallies():
                if self._exports(study_id, group):
                    _merge_tally(tallies, (study_id, dashboard, *group), tally)
            # Deadlines pass by each engine's own clock (its watermark), as in the replay.
            for study_id, dashboard, group, count in engine.over_sla_by_group():
                if self._exports(study_id, group):
                    key = (study_id, dashboard, *group)
                    over_sla[key] = over_sla.get(key, 0) + count
            for study_id, state in engine.studies.items():
                if not self._exports(study_id):
                    continue
                for dashboard in state.dashboards:
                    sla[(study_id, dashboard)] = state.sla_us

        def build() -> list[Metric]:
            histogram = _family(m.DATA_LATENCY, dims)
            corrections = _family(m.LATENCY_CORRECTIONS, dims)
            within = _family(m.PUBLISHED_WITHIN_SLA, dims)
            over = _family(m.OVER_SLA, dims)
            withdrawn = _family(m.OVER_SLA_WITHDRAWN, dims)
            for key in sorted(tallies):
                tally = tallies[key]
                labels = list(key)
                _add_histogram(histogram, labels, tally, m.LATENCY_BUCKETS_S)
                corrections.add_metric(labels, tally.corrected_us / US_PER_SECOND)
                within.add_metric(labels, tally.within_sla)
                over.add_metric(labels, over_sla.get(key, 0))
                withdrawn.add_metric(labels, tally.breaches_withdrawn)
            sla_family = _family(m.SLA, dims)
            for (study_id, dashboard), sla_us in sorted(sla.items()):
                sla_family.add_metric([study_id, dashboard], sla_us / US_PER_SECOND)
            return [histogram, corrections, within, over, withdrawn, sla_family]

        return build

    def _stages(self, engines: list[Engine]) -> Callable[[], list[Metric]]:
        """Pipeline stages as of each engine's clock (``deadline_clock``: event time, as the
        over-SLA counter), from its retained entries; shards' observations add up."""
        merged: dict[tuple[str, str], StageObservations] = {}
        for engine in engines:
            clock = engine.deadline_clock()
            if clock is None:
                continue
            for study_id, dashboard, observed in engine.stage_observations(clock):
                if not self._exports(study_id):
                    continue
                into = merged.get((study_id, dashboard))
                if into is None:
                    merged[(study_id, dashboard)] = observed
                else:
                    into.merge(observed)
        rows = []
        for (study_id, dashboard), observed in sorted(merged.items()):
            charged = [0] * len(observed.stages)
            for counts in observed.breaches.values():
                for i, n in enumerate(counts):
                    charged[i] += n
            for i, stage in enumerate(observed.stages):
                tally = Tally(self._stage_bounds_us)
                for duration in observed.durations[i]:
                    tally.add(duration, True)
                labels = [study_id, dashboard, stage.name]
                rows.append((labels, stage, tally, observed.pending[i], charged[i]))

        def build() -> list[Metric]:
            durations = _family(m.STAGE_DURATION, ())
            pending = _family(m.STAGE_PENDING, ())
            breaches = _family(m.STAGE_BREACHES, ())
            budget = _family(m.STAGE_BUDGET, ())
            for labels, stage, tally, waiting, charged_count in rows:
                _add_histogram(durations, labels, tally, m.LATENCY_BUCKETS_S)
                pending.add_metric(labels, waiting)
                breaches.add_metric([*labels, stage.owner], charged_count)
                if stage.budget_us is not None:
                    budget.add_metric(labels, stage.budget_us / US_PER_SECOND)
            return [durations, pending, breaches, budget]

        return build

    def _backlog(self, engines: list[Engine], now_us: int) -> Callable[[], list[Metric]]:
        dims = self._dimensions
        stall_after_s = self._stall_after_s
        rows: dict[tuple[str, ...], list[int]] = {}
        last_publish: dict[tuple[str, str], int] = {}
        first_entry: dict[tuple[str, str], int] = {}
        for engine in engines:
            for study_id, dashboard, group, backlog in engine.backlog_by_group(now_us):
                if not self._exports(study_id, group):
                    continue
                row = rows.setdefault((study_id, dashboard, *group), [0, 0, 0])
                row[0] += backlog.pending
                row[1] = max(row[1], backlog.oldest_age_us or 0)
                row[2] += backlog.overdue
            for study_id, state in engine.studies.items():
                if not self._exports(study_id):
                    continue
                for dashboard, ledger in state.dashboards.items():
                    key = (study_id, dashboard)
                    if ledger.last_published_us is not None:
                        last_publish[key] = max(last_publish.get(key, 0), ledger.last_published_us)
                    if ledger.first_entered_us is not None:
                        first = first_entry.get(key)
                        if first is None or ledger.first_entered_us < first:
                            first_entry[key] = ledger.first_entered_us

        def build() -> list[Metric]:
            pending = _family(m.BACKLOG_PENDING, dims)
            oldest = _family(m.BACKLOG_OLDEST_AGE, dims)
            overdue = _family(m.BACKLOG_OVERDUE, dims)
            for key in sorted(rows):
                row = rows[key]
                pending.add_metric(list(key), row[0])
                oldest.add_metric(list(key), row[1] / US_PER_SECOND)
                overdue.add_metric(list(key), row[2])
            silence = _family(m.PUBLISH_SILENCE, dims)
            stall_after = _family(m.PUBLISH_STALL_AFTER, dims)
            for key in sorted(set(last_publish) | set(first_entry)):
                since = last_publish.get(key, first_entry.get(key))
                if since is not None:
                    silence.add_metric(list(key), max(0, now_us - since) / US_PER_SECOND)
                    stall_after.add_metric(list(key), stall_after_s(*key))
            return [pending, oldest, overdue, silence, stall_after]

        return build

    def _at_risk(self, engines: list[Engine]) -> Callable[[], list[Metric]]:
        """What will breach next, as of the engines' event-time clock (``deadline_clock``, as
        over SLA): the schedule decided once from the publishes of every owned shard, each
        shard's groups counted against it (streams/at_risk.py). The replay's report as of the
        same instant has the same figures."""
        dims = self._dimensions
        clocks = [c for c in (engine.deadline_clock() for engine in engines) if c is not None]
        rows: dict[tuple[str, ...], list[int]] = {}
        earliest: dict[tuple[str, ...], int] = {}
        certain: dict[tuple[str, ...], int] = {}
        schedules: dict[tuple[str, str], Outlook] = {}
        names: tuple[str, ...] = ()
        if clocks:
            as_of = max(clocks)
            histories = {
                key: history
                for key, history in publish_histories(engines).items()
                if self._exports(key[0])
            }
            expected = outlooks(engines[0].config, histories, as_of)
            names = time_left_bucket_names(engines[0].config.time_left_edges_us)
            for key, seen in expected.items():
                if seen is not None:
                    schedules[key] = seen
            for engine in engines:
                for study_id, dashboard, group, figures in time_to_breach_by_group(
                    engine, as_of, expected
                ):
                    if not self._exports(study_id, group):
                        continue
                    key = (study_id, dashboard, *group)
                    row = rows.setdefault(key, [0] * len(names))
                    for i, count in enumerate(figures.by_time_left):
                        row[i] += count
                    deadline = figures.earliest_deadline_us
                    if deadline is not None and (key not in earliest or deadline < earliest[key]):
                        earliest[key] = deadline
                    if figures.certain_breaches is not None:
                        certain[key] = certain.get(key, 0) + figures.certain_breaches
        page_min = {key[0]: self._certain_breach_page_min(key[0]) for key in schedules}

        def build() -> list[Metric]:
            by_time_left = _family(m.PENDING_BY_TIME_LEFT, dims)
            earliest_family = _family(m.EARLIEST_DEADLINE, dims)
            certain_family = _family(m.CERTAIN_BREACHES, dims)
            for key in sorted(rows):
                for name, count in zip(names, rows[key], strict=True):
                    by_time_left.add_metric([*key, name], count)
                if key in earliest:
                    earliest_family.add_metric(list(key), earliest[key] / US_PER_SECOND)
                if key in certain:
                    certain_family.add_metric(list(key), certain[key])
            next_publish = _family(m.NEXT_PUBLISH, dims)
            missed = _family(m.SCHEDULE_MISSED, dims)
            minimum = _family(m.CERTAIN_BREACH_PAGE_MIN, dims)
            for (study_id, dashboard), seen in sorted(schedules.items()):
                source = "learned" if seen.learned else "configured"
                next_publish.add_metric(
                    [study_id, dashboard, source], seen.next_publish_us / US_PER_SECOND
                )
                missed.add_metric([study_id, dashboard], 1 if seen.missed else 0)
                minimum.add_metric([study_id, dashboard], page_min[study_id])
            return [by_time_left, earliest_family, certain_family, next_publish, missed, minimum]

        return build

    def _freshness(self, engines: list[Engine], now_us: int) -> Callable[[], list[Metric]]:
        """Data freshness as of the worker's clock (as publish silence), and the uptime
        minutes as of the engines' clock (event time, as the over-SLA counters): the
        histories of this worker's shards merged (streams/freshness.py)."""
        histories: dict[tuple[str, str], list[FreshnessHistory]] = {}
        first_entry: dict[tuple[str, str], int] = {}
        clocks = [clock for e in engines if (clock := e.deadline_clock()) is not None]
        clock = max(clocks, default=None)
        for engine in engines:
            for study_id, dashboard, history, first in engine.freshness_histories():
                if not self._exports(study_id):
                    continue
                key = (study_id, dashboard)
                histories.setdefault(key, []).append(history.copy())  # built on another thread
                if first is not None and (key not in first_entry or first < first_entry[key]):
                    first_entry[key] = first
        stall_after_s, stale_after_s = self._stall_after_s, self._stale_after_s

        def build() -> list[Metric]:
            freshness = _family(m.DATA_FRESHNESS, ())
            stale_after = _family(m.DATA_STALE_AFTER, ())
            minutes = _family(m.INTEGRATION_MINUTES, ())
            for key in sorted(histories):
                history = merge_histories(histories[key])
                first = first_entry.get(key)
                _published, shown = newest_at(history, now_us)
                since = shown if shown is not None else first
                if since is not None and since <= now_us:
                    freshness.add_metric(list(key), (now_us - since) / US_PER_SECOND)
                stale_s = stale_after_s(*key)
                stale_after.add_metric(list(key), stale_s)
                if clock is None:
                    continue
                good, bad, unknown = verdicts(
                    history, first, clock, clock,
                    round(stall_after_s(*key) * US_PER_SECOND), round(stale_s * US_PER_SECOND),
                )  # fmt: skip
                for verdict, count in (("good", good), ("bad", bad), ("unknown", unknown)):
                    minutes.add_metric([*key, verdict], count)
            return [freshness, stale_after, minutes]

        return build

    def _queries(self, engines: list[Engine], now_us: int) -> Callable[[], list[Metric]]:
        dims = self._dimensions
        open_counts: dict[tuple[str, ...], list[int]] = {}
        oldest: dict[tuple[str, ...], int] = {}
        answers: dict[tuple[str, ...], Tally] = {}
        closes: dict[tuple[str, ...], Tally] = {}
        for engine in engines:
            for study_id, state in engine.studies.items():
                for group in state.queries.answer_tallies:
                    if not self._exports(study_id, group):
                        continue
                    key = (study_id, *group)
                    open_counts.setdefault(key, [0] * 8)
                    oldest.setdefault(key, 0)
                    _merge_tally(answers, key, state.queries.answer_tallies[group])
                    _merge_tally(closes, key, state.queries.close_tallies[group])
            for study_id, group, figures in engine.query_figures_by_group(now_us):
                if not self._exports(study_id, group):
                    continue
                key = (study_id, *group)
                row = open_counts.setdefault(key, [0] * 8)
                oldest[key] = max(oldest.get(key, 0), figures.oldest_open_age_us or 0)
                for state_index, buckets in enumerate(figures.aging_by_state):
                    for bucket_index, count in enumerate(buckets):
                        row[state_index * 4 + bucket_index] += count

        def build() -> list[Metric]:
            open_family = _family(m.QUERIES_OPEN, dims)
            oldest_family = _family(m.QUERY_OLDEST_OPEN_AGE, dims)
            answer_family = _family(m.QUERY_TIME_TO_ANSWER, dims)
            close_family = _family(m.QUERY_TIME_TO_CLOSE, dims)
            withdrawn_family = _family(m.QUERY_DURATIONS_WITHDRAWN, dims)
            for key in sorted(open_counts):
                row = open_counts[key]
                for state_index in (AWAITING_SITE, AWAITING_DM):
                    for bucket_index, bucket in enumerate(AGING_BUCKETS):
                        open_family.add_metric(
                            [*key, STATE_NAMES[state_index], bucket],
                            row[(state_index - 1) * 4 + bucket_index],
                        )
                oldest_family.add_metric(list(key), oldest[key] / US_PER_SECOND)
                if key in answers:
                    _add_histogram(answer_family, list(key), answers[key], m.QUERY_BUCKETS_S)
                    _add_histogram(close_family, list(key), closes[key], m.QUERY_BUCKETS_S)
                    withdrawn_family.add_metric([*key, "answer"], answers[key].withdrawn)
                    withdrawn_family.add_metric([*key, "close"], closes[key].withdrawn)
            return [open_family, oldest_family, answer_family, close_family, withdrawn_family]

        return build

    def _visits(self, engines: list[Engine]) -> Callable[[], list[Metric]]:
        """Visit to entry (streams/visits.py): cumulative, per study and breakdown group."""
        dims = self._dimensions
        tallies: dict[tuple[str, ...], Tally] = {}
        over: dict[tuple[str, ...], list[int]] = {}
        left_out: dict[str, list[int]] = {}
        thresholds = self._visit_thresholds_s
        for engine in engines:
            config = engine.config
            if self._visit_thresholds_s is None:
                thresholds = (
                    config.visit_medium_us / US_PER_SECOND,
                    config.visit_high_us / US_PER_SECOND,
                )
            for study_id, ledger in engine.visit_ledgers():
                if not self._exports(study_id):
                    continue
                counts = left_out.setdefault(study_id, [0, 0])
                counts[0] += ledger.without_visit_date
                counts[1] += ledger.before_visit
                for group_key, group in ledger.groups.items():
                    if not self._exports(study_id, group_key):
                        continue
                    key = (study_id, *group_key)
                    _merge_tally(tallies, key, group.tally)
                    row = over.setdefault(key, [0, 0])
                    row[0] += group.over_medium
                    row[1] += group.over_high

        def build() -> list[Metric]:
            histogram = _family(m.VISIT_TO_ENTRY, dims)
            over_family = _family(m.VISIT_TO_ENTRY_OVER, dims)
            for key in sorted(tallies):
                labels = list(key)
                _add_histogram(histogram, labels, tallies[key], m.VISIT_BUCKETS_S)
                over_family.add_metric([*labels, "medium"], over[key][0])
                over_family.add_metric([*labels, "high"], over[key][1])
            left_family = _family(m.VISIT_TO_ENTRY_LEFT_OUT, dims)
            for study_id in sorted(left_out):
                without, before = left_out[study_id]
                left_family.add_metric([study_id, WITHOUT_VISIT_DATE], without)
                left_family.add_metric([study_id, ENTERED_BEFORE_VISIT], before)
            threshold_family = _family(m.VISIT_TO_ENTRY_THRESHOLD, ())
            if thresholds is not None:
                threshold_family.add_metric(["medium"], thresholds[0])
                threshold_family.add_metric(["high"], thresholds[1])
            return [histogram, over_family, left_family, threshold_family]

        return build

    def _health_metrics(self, now_us: int) -> Callable[[], list[Metric]]:
        # A few dozen samples: built at once, on the loop, from values that keep changing.
        messages = _family(m.MESSAGES, ())
        dead = _family(m.DEAD_LETTERS, ())
        late = _family(m.LATE_EVENTS, ())
        newest = _family(m.NEWEST_EVENT_TIME, ())
        age = _family(m.NEWEST_EVENT_AGE, ())
        lag = _family(m.CONSUMER_LAG, ())
        delay = _family(m.PROCESSING_DELAY, ())
        stuck = _family(m.INPUT_PARTITIONS_STUCK, ())
        idle = _family(m.INPUT_PARTITIONS_IDLE, ())
        for topic in sorted(self._health):
            health = self._health[topic]
            for outcome in OUTCOMES:
                messages.add_metric([topic, outcome], health.outcomes.get(outcome, 0))
            dead.add_metric([topic], health.dead_letters)
            late.add_metric([topic], health.late)
            idle.add_metric([topic], health.idle_partitions)
            lag.add_metric([topic], health.lag)
            stuck.add_metric([topic], health.stuck_partitions)
            if health.newest_event_us is not None:
                newest.add_metric([topic], health.newest_event_us / US_PER_SECOND)
                age.add_metric([topic], max(0, now_us - health.newest_event_us) / US_PER_SECOND)
            if health.processing_delay_s is not None:
                delay.add_metric([topic], health.processing_delay_s)
        families: list[Metric] = [messages, dead, late, newest, age, lag, delay, stuck, idle]
        return lambda: families
