"""Every metric this worker exports: name, type, help, labels and buckets. Nothing else.

``agents/metrics/collector.py`` maps engine state onto these at scrape time. Naming
follows Prometheus conventions: base units (seconds), ``_total`` for counters,
one unit per metric. Labels never carry subject ids, record ids or free text.

Label sets (docs/metrics.md has the series-count formula):
* ``KPI``: study, dashboard, then the optional dimensions switched on by
  ``EDC_LATENCY_BREAKDOWN`` (site, country, vendor), in that order.
* ``QUERY``: study, then the same optional dimensions.
* ``TOPIC``: the input topic (three of them).
* ``verdict`` of ``edc_integration_minutes``: good, bad, unknown.
* ``STAGE``: study, dashboard, stage (and owner): only dashboards with configured
  stages, and only the configured stage and owner names.
"""

from __future__ import annotations

from dataclasses import dataclass

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

# Minutes to weeks: where the SLA of most studies (12 h to 72 h) falls, buckets are dense.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 12 * HOUR,
    18 * HOUR, DAY, 36 * HOUR, 2 * DAY, 3 * DAY, 5 * DAY, 7 * DAY, 14 * DAY, 28 * DAY,
)  # fmt: skip
# Queries live for days to months; 7, 14 and 30 days match the aging buckets.
QUERY_BUCKETS_S: tuple[float, ...] = (
    HOUR, 4 * HOUR, 12 * HOUR, DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 60 * DAY,
    90 * DAY,
)  # fmt: skip

# Visit to entry (streams/visits.py) is counted in days: same day, then up to months; 5 and 7
# days are the default thresholds, so the panels can read them off the buckets too.
VISIT_BUCKETS_S: tuple[float, ...] = (
    12 * HOUR, DAY, 2 * DAY, 3 * DAY, 5 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 60 * DAY,
)  # fmt: skip

KPI_BASE_LABELS = ("study", "dashboard")
QUERY_BASE_LABELS = ("study",)
TOPIC_LABELS = ("topic",)
STAGE_LABELS = ("study", "dashboard", "stage")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str  # without the _total / _bucket suffixes prometheus_client adds
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...]
    extra_labels: tuple[str, ...] = ()  # after the optional dimensions
    breakdown: bool = True  # whether the optional dimensions (site, country, vendor) apply

    def label_names(self, dimensions: tuple[str, ...]) -> list[str]:
        dims = dimensions if self.breakdown and self.labels else ()
        return [*self.labels, *dims, *self.extra_labels]


# --- data latency ------------------------------------------------------------------
DATA_LATENCY = MetricSpec(
    "edc_data_latency_seconds", "histogram",
    "Time from data entry in the EDC to its first availability on the dashboard, per entry event "
    "(_sum as first observed: subtract edc_data_latency_corrections_seconds_total).",
    KPI_BASE_LABELS,
)  # fmt: skip
LATENCY_CORRECTIONS = MetricSpec(
    "edc_data_latency_corrections_seconds", "counter",
    "Latency taken off entries by late-arriving, earlier publishes (the histogram's _sum keeps "
    "the first observation: a counter never decreases).",
    KPI_BASE_LABELS,
)  # fmt: skip
PUBLISHED_WITHIN_SLA = MetricSpec(
    "edc_entries_published_within_sla", "counter",
    "Entries that reached the dashboard within their study's SLA.",
    KPI_BASE_LABELS,
)  # fmt: skip
OVER_SLA = MetricSpec(
    "edc_entries_over_sla", "counter",
    "Entries whose SLA deadline passed (event time) before they reached the dashboard, published "
    "since or not: counted once, when the deadline passed.",
    KPI_BASE_LABELS,
)  # fmt: skip
OVER_SLA_WITHDRAWN = MetricSpec(
    "edc_entries_over_sla_withdrawn", "counter",
    "Entries counted over SLA that a late-arriving, earlier publish showed were published within "
    "it (they count in within_sla too).",
    KPI_BASE_LABELS,
)  # fmt: skip
SLA = MetricSpec(
    "edc_sla_seconds", "gauge",
    "The study's data-latency target, for alerts and panels that compare against it.",
    KPI_BASE_LABELS, breakdown=False,
)  # fmt: skip

