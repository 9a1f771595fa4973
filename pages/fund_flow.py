"""Fund Flow: trace the loans' money, see where it went (Sankey, table) and each loan's path graph."""

from __future__ import annotations

import typing

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from analysis import charts, graph_html, pipeline, tracing
from analysis.errors import LoanFlowError
from analysis.schema import DESTINATION_CLASSES
from analysis.thresholds import Thresholds, TraceRule
from pages.common import i18n, ui

AMOUNT = "accounting"  # NumberColumn format: 1,234.00
GRAPH_HEIGHT = 560

ctx = ui.start_page()
st.title(ui.t("flow.title"))
ui.require_dataset(ctx)

current = ui.thresholds(ctx.db)
try:
    has_loans = ui.dataset_kpis(ctx.db, ctx.dataset_id)["loans"] > 0
except LoanFlowError as error:
    ui.show_error(error)
    st.stop()
if not has_loans:
    # e.g. a transactions-only upload: say so before offering a run that can only fail
    st.info(ui.t("flow.no_loans"))
    st.page_link("pages/data.py", label=ui.t("common.go_data"), icon="🗂️")
fields = Thresholds.model_fields


def _bound(name: str, attr: str, default: float) -> float:
    """Return a field's ge/le bound from its pydantic metadata (so widgets follow Thresholds)."""
    for meta in fields[name].metadata:
        if hasattr(meta, attr):
            return getattr(meta, attr)
    return default


def _help(name: str) -> str:
    return fields[name].description or ""


# --- parameters and run --------------------------------------------------------------------------
with st.form("trace_params"):
    st.subheader(ui.t("flow.params"))
    cols = st.columns([1.2, 1.5, 1, 1])
    rules = list(typing.get_args(TraceRule))
    rule = cols[0].selectbox(ui.t("flow.rule"), rules, index=rules.index(current.trace_rule), help=_help("trace_rule"),
                             format_func=ui.rule_label, key="flow_rule")
    max_hops = cols[1].slider(ui.t("flow.max_hops"), int(_bound("max_hops", "ge", 1)), int(_bound("max_hops", "le", 30)),
                              int(current.max_hops), help=_help("max_hops"), key="flow_max_hops")
    window_days = cols[2].number_input(ui.t("flow.window_days"), int(_bound("window_days", "ge", 1)),
                                       int(_bound("window_days", "le", 3660)), int(current.window_days), step=1,
                                       help=_help("window_days"), key="flow_window_days")
    min_amount = cols[3].number_input(ui.t("flow.min_amount"), 0.0, None, float(current.min_amount), step=1.0,
                                      format="%.2f", help=_help("min_amount"), key="flow_min_amount")
    all_loans = st.checkbox(ui.t("flow.all_loans"), value=current.trace_all_loans, help=_help("trace_all_loans"),
                            key="flow_all_loans")
    submitted = st.form_submit_button(ui.t("flow.run"), type="primary", icon="▶️", disabled=not has_loans)

if submitted and has_loans:
    try:
        chosen = Thresholds.model_validate({**current.model_dump(), "trace_rule": rule, "max_hops": int(max_hops),
                                            "window_days": int(window_days), "min_amount": float(min_amount),
                                            "trace_all_loans": bool(all_loans)})
    except ValidationError as error:
        st.error(ui.t("flow.invalid", error="; ".join(e["msg"] for e in error.errors())))
    else:
        ui.set_thresholds(ctx.db, chosen)
        bar = st.progress(0.0, text=ui.t("flow.running", done=0, total="…"))
        last = {"pct": -1}

        def progress(done: int, total: int) -> None:
            # one UI update per percent: thousands of loans must not send thousands of messages
            pct = int(100 * done / total) if total else 100
            if pct != last["pct"]:
                last["pct"] = pct
                bar.progress(min(pct, 100) / 100, text=ui.t("flow.running", done=done, total=total))

        try:
            run_id = pipeline.run_trace(ctx.dataset_id, chosen, path=ctx.db, progress=progress)
        except LoanFlowError as error:
            bar.empty()
            ui.show_error(error)
        else:
            bar.empty()
            st.session_state["flow_run"] = run_id
            st.success(ui.t("flow.done", n=int(ui.trace_run(ctx.db, run_id)[1].shape[0])))

with st.expander(ui.t("flow.semantics"), icon="📖"):
    if ctx.lang == "zh":
        st.markdown(i18n.SEMANTICS_ZH)
        st.divider()
    st.markdown(getattr(tracing, "SEMANTICS", None) or tracing.__doc__ or "")

# --- which run ---------------------------------------------------------------------------------
if not has_loans:
    st.stop()
