"""Every configuration setting of the monitor, with its default and its meaning: one object.

Sources, later ones winning: defaults, an optional TOML file named by
``EDC_LATENCY_CONFIG`` (or ``--config``), then environment variables
``EDC_LATENCY_<FIELD>`` (``KAFKA_BOOTSTRAP_SERVERS`` is honoured as is), then
the arguments of ``load_settings``. pydantic-settings reads and orders them
(``Settings.settings_customise_sources``). Wrong configuration fails at start
with one clear line per problem.

Durations are written ``90s``, ``15m``, ``24h``, ``7d`` or as plain seconds.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from datetime import time
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from agents.errors import ConfigurationError
from schemas.timestamps import US_PER_SECOND, parse_timestamp_us
from streams.config import BREAKDOWN_DIMENSIONS, EngineConfig, StageConfig, StudyConfig
from streams.schedules import WEEKDAYS, IntervalSchedule, WeeklySchedule

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
# Longer than any setting needs; beyond it, timers and millisecond fields of the Kafka
# clients overflow (OverflowError at start, or much later).
MAX_DURATION_S = 3650 * 86400.0
# Faust refuses a session timeout above its request timeout (broker_request_timeout,
# 90 s by default, which we do not change); brokers refuse one below their
# group.min.session.timeout.ms (6 s by default).
SESSION_TIMEOUT_RANGE_S = (6.0, 90.0)


def parse_duration_s(value: object) -> float:
    """``"24h"`` → 86400.0; numbers are seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 24h, 7d)")
    if not seconds > 0:  # NaN too
        raise ValueError("a duration must be positive")
    if not seconds <= MAX_DURATION_S:  # inf (TOML has it) and absurd values would overflow
        raise ValueError("a duration must be at most 3650d (ten years)")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration_s)]


