"""report.html: the figures of a report laid out by templates/report.html.j2 (jinja2, autoescaped).

This module computes what the page shows (durations, shares, chart geometry); the template
holds all of its markup. Every value the template prints is escaped, so a study id, a site,
a vendor or a rejection reason can never become markup in an inspector's browser.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

from agents.audit.replay.coverage import COMPLETE, INCOMPLETE, UNKNOWN

DISTRIBUTION_BOUNDS_S = (3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
DISTRIBUTION_LABELS = ("≤1h", "≤4h", "≤12h", "≤1d", "≤2d", "≤7d", ">7d")
INVALID_SHOWN = 500  # all of them are in report.json

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.25rem .6rem;border-bottom:1px solid #e3e6ee;text-align:right}
th:first-child,td:first-child{text-align:left}.bad{color:#b3261e;font-weight:600}.muted{color:#667}
svg text{font-size:11px;fill:#334}code{background:#f2f3f7;padding:0 .2rem}
"""

COVERAGE_TITLES = {
    COMPLETE: "Coverage: every input topic is complete from its first offset",
    INCOMPLETE: "Coverage: complete only since {complete_since}",
    UNKNOWN: "Coverage unknown",
}
COVERAGE_COLOURS = {COMPLETE: "#e8f3ea", INCOMPLETE: "#fbeaea", UNKNOWN: "#fff4dc"}


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: int
    length: float
    value: float


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    row: int
    color: str
    bars: list[Bar]


@dataclass(frozen=True, slots=True)
class SeriesChart:
    width: int
    height: int
    points: list[tuple[str, float]]
    top: float
    path: str
    first: str
    last: str


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def _bars(values: list[tuple[str, float]], width: int = 520, color: str = "#3d6fb6") -> BarChart:
    top = max((v for _l, v in values), default=0) or 1
    row = 20
    bars = [
        Bar(label, i * row + 2, (width - 170) * value / top, value)
        for i, (label, value) in enumerate(values)
    ]
    return BarChart(width, row * len(values) + 4, row, color, bars)


def _series(points: list[tuple[str, float]], width: int = 640, height: int = 140) -> SeriesChart:
    if not points:
        return SeriesChart(width, height, points, 0, "", "", "")
    top = max(v for _l, v in points) or 1
    step = (width - 60) / max(1, len(points) - 1)
    coords = [
        (50 + i * step, height - 20 - (height - 40) * v / top) for i, (_l, v) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    return SeriesChart(width, height, points, top, path, points[0][0], points[-1][0])


def _escape(value: object) -> object:
    """Strings with quotes escaped as html.escape does; autoescape escapes everything else.

    Autoescape (markupsafe) writes ``&#34;`` and ``&#39;`` where the page has always had
    html.escape's ``&quot;`` and ``&#x27;``: the same text in a browser, other bytes on disk.
    Both spell ``&``, ``<`` and ``>`` alike, so only a string with a quote needs html.escape
    here (its result is marked safe, as it is escaped); every other value, markup from the
    macros aside, is escaped by autoescape. Checking for quotes first keeps the page as fast to
    write as the f-strings were: most values are numbers and plain names.
    """
    if type(value) is str and ('"' in value or "'" in value):
        return Markup(html.escape(value))
    return value


class JoinedLines(Extension):
    """Drops each line break of a template and the indentation after it, before compiling.

    The page has always been written as one line; the template is written on many for reading.
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return re.sub(r"\n[ \t]*", "", source)


_ENVIRONMENT = Environment(
    loader=PackageLoader("agents.audit.replay", "templates"),
    autoescape=True,
    finalize=_escape,
    undefined=StrictUndefined,
    extensions=[JoinedLines],
)
_ENVIRONMENT.filters.update(
    duration=_duration,
    percent=_percent,
    f1=lambda number: f"{number:.1f}",
    g=lambda number: f"{number:g}",
    dash=lambda value: "—" if value is None else str(value),
    time_left=lambda name: "< " + name[3:] if name.startswith("lt_") else name,
)


def _coverage_context(report: dict[str, Any]) -> dict[str, Any]:
    if "coverage" not in report:
        return {"coverage": None, "marked_windows": []}
    coverage = report["coverage"]
    status = coverage["status"]
    return {
        "coverage": coverage,
        "coverage_title": COVERAGE_TITLES[status].format(complete_since=coverage["complete_since"]),
        "coverage_colour": COVERAGE_COLOURS[status],
        "marked_windows": [w for w in report["windows"] if w.get("coverage_incomplete")],
    }


def _backlogs(report: dict[str, Any]) -> list[tuple[str, str, SeriesChart]]:
    """Pending entries at each window's end, per study and dashboard."""
    charts = []
    for study in report["studies"]:
        for dashboard in report["studies"][study]["dashboards"]:
            points = [
                (w["end"][:10], w["studies"][study]["dashboards"][dashboard]["backlog"]["pending"])
                for w in report["windows"]
                if study in w["studies"]
            ]
            charts.append((study, dashboard, _series(points)))
    return charts


def _stage_charts(report: dict[str, Any]) -> dict[tuple[str, str], BarChart]:
    """Per study and dashboard with stages: the share of the SLA each stage used, in %."""
    charts: dict[tuple[str, str], BarChart] = {}
    for study, dashboards in report.get("stages", {}).get("studies", {}).items():
        for dashboard, pipeline in dashboards.items():
            shares = [(s["name"], 100 * (s["share_of_sla"] or 0.0)) for s in pipeline["stages"]]
            charts[(study, dashboard)] = _bars(shares, color="#c2703d")
    return charts


def render(
    report: dict[str, Any], distributions: dict[tuple[str, str], list[int]], version: str
) -> bytes:
    scorecards = report["scorecards"]
    options = report["options"]
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        report=report,
        style=Markup(STYLE),
        invalid_shown=INVALID_SHOWN,
        distributions=[
            (study, dashboard, _bars(list(zip(DISTRIBUTION_LABELS, counts, strict=True))))
            for (study, dashboard), counts in sorted(distributions.items())
        ],
        backlogs=_backlogs(report),
        aging={
            study: _bars(list(figures["queries"]["aging"].items()), color="#8a5cc2")
            for study, figures in report["studies"].items()
        },
        scorecard_scopes=[("All studies", scorecards["all_studies"]), *scorecards["studies"].items()],
        stage_charts=_stage_charts(report),
        provenance=[
            ("source", report["input"]["source"]),
            ("input SHA-256", report["input"]["sha256"]),
            ("as of", report["as_of"]),
            ("window", _duration(options["window_s"])),
            ("SLA", ", ".join(f"{k}: {_duration(v)}" for k, v in options["sla_s"].items())),
            ("report format", report["format"]),
            ("edc-latency version", version),
        ],
        **_coverage_context(report),
    )
    return page.encode()