runs = ui.trace_runs(ctx.db, ctx.dataset_id)
if runs.empty:
    st.info(ui.t("flow.no_run"))
    st.stop()


def _run_label(run_id: str) -> str:
    row = runs[runs["run_id"] == run_id].iloc[0]
    p = row["params"]
    return ui.t("flow.run_label", created=str(row["created_at"]).replace("T", " "),
                rule=ui.rule_label(p.get("trace_rule")),
                hops=p.get("max_hops"), days=p.get("window_days"), n=int(row["n_loans"]))


run_ids = runs["run_id"].astype(str).tolist()
preferred = st.session_state.get("flow_run")
run_id = st.selectbox(ui.t("flow.runs"), run_ids, index=run_ids.index(preferred) if preferred in run_ids else 0,
                      format_func=_run_label)
st.session_state["flow_run"] = run_id
params, summary = ui.trace_run(ctx.db, run_id)
st.caption(ui.t("flow.run_caption", run=run_id, created=str(params.get("created_at", "")).replace("T", " "),
                rule=ui.rule_label(params.get("trace_rule")), hops=params.get("max_hops"),
                days=params.get("window_days"), min=params.get("min_amount"),
                scope=ui.t("flow.scope_all") if params.get("trace_all_loans") else ui.t("flow.scope_overdue")))
coverage = ui.coverage_warning(ctx.db, ctx.dataset_id, summary)
if coverage:
    st.warning(coverage, icon="📅")
skipped = params.get("skipped") or []
if skipped:
    with st.expander(ui.t("flow.skipped", n=len(skipped)), icon="⚠️"):
        st.dataframe(pd.DataFrame(skipped), hide_index=True)

currencies = sorted(summary["currency"].dropna().astype(str).unique().tolist())
currency = None
if len(currencies) > 1:
    # amounts in different currencies cannot be added up: one currency at a time
    currency = st.selectbox(ui.t("flow.currency"), currencies, key="flow_currency")
    summary = summary[summary["currency"] == currency]
elif currencies:
    currency = currencies[0]

classes = [c for c in DESTINATION_CLASSES if c in summary.columns]
principal = int(summary["principal_cents"].fillna(0).sum())
not_moved = int(summary["not_moved"].fillna(0).sum()) if "not_moved" in summary else 0
in_ccy = f" ({currency})" if currency else ""
kpi = st.columns(4)
kpi[0].metric(ui.t("flow.kpi.loans"), f"{len(summary):,}", border=True)
kpi[1].metric(ui.t("flow.kpi.principal") + in_ccy, ui.money_short(principal), help=ui.money(principal, currency),
              border=True)
kpi[2].metric(ui.t("flow.kpi.moved") + in_ccy, ui.money_short(principal - not_moved),
              help=ui.money(principal - not_moved, currency),
              delta=f"{(principal - not_moved) / principal:.1%}" if principal else None, delta_color="off",
              delta_arrow="off", border=True)
back = int(summary["ever_back_to_borrower"].fillna(0).sum())
kpi[3].metric(ui.t("flow.kpi.back") + in_ccy, ui.money_short(back), help=ui.money(back, currency),
              delta=f"{back / principal:.1%}" if principal else None, delta_color="off", delta_arrow="off",
              border=True)

# --- where the money went ----------------------------------------------------------------------
labels = {c: ui.class_label(c) for c in DESTINATION_CLASSES}
units = summary.copy()
for col in [*classes, "principal_cents", "ever_back_to_borrower"]:
    units[col] = pd.to_numeric(units[col]).fillna(0).astype("int64") / 100

st.subheader(ui.t("flow.sankey"))
st.caption(ui.t("flow.sankey_caption"))
by_status = units.assign(source=[ui.status_label(s) for s in units["status"]]).groupby("source")[classes].sum()
flows = by_status.reset_index().melt(id_vars="source", var_name="destination", value_name="amount")
if flows["amount"].sum() > 0:
    st.altair_chart(charts.sankey_chart(flows, labels=labels, amount_title=ui.t("common.amount"),
                                        height=max(320, 36 * int((flows.groupby("destination")["amount"].sum() > 0).sum()))),
                    width="stretch")
    with st.expander(ui.t("flow.by_loan"), icon="📊"):
        st.altair_chart(charts.loans_chart(units.rename(columns={"principal_cents": "principal"}), labels=labels,
                                           amount_title=ui.t("common.amount"), loan_title=ui.t("common.loan"),
                                           class_title=ui.t("common.destination"), units=ui.compact_units()),
                        width="stretch")

