"""Charts as inline SVG drawn on the server: readable without JavaScript, and allowed by a strict CSP.

No ``style=`` attributes and no scripts: colours come from ``class=`` (themed by dashboard.css) with ``fill=``
presentation attributes underneath, so a chart still reads right when the stylesheet is missing. Every label is
escaped: provider names come from configuration and task names from YAML files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from sentinel.dashboard.service import VERDICTS

#: Fallback fills (dashboard.css overrides them through the ``seg-*`` classes).
FILLS: dict[str, str] = {
    "ok": "#2e7d32",
    "rate_limited": "#f9a825",
    "unavailable": "#c62828",
    "timeout": "#6a1b9a",
    "content_filtered": "#1565c0",
    "invalid_request": "#6d4c41",
    "auth": "#37474f",
    "skipped": "#9e9e9e",
    "green": "#2e7d32",
    "amber": "#f9a825",
    "red": "#c62828",
    "p50": "#64b5f6",
    "p95": "#1e88e5",
    "p99": "#0d47a1",
}
OTHER_FILL = "#757575"
#: Segments light enough that their labels need dark text.
LIGHT_SEGMENTS = frozenset({"rate_limited", "amber", "skipped", "p50"})
DARK_TEXT, LIGHT_TEXT = "#1b1b1b", "#ffffff"

LABEL_WIDTH = 230
BAR_WIDTH = 440
#: Room right of the bars for the row total or a bar's value.
TAIL_WIDTH = 90
CHART_WIDTH = LABEL_WIDTH + BAR_WIDTH + TAIL_WIDTH
#: One line of the legend above a chart.
LEGEND_LINE = 20
ROW_HEIGHT = 28
BAR_HEIGHT = 18
#: A segment narrower than this carries no text (its <title> and the table still have the number).
MIN_WIDTH_FOR_PERCENT = 30
MIN_WIDTH_FOR_COUNT_AND_PERCENT = 64
MAX_LABEL_CHARS = 30
SERIES_BAR_HEIGHT = 12
SERIES_GAP = 3
GROUP_HEADER = 18
GROUP_GAP = 10

StackedRow = tuple[str, Mapping[str, int]]
GroupedRow = tuple[str, Mapping[str, float | None]]


def css_name(name: str) -> str:
    """A class-name-safe form of a segment name (outcomes other than the known ones come from the database)."""
    return re.sub(r"[^a-z0-9_-]", "-", name.lower()) or "other"


def shorten(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def _svg(kind: str, height: float, title: str, description: str, body: list[Markup]) -> Markup:
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {width} {height}" '
        'width="{width}" height="{height}" role="img" aria-label="{label}" font-family="system-ui, sans-serif" '
        'font-size="12"><title>{title}</title>{body}</svg>'
    ).format(
        kind=kind,
        width=CHART_WIDTH,
        height=f"{height:g}",
        label=f"{title}. {description}" if description else title,
        title=title,
        body=Markup("").join(body),
    )


def _empty(message: str) -> Markup:
    return Markup('<p class="chart-empty">{}</p>').format(message)


def _legend(names: Sequence[str]) -> tuple[list[Markup], float]:
    """Swatches with names, wrapped onto more lines when they do not fit; returns them and the height they take."""
    parts: list[Markup] = []
    x, y = 0.0, 6.0
    for name in names:
        width = 16 + 7 * len(name) + 14
        if x and x + width > CHART_WIDTH:
            x, y = 0.0, y + LEGEND_LINE
        parts.append(
            Markup(
                '<g class="legend-item"><rect class="seg seg-{cls}" fill="{fill}" x="{x:.1f}" y="{y:.1f}" width="12" '
                'height="12"/><text class="legend-label" x="{tx:.1f}" y="{ty:.1f}">{name}</text></g>'
            ).format(cls=css_name(name), fill=FILLS.get(name, OTHER_FILL), x=x, y=y, tx=x + 16, ty=y + 10, name=name)
        )
        x += width
    return parts, y + LEGEND_LINE


def _row_label(label: str, y: float) -> Markup:
    return Markup(
        '<text class="row-label" x="{x}" y="{y:.1f}" text-anchor="end"><title>{full}</title>{short}</text>'
    ).format(x=LABEL_WIDTH - 8, y=y, full=label, short=shorten(label))


def stacked_bar_chart(
    rows: Sequence[StackedRow],
    segments: Sequence[str],
    *,
    title: str,
    empty: str = "no calls in this window",
) -> Markup:
    """One horizontal bar per row, split into ``segments`` in proportion to their counts (each row is its own 100%).

    Each segment carries its share (and count, when there is room) as text, and a <title> for hover.
    """
    rows = [(label, counts) for label, counts in rows if sum(counts.get(s, 0) for s in segments) > 0]
    if not rows:
        return _empty(empty)
    shown = [s for s in segments if any(counts.get(s, 0) for _, counts in rows)]
    body, legend_height = _legend(shown)
    descriptions: list[str] = []
    for index, (label, counts) in enumerate(rows):
        total = sum(counts.get(s, 0) for s in shown)
        top = legend_height + index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2
        middle = top + BAR_HEIGHT / 2 + 4
        body.append(_row_label(label, middle))
        x = float(LABEL_WIDTH)
        parts: list[str] = []
        for segment in shown:
            count = counts.get(segment, 0)
            if not count:
                continue
            width = BAR_WIDTH * count / total
            share = percent(count, total)
            parts.append(f"{share} {segment}")
            body.append(
                Markup(
                    '<rect class="seg seg-{cls}" fill="{fill}" x="{x:.2f}" y="{y:.1f}" width="{width:.2f}" '
                    'height="{height}" data-segment="{segment}" data-count="{count}">'
                    "<title>{label}: {segment} {count} of {total} ({share})</title></rect>"
                ).format(
                    cls=css_name(segment),
                    fill=FILLS.get(segment, OTHER_FILL),
                    x=x,
                    y=top,
                    width=width,
                    height=BAR_HEIGHT,
                    segment=segment,
                    count=count,
                    label=label,
                    total=total,
                    share=share,
                )
            )
            if width >= MIN_WIDTH_FOR_PERCENT:
                text = f"{count} · {share}" if width >= MIN_WIDTH_FOR_COUNT_AND_PERCENT else share
                body.append(
                    Markup(
                        '<text class="seg-label seg-label-{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
                        'fill="{fill}">{text}</text>'
                    ).format(
                        cls=css_name(segment),
                        x=x + width / 2,
                        y=middle,
                        fill=DARK_TEXT if segment in LIGHT_SEGMENTS else LIGHT_TEXT,
                        text=text,
                    )
                )
            x += width
        body.append(
            Markup('<text class="row-total" x="{x}" y="{y:.1f}">n = {total}</text>').format(
                x=LABEL_WIDTH + BAR_WIDTH + 8, y=middle, total=total
            )
        )
        descriptions.append(f"{label}: " + ", ".join(parts))
    height = legend_height + len(rows) * ROW_HEIGHT + 4
    return _svg("stacked", height, title, "; ".join(descriptions), body)


def grouped_bar_chart(
    rows: Sequence[GroupedRow],
    series: Sequence[str],
    *,
    title: str,
    unit: str = "ms",
    empty: str = "no calls in this window",
    missing: str = "no successful calls",
) -> Markup:
    """Per row a group of horizontal bars, one per series, on one scale shared by the whole chart, with values."""
    if not rows:
        return _empty(empty)
    values = [v for _, by_series in rows for s in series if (v := by_series.get(s)) is not None]
    scale = BAR_WIDTH / max(values) if values and max(values) > 0 else 0.0
    group_height = GROUP_HEADER + len(series) * (SERIES_BAR_HEIGHT + SERIES_GAP) + GROUP_GAP
    body, legend_height = _legend(series)
    descriptions: list[str] = []
    for index, (label, by_series) in enumerate(rows):
        top = legend_height + index * group_height
        body.append(
            Markup('<text class="group-label" x="0" y="{y:.1f}"><title>{full}</title>{short}</text>').format(
                y=top + GROUP_HEADER - 5, full=label, short=shorten(label, 80)
            )
        )
        if all(by_series.get(s) is None for s in series):
            body.append(
                Markup('<text class="no-data" x="{x}" y="{y:.1f}">{missing}</text>').format(
                    x=LABEL_WIDTH, y=top + GROUP_HEADER + SERIES_BAR_HEIGHT, missing=missing
                )
            )
            descriptions.append(f"{label}: {missing}")
            continue
        parts: list[str] = []
        for position, name in enumerate(series):
            value = by_series.get(name)
            y = top + GROUP_HEADER + position * (SERIES_BAR_HEIGHT + SERIES_GAP)
            middle = y + SERIES_BAR_HEIGHT / 2 + 4
            shown = "–" if value is None else f"{value:.1f} {unit}"
            parts.append(f"{name} {shown}")
            width = 0.0 if value is None else max(value * scale, 1.0)
            body.append(
                Markup(
                    '<text class="series-label" x="{lx}" y="{my:.1f}" text-anchor="end">{name}</text>'
                    '<rect class="bar seg-{cls}" fill="{fill}" x="{x}" y="{y:.1f}" width="{width:.2f}" '
                    'height="{height}" data-series="{name}"><title>{label} {name}: {shown}</title></rect>'
                    '<text class="bar-value" x="{vx:.1f}" y="{my:.1f}">{shown}</text>'
                ).format(
                    lx=LABEL_WIDTH - 8,
                    my=middle,
                    name=name,
                    cls=css_name(name),
                    fill=FILLS.get(name, OTHER_FILL),
                    x=LABEL_WIDTH,
                    y=y,
                    width=width,
                    height=SERIES_BAR_HEIGHT,
                    label=label,
                    shown=shown,
                    vx=LABEL_WIDTH + width + 6,
                )
            )
        descriptions.append(f"{label}: " + ", ".join(parts))
    height = legend_height + len(rows) * group_height
    return _svg("grouped", height, title, "; ".join(descriptions), body)


def chart_context(summary: Mapping[str, Any]) -> dict[str, Markup]:
    """The dashboard's charts for one summary (from :meth:`DashboardService.summary`), by name."""
    providers = summary["providers"]
    outcome_rows = [(row["key"], {"ok": row["ok"], **row["failures"]}) for row in providers]
    latency_rows = [
        (row["key"], {name: row["latency_ms"][name] for name in ("p50", "p95", "p99")}) for row in providers
    ]
    return {
        "outcomes": stacked_bar_chart(
            outcome_rows,
            ["ok", *summary["failure_classes"]],
            title="Outcome mix per provider:model (candidates skipped while cooling down are not requests)",
        ),
        "latency": grouped_bar_chart(
            latency_rows, ("p50", "p95", "p99"), title="Latency of successful calls per provider:model"
        ),
        "verdicts_by_model": stacked_bar_chart(
            [(row["key"], row) for row in summary["verdicts_by_model"]],
            VERDICTS,
            title="Panel verdicts per provider:model",
            empty="no judged attempts in this window",
        ),
        "verdicts_by_task": stacked_bar_chart(
            [(row["task"], row) for row in summary["verdicts_by_task"]],
            VERDICTS,
            title="Panel verdicts per task",
            empty="no verdicts in this window",
        ),
    }
