"""A JSONL input shaped like a real audit export, deterministic by seed, written fast.

What an inspection replays, unlike the simulator's mix (few queries, small publishes):

* four studies (the ones of ``deploy/simulated-studies.toml``) over 95 days, sites in
  several countries, each run by a vendor (FSP); ONC-301 has a second dashboard;
* about one third of the lines are query events: opened, answered, closed, cancelled,
  reopened (an ``opened`` after a close), some still open after 30 days, and some
  orphans (a query whose ``opened`` never reached the topic);
* record-level publishes every 30 minutes naming the records due (tens each), and a
  nightly snapshot publish per study and dashboard (cutoff three days back);
* a publishing outage: no publish at all for four days; the records due meanwhile
  are published when it ends;
* with ``stages=True``, pipeline stage events for ONC-301's default dashboard (its stages
  in ``deploy/simulated-studies.toml``): extract and transform minutes before each
  record publish, drawn from a generator of their own and never late, duplicated or
  invalid, so every other line is the same as without them;
* 1% of events arrive hours late; 2% of lines are duplicates (one in ten of them
  conflicting: same event id, different content; the first line wins); 0.1% of
  lines are invalid (not JSON, no offset on a timestamp, a missing field).

Events are generated into per-day buckets of arrival time and each day is sorted
and written when done: one pass, memory of a few days, ~5 s per 1M lines.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from schemas.timestamps import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND

START_US = 1_767_571_200_000_000  # 2026-01-05T00:00:00Z
DAYS = 95
OUTAGE_DAYS = (40, 44)  # [from, to): no publishes
AS_OF = "2026-04-10T00:00:00Z"  # the morning after the last day
PUBLISH_EVERY_US = 30 * US_PER_MINUTE
SNAPSHOT_LAG_US = 3 * US_PER_DAY

# (study id, dashboards, sites as (site id, country, vendor), share of the volume)
STUDIES: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str, str], ...], float], ...] = (
    ("ONC-301", ("default", "safety"),
     (("DE-101", "DE", "FSP-Alpha"), ("DE-102", "DE", "FSP-Alpha"),
      ("FR-201", "FR", "FSP-Beta"), ("ES-301", "ES", "FSP-Beta")), 0.35),
    ("CV-204", ("default",),
     (("US-401", "US", "FSP-Gamma"), ("US-402", "US", "FSP-Gamma"),
      ("CA-501", "CA", "FSP-Gamma")), 0.3),
    ("NEU-112", ("default",), (("GB-601", "GB", "FSP-Alpha"), ("NL-701", "NL", "FSP-Beta")), 0.2),
    ("RES-417", ("default",), (("PL-801", "PL", "FSP-Delta"), ("IT-901", "IT", "FSP-Delta")),
     0.15),
)  # fmt: skip
FORMS = ("DM", "VS", "AE", "CM", "LB", "EX", "MH")
ORIGINS = ("edit-check", "manual", "medical-review")

# Shares of the lines, measured on the output: ~0.33 query events, ~0.64 entries.
ENTRIES_PER_LINE = 0.62 / (5 / 7 + 2 / 28)  # weekends have a quarter
QUERIES_PER_ENTRY = 0.22  # each ~2.4 events


class _Clock:
    """RFC 3339 text of microsecond instants, the date part formatted once per day."""

    def __init__(self) -> None:
        self._dates: dict[int, str] = {}

    def __call__(self, us: int, micros: bool = True) -> str:
        day, rest = divmod(us, US_PER_DAY)
        date = self._dates.get(day)
        if date is None:
            date = self._dates[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime(
                "%Y-%m-%d"
            )
        seconds, fraction = divmod(rest, US_PER_SECOND)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        if micros:
            return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:06d}Z"
        return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


class _Writer:
    """Events into buckets of arrival day; a day is sorted and written once it is complete."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.buckets: dict[int, list[tuple[int, int, str]]] = {}
        # Stage events: merged in by arrival at flush, without a draw from rng.
        self.stage_buckets: dict[int, list[tuple[int, int, str]]] = {}
        self.stage_lines = 0  # written; invalid lines are numbered without them
        self.seq = 0
        self.lines = 0

    def add(self, time_us: int, line: str, late: bool = True) -> None:
        rng = self.rng
        arrival = time_us
        if late and rng.random() < 0.01:
            arrival += US_PER_HOUR + int(rng.random() * 35 * US_PER_HOUR)  # reaches Kafka late
        self._put(arrival, line)
        if rng.random() < 0.02:  # redelivered: at-least-once upstream
            again = arrival + US_PER_SECOND + int(rng.random() * 6 * US_PER_HOUR)
            if rng.random() < 0.1:  # a producer bug: same id, other content
                line = _conflicting(line, rng)
            self._put(again, line)

    def _put(self, arrival: int, line: str) -> None:
        self.seq += 1
        self.buckets.setdefault(arrival // US_PER_DAY, []).append((arrival, self.seq, line))

    def add_stage(self, time_us: int, line: str) -> None:
        self.seq += 1
        self.stage_buckets.setdefault(time_us // US_PER_DAY, []).append((time_us, self.seq, line))

    def flush(self, handle, up_to_day: int) -> None:  # type: ignore[no-untyped-def]
        days = {d for d in self.buckets if d <= up_to_day}
        days |= {d for d in self.stage_buckets if d <= up_to_day}
        for day in sorted(days):
            rows = self.buckets.pop(day, [])
            rows.sort()
            stages = sorted(self.stage_buckets.pop(day, []))
            rng = self.rng
            out = []
            for _arrival, _seq, line in rows:
                while stages and stages[0] < (_arrival, _seq):
                    out.append(stages.pop(0)[2])
                if rng.random() < 0.001:
                    out.append(_invalid(rng, self.lines - self.stage_lines))
                out.append(line)
            out += [line for _arrival, _seq, line in stages]
            self.stage_lines += sum(1 for line in out if line.startswith(_STAGE_PREFIX))
            self.lines += len(out)
            handle.write(("\n".join(out) + "\n").encode())


def _conflicting(line: str, rng: random.Random) -> str:
    """The same event id with other content: another status, or the event's time moved."""
    if '"status":"answered"' in line:
        return line.replace('"status":"answered"', '"status":"closed"')
    for field in ('"entered_at":"', '"occurred_at":"', '"published_at":"'):
        at = line.find(field)
        if at >= 0:
            minutes = at + len(field) + 14  # YYYY-MM-DDTHH:MM
            return line[:minutes] + f"{int(rng.random() * 60):02d}" + line[minutes + 2 :]
    return line


_INVALID = (
    '{"schema":"edc.entry/1","event_id":"bad-%d","study_id":"CV-204","site_id":"US-401"',
    '{"schema":"edc.entry/1","event_id":"bad-%d","study_id":"CV-204","site_id":"US-401",'
    '"subject_id":"S1","form_id":"VS","record_id":"r1","entered_at":"2026-02-01T10:00:00"}',
    '{"schema":"edc.query/1","event_id":"bad-%d","query_id":"q1","study_id":"NEU-112",'
    '"site_id":"GB-601","status":"escalated","occurred_at":"2026-02-01T10:00:00Z"}',
    '{"schema":"dashboard.publish/1","event_id":"bad-%d","study_id":"RES-417",'
    '"published_at":"2026-02-01T10:00:00Z"}',
    '{"schema":"edc.entry/1","event_id":"bad-%d","study_id":"ONC-301","site_id":"DE-101",'
    '"subject_id":"S1","form_id":"AE","entered_at":"2026-02-01T10:00:00Z"}',
)


def _invalid(rng: random.Random, n: int) -> str:
    return rng.choice(_INVALID) % n


_STAGE_PREFIX = '{"schema":"pipeline.stage/1"'
STAGED_STUDY = "ONC-301"  # its default dashboard: extract, transform, then the publish


def write_realistic_mix(
    path: Path, lines: int = 1_000_000, seed: int = 16, stages: bool = False
) -> int:
    """Write roughly ``lines`` lines (a few % more) to ``path``; returns how many were written."""
    rng = random.Random(seed)
    clock = _Clock()
    writer = _Writer(rng)
    staged = _Stages(random.Random(seed * 7919 + 23)) if stages else None
    entries_per_day = lines * ENTRIES_PER_LINE / DAYS
    counters = {"ent": 0, "pub": 0, "qev": 0, "qry": 0}

    def next_id(kind: str) -> str:
        counters[kind] += 1
        return f"{kind}-{counters[kind]:09d}"

    end_us = START_US + DAYS * US_PER_DAY
    outage = (START_US + OUTAGE_DAYS[0] * US_PER_DAY, START_US + OUTAGE_DAYS[1] * US_PER_DAY)
    # Per study: publish slot (multiple of PUBLISH_EVERY_US) -> record ids due then.
    due: dict[str, dict[int, list[str]]] = {study: {} for study, *_ in STUDIES}
    records: dict[str, list[str]] = {study: [] for study, *_ in STUDIES}
    with path.open("wb") as handle:
        for day in range(DAYS):
            day_us = START_US + day * US_PER_DAY
            for study, dashboards, sites, share in STUDIES:
                count = int(entries_per_day * share * rng.uniform(0.8, 1.2))
                if day % 7 in (5, 6):  # weekends are quiet
                    count //= 4
                _entries_of_day(study, sites, count, day_us, rng, clock, writer, next_id,
                                due[study], records[study], outage)  # fmt: skip
                _queries_of_day(study, sites, int(count * QUERIES_PER_ENTRY), day_us, end_us,
                                rng, clock, writer, next_id, records[study])  # fmt: skip
                _publishes_of_day(study, dashboards, day_us, rng, clock, writer, next_id,
                                  due[study], outage, staged)  # fmt: skip
            writer.flush(handle, (day_us // US_PER_DAY) - 2)  # late arrivals: up to 36 h
        writer.flush(handle, 1 << 40)
    return writer.lines


def _entries_of_day(study, sites, count, day_us, rng, clock, writer, next_id, due, records,
                    outage):  # type: ignore[no-untyped-def]  # fmt: skip
    for _ in range(count):
        site, country, vendor = sites[int(rng.random() * len(sites))]
        # Working hours mostly: 07:00-19:00 UTC.
        entered = day_us + 7 * US_PER_HOUR + int(rng.random() * 12 * US_PER_HOUR)
        if records and rng.random() < 0.25:  # a revision of a record entered earlier
            record = records[-1 - min(len(records) - 1, int(rng.expovariate(1 / 2000)))]
            action = "delete" if rng.random() < 0.02 else "update"
        else:
            record = f"{study}-rec-{len(records):08d}"
            records.append(record)
            action = "create"
        subject = f"{site}-S{int(rng.random() * 400):03d}"
        form = FORMS[int(rng.random() * 7)]
        line = (
            f'{{"schema":"edc.entry/1","event_id":"{next_id("ent")}","study_id":"{study}",'
            f'"site_id":"{site}","subject_id":"{subject}","form_id":"{form}",'
            f'"record_id":"{record}","entered_at":"{clock(entered)}","country":"{country}",'
            f'"vendor":"{vendor}","action":"{action}"}}'
        )
        writer.add(entered, line)
        if rng.random() < 0.01:
            continue  # never published: a record stuck in the pipeline
        # Most publish within hours, a tail takes days (the snapshot catches those).
        publish_at = entered + int(rng.lognormvariate(1.5, 1.0) * US_PER_HOUR)
        if outage[0] <= publish_at < outage[1]:
            publish_at = outage[1] + int(rng.random() * 12 * US_PER_HOUR)
        slot = -(-publish_at // PUBLISH_EVERY_US) * PUBLISH_EVERY_US
        due.setdefault(slot, []).append(record)


class _Stages:
    """Stage events of the staged study: their own generator and ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0

    def emit(self, writer: _Writer, clock: _Clock, slot: int, ids: str) -> None:
        # Extraction 10-25 min and the transform 1-9 min before the publish.
        for stage, low, high in (("extract", 10, 25), ("transform", 1, 9)):
            self.count += 1
            done = slot - (low + int(self.rng.random() * (high - low + 1))) * US_PER_MINUTE
            writer.add_stage(done, (
                f'{{"schema":"pipeline.stage/1","event_id":"stg-{self.count:09d}",'
                f'"study_id":"{STAGED_STUDY}","dashboard":"default","stage":"{stage}",'
                f'"completed_at":"{clock(done, False)}","record_ids":["{ids}"]}}'
            ))  # fmt: skip


def _publishes_of_day(study, dashboards, day_us, rng, clock, writer, next_id, due,
                      outage, staged=None):  # type: ignore[no-untyped-def]  # fmt: skip
    for slot in range(day_us, day_us + US_PER_DAY, PUBLISH_EVERY_US):
        if outage[0] <= slot < outage[1]:
            continue
        if slot == day_us + 2 * US_PER_HOUR:  # nightly snapshot, per dashboard
            for dashboard in dashboards:
                line = (
                    f'{{"schema":"dashboard.publish/1","event_id":"{next_id("pub")}",'
                    f'"study_id":"{study}","published_at":"{clock(slot, False)}",'
                    f'"data_cutoff":"{clock(slot - SNAPSHOT_LAG_US, False)}",'
                    f'"dashboard":"{dashboard}"}}'
                )
                writer.add(slot, line, late=False)
        names = due.pop(slot, None)
        if not names:
            continue
        # Records of entries seen in the same slot appear once per publish.
        names = list(dict.fromkeys(names))
        for dashboard in dashboards:
            if dashboard != "default" and rng.random() < 0.5:
                continue  # the safety dashboard refreshes less often: the snapshot covers it
            for start in range(0, len(names), 60):
                chunk = names[start : start + 60]
                ids = '","'.join(chunk)
                if staged is not None and study == STAGED_STUDY and dashboard == "default":
                    staged.emit(writer, clock, slot, ids)
                line = (
                    f'{{"schema":"dashboard.publish/1","event_id":"{next_id("pub")}",'
                    f'"study_id":"{study}","published_at":"{clock(slot, False)}",'
                    f'"record_ids":["{ids}"],"dashboard":"{dashboard}"}}'
                )
                writer.add(slot, line, late=False)


def _queries_of_day(study, sites, count, day_us, end_us, rng, clock, writer, next_id,
                    records):  # type: ignore[no-untyped-def]  # fmt: skip
    for _ in range(count):
        site, country, vendor = sites[int(rng.random() * len(sites))]
        query = next_id("qry")
        record = records[int(rng.random() * len(records))] if records else ""
        head = (
            f'{{"schema":"edc.query/1","query_id":"{query}","study_id":"{study}",'
            f'"site_id":"{site}","country":"{country}","vendor":"{vendor}",'
            f'"record_id":"{record}","origin":"{ORIGINS[int(rng.random() * 3)]}","event_id":"'
        )
        at = day_us + 7 * US_PER_HOUR + int(rng.random() * 12 * US_PER_HOUR)
        steps = ["opened"]
        if rng.random() < 0.01:
            steps = []  # its opening never reached the topic: the rest are orphans
        if rng.random() < 0.85:
            steps.append("answered")
            if rng.random() < 0.9:
                steps.append("cancelled" if rng.random() < 0.06 else "closed")
                if rng.random() < 0.05:
                    steps += ["opened", "answered", "closed"]  # reopened
        if not steps:
            steps = ["answered", "closed"]
        for status in steps:
            if at >= end_us:
                break  # not happened yet when the export was taken
            line = f'{head}{next_id("qev")}","status":"{status}","occurred_at":"{clock(at)}"}}'
            writer.add(at, line)
            # Sites answer in days (a tail beyond 30 days), data management closes sooner.
            days = rng.lognormvariate(1.0, 1.1) if status == "opened" else rng.expovariate(0.7)
            at += int(days * US_PER_DAY) + int(rng.random() * US_PER_HOUR)


if __name__ == "__main__":
    import sys
    import time

    started = time.perf_counter()
    n = write_realistic_mix(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000)
    print(f"{n} lines in {time.perf_counter() - started:.1f}s", file=sys.stderr)