def _duration_or_off(value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    return parse_duration_s(value)


OptionalDuration = Annotated[float | None, BeforeValidator(_duration_or_off)]


_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleSettings(BaseModel):
    """A dashboard's publish schedule (streams/schedules.py): ``every`` (an interval, from
    ``anchor``), or ``at`` local times in ``zone`` on ``weekdays``."""

    model_config = ConfigDict(extra="forbid")

    every: Duration | None = Field(default=None, description="A publish every this long.")
    anchor: str | None = Field(
        default=None,
        description="RFC 3339 instant one publish of an interval falls on (default: the Unix "
        "epoch: every 6h is at 00:00, 06:00, 12:00, 18:00 UTC).",
    )
    at: tuple[str, ...] = Field(default=(), description="Local times, HH:MM (24 h).")
    zone: str | None = Field(default=None, description="IANA time zone of `at`.")
    weekdays: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = Field(
        default=WEEKDAYS, min_length=1, description="Days of `at` (default: every day)."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleSettings:
        if (self.every is None) == (not self.at):
            raise ValueError("a schedule is either `every` or `at` (with `zone`), not both")
        if self.at:
            bad = [value for value in self.at if not _CLOCK_TIME.match(value)]
            if bad:
                raise ValueError("`at` takes local times as HH:MM, 00:00 to 23:59")
            if self.zone is None:
                raise ValueError("`at` needs a `zone` (an IANA time zone, e.g. Europe/Berlin)")
            try:
                ZoneInfo(self.zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("`zone` is not a known IANA time zone") from None
        elif self.zone is not None or (self.anchor is not None and not _is_timestamp(self.anchor)):
            raise ValueError("`zone` goes with `at`; `anchor` is an RFC 3339 instant")
        return self

    def schedule(self) -> IntervalSchedule | WeeklySchedule:
        if self.every is not None:
            anchor = 0 if self.anchor is None else parse_timestamp_us(self.anchor)
            return IntervalSchedule(round(self.every * US_PER_SECOND), anchor)
        return WeeklySchedule(
            tuple(time(int(value[:2]), int(value[3:])) for value in sorted(set(self.at))),
            self.zone,  # type: ignore[arg-type]
            tuple(sorted({WEEKDAYS.index(day) for day in self.weekdays})),
        )


def _is_timestamp(value: str) -> bool:
    try:
        parse_timestamp_us(value)
    except ValueError:
        return False
    return True

class StageSettings(BaseModel):
    """One stage of a dashboard's pipeline (docs/design.md, "Pipeline stages")."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, description="As stage events name it.")
    owner: str = Field(
        min_length=1,
        max_length=128,
        description="Who the stage's delays are charged to: 'site', 'sponsor' (the sponsor's "
        "platform), or the name of the FSP that runs it (as entries name their vendor).",
    )
    budget: OptionalDuration = Field(
        default=None,
        description="The p95 of the stage's durations it may reach; above it "
        "EdcStageOverBudget opens a ticket. Unset: no alert for the stage.",
    )

    @model_validator(mode="after")
    def _budget_is_positive(self) -> StageSettings:
        if self.budget is not None and self.budget <= 0:
            raise ValueError("a stage's budget must be positive")
        return self


class StudySettings(BaseModel):
    """Per-study overrides: the latency SLA and the dashboards its data must reach."""

    model_config = ConfigDict(extra="forbid")

    sla: Duration = Field(default=24 * 3600.0, description="Data-latency target.")
    dashboards: tuple[str, ...] = Field(default=("default",), min_length=1)
    publish_stall_after: dict[str, Duration] = Field(
        default_factory=dict,
        description="Per dashboard of the study: how long without a publish, while entries "
        "wait, before EdcPublishingStalled pages; set it from the dashboard's schedule (a "
        "nightly publish: a little over a day). Dashboards not named here use "
        "default_publish_stall_after.",
    )
    schedules: dict[str, ScheduleSettings] = Field(
        default_factory=dict,
        description="Per dashboard of the study: when it publishes (docs/design.md, 'What will "
        "breach next'). A dashboard not named here has its cadence learned from its own "
        "publishes.",
    )
    certain_breach_page_min: int | None = Field(
        default=None,
        ge=1,
        description="This study's minimum of certain breaches before EdcPublishNow pages "
        "(default: certain_breach_page_min).",
    )
    data_stale_after: dict[str, Duration] = Field(
        default_factory=dict,
        description="Per dashboard of the study: how old the newest data it shows may be (data "
        "freshness: the clock minus its newest snapshot cutoff, or the newest entry record "
        "publishes made visible) for a minute to count as good in the data-integration uptime "
        "(docs/kpis.md, \"Freshness and uptime\"). Dashboards not named here use "
        "default_data_stale_after.",
    )

    stages: dict[str, list[StageSettings]] = Field(
        default_factory=dict,
        description="Per dashboard of the study: its pipeline's stages in order, the last "
        "being the one the dashboard's publish completes (e.g. extract, transform, load). "
        "Stage and owner names become metric labels: only these names. Dashboards not named "
        "have no stages, and stage events for them are dead-lettered.",
    )

    @model_validator(mode="after")
    def _stages_name_dashboards(self) -> StudySettings:
        unknown = sorted(set(self.stages) - set(self.dashboards))
        if unknown:
            raise ValueError(f"stages names dashboards the study lacks: {unknown}")
        for dashboard, stages in self.stages.items():
            names = [stage.name for stage in stages]
            if not names or len(set(names)) != len(names):
                raise ValueError(f"the stages of dashboard {dashboard!r} must be named, each once")
        return self

    def stage_configs(self) -> dict[str, tuple[StageConfig, ...]]:
        return {
            dashboard: tuple(
                StageConfig(
                    stage.name,
                    stage.owner,
                    None if stage.budget is None else round(stage.budget * US_PER_SECOND),
                )
                for stage in stages
            )
            for dashboard, stages in self.stages.items()
        }

    @model_validator(mode="after")
    def _stall_thresholds_name_dashboards(self) -> StudySettings:
        unknown = sorted(set(self.publish_stall_after) - set(self.dashboards))
        if unknown:
            raise ValueError(f"publish_stall_after names dashboards the study lacks: {unknown}")
        unknown = sorted(set(self.schedules) - set(self.dashboards))
        if unknown:
            raise ValueError(f"schedules name dashboards the study lacks: {unknown}")
        unknown = sorted(set(self.data_stale_after) - set(self.dashboards))
        if unknown:
            raise ValueError(f"data_stale_after names dashboards the study lacks: {unknown}")
        if any(value <= 0 for value in self.publish_stall_after.values()):
            raise ValueError("publish_stall_after must be positive")
        return self


class _TomlFile(TomlConfigSettingsSource):
    """The TOML file's values of the settings no earlier source gives.

    pydantic-settings deep-merges its sources; here a setting given in the
    environment replaces the file's whole value (a ``studies`` table too), as an
    operator overriding one setting expects. Compared by setting, not by key: the
    environment names ``bootstrap_servers`` by an alias, and whether the file's key
    is renamed to that alias differs between pydantic-settings releases.
    """

    def __call__(self) -> dict[str, Any]:
        setting = _setting_of_key(self.settings_cls)
        given = {setting.get(key.lower(), key) for key in self.current_state}
        return {
            key: value
            for key, value in super().__call__().items()
            if setting.get(key.lower(), key) not in given
        }


def _setting_of_key(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Every key a source may give a setting under (its name, its aliases), lower-cased."""
    names: dict[str, str] = {}
    for name, field in settings_cls.model_fields.items():
        names[name] = name
        alias = field.validation_alias
        for choice in alias.choices if isinstance(alias, AliasChoices) else [alias]:
            if isinstance(choice, str):
                names[choice.lower()] = name
    return names


# The file of the Settings being built by load_settings (a source cannot take arguments).
_config_file: ContextVar[Path | None] = ContextVar("edc_latency_config_file", default=None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EDC_LATENCY_", extra="forbid", populate_by_name=True
    )

    # --- Kafka -------------------------------------------------------------------
    bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EDC_LATENCY_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="host:port[,host:port]. Also read from KAFKA_BOOTSTRAP_SERVERS. "
        "Unset: `edc-latency demo` starts an embedded broker.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(
        default=None,
        description="Prefer EDC_LATENCY_SASL_PASSWORD to the file. Kept as a secret: shown as "
        "'**********' in reprs, logs and errors; only the Kafka clients read its value.",
    )
    ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL); "
        "unset: the system's trust store.",
    )
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    app_id: str = Field(
        default="edc-latency",
        description="Consumer group and prefix of the internal topics.",
    )
    topic_entries: str = "edc.entries"
    topic_queries: str = "edc.queries"
    topic_publishes: str = "dashboard.publishes"
    topic_deadletter: str = "edc.deadletter"
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        default="lz4",
        description="Codec of the batches the worker writes (shard, checkpoint and dead-letter "
        "topics). Reading decodes all of them whatever this says.",
    )
    session_timeout: Duration = Field(
        default=10.0,
        description="How soon a worker that died without leaving is dropped from the group "
        "and its shards handed to the others.",
    )
    shard_partitions: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="Partitions of the internal shard topic: the unit of scale-out.",
    )

    replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replication of the topics the worker creates (internal ones, dead-letter). "
        "Unset: the broker's default.replication.factor. Production: 3.",
    )
    shard_topic_retention: Duration = Field(
        default=30 * 86400.0,
        description="retention.ms of the shard topic the worker creates. A shard without a "
        "usable checkpoint is rebuilt from it: keep it longer than the oldest entry that may "
        "still be pending and the oldest query that may still be open.",
    )

    # --- what is measured ----------------------------------------------------------
    default_sla: Duration = Field(default=24 * 3600.0, description="SLA of studies not listed.")
    default_dashboards: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("default",), min_length=1
    )
    default_publish_stall_after: Duration = Field(
        default=6 * 3600.0,
        gt=0,
        description="How long a dashboard may go without a publish while entries wait before "
        "EdcPublishingStalled pages (exported as edc_publish_stall_after_seconds); per "
        "dashboard: studies.<id>.publish_stall_after.",
    )
    default_data_stale_after: Duration = Field(
        default=24 * 3600.0,
        gt=0,
        description="How old the newest data a dashboard shows may be for a minute to count as "
        "good in the data-integration uptime (exported as edc_data_stale_after_seconds); per "
        "dashboard: studies.<id>.data_stale_after.",
    )
    studies: dict[str, StudySettings] = Field(default_factory=dict)
    breakdown: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Optional label dimensions among site, country, vendor (comma-separated).",
    )
    visit_to_entry_medium: Duration = Field(
        default=5 * 86400.0,
        ge=0,
        description="Visit to entry above this counts an entry over the medium threshold "
        "(edc_visit_to_entry_over_threshold_total{level=\"medium\"}; docs/contract.md, "
        "'Visit to entry').",
    )
    visit_to_entry_high: Duration = Field(
        default=7 * 86400.0,
        ge=0,
        description="Visit to entry above this counts an entry over the high threshold "
        "(level=\"high\"); at least visit_to_entry_medium.",
    )
    retention: Duration = Field(
        default=7 * 86400.0,
        description="How long published entries, publishes, closed queries and event ids are "
        "kept for late data (event time).",
    )
    max_event_ids: int = Field(
        default=250_000,
        ge=1000,
        description="Event ids each shard engine remembers for the duplicate check, at most; "
        "beyond it the oldest event hours' ids are forgotten first (counted in "
        "edc_event_ids_evicted_total), and a repeat of one counts again. About 120 bytes an "
        'id of 20 characters, 225 of 128 (docs/design.md, "Duplicates"). The replay keeps '
        "every id.",
    )
    time_left_edges: Annotated[tuple[Duration, ...], NoDecode] = Field(
        default=(3600.0, 4 * 3600.0, 86400.0),
        min_length=1,
        description="Edges of the time-left buckets of pending entries (comma-separated "
        "durations, ascending): breached, under each edge, later (edc_pending_by_time_left_"
        "entries; report.json at_risk).",
    )
    schedule_grace: Duration = Field(
        default=1800.0,
        description="How late a scheduled (or learned) publish may come before it counts as "
        "missed (edc_publish_schedule_missed, EdcPublishScheduleMissed).",
    )
    cadence_min_gap: Duration = Field(
        default=300.0,
        description="Publishes of a dashboard closer together than this are one publish to its "
        "learned cadence (a publish split in parts).",
    )
    certain_breach_page_min: int = Field(
        default=5,
        ge=1,
        description="EdcPublishNow pages only when at least this many entries of a study's "
        "dashboard will certainly breach before its next publish (one entry in a small study "
        "does not page at night; per study: studies.<id>.certain_breach_page_min). Exported "
        "as edc_certain_breach_page_min.",
    )
    retention_max_hold: Duration = Field(
        default=90 * 86400.0,
        description="How far an input that lags the others may hold the retention horizon "
        "back (event time): the bound on the state it keeps (docs/design.md, 'Retention').",
    )
    input_idle_after: Duration = Field(
        default=300.0,
        description="An input partition with no new message for this long (wall clock) stops "
        "holding the shards' low watermark back; logged and counted in "
        "edc_input_partitions_idle_total.",
    )
    clock: Literal["wall", "event"] = Field(
        default="wall",
        description="'wall': ages use the wall clock; 'event': the newest event time seen "
        "(simulated or replayed input).",
    )
    checkpoint_interval: Duration = Field(
        default=30.0, description="How often engine state is checkpointed to Kafka."
    )
    checkpoint_signing_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Signs each checkpoint (HMAC-SHA256) and, when set, only checkpoints signed "
        "with it or with checkpoint_verify_keys are restored: produce rights on the checkpoint "
        "topic alone can then not forge one. At least 32 characters; same on every worker. "
        "Prefer EDC_LATENCY_CHECKPOINT_SIGNING_KEY to the file (docs/operations.md, rotation).",
    )
    checkpoint_verify_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="Further keys whose signatures are accepted when restoring, never used to "
        "sign (comma-separated): the previous key during a rotation.",
    )
    checkpoint_max_state_bytes: int = Field(
        default=256 << 20,
        ge=1 << 20,
        le=1 << 40,
        description="A checkpoint declaring or holding a larger decompressed state is refused "
        "before it is parsed (a crafted one must not exhaust memory) and the shard rebuilt from "
        "its topic. Restoring takes several times this in memory: keep it well under the "
        "worker's memory limit.",
    )

    startup_timeout: Duration = Field(
        default=30.0,
        description="How long start-up waits for the brokers (connection, TLS and SASL "
        "handshakes, metadata) before it fails with one line saying what was tried.",
    )

    # --- what input is believed (schemas/limits.py; the replay applies the same) ----
    max_message_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        le=64 << 20,
        description="Largest input value parsed; larger ones are dead-lettered with their "
        "size, the copy cut to this size. Also the largest shard message built; the "
        "producer's request limit is this plus 64 KiB (keep it under the brokers' "
        "message.max.bytes).",
    )
    max_future_skew: OptionalDuration = Field(
        default=3600.0,
        description="Events dated further than this after the Kafka timestamp of their message "
        "(LogAppendTime where the topic has it, else CreateTime; the worker also never "
        "believes one later than its wall clock, whatever the clock setting) are "
        "dead-lettered and never move the watermark; the replay judges the same against the "
        "timestamps an export or the topics keep. 'off' disables the check.",
    )

    # --- bounded cardinality (docs/metrics.md, "Labels and series count") ----------
    max_studies: int = Field(
        default=200,
        ge=1,
        description="Studies one worker admits: configured ones always, others first come "
        "up to this many; events of further studies are dead-lettered and counted in "
        "edc_events_over_cardinality_total.",
    )
    admit_only_configured_studies: bool = Field(
        default=False,
        description="Admit only the studies listed under [studies]: events of any other "
        "study id are dead-lettered (reason 'study_id: not a configured study') and counted "
        "in edc_events_over_cardinality_total, so made-up study ids cannot fill max_studies "
        "and lock real studies out.",
    )
    max_groups_per_study: int = Field(
        default=500,
        ge=1,
        description="Breakdown groups (distinct site/country/vendor combinations) admitted "
        "per study when the breakdown is on; further ones are dead-lettered and counted.",
    )

    # --- audit replay -----------------------------------------------------------------
    replay_max_lookback: Duration = Field(
        default=366 * 86400.0,
        description="Without --since, the audited period starts at the first event time, "
        "but never more than this before --as-of (a far-past event cannot stretch it).",
    )
    replay_max_windows: int = Field(
        default=2000,
        ge=1,
        description="Most windows a replay computes; a longer period starts later (said in "
        "the report), or is refused when --since asks for it.",
    )

    replay_max_invalid_listed: int = Field(
        default=1000,
        ge=0,
        description="Invalid lines the replay lists in report.json with their number and "
        "reason; the rest are counted per reason (numbers written '#') under "
        "invalid_not_listed, so a file of junk cannot make the report huge.",
    )

    # --- metrics endpoint ----------------------------------------------------------
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_refresh_interval: Duration = Field(
        default=0.25,
        description="A scrape is answered from the last collection when it is younger than "
        "this: 200 concurrent scrapes cost one collection, not 200.",
    )
    http_header_timeout: Duration = Field(
        default=5.0,
        description="A connection that has not sent its request headers by then "
        "is closed (slow or half-sent requests).",
    )
    http_max_connections: int = Field(
        default=256,
        ge=1,
        description="Open connections to the metrics endpoint; further ones are closed at once.",
    )
    partition_stall_after: Duration = Field(
        default=120.0,
        description="/readyz turns false, naming the partition, and edc_input_partitions_stuck "
        "counts it, when an assigned input partition's committed offset has not moved for "
        "this long while messages read from it wait (agents/live/stalls.py).",
    )
    broker_unreachable_after: Duration = Field(
        default=30.0,
        description="/readyz turns false when the broker has not answered the worker's own "
        "requests (a probe every few seconds) for this long.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: load_settings' arguments, the environment, the TOML file (defaults last).
        path = _config_file.get()
        file = (_TomlFile(settings_cls, toml_file=path),) if path else ()
        return (init_settings, env_settings, *file)

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "breakdown",
        "default_dashboards",
        "checkpoint_verify_keys",
        "time_left_edges",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("time_left_edges")
    @classmethod
    def _ascending_edges(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError("time_left_edges must be strictly ascending")
        return value

    @field_validator("breakdown")
    @classmethod
    def _known_dimensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [d for d in value if d not in BREAKDOWN_DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; choose from {BREAKDOWN_DIMENSIONS}")
        return tuple(d for d in BREAKDOWN_DIMENSIONS if d in value)  # canonical order

    @field_validator("visit_to_entry_high")
    @classmethod
    def _high_not_below_medium(cls, value: float, info: ValidationInfo) -> float:
        medium = info.data.get("visit_to_entry_medium")
        if medium is not None and value < medium:
            raise ValueError("must be at least visit_to_entry_medium")
        return value

    @field_validator("checkpoint_verify_keys")
    @classmethod
    def _verify_keys_need_a_signing_key(
        cls, value: tuple[SecretStr, ...], info: ValidationInfo
    ) -> tuple[SecretStr, ...]:
        if value and info.data.get("checkpoint_signing_key") is None:
            raise ValueError("set checkpoint_signing_key too: it signs what the worker writes")
        if any(len(key.get_secret_value()) < 32 for key in value):
            raise ValueError("each key has at least 32 characters")
        return value

    @model_validator(mode="after")
    def _sasl_needs_a_sasl_protocol(self) -> Settings:
        # A cross-field rule: a mechanism with a non-SASL protocol would be ignored by the
        # clients, and the login never made.
        if self.sasl_mechanism and not self.security_protocol.startswith("SASL"):
            raise ValueError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol}; "
                "use SASL_PLAINTEXT or SASL_SSL"
            )
        return self

    @field_validator("session_timeout")
    @classmethod
    def _within_faust_limits(cls, value: float) -> float:
        low, high = SESSION_TIMEOUT_RANGE_S
        if value > high:
            raise ValueError(
                f"at most {high:g}s: Faust's request timeout, which a session may not exceed"
            )
        if value < low:
            raise ValueError(
                f"at least {low:g}s: brokers refuse shorter sessions (group.min.session.timeout.ms)"
            )
        return value

    @property
    def producer_max_request_size(self) -> int:
        # Headroom over the largest value we send: key, headers and the batch framing.
        return self.max_message_bytes + (64 << 10)

    @property
    def input_topics(self) -> tuple[str, str, str]:
        return (self.topic_entries, self.topic_queries, self.topic_publishes)

    @property
    def compression_type(self) -> str | None:
        """The codec as Kafka clients name it (None: uncompressed)."""
        return None if self.compression == "none" else self.compression

    @property
    def shard_topic(self) -> str:
        return f"{self.app_id}.shards"

    @property
    def checkpoint_topic(self) -> str:
        return f"{self.app_id}.checkpoints"

    def publish_stall_after_s(self, study_id: str, dashboard: str) -> float:
        """The publishing-stall threshold of one study's dashboard (its configuration, or
        the default)."""
        study = self.studies.get(study_id)
        if study is not None and dashboard in study.publish_stall_after:
            return study.publish_stall_after[dashboard]
        return self.default_publish_stall_after

    def certain_breach_page_min_of(self, study_id: str) -> int:
        study = self.studies.get(study_id)
        if study is not None and study.certain_breach_page_min is not None:
            return study.certain_breach_page_min
        return self.certain_breach_page_min

    def data_stale_after_s(self, study_id: str, dashboard: str) -> float:
        """The data-freshness threshold of one study's dashboard (its configuration, or the
        default)."""
        study = self.studies.get(study_id)
        if study is not None and dashboard in study.data_stale_after:
            return study.data_stale_after[dashboard]
        return self.default_data_stale_after

    def freshness_thresholds_us(self, study_id: str, dashboard: str) -> tuple[int, int]:
        """(publish, data) freshness thresholds of a dashboard in µs, for the uptime minutes."""
        return (
            round(self.publish_stall_after_s(study_id, dashboard) * 1_000_000),
            round(self.data_stale_after_s(study_id, dashboard) * 1_000_000),
        )

    def engine_config(self, *, retention: bool = True) -> EngineConfig:
        from agents.metrics.definitions import LATENCY_BUCKETS_S, QUERY_BUCKETS_S, VISIT_BUCKETS_S

        return EngineConfig(
            default_study=StudyConfig(
                sla_us=round(self.default_sla * US_PER_SECOND), dashboards=self.default_dashboards
            ),
            studies={
                study_id: StudyConfig(
                    sla_us=round(study.sla * US_PER_SECOND),
                    dashboards=study.dashboards,
                    schedules={name: s.schedule() for name, s in study.schedules.items()},
                    stages=study.stage_configs(),
                )
                for study_id, study in self.studies.items()
            },
            retention_us=round(self.retention * US_PER_SECOND) if retention else None,
            max_event_ids=self.max_event_ids if retention else None,
            max_hold_us=round(self.retention_max_hold * US_PER_SECOND),
            breakdown=self.breakdown,
            latency_bounds_s=LATENCY_BUCKETS_S,
            query_bounds_s=QUERY_BUCKETS_S,
            time_left_edges_us=tuple(round(edge * US_PER_SECOND) for edge in self.time_left_edges),
            schedule_grace_us=round(self.schedule_grace * US_PER_SECOND),
            cadence_min_gap_us=round(self.cadence_min_gap * US_PER_SECOND),
            visit_bounds_s=VISIT_BUCKETS_S,
            visit_medium_us=round(self.visit_to_entry_medium * US_PER_SECOND),
            visit_high_us=round(self.visit_to_entry_high * US_PER_SECOND),
        )

    def kafka_client_options(self) -> dict[str, Any]:
        """Keyword arguments shared by every aiokafka client we create."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password_value,
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = self.ssl_context()
        return options

    @property
    def checkpoint_keys(self) -> tuple[bytes | None, tuple[bytes, ...]]:
        """(the key that signs, every key accepted when restoring), for the checkpoints only."""
        signing = self.checkpoint_signing_key
        key = signing.get_secret_value().encode() if signing else None
        accepted = ((key,) if key else ()) + tuple(
            k.get_secret_value().encode() for k in self.checkpoint_verify_keys
        )
        return key, accepted

    @property
    def sasl_password_value(self) -> str | None:
        """The password itself, for the Kafka clients only: never log or print it."""
        return self.sasl_password.get_secret_value() if self.sasl_password else None

    def ssl_context(self) -> Any:
        """The TLS context of every client, or ConfigurationError naming the unreadable file."""
        from aiokafka.helpers import create_ssl_context

        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigurationError(f"{name} {path}: no such file")
        try:
            return create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
            raise ConfigurationError(f"TLS files unusable: {error}") from None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from file, environment and explicit overrides, or raise ConfigurationError."""
    path = config_file or os.environ.get("EDC_LATENCY_CONFIG")
    if path:
        try:
            Path(path).open("rb").close()  # the TOML source would skip a missing file silently
        except OSError as error:
            raise ConfigurationError(f"config file {path}: {error.strerror}") from None
    token = _config_file.set(Path(path) if path else None)
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"config file {path}: not valid TOML: {error}") from None
    except SettingsError as error:
        raise ConfigurationError(f"invalid configuration: {error}") from None
    except ValidationError as error:
        lines = [
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors(include_url=False)
        ]
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    finally:
        _config_file.reset(token)
    return settings