st.subheader(ui.t("flow.table"))
st.caption(ui.t("flow.table_caption"))
table = units.assign(account_id=[ui.account_label(a) for a in units["account_id"]],
                     status=[ui.status_label(s) for s in units["status"]])
table = table.rename(columns={"principal_cents": "principal"}).sort_values("principal", ascending=False)
column_config: dict[str, object] = {
    "loan_id": ui.t("col.loan_id"), "account_id": ui.t("col.account_id"), "customer_id": ui.t("col.customer_id"),
    "currency": ui.t("col.currency"), "status": ui.t("col.status"),
    "principal": st.column_config.NumberColumn(ui.t("col.principal"), format=AMOUNT),
    "ever_back_to_borrower": st.column_config.NumberColumn(ui.t("col.ever_back_to_borrower"), format=AMOUNT),
    "max_hop_reached": st.column_config.NumberColumn(ui.t("col.max_hop_reached"), format="%d"),
    "n_edges": st.column_config.NumberColumn(ui.t("col.n_edges"), format="%d"),
    **{c: st.column_config.NumberColumn(labels[c], format=AMOUNT) for c in classes},
}
order = ["loan_id", "status", "account_id", "customer_id", "currency", "principal", *classes, "ever_back_to_borrower",
         "max_hop_reached", "n_edges"]
st.dataframe(table[[c for c in order if c in table.columns]], hide_index=True, column_config=column_config,
             key="flow_table")


# --- one loan's path -------------------------------------------------------------------------------
@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def _graph(db: str, run: str, loan_id: str, borrower: str, max_nodes: int, lang: str) -> tuple[str, bool, int]:
    edges = ui.trace_edges(db, run, loan_id)
    accounts = pd.concat([edges["from_account"], edges["to_account"]]).dropna().astype(str).unique().tolist()
    words = {k: ui.t(f"graph.{k}") for k in graph_html.GRAPH_WORDS}
    nodes, links = graph_html.loan_path_graph(edges, borrower_account=borrower, words=words,
                                              label_of={a: ui.account_label(a, short=True) for a in [*accounts, borrower]},
                                              title_of={a: ui.account_label(a) for a in [*accounts, borrower]})
    html, capped = graph_html.render(nodes, links, height_px=GRAPH_HEIGHT, max_nodes=max_nodes)
    return html, capped, len(nodes)


@st.fragment
def loan_graph(db: str, run: str, loans: pd.DataFrame, max_nodes: int, currency: str | None) -> None:
    st.subheader(ui.t("flow.graph"))
    moved = (loans["principal_cents"].fillna(0) - loans["not_moved"].fillna(0)) if "not_moved" in loans else \
        loans["principal_cents"]
    ordered = loans.assign(_moved=moved).sort_values(["_moved", "principal_cents"], ascending=False)
    info = {str(r.loan_id): r for r in ordered.itertuples(index=False)}
    loan_id = st.selectbox(ui.t("flow.picker"), list(info), key="flow_loan",
                           format_func=lambda lid: ui.t("flow.picker_label", loan=lid,
                                                        amount=ui.money(info[lid].principal_cents, currency),
                                                        account=ui.account_label(info[lid].account_id)))
    if loan_id is None:
        return
    row = info[loan_id]
    html, capped, n_nodes = _graph(db, run, loan_id, str(row.account_id), max_nodes, ui.lang())
    if int(row.n_edges or 0) == 0:
        st.info(ui.t("flow.no_edges"))
    if capped:
        st.info(ui.t("flow.capped", n=max_nodes, m=n_nodes))
    st.caption(ui.t("flow.graph_caption"))
    st.iframe(html, height=GRAPH_HEIGHT + 30)
    st.caption(ui.t("flow.graph_legend"))
    edges = ui.trace_edges(db, run, loan_id)
    if not edges.empty:
        with st.expander(ui.t("flow.edges"), icon="🧾"):
            shown = edges.assign(amount=pd.to_numeric(edges["amount_cents"]) / 100,
                                 from_account=[ui.account_label(a) for a in edges["from_account"]],
                                 to_account=[ui.account_label(a) for a in edges["to_account"]])
            st.dataframe(shown[["hop", "ts", "txn_id", "from_account", "to_account", "amount", "channel"]],
                         hide_index=True, column_config={
                             "hop": ui.t("col.hop"), "ts": ui.t("col.ts"), "txn_id": ui.t("col.txn_id"),
                             "from_account": ui.t("col.from_account"), "to_account": ui.t("col.to_account"),
                             "amount": st.column_config.NumberColumn(ui.t("col.amount"), format=AMOUNT),
                             "channel": ui.t("col.channel")})


if not summary.empty:
    loan_graph(ctx.db, run_id, summary, int(current.max_graph_nodes), currency)
