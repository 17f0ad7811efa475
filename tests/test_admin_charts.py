"""Server-side SVG charts (web/admin/charts.py): valid XML, values placed where they belong,
empty series, one point, huge numbers, hostile labels escaped. And the desk's one rule for
rates (web/admin/format.py): two decimals under 1 %, one from there up."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from syndicate.service.clickrate import rate_text
from syndicate.web.admin import charts
from syndicate.web.admin.format import percent

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


def _y_labels(root: ET.Element) -> list[str]:
    return [
        t.text or ""
        for t in root.iter(f"{SVG}text")
        if t.get("x") == str(charts.LEFT - 6) and t.get("text-anchor") == "end"
    ]


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=30))
def test_count_axes_have_whole_ticks_only(values: list[int]) -> None:
    points = [(f"d{i}", v) for i, v in enumerate(values)]
    for svg in (
        charts.line_chart(points, title="t", desc="d", counts=True),
        charts.bar_chart([(k, [v]) for k, v in points], series=["s"], title="t", desc="d",
                         counts=True),
    ):  # fmt: skip
        ticks = charts.ticks(charts.nice_max(max(values)), counts=True)
        assert all(t == int(t) for t in ticks) and 2 <= len(ticks) <= 6
        assert ticks[0] == 0 and ticks[-1] >= max(values)
        labels = _y_labels(parse(svg))
        assert len(labels) == len(ticks) and "." not in "".join(
            label for label in labels if not label[-1:].isalpha()
        )


def test_small_counts_get_one_tick_per_whole_number() -> None:
    root = parse(charts.line_chart([("a", 0), ("b", 1)], title="t", desc="d", counts=True))
    assert _y_labels(root) == ["0", "1"]  # not 0, 0.25, 0.5, 0.75, 1
    root = parse(charts.bar_chart([("w", [3, 1])], series=["a", "b"], title="t", desc="d",
                                  counts=True))  # fmt: skip
    assert _y_labels(root) == ["0", "1", "2", "3", "4", "5"]
    rates = parse(charts.bar_chart([("w", [0.5])], series=["%"], title="t", desc="d"))
    assert _y_labels(rates) == ["0", "0.12", "0.25", "0.38", "0.5"]  # rates keep fractions


def test_the_legend_leaves_room_for_each_name() -> None:
    names = ["subscribed", "unsubscribed", "bounced"]
    root = parse(charts.bar_chart([("w", [1, 2, 3])], series=names, title="t", desc="d"))
    legend = [t for t in root.iter(f"{SVG}text") if t.text in names]
    xs = [float(t.get("x", "nan")) for t in legend]
    for (x, name), nxt in zip(zip(xs, names, strict=True), xs[1:], strict=False):
        assert nxt - x >= charts.LEGEND_CHAR * len(name)  # room at the larger phone size
    assert xs[-1] + charts.LEGEND_CHAR * len(names[-1]) <= charts.WIDTH


def test_the_weekly_text_covers_every_week() -> None:
    from syndicate.service.desk import Week
    from syndicate.web.admin.pages_dashboard import weekly_desc

    weeks = [
        Week(start=f"2026-09-{7 + n:02d}", subscribed=n, unsubscribed=1, bounced=0, complained=0)
        for n in range(12)
    ]
    text = weekly_desc(weeks)
    assert text.startswith("12 weeks from 2026-09-07 to 2026-09-18: +66, -12, 0 bounced in all.")
    assert "The last 4 of 12 weeks: week of 2026-09-15: +8, -1, 0 bounced;" in text


def test_rates_have_two_decimals_under_one_percent_and_one_above() -> None:
    """trial17b N8: `20.00 %` beside `16.7 %`; now every rate follows one rule."""
    assert percent(0.2) == "20.0 %" and percent(1 / 6) == "16.7 %" and percent(1.0) == "100.0 %"
    assert percent(0.0035) == "0.35 %" and percent(0.0) == "0.00 %"
    assert percent(0.01) == "1.0 %" and percent(0.00995) == "1.0 %"  # rounds up: one decimal
    assert percent(0.00994) == "0.99 %"
    assert percent(0.00001) == "< 0.01 %" and percent(None) == "–"
    assert percent(0.5, 0) == "50 %"  # progress keeps its own decimals


@given(st.floats(min_value=0, max_value=1, allow_nan=False))
def test_the_rate_rule_is_the_clis(rate: float) -> None:
    shown = percent(rate)
    assert shown == rate_text(rate)  # the desk and `syndicate report` say the same
    number = shown.removeprefix("< ").removesuffix(" %")
    decimals = len(number.split(".")[1])
    assert decimals == (2 if float(number) < 1 else 1), shown
