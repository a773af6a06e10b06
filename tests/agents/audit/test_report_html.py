"""report.html shows every value it is given as text: hostile names never become markup.

A real report (the sample's) has each of its names and texts (study ids, dashboards, sites,
vendors, countries, topics, rejection reasons, timestamps, the source file's name...) replaced
by generated strings full of markup characters. The page must then have exactly the elements
and attributes of the same report with plain names, and each hostile string must read back as
text, unchanged.
"""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.audit.replay.coverage import COMPLETE, INCOMPLETE, UNKNOWN
from agents.audit.replay.html import INVALID_SHOWN, render
from tests.agents.audit.test_replay import replay

# Dicts under these keys are keyed by names that come from the input or the configuration.
NAMED_KEYS = {
    "studies", "dashboards", "aging", "vendor", "country", "sites_behind_breaches",
    "partitions", "sla_s", "event_time",
}  # fmt: skip

# Markup characters and fragments, beside any text at all.
hostile_text = st.lists(
    st.sampled_from(["<", ">", "&", '"', "'", "/", "=", "<!--", "<script>", "<img src=x>", "&amp;"])
    | st.characters(exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
).map("".join)


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = replay(tmp_path_factory.mktemp("replay"), "sample")
    return json.loads((out / "report.json").read_text())


def _names(value: Any, path: tuple[str, ...], rename: Any) -> Any:
    """A copy of value with each name and text passed through rename (numbers stay numbers)."""
    if isinstance(value, dict):
        named = bool(path) and (path[-1] in NAMED_KEYS or path[-2:-1] == ("partitions",))
        return {
            (rename(key) if named else key): _names(item, (*path, key), rename)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_names(item, path, rename) for item in value]
    if isinstance(value, str) and path[-2:] != ("coverage", "status"):
        return rename(value)
    return value


@st.composite
def reports(draw: st.DrawFn, sample: dict[str, Any]) -> dict[str, Any]:
    """The sample's report with a drawn coverage state, partitions, marks and invalid lines."""
    report = copy.deepcopy(sample)
    coverage = report["coverage"]
    coverage["status"] = draw(st.sampled_from([COMPLETE, INCOMPLETE, UNKNOWN]))
    coverage["complete_since"] = report["windows"][1]["start"]
    coverage["partitions"] = {
        topic: {
            str(partition): {
                "log_start": draw(st.integers(0, 5)),
                "start": draw(st.integers(0, 5)),
                "first": draw(st.none() | st.integers(0, 9)),
                "last": draw(st.none() | st.integers(0, 9)),
                "count": draw(st.integers(0, 9)),
                "missing": draw(st.sampled_from([None, [1, 3]])),
            }
            for partition in range(draw(st.integers(1, 2)))
        }
        for topic in draw(st.sets(st.sampled_from(["edc.entries", "edc.queries"]), min_size=1))
    }
    for window in report["windows"]:
        if draw(st.booleans()):
            window["coverage_incomplete"] = True
    extra = draw(st.integers(0, INVALID_SHOWN + 3))
    report["invalid"] += [{"line": n, "reason": f"reason {n}"} for n in range(extra)]
    return report


class Page(HTMLParser):
    """The elements of a page with their attributes, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.elements.append((f"/{tag}", []))

    def handle_comment(self, data: str) -> None:
        self.elements.append(("<!--", []))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page(report: dict[str, Any]) -> Page:
    studies = report["studies"]
    distributions = {
        (study, dashboard): [1, 2, 0, 3, 0, 0, 1]
        for study in studies
        for dashboard in studies[study]["dashboards"]
    }
    page = Page()
    page.feed(render(report, distributions, "0.1.0").decode())
    page.close()
    return page


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), payloads=st.lists(hostile_text, min_size=1, max_size=8))
def test_hostile_names_and_texts_never_become_markup(sample_report, data, payloads):
    report = data.draw(reports(sample_report))
    seen: dict[str, int] = {}

    def numbered(original: str) -> int:
        return seen.setdefault(original, len(seen))

    # The number keeps two different names different (dict keys stay distinct).
    plain = _names(report, (), lambda s: f"name{numbered(s)}")
    hostile = _names(report, (), lambda s: f"{payloads[numbered(s) % len(payloads)]}{numbered(s)}")

    plain_page, hostile_page = _page(plain), _page(hostile)
    assert hostile_page.elements == plain_page.elements
    text = "".join(hostile_page.text)
    for payload in payloads[: len(seen)]:
        assert payload in text
    assert ("<h2>Windows</h2>" in render(hostile, {}, "v").decode()) == any(
        w.get("coverage_incomplete") for w in report["windows"]
    )
