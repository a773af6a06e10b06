"""One settings object: file, environment, defaults; wrong configuration fails clearly at start."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.settings import ConfigurationError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("EDC_LATENCY_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)


def test_defaults_are_usable_without_any_configuration():
    settings = load_settings()
    assert settings.metrics_host == "127.0.0.1"
    assert settings.default_sla == 24 * 3600
    assert settings.engine_config().study("any").dashboards == ("default",)


def test_the_example_file_loads_and_per_study_sla_reaches_the_engine():
    settings = load_settings("deploy/edc-latency.example.toml")
    study = settings.engine_config().study("ONC-301")
    assert study.sla_us == 12 * 3600 * 1_000_000
    assert study.dashboards == ("default", "safety")


def test_environment_wins_over_the_file(monkeypatch, tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text('default_sla = "24h"\nbreakdown = ["site"]\n')
    monkeypatch.setenv("EDC_LATENCY_DEFAULT_SLA", "6h")
    monkeypatch.setenv("EDC_LATENCY_BREAKDOWN", "vendor, site")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092")
    settings = load_settings(config)
    assert settings.default_sla == 6 * 3600
    assert settings.breakdown == ("site", "vendor")
    assert settings.bootstrap_servers == "kafka-1:9092"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("EDC_LATENCY_METRICS_PORT", "eighty", "metrics_port"),
        ("EDC_LATENCY_RETENTION", "-3d", "retention: not a duration"),
        ("EDC_LATENCY_BREAKDOWN", "subject", "unknown dimension"),
        ("EDC_LATENCY_CLOCK", "sundial", "clock"),
        ("EDC_LATENCY_SHARD_PARTITIONS", "0", "shard_partitions"),
    ],
)
def test_wrong_configuration_names_the_setting(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match=r"config file .*missing\.toml"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("default_sla = \n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(broken)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('defualt_sla = "1h"\n')
    with pytest.raises(ConfigurationError, match="defualt_sla"):
        load_settings(unknown)


def test_sasl_needs_a_sasl_protocol(monkeypatch):
    monkeypatch.setenv("EDC_LATENCY_SASL_MECHANISM", "PLAIN")
    with pytest.raises(ConfigurationError, match="security_protocol"):
        load_settings()


def test_the_sasl_rule_holds_for_settings_made_in_code():
    from pydantic import ValidationError

    from agents.settings import Settings

    with pytest.raises(ValidationError, match="use SASL_PLAINTEXT or SASL_SSL"):
        Settings(sasl_mechanism="PLAIN", security_protocol="SSL")
    settings = Settings(sasl_mechanism="PLAIN", security_protocol="SASL_PLAINTEXT")
    assert settings.sasl_mechanism == "PLAIN"


def test_the_worker_refuses_to_start_without_a_broker(capsys):
    from agents.cli import main

    assert main(["worker"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_precedence_is_argument_then_environment_then_file_whole_values(monkeypatch, tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text(
        'bootstrap_servers = "file:9092"\nmetrics_port = 1000\n'
        '[studies."A"]\nsla = "12h"\n[studies."B"]\nsla = "1h"\n'
    )
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("EDC_LATENCY_METRICS_PORT", "2000")
    monkeypatch.setenv("EDC_LATENCY_STUDIES", '{"A": {"sla": "2h"}}')
    settings = load_settings(config, metrics_port=3000, default_sla=None)
    assert settings.bootstrap_servers == "kafka:9092"
    assert settings.metrics_port == 3000
    assert settings.default_sla == 24 * 3600  # None means "not given"
    # A setting from the environment replaces the file's whole value: study B is gone.
    assert set(settings.studies) == {"A"} and settings.studies["A"].sla == 2 * 3600
    monkeypatch.setenv("EDC_LATENCY_BOOTSTRAP_SERVERS", "edc:9092")
    assert load_settings(config).bootstrap_servers == "edc:9092"


def test_the_sasl_password_is_never_shown(monkeypatch):
    monkeypatch.setenv("EDC_LATENCY_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("EDC_LATENCY_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("EDC_LATENCY_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())
    assert settings.kafka_client_options()["sasl_plain_password"] == "hunter2"


def test_the_publishing_stall_threshold_comes_from_each_dashboards_configuration(tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text(
        'default_publish_stall_after = "8h"\n'
        '[studies."ONC-301"]\ndashboards = ["default", "safety"]\n'
        '[studies."ONC-301".publish_stall_after]\nsafety = "26h"\n'
    )
    settings = load_settings(config)
    assert settings.publish_stall_after_s("ONC-301", "safety") == 26 * 3600  # nightly
    assert settings.publish_stall_after_s("ONC-301", "default") == 8 * 3600
    assert settings.publish_stall_after_s("other", "default") == 8 * 3600
    assert load_settings().publish_stall_after_s("any", "default") == 6 * 3600


def test_the_data_freshness_threshold_comes_from_each_dashboards_configuration(tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text(
        'default_data_stale_after = "12h"\n'
        '[studies."ONC-301"]\ndashboards = ["default", "safety"]\n'
        '[studies."ONC-301".data_stale_after]\nsafety = "30h"\n'
    )
    settings = load_settings(config)
    assert settings.data_stale_after_s("ONC-301", "safety") == 30 * 3600
    assert settings.data_stale_after_s("ONC-301", "default") == 12 * 3600
    assert settings.freshness_thresholds_us("other", "default") == (
        6 * 3600 * 10**6,
        12 * 3600 * 10**6,
    )
    assert load_settings().data_stale_after_s("any", "default") == 24 * 3600
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[studies."S"]\ndashboards = ["default"]\n[studies."S".data_stale_after]\nsafety = "1h"\n'
    )
    with pytest.raises(ConfigurationError, match="data_stale_after"):
        load_settings(bad)


def test_a_stall_threshold_for_a_dashboard_the_study_lacks_fails_at_start(tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text('[studies."S"]\ndashboards = ["default"]\n'
                      '[studies."S".publish_stall_after]\nsafety = "26h"\n')  # fmt: skip
    with pytest.raises(ConfigurationError, match="publish_stall_after"):
        load_settings(config)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # Faust's own limit: its request timeout (90 s) may not be below the session timeout.
        ("EDC_LATENCY_SESSION_TIMEOUT", "2m", "session_timeout: at most 90s"),
        ("EDC_LATENCY_SESSION_TIMEOUT", "90.001s", "session_timeout: at most 90s"),
        ("EDC_LATENCY_SESSION_TIMEOUT", "5s", "session_timeout: at least 6s"),
        # Durations that overflowed timers or millisecond fields.
        ("EDC_LATENCY_CHECKPOINT_INTERVAL", "99999999999999999999d", "at most 3650d"),
        ("EDC_LATENCY_RETENTION", "3650.01d", "retention: a duration must be at most 3650d"),
        ("EDC_LATENCY_HTTP_HEADER_TIMEOUT", "1" + "0" * 400, "at most 3650d"),
    ],
)
def test_settings_beyond_faust_or_the_clocks_fail_at_start_in_one_line(
    monkeypatch, variable, value, message
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message) as raised:
        load_settings()
    assert len(str(raised.value).splitlines()) == 2  # "invalid configuration:", one problem


@pytest.mark.parametrize("value", ["6s", "90s", "1.5m"])
def test_session_timeouts_within_faust_limits_are_taken(monkeypatch, value):
    monkeypatch.setenv("EDC_LATENCY_SESSION_TIMEOUT", value)
    assert 6 <= load_settings().session_timeout <= 90


def test_infinite_or_not_a_number_durations_in_the_file_are_refused(tmp_path):
    for literal in ("inf", "nan", "1e300"):
        config = tmp_path / "absurd.toml"
        config.write_text(f"retention = {literal}\n")
        with pytest.raises(ConfigurationError, match="retention: a duration must be"):
            load_settings(config)
    config.write_text('retention = "3650d"\n')
    assert load_settings(config).retention == 3650 * 86400


def test_the_worker_says_a_bad_session_timeout_in_one_line_without_a_traceback():
    import os
    import subprocess
    import sys

    env = {**os.environ, "EDC_LATENCY_SESSION_TIMEOUT": "2m", "KAFKA_BOOTSTRAP_SERVERS": "x:1"}
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "worker"], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr.decode()
    assert [line for line in done.stderr.decode().splitlines() if "session_timeout" in line] == [
        "edc-latency worker: configuration: invalid configuration: session_timeout: at most 90s: "
        "Faust's request timeout, which a session may not exceed"
    ]


def test_the_simulated_studies_have_the_schedules_of_their_settings_file():
    """The demo's worker (agents/sim) and replays of its data (deploy/simulated-studies.toml)
    expect the same publishes, and judge their stalls and staleness alike."""
    import json

    from agents.settings import Settings, load_settings
    from agents.sim.simulator import Simulation

    file_settings = load_settings("deploy/simulated-studies.toml")
    from_file = file_settings.engine_config().studies
    sim_settings = Settings(studies=json.loads(json.dumps(Simulation().study_configs_settings())))
    assert {k: v.schedules for k, v in from_file.items()} == {
        k: v.schedules for k, v in sim_settings.engine_config().studies.items()
    }
    for study_id, study in file_settings.studies.items():
        for dashboard in study.dashboards:
            for threshold in ("publish_stall_after_s", "data_stale_after_s"):
                assert getattr(file_settings, threshold)(study_id, dashboard) == getattr(
                    sim_settings, threshold
                )(study_id, dashboard), (study_id, dashboard, threshold)


def test_every_scheduled_simulated_dashboard_may_go_a_slot_gap_and_its_grace_unpublished():
    """A scheduled dashboard's stall threshold is its longest gap between two slots (over a
    year: daylight-saving changes included) plus the grace: its publishes, up to the grace
    late, never count as a stall, and a whole missed slot does."""
    from itertools import pairwise

    from agents.settings import load_settings
    from schemas.timestamps import US_PER_DAY, US_PER_SECOND

    settings_ = load_settings("deploy/simulated-studies.toml")
    config = settings_.engine_config()
    start = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
    for study_id, study in config.studies.items():
        for dashboard, schedule in study.schedules.items():
            slots = [schedule.first_slot_from(start)]
            while slots[-1] < start + 366 * US_PER_DAY:
                slots.append(schedule.first_slot_from(slots[-1] + 1))
            longest = max(b - a for a, b in pairwise(slots))
            stall_us = round(settings_.publish_stall_after_s(study_id, dashboard) * US_PER_SECOND)
            assert stall_us == longest + config.schedule_grace_us, (study_id, dashboard)


def test_a_schedule_is_an_interval_or_local_times_in_a_known_zone():
    from pydantic import ValidationError

    from agents.settings import ScheduleSettings

    assert ScheduleSettings(at=("02:00",), zone="Europe/Berlin", weekdays=("mon",)).schedule()
    assert ScheduleSettings(every="6h").schedule().every_us == 6 * 3600 * 10**6
    for bad in (
        {"every": "6h", "at": ("02:00",), "zone": "UTC"},  # both kinds
        {"at": ("02:00",)},  # no zone
        {"at": ("24:00",), "zone": "UTC"},
        {"at": ("02:00",), "zone": "Mars/Olympus"},
        {"every": "6h", "zone": "UTC"},
        {},
    ):
        with pytest.raises(ValidationError):
            ScheduleSettings(**bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=8))
def test_any_zone_or_time_text_is_taken_or_refused_with_a_validation_error(zone, at):
    from pydantic import ValidationError

    from agents.settings import ScheduleSettings

    try:
        schedule = ScheduleSettings(at=(at,), zone=zone).schedule()
    except ValidationError:
        return
    assert schedule.first_slot_from(0) >= 0
def test_each_dashboards_stages_reach_the_engine_in_order_with_owner_and_budget(tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text(
        '[studies."ONC-301"]\ndashboards = ["default", "safety"]\n'
        '[[studies."ONC-301".stages.default]]\nname = "extract"\nowner = "site"\n'
        '[[studies."ONC-301".stages.default]]\nname = "transform"\nowner = "FSP-Alpha"\n'
        'budget = "4h"\n'
        '[[studies."ONC-301".stages.default]]\nname = "load"\nowner = "sponsor"\n'
    )
    study = load_settings(config).engine_config().study("ONC-301")
    assert [(s.name, s.owner, s.budget_us) for s in study.stages["default"]] == [
        ("extract", "site", None),
        ("transform", "FSP-Alpha", 4 * 3600 * 1_000_000),
        ("load", "sponsor", None),
    ]
    assert "safety" not in study.stages  # no stages: its stage events are dead-lettered


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ('[[studies."S".stages.other]]\nname = "x"\nowner = "site"\n', "stages names dashboards"),
        ('[[studies."S".stages.default]]\nname = "x"\nowner = "site"\n'
         '[[studies."S".stages.default]]\nname = "x"\nowner = "sponsor"\n', "each once"),
        ('[[studies."S".stages.default]]\nname = "x"\nowner = ""\n', "owner"),
        ('[[studies."S".stages.default]]\nname = "x"\nowner = "site"\nbudget = "0s"\n', "budget"),
    ],
)  # fmt: skip
def test_stages_of_a_dashboard_the_study_lacks_or_named_twice_fail_at_start(
    tmp_path, stages, message
):
    config = tmp_path / "worker.toml"
    config.write_text('[studies."S"]\ndashboards = ["default"]\n' + stages)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(config).engine_config()