# --- backlog -------------------------------------------------------------------------
BACKLOG_PENDING = MetricSpec(
    "edc_backlog_entries", "gauge",
    "Entries entered in the EDC and not yet visible on the dashboard.",
    KPI_BASE_LABELS,
)  # fmt: skip
BACKLOG_OLDEST_AGE = MetricSpec(
    "edc_backlog_oldest_age_seconds", "gauge",
    "Age of the oldest entry still waiting for the dashboard (0 when none waits).",
    KPI_BASE_LABELS,
)  # fmt: skip
BACKLOG_OVERDUE = MetricSpec(
    "edc_backlog_overdue_entries", "gauge",
    "Waiting entries already older than the study's SLA.",
    KPI_BASE_LABELS,
)  # fmt: skip
PUBLISH_SILENCE = MetricSpec(
    "edc_publish_silence_seconds", "gauge",
    "Time since the newest publish of the study to the dashboard (since the first entry when "
    "nothing was ever published).",
    KPI_BASE_LABELS, breakdown=False,
)  # fmt: skip

PUBLISH_STALL_AFTER = MetricSpec(
    "edc_publish_stall_after_seconds", "gauge",
    "How long the dashboard may go without a publish while entries wait (its configured "
    "publish_stall_after), for EdcPublishingStalled.",
    KPI_BASE_LABELS, breakdown=False,
)  # fmt: skip

# --- what will breach next (streams/at_risk.py; docs/design.md, "What will breach next") --
PENDING_BY_TIME_LEFT = MetricSpec(
    "edc_pending_by_time_left_entries", "gauge",
    "Entries waiting for the dashboard by the time left before their SLA deadline (entered + "
    "SLA), in event time: breached (deadline before now), then under each time_left_edges "
    "edge (lt_1h, lt_4h, lt_24h by default), later.",
    KPI_BASE_LABELS, ("time_left",),
)  # fmt: skip
EARLIEST_DEADLINE = MetricSpec(
    "edc_pending_earliest_deadline_timestamp_seconds", "gauge",
    "The earliest SLA deadline not yet passed among the waiting entries (Unix seconds; absent "
    "when none waits).",
    KPI_BASE_LABELS,
)  # fmt: skip
CERTAIN_BREACHES = MetricSpec(
    "edc_certain_breaches_entries", "gauge",
    "Waiting entries whose deadline is not passed yet but falls before the dashboard's next "
    "expected publish: only a publish before their deadline (off-cycle, or a late scheduled "
    "run) saves them (absent without a schedule or a learned cadence).",
    KPI_BASE_LABELS,
)  # fmt: skip
NEXT_PUBLISH = MetricSpec(
    "edc_publish_next_expected_timestamp_seconds", "gauge",
    "When the dashboard's next publish is expected (Unix seconds; never in the past: a slot "
    "whose time came without its publish gives way to the one after it): its configured "
    "schedule (source=configured) or the cadence learned from its publishes (source=learned).",
    KPI_BASE_LABELS, ("source",), breakdown=False,
)  # fmt: skip
SCHEDULE_MISSED = MetricSpec(
    "edc_publish_schedule_missed", "gauge",
    "1 when the publish due after the dashboard's last one did not come within schedule_grace, "
    "else 0: whether or not entries wait (EdcPublishScheduleMissed needs both).",
    KPI_BASE_LABELS, breakdown=False,
)  # fmt: skip
CERTAIN_BREACH_PAGE_MIN = MetricSpec(
    "edc_certain_breach_page_min", "gauge",
    "Certain breaches a study's dashboard needs before EdcPublishNow pages (its "
    "certain_breach_page_min).",
    KPI_BASE_LABELS, breakdown=False,
)  # fmt: skip
# --- freshness and uptime (streams/freshness.py) -------------------------------------
DATA_FRESHNESS = MetricSpec(
    "edc_data_freshness_seconds", "gauge",
    "Time since the newest data the dashboard shows: its newest snapshot cutoff, or the newest "
    "entry record publishes made visible (since the first entry when nothing is shown).",
    KPI_BASE_LABELS, breakdown=False,
)  # fmt: skip
DATA_STALE_AFTER = MetricSpec(
    "edc_data_stale_after_seconds", "gauge",
    "How old the newest data the dashboard shows may be for a minute to count as good in the "
    "data-integration uptime (its configured data_stale_after).",
    KPI_BASE_LABELS, breakdown=False,
)  # fmt: skip
INTEGRATION_MINUTES = MetricSpec(
    "edc_integration_minutes", "gauge",
    "Minutes of the 30 days of event time up to the engine's clock by verdict: good (publish and "
    "data freshness within their thresholds at the minute's end), bad, or unknown (no input "
    "has reached it, or nothing to judge yet).",
    KPI_BASE_LABELS, ("verdict",), breakdown=False,
)  # fmt: skip
# --- pipeline stages (streams/stages.py): over the entries the engine retains -----------
STAGE_DURATION = MetricSpec(
    "edc_stage_duration_seconds", "histogram",
    "Time each pipeline stage took of the entries published (as of the engine's clock, over "
    "the entries retained: the retention window); an entry's stages add up to its latency. "
    "Not a counter: entries leave it when pruned.",
    STAGE_LABELS, breakdown=False,
)  # fmt: skip
STAGE_PENDING = MetricSpec(
    "edc_stage_pending_entries", "gauge",
    "Entries waiting for the dashboard, by the stage each waits in (the stage after the last "
    "that processed it).",
    STAGE_LABELS, breakdown=False,
)  # fmt: skip
STAGE_BREACHES = MetricSpec(
    "edc_stage_breaches_charged", "gauge",
    "Entries published over their SLA (in the retention window), each charged to the stage "
    "that used the largest share of its SLA budget, and to that stage's owner.",
    STAGE_LABELS, ("owner",), breakdown=False,
)  # fmt: skip
STAGE_BUDGET = MetricSpec(
    "edc_stage_budget_seconds", "gauge",
    "The stage's configured p95 budget (stages without one have no series), for "
    "EdcStageOverBudget.",
    STAGE_LABELS, breakdown=False,
)  # fmt: skip

