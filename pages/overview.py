"""Overview: KPIs of the chosen dataset and where the overdue loans' money went in the latest trace."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import charts, pipeline, store
from analysis.errors import LoanFlowError
from analysis.schema import DESTINATION_CLASSES, OVERDUE_STATUSES
from pages.common import ui

ctx = ui.start_page()
st.title(ui.t("overview.title"))

ui.require_dataset(ctx)

try:
    info = store.dataset_info(ctx.dataset_id, path=ctx.db)
    kpis = ui.dataset_kpis(ctx.db, ctx.dataset_id)
except LoanFlowError as error:
    ui.show_error(error)
    st.stop()

st.caption(ui.t("overview.caption", name=ui.plain(info["name"]), version=info["version"],
                created=str(info["created_at"]).replace("T", " ")))

by_currency = kpis["by_currency"]
main = by_currency.iloc[0] if len(by_currency) else None
main_currency = (str(main["currency"]) or None) if main is not None else None

row1 = st.columns(4)
row1[0].metric(ui.t("overview.loans"), f"{kpis['loans']:,}", border=True)
row1[1].metric(ui.t("overview.overdue_loans"), f"{kpis['overdue_loans']:,}",
               delta=(f"{kpis['overdue_loans'] / kpis['loans']:.1%}" if kpis["loans"] else None),
               delta_color="off", delta_arrow="off", border=True)
for col, key, field in ((row1[2], "overview.overdue_amount", "overdue_cents"),
                        (row1[3], "overview.outstanding", "outstanding_cents")):
    col.metric(ui.t(key) + (f" ({main_currency})" if main_currency else ""),
               ui.money_short(main[field]) if main is not None else "–",
               help=ui.money(main[field], main_currency) if main is not None else None, border=True)

row2 = st.columns(4)
row2[0].metric(ui.t("overview.transactions"), f"{kpis['transactions']:,}", border=True)
row2[1].metric(ui.t("overview.accounts"), f"{kpis['accounts']:,}", border=True)
row2[2].metric(ui.t("overview.customers"), f"{kpis['customers']:,}", border=True)
if kpis["transactions"]:
    first, last = str(kpis["first_ts"])[:10], str(kpis["last_ts"])[:10]
    days = (pd.Timestamp(last) - pd.Timestamp(first)).days + 1
    row2[3].metric(ui.t("overview.date_range"), ui.t("overview.days", n=f"{days:,}"), delta=f"{first} → {last}",
                   delta_color="off", delta_arrow="off", border=True)
else:
    row2[3].metric(ui.t("overview.date_range"), ui.t("overview.no_transactions"), border=True)

if len(by_currency) > 1:
    st.subheader(ui.t("overview.by_currency"))
    table = by_currency.assign(
        overdue=by_currency["overdue_cents"] / 100, outstanding=by_currency["outstanding_cents"] / 100,
        principal=by_currency["principal_cents"] / 100,
    )[["currency", "loans", "principal", "overdue", "outstanding"]]
    st.dataframe(table, hide_index=True, column_config={
        "currency": ui.t("common.currency"), "loans": ui.t("overview.overdue_loans"),
        "principal": st.column_config.NumberColumn(ui.t("col.principal"), format="%.2f"),
        "overdue": st.column_config.NumberColumn(ui.t("overview.overdue_amount"), format="%.2f"),
        "outstanding": st.column_config.NumberColumn(ui.t("overview.outstanding"), format="%.2f"),
    })

st.subheader(ui.t("overview.destinations"))
run_id = pipeline.latest_run_id(ctx.dataset_id, path=ctx.db)
if run_id is None:
    st.info(ui.t("overview.no_run"))
    if st.button(ui.t("common.go_fund_flow"), key="overview_go_flow", icon="💸"):
        st.switch_page("pages/fund_flow.py")
    st.stop()

params, summary = ui.trace_run(ctx.db, run_id)
st.caption(ui.t("overview.destinations_caption", run=run_id, created=str(params.get("created_at", "")).replace("T", " "),
                n=len(summary), rule=ui.rule_label(params.get("trace_rule")), hops=params.get("max_hops"),
                days=params.get("window_days")))
overdue = summary[summary["status"].isin(sorted(OVERDUE_STATUSES))]
if not overdue.empty:
    summary = overdue
currencies = sorted(summary["currency"].dropna().astype(str).unique().tolist())
if len(currencies) > 1:
    chosen = st.selectbox(ui.t("common.currency"), currencies, key="overview_currency")
    summary = summary[summary["currency"] == chosen]
totals = charts.class_totals(summary)
if totals["amount"].sum() <= 0:
    st.info(ui.t("overview.no_overdue"))
else:
    labels = {c: ui.class_label(c) for c in DESTINATION_CLASSES}
    chart = charts.destination_chart(totals, labels=labels, amount_title=ui.t("common.amount"),
                                     share_title=ui.t("common.share"), class_title=ui.t("common.destination"),
                                     units=ui.compact_units())
    st.altair_chart(chart, width="stretch")
