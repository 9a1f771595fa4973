"""Altair chart builders over DataFrames: each returns a chart object and never renders it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from .schema import DESTINATION_CLASSES

# One colour per destination class, the same in every chart (order = DESTINATION_CLASSES).
CLASS_COLORS: dict[str, str] = dict(zip(DESTINATION_CLASSES, (
    "#9e9e9e",  # not_moved
    "#d62728",  # back_to_borrower
    "#ff7f0e",  # other_borrower
    "#e377c2",  # related_party
    "#8c564b",  # other_loan_repayment
    "#9467bd",  # restricted_sector
    "#17becf",  # cross_border
    "#bcbd22",  # cash_out
    "#1f77b4",  # left_dataset
    "#aec7e8",  # remaining
    "#c7c7c7",  # dropped
    "#7f7f7f",  # unconverted
)))


# Short amounts on a value axis: 64,000,000 is drawn as 64M (callers pass 万/亿 steps for Chinese).
COMPACT_UNITS: tuple[tuple[float, str], ...] = ((1e9, "B"), (1e6, "M"), (1e3, "K"))
LABEL_LIMIT = 260  # px for class and loan labels: "other loan repayment" / "其他贷款还款" must not be cut


def compact_label_expr(units: Sequence[tuple[float, str]] = COMPACT_UNITS) -> str:
    """Return a Vega expression that prints an axis value as a short amount (64M, 6,400万); steps largest first."""
    expr = "format(datum.value, ',~r')"
    for size, suffix in sorted(units, key=lambda step: step[0]):
        expr = (f"abs(datum.value) >= {size:g} ? format(datum.value / {size:g}, ',.4~r') + '{suffix}' : "
                f"{expr}")
    return expr


def _amount_axis(title: str, units: Sequence[tuple[float, str]]) -> alt.Axis:
    # labelFlush keeps the first and last tick labels inside the plot: the last one was clipped at the edge
    return alt.Axis(title=title, labelExpr=compact_label_expr(units), labelFlush=True, labelOverlap=True)


def _class_scale(classes: Sequence[str], labels: Mapping[str, str]) -> alt.Scale:
    present = [c for c in DESTINATION_CLASSES if c in set(classes)] + [c for c in classes if c not in CLASS_COLORS]
    present = list(dict.fromkeys(present))
    return alt.Scale(domain=[labels.get(c, c) for c in present], range=[CLASS_COLORS.get(c, "#333333") for c in present])


def class_totals(summary: pd.DataFrame, *, classes: Sequence[str] = DESTINATION_CLASSES) -> pd.DataFrame:
    """Return one row per destination class: destination, amount (currency units), share of all traced money."""
    cents = {c: int(pd.to_numeric(summary[c]).fillna(0).sum()) if c in summary.columns else 0 for c in classes}
    total = sum(cents.values())
    return pd.DataFrame({
        "destination": list(cents),
        "amount": [v / 100 for v in cents.values()],
        "share": [(v / total if total else 0.0) for v in cents.values()],
    })


def destination_chart(by_class: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                      amount_title: str = "amount", share_title: str = "share", class_title: str = "destination",
                      units: Sequence[tuple[float, str]] = COMPACT_UNITS) -> alt.Chart:
    """Return a horizontal bar chart of money per destination class (columns destination, amount, share)."""
    labels = dict(labels or {})
    data = by_class[by_class["amount"] > 0].copy() if len(by_class) else by_class.copy()
    data["label"] = [labels.get(c, c) for c in data["destination"]]
    data["text"] = [f"{s:.1%}" for s in data["share"]]
    order = [labels.get(c, c) for c in DESTINATION_CLASSES if c in set(data["destination"])]
    y = alt.Y("label:N", sort=order, title=class_title, axis=alt.Axis(labelLimit=LABEL_LIMIT))
    base = alt.Chart(data).encode(y=y)
    # 12% headroom past the longest bar for its share label
    top = float(data["amount"].max()) * 1.12 if len(data) else 1.0
    bars = base.mark_bar().encode(
        x=alt.X("amount:Q", axis=_amount_axis(amount_title, units), scale=alt.Scale(domain=[0, top])),
        color=alt.Color("label:N", scale=_class_scale(list(data["destination"]), labels), legend=None),
        tooltip=[alt.Tooltip("label:N", title=class_title), alt.Tooltip("amount:Q", title=amount_title, format=",.2f"),
                 alt.Tooltip("share:Q", title=share_title, format=".1%")],
    )
    text = base.mark_text(align="left", dx=3).encode(x="amount:Q", text="text:N")
    return (bars + text).properties(height=alt.Step(24))


def loans_chart(per_loan: pd.DataFrame, *, labels: Mapping[str, str] | None = None, max_loans: int = 25,
                amount_title: str = "amount", loan_title: str = "loan", class_title: str = "destination",
                units: Sequence[tuple[float, str]] = COMPACT_UNITS) -> alt.Chart:
    """Return stacked horizontal bars, one per loan (largest first), split by destination class.

    `per_loan` has loan_id and one column per destination class in currency units.
    """
    labels = dict(labels or {})
    classes = [c for c in DESTINATION_CLASSES if c in per_loan.columns]
    top = per_loan.assign(_total=per_loan[classes].sum(axis=1)).nlargest(max_loans, "_total")
    long = top.melt(id_vars=["loan_id"], value_vars=classes, var_name="destination", value_name="amount")
    long = long[long["amount"] > 0]
    long["label"] = [labels.get(c, c) for c in long["destination"]]
    long["order"] = [DESTINATION_CLASSES.index(c) for c in long["destination"]]
    return alt.Chart(long).mark_bar().encode(
        # every loan gets its label: a 22 px row fits one, and Vega must not drop "overlapping" ones
        y=alt.Y("loan_id:N", sort=top["loan_id"].astype(str).tolist(), title=loan_title,
                axis=alt.Axis(labelOverlap=False, labelLimit=LABEL_LIMIT)),
        x=alt.X("sum(amount):Q", stack="zero", axis=_amount_axis(amount_title, units)),
        color=alt.Color("label:N", scale=_class_scale(list(long["destination"]), labels), title=class_title,
                        legend=alt.Legend(labelLimit=LABEL_LIMIT)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("loan_id:N", title=loan_title), alt.Tooltip("label:N", title=class_title),
                 alt.Tooltip("amount:Q", title=amount_title, format=",.2f")],
    ).properties(height=alt.Step(22))


def sankey_chart(flows: pd.DataFrame, *, labels: Mapping[str, str] | None = None, height: int = 360,
                 amount_title: str = "amount", points: int = 24) -> alt.LayerChart:
    """Return a two-column Sankey diagram of `flows` (source, destination, amount in units > 0).

    Sources are drawn on the left (largest first), destination classes on the right in
    DESTINATION_CLASSES order; each band's thickness is its amount.
    """
    labels = dict(labels or {})
    flows = flows[pd.to_numeric(flows["amount"]) > 0].copy()
    flows["source"] = flows["source"].astype(str)
    flows["destination"] = flows["destination"].astype(str)
    total = float(flows["amount"].sum())
    if total <= 0:
        return alt.layer(alt.Chart(pd.DataFrame({"x": [], "y": []})).mark_point())
    gap = total * 0.025
    src_amount = flows.groupby("source")["amount"].sum().sort_values(ascending=False)
    dst_present = set(flows["destination"])
    dst_order = [c for c in DESTINATION_CLASSES if c in dst_present] + sorted(dst_present - set(DESTINATION_CLASSES))
    dst_amount = flows.groupby("destination")["amount"].sum().reindex(dst_order)

    def stack(amounts: pd.Series) -> dict[str, float]:
        tops, y = {}, 0.0
        for key, value in amounts.items():
            tops[key] = y
            y += float(value) + gap
        return tops

    src_top, dst_top = stack(src_amount), stack(dst_amount)
    src_cursor, dst_cursor = dict(src_top), dict(dst_top)
    flows["s_rank"] = flows["source"].map({k: i for i, k in enumerate(src_amount.index)})
    flows["d_rank"] = flows["destination"].map({k: i for i, k in enumerate(dst_order)})
    bands = []
    xs = np.linspace(0.0, 1.0, points)
    ease = 3 * xs**2 - 2 * xs**3  # smoothstep: bands leave and arrive horizontally
    link_rows = flows.sort_values(["s_rank", "d_rank"]).itertuples(index=False)
    for i, row in enumerate(link_rows):
        amount = float(row.amount)
        left, right = src_cursor[row.source], dst_cursor[row.destination]
        src_cursor[row.source] += amount
        dst_cursor[row.destination] += amount
        y0 = left + (right - left) * ease
        for x, y in zip(xs, y0):
            bands.append({"link": i, "x": float(x), "y0": float(y), "y1": float(y) + amount,
                          "source": row.source, "destination": labels.get(row.destination, row.destination),
                          "amount": amount})
    band_frame = pd.DataFrame(bands)
    nodes = pd.DataFrame(
        [{"x0": -0.04, "x1": 0.0, "y0": src_top[k], "y1": src_top[k] + float(v), "name": str(k),
          "text": f"{k}  {float(v):,.2f}", "tx": -0.05, "align": "right", "side": "source"}
         for k, v in src_amount.items()]
        + [{"x0": 1.0, "x1": 1.04, "y0": dst_top[k], "y1": dst_top[k] + float(v), "name": labels.get(k, k),
            "text": f"{labels.get(k, k)}  {float(v):,.2f} ({float(v) / total:.1%})", "tx": 1.05, "align": "left",
            "side": "destination"}
           for k, v in dst_amount.items()]
    )
    nodes["ty"] = (nodes["y0"] + nodes["y1"]) / 2
    span = max(float(nodes["y1"].max()), 1.0)
    # thin nodes would print their labels on top of each other: keep labels >= 14 px apart
    min_sep = span * 14 / max(height, 1)
    for side in ("source", "destination"):
        idx = nodes.index[nodes["side"] == side]
        placed = -np.inf
        for i in nodes.loc[idx].sort_values("ty").index:
            placed = max(float(nodes.at[i, "ty"]), placed + min_sep)
            nodes.at[i, "ty"] = placed
    span = max(span, float(nodes["ty"].max()) + min_sep / 2)
    x_scale = alt.Scale(domain=[-0.75, 1.75], nice=False)
    y_scale = alt.Scale(domain=[0, span], reverse=True, nice=False)
    color = alt.Color("destination:N", scale=_class_scale(dst_order, labels), legend=None)
    area = alt.Chart(band_frame).mark_area(opacity=0.5, interpolate="linear").encode(
        x=alt.X("x:Q", scale=x_scale, axis=None),
        y=alt.Y("y0:Q", scale=y_scale, axis=None),
        y2="y1:Q",
        color=color,
        detail="link:N",
        tooltip=[alt.Tooltip("source:N"), alt.Tooltip("destination:N"),
                 alt.Tooltip("amount:Q", title=amount_title, format=",.2f")],
    )
    node_color = alt.condition(alt.datum.side == "source", alt.value("#555555"),
                               alt.Color("name:N", scale=_class_scale(dst_order, labels), legend=None))
    rects = alt.Chart(nodes).mark_rect().encode(
        x=alt.X("x0:Q", scale=x_scale, axis=None), x2="x1:Q",
        y=alt.Y("y0:Q", scale=y_scale, axis=None), y2="y1:Q",
        color=node_color,
        tooltip=[alt.Tooltip("text:N", title=amount_title)],
    )
    left_text = alt.Chart(nodes[nodes["side"] == "source"]).mark_text(align="right", baseline="middle", fontSize=11) \
        .encode(x=alt.X("tx:Q", scale=x_scale, axis=None), y=alt.Y("ty:Q", scale=y_scale, axis=None), text="text:N")
    right_text = alt.Chart(nodes[nodes["side"] == "destination"]).mark_text(align="left", baseline="middle",
                                                                             fontSize=11) \
        .encode(x=alt.X("tx:Q", scale=x_scale, axis=None), y=alt.Y("ty:Q", scale=y_scale, axis=None), text="text:N")
    return alt.layer(area, rects, left_text, right_text).properties(height=height).configure_view(strokeWidth=0)
