"""LEGACY: the shard items written before the wire carried whole events (kinds 0, 1, 2).

During a rolling upgrade the shard topic still holds messages of the previous
version: a JSON array of positional items ``[kind, topic index, counted, fields...]``
with kind 0 an entry, 1 a publish, 2 a query, and no subject id (read back as "").
This module is the only reader of that layout and is kept for one release; delete
it (and its three classes in ``sharding._decode_items``) once no shard topic can hold such
a message (its retention after every worker runs the new version).
"""

from __future__ import annotations

from msgspec import Struct

from schemas.events import EntryEvent, Event, PublishEvent, QueryEvent

_LAYOUT = {"frozen": True, "array_like": True, "gc": False}


class LegacyEntryItem(Struct, tag=0, **_LAYOUT):
    topic_index: int
    counted: bool
    event_id: str
    study_id: str
    site_id: str
    form_id: str
    record_id: str
    entered_at: int
    country: str | None
    vendor: str | None
    action: str

    def item(self) -> tuple[int, bool, Event]:
        return self.topic_index, self.counted, EntryEvent(
            event_id=self.event_id, study_id=self.study_id, site_id=self.site_id,
            subject_id="", form_id=self.form_id, record_id=self.record_id,
            entered_at=self.entered_at, country=self.country, vendor=self.vendor,
            action=self.action,  # type: ignore[arg-type]
        )  # fmt: skip


class LegacyPublishItem(Struct, tag=1, **_LAYOUT):
    topic_index: int
    counted: bool
    event_id: str
    study_id: str
    published_at: int
    record_ids: list[str] | None
    data_cutoff: int | None
    dashboard: str

    def item(self) -> tuple[int, bool, Event]:
        return self.topic_index, self.counted, PublishEvent(
            event_id=self.event_id, study_id=self.study_id, published_at=self.published_at,
            record_ids=self.record_ids, data_cutoff=self.data_cutoff, dashboard=self.dashboard,
        )  # fmt: skip


class LegacyQueryItem(Struct, tag=2, **_LAYOUT):
    topic_index: int
    counted: bool
    event_id: str
    query_id: str
    study_id: str
    site_id: str
    status: str
    occurred_at: int
    country: str | None
    vendor: str | None

    def item(self) -> tuple[int, bool, Event]:
        return self.topic_index, self.counted, QueryEvent(
            event_id=self.event_id, query_id=self.query_id, study_id=self.study_id,
            site_id=self.site_id, status=self.status,  # type: ignore[arg-type]
            occurred_at=self.occurred_at, country=self.country, vendor=self.vendor,
        )  # fmt: skip
