"""A simulated trial: EDC entries, dashboard publishes and data queries, deterministic by seed.

Pure: no wall clock, no I/O. Time is simulated and passed in; events come out
in *arrival* order (what a Kafka consumer would see) as (topic kind, JSON bytes).
The scenario is what data managers meet in practice:

* four studies with their own SLA, sites in several countries, each run by a vendor (FSP);
* entries with revisions (updates of the same record) and a few deletes;
* record-level publishes every 2–4 h, snapshot publishes every 6 h or nightly,
  and a second dashboard ("safety") for one study;
* one site whose entries reach Kafka late (a nightly EDC batch): its records are
  published late, its latency is high;
* one slower vendor (``SLOW_VENDOR``): its EDC integration queues entries for hours,
  so in a study published by record it misses the SLA while its peer meets it;
* one country whose sites answer queries slowly (``SLOW_ANSWER_COUNTRY``): its
  queries stay open longer, and more of them pass 30 days;
* one site that enters its visits late (``SLOW_ENTRY_SITE``): 4 to 8 days from the visit
  to its entry, over the medium and high visit-to-entry thresholds, where the others
  take 0 to 4;
* one publish outage (two days without a publish for one study): SLA breached;
* one off-schedule outage of one dashboard (``StudyPlan.lost_publishes``): its scheduled
  publishes are lost for a while, so entries that cannot make the SLA before the next
  scheduled publish pile up (certain breaches, the EdcPublishNow page) until an
  off-cycle catch-up publish clears them; in the demo's first minute or two;
* pipeline stages for the study published by record (``StudyPlan.stages``): extraction
  owned by the slower vendor, whose queue makes it the slow stage its breaches are
  charged to, then a transform by the sponsor, then the publish;
* queries opened, answered, closed, cancelled and reopened, some open > 30 days.

Optionally invalid messages and exact duplicates (at-least-once redelivery) at
given rates, for testing the dead-letter path.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from schemas.timestamps import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, format_timestamp

Message = tuple[str, bytes]  # (entries | queries | publishes, value)


@dataclass(frozen=True, slots=True)
class StudyPlan:
    study_id: str
    sla_h: float
    publish: str  # "records" or "snapshot"
    publish_every_h: int
    entries_per_site_hour: float
    sites: tuple[tuple[str, str, str], ...]  # (site id, country, vendor)
    dashboards: tuple[str, ...] = ("default",)
    outage_days: tuple[int, int] | None = None  # [from, to) days after the start: no publishes
    # The default dashboard's pipeline stages: (name, owner, p95 budget in hours or None),
    # the last completed by the publish; stage events only for studies published by record.
    stages: tuple[tuple[str, str, float | None], ...] = ()
    # An off-schedule outage of one snapshot dashboard: (dashboard, from, to) in hours after
    # the start. Its publishes due in [from, to) are lost, and at ``to`` (+ CATCH_UP_MINUTES)
    # someone publishes off-cycle to catch up.
    lost_publishes: tuple[str, int, int] | None = None


DEFAULT_STUDIES: tuple[StudyPlan, ...] = (
    StudyPlan("ONC-301", 12, "records", 2, 1.2,
              (("DE-101", "DE", "FSP-Alpha"), ("DE-102", "DE", "FSP-Alpha"),
               ("FR-201", "FR", "FSP-Beta"), ("ES-301", "ES", "FSP-Beta")),
              dashboards=("default", "safety"),
              # FSP-Beta runs the extraction out of the EDC: its queue (SLOW_VENDOR) is the
              # slow stage, and the breaches of this study are charged to it.
              stages=(("extract", "FSP-Beta", 4.0), ("transform", "sponsor", None),
                      ("load", "sponsor", None))),
    StudyPlan("CV-204", 48, "snapshot", 24, 0.8,
              (("US-401", "US", "FSP-Gamma"), ("US-402", "US", "FSP-Gamma"),
               ("CA-501", "CA", "FSP-Gamma")),
              # The nightly publishes of 7 and 8 January fail: from 00:00 on the 8th
              # (the second lost slot's time) the entries of the 6th, due during the
              # 8th, cannot make the SLA before the next nightly one; the catch-up at
              # 16:20 saves those not yet breached.
              lost_publishes=("default", 48, 88)),
    StudyPlan("NEU-112", 24, "snapshot", 6, 0.6,
              (("GB-601", "GB", "FSP-Alpha"), ("NL-701", "NL", "FSP-Beta")),
              outage_days=(3, 5)),
    StudyPlan("RES-417", 24, "records", 4, 0.5,
              (("PL-801", "PL", "FSP-Delta"), ("IT-901", "IT", "FSP-Delta"))),
)  # fmt: skip

# Publish schedules of the dashboards published as snapshots, as deploy/simulated-studies.toml
# has them (publishes come 5-40 min after the hour); record-level ones are learned.
SCHEDULES: dict[str, dict[str, dict[str, object]]] = {
    "ONC-301": {"safety": {"every": "6h", "anchor": "2026-01-01T03:00:00Z"}},
    "CV-204": {"default": {"at": ["01:00"], "zone": "Europe/Berlin"}},
    "NEU-112": {"default": {"every": "6h"}},
}

# Their publish_stall_after and data_stale_after, as deploy/simulated-studies.toml has them:
# the longest gap between two slots plus the 45 min grace (6 h: 6 h 45 min; nightly in
# Berlin: 25 h across the autumn change, + 45 min).
STALE_AFTER: dict[str, dict[str, dict[str, str]]] = {
    "ONC-301": {"publish_stall_after": {"safety": "405m"}},
    "CV-204": {
        "publish_stall_after": {"default": "1545m"},
        "data_stale_after": {"default": "1545m"},
    },
    "NEU-112": {"publish_stall_after": {"default": "405m"}},
}

LATE_SITE = "ES-301"  # its EDC pushes to Kafka in a nightly batch
SLOW_VENDOR = "FSP-Beta"  # its entries reach Kafka 4-14 h after entry (LATE_SITE: nightly)
# Enters visits 4-8 days after them (the others 0-4): the same draw, shifted, so every other
# simulated event stays as it was.
SLOW_ENTRY_SITE = "US-402"
SLOW_ANSWER_COUNTRY = "IT"  # its sites answer queries after 15-45 days instead of 6 h-20 days
CATCH_UP_MINUTES = 20  # the off-cycle publish ending a dashboard's lost publishes
INVALID_SAMPLES: tuple[bytes, ...] = (
    b"{not json",
    b'["an", "array"]',
    b'{"schema": "edc.entry/9", "event_id": "x"}',
    b'{"schema": "edc.entry/1", "event_id": "inv-1", "study_id": "ONC-301"}',
    b'{"schema": "edc.query/1", "event_id": "inv-2", "query_id": "q", "study_id": "ONC-301",'
    b' "site_id": "DE-101", "status": "escalated", "occurred_at": "2026-01-05T10:00:00Z"}',
    b'{"schema": "dashboard.publish/1", "event_id": "inv-3", "study_id": "CV-204",'
    b' "published_at": "2026-01-05T10:00:00", "record_ids": ["r"]}',
)


def _visit_date(entered_us: int, days_before: int, site_id: str) -> str:
    if site_id == SLOW_ENTRY_SITE:
        days_before += 4
    return format_timestamp(entered_us - days_before * US_PER_DAY)[:10]


class Simulation:
    def __init__(
        self,
        seed: int = 1,
        start_us: int = 1_767_571_200_000_000,  # 2026-01-05T00:00:00Z
        studies: tuple[StudyPlan, ...] = DEFAULT_STUDIES,
        invalid_rate: float = 0.0,
        duplicate_rate: float = 0.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.start_us = start_us
        self.studies = studies
        self.invalid_rate = invalid_rate
        self.duplicate_rate = duplicate_rate
        self._arrivals: list[tuple[int, int, str, bytes]] = []
        self._seq = 0
        self._generated_until = start_us  # simulated hours generated so far
        self._ids = 0
        # Records entered but not yet named by a record-level publish, per (study, dashboard).
        self._unpublished: dict[tuple[str, str], dict[str, None]] = {}
        self._records: dict[str, list[str]] = {s.study_id: [] for s in studies}
        self._arrival_of: dict[str, int] = {}  # newest arrival in Kafka per record
        # Stage events draw from their own generator: the other events stay as they were.
        self._stage_rng = random.Random(seed * 7919 + 23)
        self._stage_ids: list[int] = []

    # -- configuration for the engine and the worker -----------------------------

    def study_configs(self) -> dict[str, dict[str, object]]:
        return {
            s.study_id: {"sla_s": s.sla_h * 3600, "dashboards": list(s.dashboards)}
            for s in self.studies
        }

    def study_configs_settings(self) -> dict[str, dict[str, object]]:
        """The ``studies`` setting of agents/settings.py for these studies."""
        return {
            s.study_id: {
                "sla": s.sla_h * 3600,
                "dashboards": list(s.dashboards),
                **({"schedules": SCHEDULES[s.study_id]} if s.study_id in SCHEDULES else {}),
                **STALE_AFTER.get(s.study_id, {}),
                **({"stages": {"default": _stage_settings(s.stages)}} if s.stages else {}),
            }
            for s in self.studies
        }

    # -- output -----------------------------------------------------------------------

    def events_between(self, from_us: int, to_us: int) -> Iterator[Message]:
        """Messages arriving in [from_us, to_us) of simulated time, in arrival order."""
        while self._generated_until < to_us:
            self._generate_hour(self._generated_until)
            self._generated_until += US_PER_HOUR
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] < to_us:
            arrival, _seq, kind, value = heapq.heappop(arrivals)
            if arrival >= from_us:
                yield kind, value

    def events(self, duration_us: int) -> Iterator[Message]:
        yield from self.events_between(self.start_us, self.start_us + duration_us)

    # -- generation -----------------------------------------------------------------

    def _emit(
        self, arrival_us: int, kind: str, document: dict[str, object], lost: bool = False
    ) -> None:
        # A lost message takes the draws it would have taken: every other event stays as it
        # was without the loss.
        rng = self.rng
        value = orjson.dumps(document)
        if not lost:
            self._push(arrival_us, kind, value)
        if self.duplicate_rate and rng.random() < self.duplicate_rate:
            at = arrival_us + rng.randrange(1, 600) * 1_000_000
            if not lost:
                self._push(at, kind, value)
        if self.invalid_rate and rng.random() < self.invalid_rate:
            invalid = rng.choice(INVALID_SAMPLES)
            if not lost:
                self._push(arrival_us, kind, invalid)

    def _push(self, arrival_us: int, kind: str, value: bytes) -> None:
        self._seq += 1
        heapq.heappush(self._arrivals, (arrival_us, self._seq, kind, value))

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids:09d}"

    def _generate_hour(self, hour_us: int) -> None:
        rng = self.rng
        day = (hour_us - self.start_us) // US_PER_DAY
        hour_of_day = (hour_us // US_PER_HOUR) % 24
        daytime = 7 <= hour_of_day < 19  # sites enter data in working hours
        for plan in self.studies:
            if daytime:
                for site in plan.sites:
                    count = _poisson(rng, plan.entries_per_site_hour * 2)
                    for _ in range(count):
                        self._entry(plan, site, hour_us + rng.randrange(US_PER_HOUR))
            in_outage = (
                plan.outage_days is not None and plan.outage_days[0] <= day < plan.outage_days[1]
            )
            if not in_outage and (hour_us // US_PER_HOUR) % plan.publish_every_h == 0:
                self._publish(plan, hour_us + rng.randrange(5, 40) * US_PER_MINUTE)
            if "safety" in plan.dashboards and hour_of_day % 6 == 3:
                at = hour_us + rng.randrange(5, 30) * US_PER_MINUTE
                self._snapshot(plan, "safety", at, at - US_PER_HOUR)
            if plan.lost_publishes is not None:
                self._catch_up(plan, plan.lost_publishes, hour_us)

    def _entry(self, plan: StudyPlan, site: tuple[str, str, str], entered_us: int) -> None:
        rng = self.rng
        site_id, country, vendor = site
        records = self._records[plan.study_id]
        roll = rng.random()
        if records and roll < 0.2:
            record_id, action = rng.choice(records[-500:]), "update"
        elif records and roll < 0.22:
            record_id, action = rng.choice(records[-500:]), "delete"
        else:
            record_id, action = self._next_id(f"{plan.study_id}-rec"), "create"
            records.append(record_id)
        subject = f"{site_id}-S{rng.randrange(1, 60):03d}"
        document = {
            "schema": "edc.entry/1",
            "event_id": self._next_id("ent"),
            "study_id": plan.study_id,
            "site_id": site_id,
            "subject_id": subject,
            "form_id": rng.choice(("DM", "VS", "AE", "LB", "CM", "EX")),
            "record_id": record_id,
            "entered_at": format_timestamp(entered_us),
            "country": country,
            "vendor": vendor,
            "action": action,
            "visit_date": _visit_date(entered_us, rng.randrange(0, 5), site_id),
        }
        if site_id == LATE_SITE:
            # Nightly batch: reaches Kafka at the next 02:00, hours after entry.
            arrival = (entered_us // US_PER_DAY + 1) * US_PER_DAY + 2 * US_PER_HOUR
        elif vendor == SLOW_VENDOR:
            arrival = entered_us + rng.randrange(4 * 3600, 14 * 3600) * 1_000_000
        else:
            arrival = entered_us + rng.randrange(1, 120) * 1_000_000
        self._emit(arrival, "entries", document)
        for dashboard in plan.dashboards:
            if plan.publish == "records" and dashboard == "default":
                # The dashboard pipeline sees the record once it reached Kafka.
                self._unpublished.setdefault((plan.study_id, dashboard), {})[record_id] = None
        self._arrival_of[record_id] = arrival
        if len(plan.stages) > 1 and plan.publish == "records":
            # The first stage (extraction out of the EDC) completes when the entry reaches
            # Kafka: the vendor's queue is its duration.
            self._stage(plan, plan.stages[0][0], arrival, [record_id])
        if rng.random() < 0.06:
            self._query(plan, site, entered_us)

    def _publish(self, plan: StudyPlan, published_us: int) -> None:
        if plan.publish == "snapshot":
            cutoff = published_us - 30 * US_PER_MINUTE
            if plan.publish_every_h == 24:
                cutoff = (published_us // US_PER_DAY) * US_PER_DAY  # nightly: up to midnight
            self._snapshot(plan, "default", published_us, cutoff)
            return
        waiting = self._unpublished.get((plan.study_id, "default"), {})
        arrived = [r for r in waiting if self._arrival_of.get(r, 0) <= published_us]
        if not arrived:
            return
        for record_id in arrived:
            del waiting[record_id]
        for middle in plan.stages[1:-1]:
            # The stages between extraction and the publish finish minutes before it.
            done = published_us - self._stage_rng.randrange(1, 5) * US_PER_MINUTE
            for start in range(0, len(arrived), 200):
                self._stage(plan, middle[0], done, arrived[start : start + 200])
        for start in range(0, len(arrived), 200):
            self._emit(published_us, "publishes", {
                "schema": "dashboard.publish/1", "event_id": self._next_id("pub"),
                "study_id": plan.study_id, "published_at": format_timestamp(published_us),
                "record_ids": arrived[start : start + 200], "dashboard": "default",
            })  # fmt: skip

    def _stage(self, plan: StudyPlan, stage: str, completed_us: int, record_ids: list[str]) -> None:
        # Pushed, not emitted: no duplicate or invalid copies, no draw from self.rng and ids
        # of their own, so the other events are exactly what they were without stages.
        self._stage_ids.append(completed_us)
        self._push(completed_us, "publishes", orjson.dumps({
            "schema": "pipeline.stage/1", "event_id": f"stg-{len(self._stage_ids):09d}",
            "study_id": plan.study_id, "dashboard": "default", "stage": stage,
            "completed_at": format_timestamp(completed_us), "record_ids": record_ids,
        }))  # fmt: skip

    def _snapshot(self, plan: StudyPlan, dashboard: str, published_us: int, cutoff_us: int) -> None:
        self._emit(published_us, "publishes", {
            "schema": "dashboard.publish/1", "event_id": self._next_id("pub"),
            "study_id": plan.study_id, "published_at": format_timestamp(published_us),
            "data_cutoff": format_timestamp(cutoff_us), "dashboard": dashboard,
        }, lost=self._lost(plan, dashboard, published_us))  # fmt: skip

    def _lost(self, plan: StudyPlan, dashboard: str, published_us: int) -> bool:
        """Whether this publish falls in the dashboard's lost publishes (``lost_publishes``)."""
        if plan.lost_publishes is None or plan.lost_publishes[0] != dashboard:
            return False
        _dashboard, from_h, to_h = plan.lost_publishes
        hours = (published_us - self.start_us) // US_PER_HOUR
        return from_h <= hours < to_h

    def _catch_up(self, plan: StudyPlan, lost: tuple[str, int, int], hour_us: int) -> None:
        # Pushed, not emitted, with an id of its own (as stage events): no draw from self.rng.
        dashboard, _from_h, to_h = lost
        if hour_us != self.start_us + to_h * US_PER_HOUR:
            return
        published_us = hour_us + CATCH_UP_MINUTES * US_PER_MINUTE
        self._push(published_us, "publishes", orjson.dumps({
            "schema": "dashboard.publish/1", "event_id": f"pub-catch-up-{plan.study_id}-{dashboard}",
            "study_id": plan.study_id, "published_at": format_timestamp(published_us),
            "data_cutoff": format_timestamp(published_us - 30 * US_PER_MINUTE),
            "dashboard": dashboard,
        }))  # fmt: skip

    def _query(self, plan: StudyPlan, site: tuple[str, str, str], entered_us: int) -> None:
        rng = self.rng
        query_id = self._next_id("qry")
        base = {
            "schema": "edc.query/1", "query_id": query_id, "study_id": plan.study_id,
            "site_id": site[0], "country": site[1], "vendor": site[2],
            "origin": rng.choice(("manual", "edit-check")),
        }  # fmt: skip
        at = entered_us + rng.randrange(1, 72) * US_PER_HOUR
        steps = [("opened", at)]
        answer_hours = (24 * 15, 24 * 45) if site[1] == SLOW_ANSWER_COUNTRY else (6, 24 * 20)
        for _cycle in range(2):
            if rng.random() < 0.12:
                break  # never answered: ages past 30 days
            at += rng.randrange(*answer_hours) * US_PER_HOUR
            steps.append(("answered", at))
            if rng.random() < 0.05:
                at += rng.randrange(1, 48) * US_PER_HOUR
                steps.append(("cancelled", at))
                break
            at += rng.randrange(2, 24 * 8) * US_PER_HOUR
            steps.append(("closed", at))
            if rng.random() < 0.85:
                break
            at += rng.randrange(1, 5) * US_PER_DAY  # reopened: the answer did not hold
            steps.append(("opened", at))
        for status, occurred in steps:
            self._emit(occurred + rng.randrange(1, 60) * 1_000_000, "queries", {
                **base, "event_id": self._next_id("qev"), "status": status,
                "occurred_at": format_timestamp(occurred),
            })  # fmt: skip


def _stage_settings(stages: tuple[tuple[str, str, float | None], ...]) -> list[dict[str, object]]:
    return [
        {"name": name, "owner": owner, **({} if budget_h is None else {"budget": budget_h * 3600})}
        for name, owner, budget_h in stages
    ]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
