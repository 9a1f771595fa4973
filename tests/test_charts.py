"""charts: altair builders return chart objects whose data are the figures given, in class order."""

from __future__ import annotations

import altair as alt
import pandas as pd
import pytest

from analysis import charts


def summary():
    # two loans, 1,000.00 and 500.00; their classes add up to the principal
    return pd.DataFrame({
        "loan_id": ["L1", "L2"],
        "status": ["overdue", "collection"],
        "principal_cents": [100000, 50000],
        "not_moved": [10000, 0],
        "back_to_borrower": [0, 20000],
        "left_dataset": [90000, 30000],
    })


def test_class_totals_in_units_and_shares():
    totals = charts.class_totals(summary(), classes=("not_moved", "back_to_borrower", "left_dataset"))
    assert totals.values.tolist() == [
        ["not_moved", 100.0, 100.0 / 1500.0],
        ["back_to_borrower", 200.0, 200.0 / 1500.0],
        ["left_dataset", 1200.0, 1200.0 / 1500.0],
    ]


def test_class_totals_missing_class_columns_count_zero():
    totals = charts.class_totals(summary())
    assert totals.set_index("destination").loc["cash_out", "amount"] == 0.0
    assert totals["amount"].sum() == 1500.0


def test_destination_chart_drops_empty_classes_and_uses_labels():
    chart = charts.destination_chart(charts.class_totals(summary()), labels={"left_dataset": "left"})
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    rows = spec["datasets"][next(iter(spec["datasets"]))]
    assert [(r["label"], r["amount"], r["text"]) for r in rows] == [
        ("not_moved", 100.0, "6.7%"), ("back_to_borrower", 200.0, "13.3%"), ("left", 1200.0, "80.0%")]


def test_loans_chart_one_bar_part_per_loan_and_class():
    units = summary().assign(not_moved=[100.0, 0.0], back_to_borrower=[0.0, 200.0], left_dataset=[900.0, 300.0])
    spec = charts.loans_chart(units).to_dict()
    rows = spec["datasets"][next(iter(spec["datasets"]))]
    assert sorted((r["loan_id"], r["destination"], r["amount"]) for r in rows) == [
        ("L1", "left_dataset", 900.0), ("L1", "not_moved", 100.0),
        ("L2", "back_to_borrower", 200.0), ("L2", "left_dataset", 300.0)]


def test_sankey_bands_start_at_source_and_end_at_destination():
    flows = pd.DataFrame({"source": ["overdue", "overdue", "collection"],
                          "destination": ["not_moved", "left_dataset", "left_dataset"],
                          "amount": [100.0, 900.0, 300.0]})
    chart = charts.sankey_chart(flows, points=3)
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    bands = next(rows for rows in spec["datasets"].values() if rows and "link" in rows[0])
    by_link: dict[int, list[dict]] = {}
    for row in bands:
        by_link.setdefault(row["link"], []).append(row)
    # gap between stacked nodes = 2.5% of 1,300 = 32.5. Left: overdue [0, 1000], collection [1032.5, 1332.5].
    # Right: not_moved [0, 100], left_dataset [132.5, 1332.5] filled by overdue first, then collection.
    ends = {(rows[0]["source"], rows[0]["destination"]): (rows[0]["y0"], rows[-1]["y0"], rows[0]["y1"] - rows[0]["y0"])
            for rows in by_link.values()}
    assert ends == {
        ("overdue", "not_moved"): (0.0, 0.0, 100.0),
        ("overdue", "left_dataset"): (100.0, 132.5, 900.0),
        ("collection", "left_dataset"): (1032.5, 1032.5, 300.0),
    }


def test_sankey_with_no_money_is_an_empty_chart():
    chart = charts.sankey_chart(pd.DataFrame({"source": ["a"], "destination": ["not_moved"], "amount": [0.0]}))
    assert isinstance(chart, alt.LayerChart)


def test_compact_label_expr_nests_the_steps_largest_first():
    assert charts.compact_label_expr(((1e3, "K"),)) == (
        "abs(datum.value) >= 1000 ? format(datum.value / 1000, ',.4~r') + 'K' : format(datum.value, ',~r')")
    assert charts.compact_label_expr(((1e4, "万"), (1e8, "亿"))) == (
        "abs(datum.value) >= 1e+08 ? format(datum.value / 1e+08, ',.4~r') + '亿' : "
        "abs(datum.value) >= 10000 ? format(datum.value / 10000, ',.4~r') + '万' : format(datum.value, ',~r')")


def test_destination_chart_axes_leave_room_for_labels():
    spec = charts.destination_chart(charts.class_totals(summary()), units=((1e4, "万"),)).to_dict()
    bars = spec["layer"][0]["encoding"]
    assert bars["y"]["axis"]["labelLimit"] == 260  # long class names are not cut at the default 180 px
    axis = bars["x"]["axis"]
    assert axis["labelFlush"] is True  # the last tick label stays inside the chart
    assert "'万'" in axis["labelExpr"]
    # the largest class, left_dataset 1,200.00, plus 12% for its share label
    assert bars["x"]["scale"]["domain"] == [0, pytest.approx(1344.0)]


def test_loans_chart_labels_every_loan():
    units = summary().assign(not_moved=[100.0, 0.0], back_to_borrower=[0.0, 200.0], left_dataset=[900.0, 300.0])
    spec = charts.loans_chart(units).to_dict()
    assert spec["encoding"]["y"]["axis"]["labelOverlap"] is False
    assert spec["height"] == {"step": 22}