# --- queries ------------------------------------------------------------------------
QUERIES_OPEN = MetricSpec(
    "edc_queries_open", "gauge",
    "Open data clarification queries by state (awaiting_site, awaiting_dm) and age bucket "
    "(0-7d, 8-14d, 15-30d, >30d).",
    QUERY_BASE_LABELS, ("state", "age_bucket"),
)  # fmt: skip
QUERY_OLDEST_OPEN_AGE = MetricSpec(
    "edc_query_oldest_open_age_seconds", "gauge",
    "Age of the oldest open query (0 when none is open).",
    QUERY_BASE_LABELS,
)  # fmt: skip
QUERY_TIME_TO_ANSWER = MetricSpec(
    "edc_query_time_to_answer_seconds", "histogram",
    "Time from a query's (latest) opening to the site's answer.",
    QUERY_BASE_LABELS,
)  # fmt: skip
QUERY_TIME_TO_CLOSE = MetricSpec(
    "edc_query_time_to_close_seconds", "histogram",
    "Time from a query's (latest) opening to its closing or cancellation.",
    QUERY_BASE_LABELS,
)  # fmt: skip
QUERY_DURATIONS_WITHDRAWN = MetricSpec(
    "edc_query_durations_withdrawn", "counter",
    "Times to answer (kind=answer) or close (kind=close) observed, then no longer true after a "
    "late query event; they stay in the histograms, which never decrease.",
    QUERY_BASE_LABELS, ("kind",),
)  # fmt: skip

