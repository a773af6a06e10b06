"""report.html: one self-contained page a data manager can open offline (inline CSS and SVG)."""

from __future__ import annotations

from html import escape
from typing import Any

from agents.replay.coverage import html_box, html_windows

DISTRIBUTION_BOUNDS_S = (3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
DISTRIBUTION_LABELS = ("≤1h", "≤4h", "≤12h", "≤1d", "≤2d", "≤7d", ">7d")

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:.25rem .6rem;border-bottom:1px solid #e3e6ee;text-align:right}
th:first-child,td:first-child{text-align:left}.bad{color:#b3261e;font-weight:600}.muted{color:#667}
svg text{font-size:11px;fill:#334}code{background:#f2f3f7;padding:0 .2rem}
"""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _bars(values: list[tuple[str, float]], width: int = 520, color: str = "#3d6fb6") -> str:
    top = max((v for _l, v in values), default=0) or 1
    row = 20
    parts = [f'<svg width="{width}" height="{row * len(values) + 4}" role="img">']
    for i, (label, value) in enumerate(values):
        length = (width - 170) * value / top
        y = i * row + 2
        parts.append(
            f'<text x="0" y="{y + 13}">{escape(label)}</text>'
            f'<rect x="90" y="{y}" width="{length:.1f}" height="{row - 6}" fill="{color}"/>'
            f'<text x="{95 + length:.1f}" y="{y + 13}">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _series(points: list[tuple[str, float]], width: int = 640, height: int = 140) -> str:
    if not points:
        return '<p class="muted">no windows</p>'
    top = max(v for _l, v in points) or 1
    step = (width - 60) / max(1, len(points) - 1)
    coords = [
        (50 + i * step, height - 20 - (height - 40) * v / top) for i, (_l, v) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    first, last = points[0][0], points[-1][0]
    return (
        f'<svg width="{width}" height="{height}" role="img">'
        f'<text x="0" y="14">{top:g}</text><text x="0" y="{height - 20}">0</text>'
        f'<polyline points="{path}" fill="none" stroke="#b3261e" stroke-width="2"/>'
        f'<text x="50" y="{height - 4}">{escape(first)}</text>'
        f'<text x="{width - 130}" y="{height - 4}">{escape(last)}</text></svg>'
    )


def render(
    report: dict[str, Any], distributions: dict[tuple[str, str], list[int]], version: str
) -> bytes:
    out: list[str] = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Data latency report as of {escape(report['as_of'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Data latency, backlog and query aging — as of {escape(report['as_of'])}</h1>",
    ]
    if "coverage" in report:
        out.append(html_box(report))
    inputs = report["input"]
    out.append(
        f"<p>{inputs['valid']} valid events from {inputs['lines']} lines; "
        f"<span class='{'bad' if inputs['invalid'] else ''}'>{inputs['invalid']} invalid</span>, "
        f"{inputs['duplicates']} duplicates, {inputs['orphan_query_events']} orphan query events.</p>"
    )
    out.append("<h2>Latency and SLA compliance</h2><table><tr><th>study / dashboard</th>"
               "<th>published</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>SLA</th>"
               "<th>within SLA</th><th>pending</th><th>oldest pending</th><th>overdue</th></tr>")  # fmt: skip
    for study, figures in report["studies"].items():
        for dashboard, d in figures["dashboards"].items():
            lat, bl = d["latency"], d["backlog"]
            share = f"{100 * lat['within_sla'] / lat['count']:.1f}%" if lat["count"] else "—"
            bad = lat["count"] and lat["within_sla"] < lat["count"] * 0.95
            out.append(
                f"<tr><td>{escape(study)} / {escape(dashboard)}</td><td>{lat['count']}</td>"
                f"<td>{_duration(lat['p50_s'])}</td><td>{_duration(lat['p95_s'])}</td>"
                f"<td>{_duration(lat['p99_s'])}</td><td>{_duration(lat['max_s'])}</td>"
                f"<td>{_duration(lat['sla_s'])}</td><td class='{'bad' if bad else ''}'>{share}</td>"
                f"<td>{bl['pending']}</td><td>{_duration(bl['oldest_age_s'])}</td>"
                f"<td class='{'bad' if bl['overdue'] else ''}'>{bl['overdue']}</td></tr>"
            )
    out.append("</table>")
    out.append("<h2>Latency distribution</h2>")
    for (study, dashboard), counts in sorted(distributions.items()):
        out.append(f"<h3>{escape(study)} / {escape(dashboard)}</h3>")
        out.append(_bars(list(zip(DISTRIBUTION_LABELS, counts, strict=True))))
    out.append("<h2>Backlog over time (pending at each window's end)</h2>")
    for study in report["studies"]:
        for dashboard in report["studies"][study]["dashboards"]:
            points = [
                (w["end"][:10], w["studies"][study]["dashboards"][dashboard]["backlog"]["pending"])
                for w in report["windows"]
                if study in w["studies"]
            ]
            out.append(f"<h3>{escape(study)} / {escape(dashboard)}</h3>{_series(points)}")
    out.append("<h2>Query aging (open queries)</h2>")
    for study, figures in report["studies"].items():
        q = figures["queries"]
        out.append(
            f"<h3>{escape(study)}: {q['open']} open ({q['awaiting_site']} awaiting site, "
            f"{q['awaiting_dm']} awaiting data management), oldest {_duration(q['oldest_open_age_s'])}</h3>"
        )
        out.append(_bars(list(q["aging"].items()), color="#8a5cc2"))
    out.extend(_scorecard_sections(report))
    out.append(f"<h2>Invalid inputs ({len(report['invalid'])})</h2>")
    if report["invalid"]:
        out.append("<table><tr><th>line</th><th>reason</th></tr>")
        for item in report["invalid"][:500]:
            out.append(f"<tr><td>{item['line']}</td><td>{escape(item['reason'])}</td></tr>")
        out.append("</table>")
        if len(report["invalid"]) > 500:
            out.append("<p class='muted'>first 500 shown; all are in report.json</p>")
    else:
        out.append("<p>none</p>")
    if "coverage" in report:
        out.append(html_windows(report))
    out.append("<h2>Provenance</h2><table>")
    rows = [
        ("source", inputs["source"]),
        ("input SHA-256", inputs["sha256"]),
        ("as of", report["as_of"]),
        ("window", _duration(report["options"]["window_s"])),
        ("SLA", ", ".join(f"{k}: {_duration(v)}" for k, v in report["options"]["sla_s"].items())),
        ("report format", report["format"]),
        ("edc-latency version", version),
    ]
    out.extend(
        f"<tr><td>{escape(k)}</td><td><code>{escape(str(v))}</code></td></tr>" for k, v in rows
    )
    out.append("</table></body></html>\n")
    return "".join(out).encode()


SCORECARD_HEADER = (
    "<th>entries</th><th>p50</th><th>p95</th><th>within SLA</th><th>pending</th>"
    "<th>overdue</th><th>open queries</th><th>&gt; 30 d</th><th>to answer</th><th>to close</th>"
)


# Inline rather than in STYLE, which the other sections share byte for byte: eleven
# columns of durations read badly when "16.0 h" wraps.
NO_WRAP = "style='white-space:nowrap'"


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def _scorecard_table(dimension: str, cards: dict[str, Any]) -> str:
    rows = [f"<table {NO_WRAP}><tr><th>{dimension}</th>{SCORECARD_HEADER}</tr>"]
    for value, c in cards.items():
        share = c["share_within_sla"]
        rows.append(
            f"<tr><td>{escape(value)}</td><td>{c['entries']}</td>"
            f"<td>{_duration(c['p50_s'])}</td><td>{_duration(c['p95_s'])}</td>"
            f"<td class='{'bad' if share is not None and share < 0.95 else ''}'>{_percent(share)}</td>"
            f"<td>{c['pending']}</td><td class='{'bad' if c['overdue'] else ''}'>{c['overdue']}</td>"
            f"<td>{c['open_queries']}</td>"
            f"<td class='{'bad' if c['queries_over_30d'] else ''}'>{c['queries_over_30d']}</td>"
            f"<td>{_duration(c['median_time_to_answer_s'])}</td>"
            f"<td>{_duration(c['median_time_to_close_s'])}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _scorecard_sections(report: dict[str, Any]) -> list[str]:
    """Vendors and countries side by side per scope, then the sites behind each study's breaches."""
    out = [
        "<h2>Vendor and country scorecards</h2>",
        "<p class='muted'>Each entry counts once per dashboard of its study; shares within SLA "
        "below the 95% objective are marked. Queries: open as of T, of which open for more "
        "than 30 days, and the median time to answer and to close. Entries and queries "
        "without a vendor or country are grouped as <code>unassigned</code>.</p>",
    ]
    scorecards = report["scorecards"]
    scopes = [("All studies", scorecards["all_studies"]), *scorecards["studies"].items()]
    for scope, cards in scopes:
        spread = cards["vendor_spread"]
        out.append(f"<h3>{escape(scope)}</h3>")
        if spread["vendors"] == 1:
            out.append("<p>One vendor: no spread between vendors.</p>")
        elif spread["vendors"]:
            out.append(
                f"<p>Spread between {spread['vendors']} vendors: share within SLA from "
                f"{_percent(spread['min_share_within_sla'])} to "
                f"{_percent(spread['max_share_within_sla'])}, standard deviation "
                f"{100 * spread['stdev_share_within_sla']:.1f} points.</p>"
            )
        out.append(_scorecard_table("vendor", cards["vendor"]))
        out.append(_scorecard_table("country", cards["country"]))
    out.append("<h2>Sites behind the breaches (top 10 per study)</h2>")
    for study, sites in report["sites_behind_breaches"].items():
        out.append(f"<h3>{escape(study)}</h3>")
        if not sites:
            out.append("<p>no entry over SLA</p>")
            continue
        out.append(
            f"<table {NO_WRAP}><tr><th>site</th><th>entries over SLA</th><th>of its entries</th>"
            "<th>share of the study's breaches</th></tr>"
        )
        for site in sites:
            out.append(
                f"<tr><td>{escape(site['site'])}</td><td>{site['over_sla']}</td>"
                f"<td>{site['entries']}</td><td>{_percent(site['share_of_study_breaches'])}</td></tr>"
            )
        out.append("</table>")
    return out
