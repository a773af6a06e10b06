"""The committed JSON Schema files are what the models say, and say what the contract says.

An integration team builds its producer from ``schemas/json/`` alone, so those files
must not drift from the models, and the examples in docs/contract.md must be valid.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from schemas import Rejection, parse_event
from schemas.events import MODELS
from schemas.export import SCHEMA_DIR, file_name, render

CONTRACT_DOC = Path(__file__).parents[2] / "docs" / "contract.md"

# The contract, version 1, written out by hand from the issue (not from the models).
CONTRACT = {
    "edc.entry/1": {
        "required": {"schema", "event_id", "study_id", "site_id", "subject_id", "form_id",
                     "record_id", "entered_at"},
        "optional": {"country", "vendor", "action", "visit_date"},
        "timestamps": {"entered_at"},
        "enums": {"action": ["create", "update", "delete"]},
    },
    "dashboard.publish/1": {
        "required": {"schema", "event_id", "study_id", "published_at"},
        "optional": {"record_ids", "data_cutoff", "dashboard"},
        "timestamps": {"published_at", "data_cutoff"},
        "enums": {},
    },
    "edc.query/1": {
        "required": {"schema", "event_id", "query_id", "study_id", "site_id", "status",
                     "occurred_at"},
        "optional": {"record_id", "form_id", "country", "vendor", "origin"},
        "timestamps": {"occurred_at"},
        "enums": {"status": ["opened", "answered", "closed", "cancelled"]},
    },
    "pipeline.stage/1": {
        "required": {"schema", "event_id", "study_id", "stage", "completed_at"},
        "optional": {"record_ids", "data_cutoff", "dashboard"},
        "timestamps": {"completed_at", "data_cutoff"},
        "enums": {},
    },
}  # fmt: skip


def committed(schema: str) -> dict:
    return json.loads((SCHEMA_DIR / file_name(schema)).read_text(encoding="utf-8"))


def variants(prop: dict) -> list[dict]:
    """An optional field is ``anyOf: [its type, null]``; a required one is its type."""
    return [v for v in prop.get("anyOf", [prop]) if v.get("type") != "null"]


@pytest.mark.parametrize("schema", sorted(MODELS))
def test_committed_schema_file_matches_the_model(schema):
    on_disk = (SCHEMA_DIR / file_name(schema)).read_bytes()
    assert on_disk == render(schema), (
        f"schemas/json/{file_name(schema)} drifted from schemas/events.py: run `make schemas` "
        "and commit the result"
    )


def test_there_is_one_file_per_schema_and_no_stale_file():
    on_disk = sorted(p.name for p in SCHEMA_DIR.glob("*.json"))
    assert on_disk == sorted(file_name(s) for s in CONTRACT)
    assert sorted(MODELS) == sorted(CONTRACT)


@pytest.mark.parametrize("schema", sorted(CONTRACT))
def test_schema_file_states_the_fields_of_the_contract(schema):
    document, contract = committed(schema), CONTRACT[schema]
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["type"] == "object"
    assert document["properties"]["schema"]["const"] == schema
    assert set(document["required"]) == contract["required"]
    assert set(document["properties"]) == contract["required"] | contract["optional"]
    # Unknown extra fields are accepted: the file must not forbid them.
    assert document.get("additionalProperties", True) is not False
    assert "unknown extra fields are accepted and ignored" in document["description"]
    for name, values in contract["enums"].items():
        assert document["properties"][name]["enum"] == values


@pytest.mark.parametrize("schema", sorted(CONTRACT))
def test_identifiers_are_strings_of_1_to_128_characters(schema):
    document, contract = committed(schema), CONTRACT[schema]
    not_ids = contract["timestamps"] | set(contract["enums"])
    not_ids |= {"schema", "country", "visit_date", "record_ids"}
    identifiers = [name for name in document["properties"] if name not in not_ids]
    assert "event_id" in identifiers and "study_id" in identifiers
    for name in identifiers:
        (only,) = variants(document["properties"][name])
        assert (only["type"], only["minLength"], only["maxLength"]) == ("string", 1, 128), name


@pytest.mark.parametrize("schema", sorted(CONTRACT))
def test_timestamps_are_rfc3339_with_a_T_and_an_explicit_offset(schema):
    document = committed(schema)
    for name in CONTRACT[schema]["timestamps"]:
        (only,) = variants(document["properties"][name])
        assert only["format"] == "date-time"
        pattern = re.compile(only["pattern"])
        assert pattern.search("2026-01-05T10:00:00Z")
        assert pattern.search("2026-01-05T10:00:00.123456+05:30")
        assert not pattern.search("2026-01-05T10:00:00")  # no offset
        assert not pattern.search("2026-01-05 10:00:00Z")  # no T
        assert "offset" in only["description"]


def test_publish_file_requires_exactly_one_of_record_ids_or_data_cutoff():
    document = committed("dashboard.publish/1")
    assert document["oneOf"] == [{"required": ["record_ids"]}, {"required": ["data_cutoff"]}]
    (record_ids,) = variants(document["properties"]["record_ids"])
    assert (record_ids["type"], record_ids["minItems"]) == ("array", 1)
    assert record_ids["items"]["maxLength"] == 128
    assert "not be later than published_at" in document["properties"]["data_cutoff"]["description"]
    assert document["properties"]["dashboard"]["default"] == "default"


def test_entry_file_states_country_and_visit_date_formats():
    properties = committed("edc.entry/1")["properties"]
    (country,) = variants(properties["country"])
    assert country["pattern"] == "^[A-Z]{2}$"
    (visit_date,) = variants(properties["visit_date"])
    assert re.compile(visit_date["pattern"]).search("2026-01-05")
    assert properties["action"]["default"] == "create"


def _documented_examples() -> list[dict]:
    text = CONTRACT_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_every_example_in_the_contract_document_is_a_valid_event():
    examples = _documented_examples()
    assert {e["schema"] for e in examples} == set(CONTRACT)
    for example in examples:
        event = parse_event(json.dumps(example).encode())
        assert not isinstance(event, Rejection), (example["event_id"], event)
        # And each example uses only fields the schema file lists.
        assert set(example) <= set(committed(example["schema"])["properties"])


def test_the_export_command_writes_the_committed_files_into_the_folder_it_is_given(
    tmp_path, capsys
):
    from schemas.export import main

    assert main([str(tmp_path / "out")]) == 0
    assert main([str(tmp_path / "out")]) == 0  # again, into the folder it made
    assert main([str(tmp_path / "a" / "b")]) == 0  # a folder whose parent is missing too
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(file_name(schema) for schema in MODELS)
    for name in written:
        assert (tmp_path / "out" / name).read_bytes() == (SCHEMA_DIR / name).read_bytes()
    assert capsys.readouterr().out.splitlines() == [
        str(folder / file_name(schema))
        for folder in (tmp_path / "out", tmp_path / "out", tmp_path / "a" / "b")
        for schema in MODELS
    ]