# --- visit to entry: the site's part (streams/visits.py, docs/contract.md) --------------
VISIT_TO_ENTRY = MetricSpec(
    "edc_visit_to_entry_seconds", "histogram",
    "Time from 00:00 UTC of an entry's visit date to its entry in the EDC, per entry event "
    "with a visit date (the site's part of the data's path).",
    QUERY_BASE_LABELS,
)  # fmt: skip
VISIT_TO_ENTRY_OVER = MetricSpec(
    "edc_visit_to_entry_over_threshold", "counter",
    "Entries whose visit to entry is above the medium or high threshold (level=medium|high; "
    "visit_to_entry_medium, visit_to_entry_high); an entry over high is over medium too.",
    QUERY_BASE_LABELS, ("level",),
)  # fmt: skip
VISIT_TO_ENTRY_LEFT_OUT = MetricSpec(
    "edc_visit_to_entry_left_out", "counter",
    "Entries left out of the visit to entry, by reason: without_visit_date, or "
    "entered_before_visit (entered more than 14 h before 00:00 UTC of their visit date).",
    QUERY_BASE_LABELS, ("reason",), breakdown=False,
)  # fmt: skip
VISIT_TO_ENTRY_THRESHOLD = MetricSpec(
    "edc_visit_to_entry_threshold_seconds", "gauge",
    "The visit-to-entry thresholds (level=medium|high), for panels and alerts that compare "
    "against them.",
    (), ("level",),
)  # fmt: skip

# --- the worker itself -------------------------------------------------------------
MESSAGES = MetricSpec(
    "edc_messages", "counter",
    "Input messages by topic and outcome (valid, invalid, duplicate, unknown_dashboard, "
    "over_cardinality).",
    TOPIC_LABELS, ("outcome",),
)  # fmt: skip
DEAD_LETTERS = MetricSpec(
    "edc_dead_letters", "counter",
    "Messages written to the dead-letter topic (invalid or over the cardinality caps), by "
    "source topic.",
    TOPIC_LABELS,
)  # fmt: skip
LATE_EVENTS = MetricSpec(
    "edc_late_events", "counter",
    "Valid events older than the retention horizon when they arrived (figures may be approximate).",
    TOPIC_LABELS,
)  # fmt: skip
NEWEST_EVENT_TIME = MetricSpec(
    "edc_newest_event_timestamp_seconds", "gauge",
    "Event time of the newest valid event seen per topic (Unix seconds).",
    TOPIC_LABELS,
)  # fmt: skip
NEWEST_EVENT_AGE = MetricSpec(
    "edc_newest_event_age_seconds", "gauge",
    "Clock time minus the newest event time seen per topic: how stale the input is.",
    TOPIC_LABELS,
)  # fmt: skip
CONSUMER_LAG = MetricSpec(
    "edc_consumer_lag_messages", "gauge",
    "Messages in the topic not yet processed by this worker, over its partitions.",
    TOPIC_LABELS,
)  # fmt: skip
INPUT_PARTITIONS_STUCK = MetricSpec(
    "edc_input_partitions_stuck", "gauge",
    "Input partitions of the topic assigned to this worker whose committed offset has not moved "
    "for partition_stall_after while messages read from them wait (agents/live/stalls.py).",
    TOPIC_LABELS,
)  # fmt: skip
PROCESSING_DELAY = MetricSpec(
    "edc_processing_delay_seconds", "gauge",
    "Wall time between a message's Kafka timestamp and its processing, for the newest message.",
    TOPIC_LABELS,
)  # fmt: skip
OVER_CARDINALITY = MetricSpec(
    "edc_events_over_cardinality", "counter",
    "Valid events refused (dead-lettered) because their study or breakdown group was over "
    "max_studies or max_groups_per_study.",
    (),
)  # fmt: skip
SHARD_PARTITIONS = MetricSpec(
    "edc_shard_partitions", "gauge",
    "Shard partitions of the deployment (shard_partitions): summed edc_worker_partitions below "
    "it means shards nobody owns, whose studies' figures are partial.",
    (),
)  # fmt: skip
WORKER_READY = MetricSpec(
    "edc_worker_ready", "gauge",
    "1 when this worker is ready (/readyz: its shards restored, the broker reachable), else 0.",
    (),
)  # fmt: skip
OWNED_PARTITIONS = MetricSpec(
    "edc_worker_partitions", "gauge",
    "Shard partitions this worker owns and exports figures for.",
    (),
)  # fmt: skip
CHECKPOINTS_REJECTED = MetricSpec(
    "edc_checkpoints_rejected", "counter",
    "Checkpoints refused at restore, by reason (header, digest, content, offset); an older "
    "checkpoint or the shard topic was used instead.",
    (), ("reason",),
)  # fmt: skip
SHARD_RECORDS_SKIPPED = MetricSpec(
    "edc_shard_records_skipped", "counter",
    "Malformed records on the internal shard topic, skipped (none are written by a worker).",
    (),
)  # fmt: skip

