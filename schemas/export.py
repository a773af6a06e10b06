"""Write the JSON Schema files of the contract: ``python -m schemas.export [DIR]``.

The files are committed so an EDC integration team can build a producer from
them alone; ``tests/schemas/test_json_schema_files.py`` fails when they drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, get_args

import msgspec
import orjson

from schemas.events import MODELS, RFC3339_PATTERN, Timestamp

SCHEMA_DIR = Path(__file__).parent / "json"


def file_name(schema: str) -> str:
    return schema.replace("/", "-v") + ".schema.json"


def _timestamp_schema(kind: type) -> dict[str, Any] | None:
    if kind is Timestamp:
        return {
            "type": "string",
            "format": "date-time",
            "pattern": RFC3339_PATTERN,
            "description": "RFC 3339 date-time with a T separator and an explicit offset "
            "(Z or ±hh:mm); a timestamp without an offset is invalid.",
        }
    return None


def render(schema: str) -> bytes:
    model = MODELS[schema]
    generated = msgspec.json.schema(model, schema_hook=_timestamp_schema)
    document = generated["$defs"][model.__name__]
    document["title"] = schema
    for field in msgspec.structs.fields(model):
        enum = document["properties"][field.encode_name].get("enum")
        if enum is not None:
            # msgspec sorts a Literal's values; the contract lists them in its own order.
            document["properties"][field.encode_name]["enum"] = list(get_args(field.type))
            document["properties"][field.encode_name]["type"] = "string"
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["$id"] = f"https://edc-latency.example/schemas/{file_name(schema)}"
    document["description"] = (
        f"{(model.__doc__ or '').strip()} One JSON object (UTF-8) per Kafka message value; "
        "unknown extra fields are accepted and ignored."
    )
    document["properties"]["schema"] = {"const": schema, "type": "string"}
    if schema in ("dashboard.publish/1", "pipeline.stage/1"):
        document["oneOf"] = [{"required": ["record_ids"]}, {"required": ["data_cutoff"]}]
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else SCHEMA_DIR
    out.mkdir(parents=True, exist_ok=True)
    for schema in MODELS:
        (out / file_name(schema)).write_bytes(render(schema))
        print(out / file_name(schema))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
