"""Server-side SVG charts (web/admin/charts.py): valid XML, values placed where they belong,
empty series, one point, huge numbers, hostile labels escaped."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from syndicate.web.admin import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    return root


def test_a_line_chart_places_each_value_on_its_height() -> None:
    svg = charts.line_chart(
        [("2026-11-01", 0), ("2026-11-02", 50), ("2026-11-03", 100)], title="Active", desc="d"
    )
    root = parse(svg)
    assert root.findtext(f"{SVG}title") == "Active" and root.findtext(f"{SVG}desc") == "d"
    dots = root.findall(f"{SVG}circle")
    bottom = charts.HEIGHT - charts.BOTTOM
    ys = [float(c.get("cy", "nan")) for c in dots]
    # 0 sits on the axis, 100 (the axis top: nice_max(100)) at the top, 50 half-way.
    assert ys[0] == bottom and ys[2] == charts.TOP
    assert math.isclose(ys[1], (bottom + charts.TOP) / 2)
    xs = [float(c.get("cx", "nan")) for c in dots]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert [c.findtext(f"{SVG}title") for c in dots][1] == "2026-11-02: 50"
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "100" in labels and "0" in labels  # the y axis
    assert "2026-11-01" in labels and "2026-11-03" in labels  # the x axis


def test_bars_are_as_tall_as_their_values_with_a_legend() -> None:
    svg = charts.bar_chart(
        [("W1", [10, 5, 0]), ("W2", [20, 0, 2])],
        series=["subscribed", "unsubscribed", "bounced"],
        title="Weekly",
        desc="per week",
    )
    root = parse(svg)
    bars = [r for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    heights = {r.findtext(f"{SVG}title"): float(r.get("height", "nan")) for r in bars}
    plot = charts.HEIGHT - charts.TOP - charts.BOTTOM
    assert heights["W2, subscribed: 20"] == plot  # nice_max(20) = 20
    assert math.isclose(heights["W1, subscribed: 10"], plot / 2)
    assert heights["W1, bounced: 0"] == 0
    assert [t.text for t in root.iter(f"{SVG}text")][-3:] == [
        "subscribed",
        "unsubscribed",
        "bounced",
    ]


def test_empty_and_single_point_series() -> None:
    root = parse(charts.line_chart([], title="t", desc="d"))
    assert "No data yet" in [t.text for t in root.iter(f"{SVG}text")]
    assert root.find(f"{SVG}polyline") is None
    parse(charts.bar_chart([], series=["a"], title="t", desc="d"))
    one = parse(charts.line_chart([("today", 7)], title="t", desc="d"))
    (dot,) = one.findall(f"{SVG}circle")
    assert float(dot.get("cx", "nan")) == charts.LEFT + (charts.WIDTH - charts.LEFT - 12) / 2


def test_huge_and_odd_numbers() -> None:
    root = parse(
        charts.line_chart(
            [("a", 3_400_000_000), ("b", float("nan")), ("c", -5), ("d", float("inf"))],
            title="t",
            desc="d",
        )
    )
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "5G" in labels  # the axis top, nice_max(3.4e9)
    assert [d.findtext(f"{SVG}title") for d in root.findall(f"{SVG}circle")] == [
        "a: 3.4G",
        "b: ?",
        "c: -5",
        "d: ?",
    ]
    assert charts.short(12_500) == "12.5k" and charts.short(950) == "950"
    assert charts.short(0.125) == "0.12" and charts.nice_max(0) == 1.0


def test_hostile_labels_are_escaped() -> None:
    evil = "<script>alert(1)</script>&\"'"
    svg = charts.bar_chart(
        [(evil, [1])], series=[evil], title=evil, desc=evil, empty=evil
    ) + charts.line_chart([], title="t", desc="d", empty=evil)
    assert "<script>" not in svg
    for part in (svg[: svg.index("</svg>") + 6], svg[svg.index("</svg>") + 6 :]):
        root = parse(part)
        assert evil in [t.text for t in root.iter()] or root.findtext(f"{SVG}title") == "t"


@given(
    st.lists(
        st.tuples(st.text(max_size=20), st.floats(allow_nan=True, allow_infinity=True)),
        max_size=30,
    )
)
def test_any_series_gives_valid_svg(points: list[tuple[str, float]]) -> None:
    parse(charts.line_chart(points, title="t", desc="d"))
    parse(charts.bar_chart([(k, [v, v]) for k, v in points], series=["x"], title="t", desc="d"))
