"""The committed JSON Schema files are what the models say; an integration team builds from them."""

from __future__ import annotations

import json

import pytest

from schemas.events import MODELS
from schemas.export import SCHEMA_DIR, file_name, render


@pytest.mark.parametrize("schema", sorted(MODELS))
def test_committed_schema_file_matches_the_model(schema):
    committed = (SCHEMA_DIR / file_name(schema)).read_bytes()
    assert committed == render(schema), f"{file_name(schema)} drifted: run `make schemas`"


@pytest.mark.parametrize("schema", sorted(MODELS))
def test_schema_files_state_the_contract(schema):
    document = json.loads((SCHEMA_DIR / file_name(schema)).read_text())
    assert document["properties"]["schema"]["const"] == schema
    assert "event_id" in document["required"]
    for name, prop in document["properties"].items():
        if name.endswith("_at") or name == "data_cutoff":
            variants = prop.get("anyOf", [prop])
            assert any(v.get("format") == "date-time" and "pattern" in v for v in variants)