BUILD_INFO = MetricSpec(
    "edc_build_info", "gauge",
    "Always 1: this worker's release (version), Python and whether the engine core is compiled "
    "(as `edc-latency --version` prints).",
    (), ("version", "python", "compiled"),
)  # fmt: skip
SHARD_ITEMS_SKIPPED = MetricSpec(
    "edc_shard_items_skipped", "counter",
    "Items of shard-topic records skipped before the engine because their input-topic index "
    "is out of range (none are written by a worker).",
    (),
)  # fmt: skip
EVENT_IDS_EVICTED = MetricSpec(
    "edc_event_ids_evicted", "counter",
    "Event ids forgotten by the duplicate check before their retention ran out, oldest first, "
    "to keep each shard under max_event_ids; a repeat of one counts again.",
    (),
)  # fmt: skip
INPUT_PARTITIONS_IDLE = MetricSpec(
    "edc_input_partitions_idle", "counter",
    "Times an input partition had no new message for input_idle_after and stopped holding "
    "the shards' low watermark back, by topic.",
    TOPIC_LABELS,
)  # fmt: skip
RETENTION_HELD_BACK = MetricSpec(
    "edc_retention_held_back_seconds", "gauge",
    "Event time by which the retention horizon trails the newest event time, because an "
    "input lags the others (max over this worker's shards; bounded by retention_max_hold).",
    (),
)  # fmt: skip
RETENTION_HELD_BACK_IDS = MetricSpec(
    "edc_retention_held_back_event_ids", "gauge",
    "Event ids kept only because an input lags the others (summed over this worker's "
    "shards): the state a lagging input holds back.",
    (),
)  # fmt: skip

ALL_METRICS: tuple[MetricSpec, ...] = (
    DATA_LATENCY, LATENCY_CORRECTIONS, PUBLISHED_WITHIN_SLA, OVER_SLA, OVER_SLA_WITHDRAWN, SLA,
    BACKLOG_PENDING, BACKLOG_OLDEST_AGE, BACKLOG_OVERDUE, PUBLISH_SILENCE, PUBLISH_STALL_AFTER,
    PENDING_BY_TIME_LEFT, EARLIEST_DEADLINE, CERTAIN_BREACHES, NEXT_PUBLISH, SCHEDULE_MISSED,
    CERTAIN_BREACH_PAGE_MIN,
    DATA_FRESHNESS, DATA_STALE_AFTER, INTEGRATION_MINUTES,
    QUERIES_OPEN, QUERY_OLDEST_OPEN_AGE, QUERY_TIME_TO_ANSWER, QUERY_TIME_TO_CLOSE,
    QUERY_DURATIONS_WITHDRAWN,
    VISIT_TO_ENTRY, VISIT_TO_ENTRY_OVER, VISIT_TO_ENTRY_LEFT_OUT, VISIT_TO_ENTRY_THRESHOLD,
    MESSAGES, DEAD_LETTERS, LATE_EVENTS, NEWEST_EVENT_TIME, NEWEST_EVENT_AGE,
    CONSUMER_LAG, PROCESSING_DELAY, OVER_CARDINALITY, OWNED_PARTITIONS, CHECKPOINTS_REJECTED,
    SHARD_RECORDS_SKIPPED, INPUT_PARTITIONS_STUCK, BUILD_INFO, WORKER_READY, SHARD_PARTITIONS,
    SHARD_ITEMS_SKIPPED, EVENT_IDS_EVICTED,
    INPUT_PARTITIONS_IDLE, RETENTION_HELD_BACK, RETENTION_HELD_BACK_IDS,
    STAGE_DURATION, STAGE_PENDING, STAGE_BREACHES, STAGE_BUDGET,
)  # fmt: skip


def exposed_names(spec: MetricSpec) -> tuple[str, ...]:
    """The sample names a spec produces on /metrics."""
    if spec.kind == "counter":
        return (spec.name + "_total",)
    if spec.kind == "histogram":
        return tuple(spec.name + suffix for suffix in ("_bucket", "_count", "_sum"))
    return (spec.name,)
