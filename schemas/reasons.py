"""The one-line reason for a document the decoder refused, worded from the event definition.

Only refused documents come here, so this may be slow. Each field of the event's
struct (``msgspec.structs.fields``: declaration order) is checked alone with msgspec
itself, so every problem is found, not only the first, and named in the order the
contract lists the fields; msgspec's messages are worded as the contract's reasons
(docs/contract.md, ``tests/schemas/test_parse.py``). A reason names the field and
never repeats a value the producer wrote: every wording below is ours.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal, get_args, get_origin

import msgspec

from schemas.events import FIELD_CHECKS, Event, document_hook

# msgspec's message, without its location suffix -> ours. Nothing of the input is kept.
_WORDINGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Expected `str` of length >= 1\Z"), "String should have at least 1 character"),
    (
        re.compile(r"Expected `str` of length >= (\d+)\Z"),
        "String should have at least {} characters",
    ),
    (
        re.compile(r"Expected `str` of length <= (\d+)\Z"),
        "String should have at most {} characters",
    ),
    (re.compile(r"Expected `str( \| null)?`, got `\w+`\Z"), "Input should be a valid string"),
    (
        re.compile(r"Expected `array` of length >= 1\Z"),
        "List should have at least 1 item after validation, not 0",
    ),
    (re.compile(r"Expected `array( \| null)?`, got `\w+`\Z"), "Input should be a valid list"),
)
_PATTERN = re.compile(r"Expected `str` matching regex '(.*)'\Z")
_WHERE = re.compile(r" - at `\$(.*)`\Z")


def _literal_values(kind: Any) -> tuple[str, ...] | None:
    for candidate in (kind, *get_args(kind)):
        if get_origin(candidate) is Literal:
            return get_args(candidate)
    return None


def _word(name: str, kind: Any, message: str, patterns: set[str]) -> str:
    """``field[.where]: what is wrong`` from a msgspec message about one field's value."""
    where = _WHERE.search(message)
    text = message[: where.start()] if where else message
    location = name + (where.group(1) if where else "")
    allowed = _literal_values(kind)
    if allowed is not None:
        quoted = [f"'{value}'" for value in allowed]
        return f"{location}: Input should be {', '.join(quoted[:-1])} or {quoted[-1]}"
    pattern = _PATTERN.match(text)
    if pattern is not None:
        # The pattern is ours; still, say only a pattern of the definition.
        shown = pattern.group(1).replace("\\\\", "\\")
        return f"{location}: String should match pattern '{shown if shown in patterns else '?'}'"
    for expected, wording in _WORDINGS:
        matched = expected.match(text)
        if matched is not None:
            numbers = [group for group in matched.groups() if group and group.isdigit()]
            return f"{location}: {wording.format(*numbers)}"
    if "`" in text or "'" in text:
        return f"{location}: invalid value"  # a msgspec message we did not foresee: no echo
    return f"{location}: {text}"  # our own validators' words (timestamps, dates)


def _patterns(kind: Any) -> set[str]:
    found: set[str] = set()
    for part in (kind, *get_args(kind)):
        if isinstance(part, msgspec.Meta) and part.pattern is not None:
            found.add(part.pattern)
        elif part is not kind and get_args(part):
            found |= _patterns(part)
    return found


def _item_type(kind: Any) -> Any:
    """The item type of a list field (through ``Annotated`` and ``| None``), else None."""
    if get_origin(kind) is list:
        return get_args(kind)[0]
    for part in get_args(kind):
        found = _item_type(part) if not isinstance(part, msgspec.Meta) else None
        if found is not None:
            return found
    return None


def _item_problems(name: str, item_type: Any, items: list[Any]) -> list[str]:
    found = []
    for index, item in enumerate(items):
        try:
            msgspec.convert(item, item_type, strict=True, dec_hook=document_hook)
        except msgspec.ValidationError as error:
            found.append(_word(f"{name}[{index}]", item_type, str(error), _patterns(item_type)))
    return found


@cache
def _fields(model: type[Event]) -> tuple[msgspec.structs.FieldInfo, ...]:
    # msgspec evaluates the annotations on every call: ~50 µs a struct, once is enough.
    return msgspec.structs.fields(model)


def problems(model: type[Event], document: dict[str, Any]) -> list[str]:
    """Every problem of ``document`` as an event of ``model``, in the definition's order."""
    found: list[str] = []
    for field in _fields(model):
        name = field.encode_name
        if name not in document:
            if field.required:
                found.append(f"{name}: Field required")
            continue
        try:
            value = msgspec.convert(document[name], field.type, strict=True, dec_hook=document_hook)
        except msgspec.ValidationError as error:
            item_type = _item_type(field.type)
            if item_type is not None and isinstance(document[name], list) and "[" in str(error):
                # Every bad item is a problem of its own, as the contract counts them.
                found.extend(_item_problems(name, item_type, document[name]))
            else:
                found.append(_word(name, field.type, str(error), _patterns(field.type)))
            continue
        check = FIELD_CHECKS.get(name)
        if check is not None and value is not None:
            try:
                check(value)
            except ValueError as error:
                found.append(f"{name}: {error}")
    if not found:
        # Each field alone is fine: the rules across fields (``__post_init__``) decide.
        try:
            msgspec.convert(document, model, strict=True, dec_hook=document_hook)
        except msgspec.ValidationError as error:
            where = _WHERE.search(str(error))
            found.append(str(error)[: where.start()] if where else str(error))
    return found
