"""The Streamlit glue shared by every page: DB path, current dataset, thresholds, language, sidebar, cached reads.

Every page calls `start_page()` first. When app.py (the st.navigation frame) is running the page, the
sidebar was already drawn by the frame; when a page is opened by a deep link before app.py ever ran
(Streamlit then serves `pages/` in legacy mode and skips app.py), `start_page()` draws it itself.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from analysis import pipeline, store, tracing
from analysis.errors import LoanFlowError
from analysis.schema import OVERDUE_STATUSES
from analysis.thresholds import Thresholds

from . import i18n

REPO = Path(__file__).resolve().parents[2]
REAL_DATA = REPO.parent / "shared" / "data" / "real"  # used when $LOANFLOW_REAL_DATA is not set

PAGES: tuple[tuple[str, str, str], ...] = (
    # (script, title key, emoji icon) — emoji, not :material/: icons, which fetch a favicon from the internet
    ("pages/overview.py", "nav.overview", "📊"),
    ("pages/data.py", "nav.data", "🗂️"),
    ("pages/fund_flow.py", "nav.fund_flow", "💸"),
)

_frame = threading.local()  # set while app.py runs a page in this script thread
_demo_lock = threading.Lock()  # two first sessions on an empty store must not both load the demo


@dataclass(frozen=True)
class PageContext:
    """What a page needs: the store file, the chosen dataset (None if the store is empty) and the language."""

    db: str
    dataset_id: str | None
    lang: str


# --- language -----------------------------------------------------------------------------------

def lang() -> str:
    """Return the session's UI language code."""
    value = st.session_state.get("lang", i18n.DEFAULT_LANG)
    return value if value in i18n.LANGUAGES else i18n.DEFAULT_LANG


def init_language() -> None:
    """Set the session's language once: from ?lang=zh|en when given (links for a demo), else the default."""
    st.session_state.setdefault("lang", i18n.DEFAULT_LANG)
    wanted = st.query_params.get("lang")
    if wanted in i18n.LANGUAGES and st.session_state.get("_lang_from_query") != wanted:
        st.session_state["lang"] = st.session_state["_lang_from_query"] = wanted


def t(key: str, **values: object) -> str:
    """Return the text of `key` in the session's language."""
    return i18n.t(key, lang(), **values)


def class_label(destination: str) -> str:
    """Return the display name of a destination class."""
    return t(f"class.{destination}")


def status_label(status: object) -> str:
    """Return the display name of a loan status."""
    if status is None or (not isinstance(status, str) and pd.isna(status)) or not str(status):
        return t("status.unknown")
    key = f"status.{status}"
    text = t(key)
    return str(status) if text == key else text


SHORT_ID_CHARS = 6  # a graph node shows the last 6 characters of a long account id
LONG_ID_CHARS = 12  # ids longer than this are long (19-digit card numbers); LNL000165 stays whole


def account_label(account_id: object, *, short: bool = False) -> str:
    """Return how an account is shown on screen (the one place a privacy mask will go).

    `short` gives "…" + the last 6 characters of ids longer than 12, for crowded graph labels.
    """
    if account_id is None or (not isinstance(account_id, str) and pd.isna(account_id)):
        return ""
    text = str(account_id)
    if short and len(text) > LONG_ID_CHARS:
        return "…" + text[-SHORT_ID_CHARS:]
    return text


def rule_label(rule: object) -> str:
    """Return the display name of a trace rule (the value itself when it has no translation)."""
    key = f"rule.{rule}"
    text = t(key)
    return str(rule) if text == key else text


def money(cents: int | float | None, currency: str | None = None) -> str:
    """Return integer cents as a currency-unit string with thousands separators."""
    if cents is None or pd.isna(cents):
        return "–"
    text = f"{int(cents) / 100:,.2f}"
    return f"{text} {currency}" if currency else text


def compact_units() -> tuple[tuple[float, str], ...]:
    """Return the (size, suffix) steps of short amounts in the session's language, largest first."""
    return ((1e8, "亿"), (1e4, "万")) if lang() == "zh" else ((1e9, "B"), (1e6, "M"), (1e3, "K"))


def money_short(cents: int | float | None, currency: str | None = None) -> str:
    """Return an amount short enough for a KPI tile: 30.54M (en) or 3,054.31万 (zh)."""
    if cents is None or pd.isna(cents):
        return "–"
    units = int(cents) / 100
    text = f"{units:,.2f}"
    for size, suffix in compact_units():
        if abs(units) >= size:
            scaled = units / size
            # at most ~4 significant digits: a KPI tile is narrow
            decimals = 0 if abs(scaled) >= 1000 else 1 if abs(scaled) >= 100 else 2
            text = f"{scaled:,.{decimals}f}{suffix}"
            break
    return f"{text} {currency}" if currency else text


def real_data_dir() -> Path:
    """Return the default real-data folder of the presets: $LOANFLOW_REAL_DATA, else <repo>/../shared/data/real."""
    configured = os.environ.get("LOANFLOW_REAL_DATA", "").strip()
    return Path(configured).expanduser() if configured else REAL_DATA


# --- store, dataset, thresholds ------------------------------------------------------------------

def db_path() -> str:
    """Return the store file of this server ($LOANFLOW_DB or data/loanflow.db) as text for cache keys."""
    return str(store.db_path())


def datasets(db: str) -> pd.DataFrame:
    """Return every stored dataset version, newest first (not cached: it changes on every load)."""
    return store.list_datasets(db)


def current_dataset(db: str) -> str | None:
    """Return the chosen dataset id, falling back to the newest one; None when the store is empty."""
    frame = datasets(db)
    if frame.empty:
        return None
    chosen = st.session_state.get("dataset_id")
    if chosen in set(frame["dataset_id"]):
        return str(chosen)
    newest = str(frame.iloc[0]["dataset_id"])
    st.session_state["dataset_id"] = newest
    return newest


def set_dataset(dataset_id: str | None) -> None:
    """Make `dataset_id` the session's current dataset (the sidebar picker follows on the next run)."""
    if dataset_id is None:
        st.session_state.pop("dataset_id", None)
    else:
        st.session_state["dataset_id"] = dataset_id


def thresholds(db: str) -> Thresholds:
    """Return the session's thresholds, else the latest saved ones, else the defaults."""
    current = st.session_state.get("thresholds")
    if isinstance(current, Thresholds):
        return current
    try:
        loaded = store.load_thresholds(path=db)
    except LoanFlowError:
        loaded = Thresholds()
    st.session_state["thresholds"] = loaded
    return loaded


def set_thresholds(db: str, value: Thresholds) -> None:
    """Keep `value` for this session and persist it as a new thresholds version when it differs from the saved one."""
    st.session_state["thresholds"] = value
    try:
        saved = store.load_thresholds(path=db)
    except LoanFlowError:
        saved = None
    # compared with the store, not the session: another session may have saved other values meanwhile
    if value != saved:
        store.save_thresholds(value, path=db)


# --- cached reads (explicit keys: db path + immutable dataset / run ids) --------------------------

@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def dataset_kpis(db: str, dataset_id: str) -> dict[str, Any]:
    """Return the Overview KPIs of one dataset version (counts, overdue balances per currency, date range)."""
    overdue = sorted(OVERDUE_STATUSES)
    marks = ", ".join("?" for _ in overdue)
    loans = store.query_frame(
        "SELECT COUNT(*) AS n, SUM(CASE WHEN status IN (" + marks + ") THEN 1 ELSE 0 END) AS n_overdue "
        "FROM loans WHERE dataset_id = ?", [*overdue, dataset_id], path=db).iloc[0]
    by_currency = store.query_frame(
        # SUM of only NULLs is NULL: a dataset without overdue amounts shows "–", not 0.00
        "SELECT COALESCE(currency, '') AS currency, COUNT(*) AS loans, SUM(overdue_cents) AS overdue_cents, "
        "SUM(outstanding_cents) AS outstanding_cents, SUM(principal_cents) AS principal_cents "
        "FROM loans WHERE dataset_id = ? AND status IN (" + marks + ") GROUP BY 1 ORDER BY 2 DESC",
        [dataset_id, *overdue], path=db)
    txns = store.query_frame(
        "SELECT COUNT(*) AS n, MIN(ts) AS first, MAX(ts) AS last FROM transactions WHERE dataset_id = ?",
        [dataset_id], path=db).iloc[0]
    counts = store.table_counts(dataset_id, path=db)
    return {
        "loans": int(loans["n"] or 0),
        "overdue_loans": int(loans["n_overdue"] or 0),
        "by_currency": by_currency,
        "transactions": int(txns["n"] or 0),
        "first_ts": txns["first"],
        "last_ts": txns["last"],
        "accounts": counts.get("accounts", 0),
        "customers": counts.get("customers", 0),
    }


def coverage_warning(db: str, dataset_id: str, summary: pd.DataFrame) -> str | None:
    """Return the warning text when most traced loans moved no money, naming the dates the transactions cover."""
    gap = tracing.coverage_gap(summary)
    if gap is None:
        return None
    kpis = dataset_kpis(db, dataset_id)
    if not kpis["transactions"]:
        return t("flow.coverage_empty", n=f"{gap[0]:,}", m=f"{gap[1]:,}")
    return t("flow.coverage", n=f"{gap[0]:,}", m=f"{gap[1]:,}", first=str(kpis["first_ts"])[:10],
             last=str(kpis["last_ts"])[:10])


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def trace_run(db: str, run_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Return (params, per-loan summary) of a stored trace run; runs never change once stored."""
    params, summary, _ = store.load_trace_run(run_id, path=db, with_edges=False)
    return params, summary


@st.cache_data(ttl=600, show_spinner=False, max_entries=64)
def trace_edges(db: str, run_id: str, loan_id: str) -> pd.DataFrame:
    """Return the flow edges of one loan in a stored trace run."""
    _, _, edges = store.load_trace_run(run_id, path=db, loan_id=loan_id)
    return edges


def trace_runs(db: str, dataset_id: str) -> pd.DataFrame:
    """Return the stored trace runs of a dataset, newest first (not cached: a run may just have been added)."""
    return store.list_trace_runs(dataset_id, path=db)


# --- frame and sidebar ---------------------------------------------------------------------------

def configure_page() -> None:
    """Set the page config shared by every page."""
    st.set_page_config(page_title="LoanFlow", page_icon="💸", layout="wide")


def navigation_pages() -> list[Any]:
    """Return the st.Page objects of the app, titled in the session's language (default url paths)."""
    return [st.Page(script, title=t(key), icon=icon, default=(i == 0)) for i, (script, key, icon) in enumerate(PAGES)]


@contextmanager
def framed() -> Iterator[None]:
    """Mark the pages run inside this block as framed by app.py (which drew the sidebar already)."""
    _frame.active = True
    try:
        yield
    finally:
        _frame.active = False


def _ensure_demo(db: str) -> None:
    """Load the demo data once per session when the store is empty."""
    if st.session_state.get("_demo_checked") == db:
        return
    with _demo_lock:
        if datasets(db).empty:
            with st.spinner(t("sidebar.demo_loading")):
                try:
                    dataset_id = pipeline.ensure_demo(path=db)
                except LoanFlowError as error:
                    st.sidebar.error(t("sidebar.demo_failed", error=error))
                    dataset_id = None
            if dataset_id:
                set_dataset(dataset_id)
                st.toast(t("sidebar.demo_loaded"))
    st.session_state["_demo_checked"] = db


def _sync(widget_key: str, state_key: str) -> None:
    st.session_state[state_key] = st.session_state[widget_key]


def sidebar(db: str | None = None) -> None:
    """Draw the shared sidebar: language switch and dataset picker (loads the demo into an empty store)."""
    db = db or db_path()
    init_language()
    st.session_state["_w_lang"] = lang()  # widget mirrors the persistent key, which survives page changes
    st.sidebar.radio(t("sidebar.language"), list(i18n.LANGUAGES), key="_w_lang", horizontal=True,
                     format_func=lambda code: i18n.LANGUAGES[code], on_change=_sync, args=("_w_lang", "lang"))
    _ensure_demo(db)
    frame = datasets(db)
    if frame.empty:
        st.sidebar.info(t("sidebar.no_dataset"))
        return
    current = current_dataset(db)
    labels = {row.dataset_id: f"{row.name} v{row.version} · {str(row.created_at)[:16].replace('T', ' ')}"
              for row in frame.itertuples(index=False)}
    st.session_state["_w_dataset"] = current
    st.sidebar.selectbox(t("sidebar.dataset"), list(labels), key="_w_dataset", format_func=lambda d: labels.get(d, d),
                         on_change=_sync, args=("_w_dataset", "dataset_id"))
    st.sidebar.caption(t("sidebar.store", path=db))


def require_dataset(ctx: PageContext) -> str:
    """Return the page's dataset id, or explain how to load one and stop the page."""
    if ctx.dataset_id is None:
        st.info(t("common.no_dataset"))
        st.page_link("pages/data.py", label=t("common.go_data"), icon="🗂️")
        st.stop()
    return ctx.dataset_id


def start_page() -> PageContext:
    """Prepare a page (sidebar when not framed by app.py) and return its context."""
    db = db_path()
    if not getattr(_frame, "active", False):
        configure_page()
        sidebar(db)
    return PageContext(db=db, dataset_id=current_dataset(db), lang=lang())


_MARKDOWN = re.compile(r"([\\`*_\[\]$<>~|])")


def plain(text: object) -> str:
    """Return text with markdown syntax escaped: a header or name from a file such as ![x](http://…) shows as typed
    (and makes no request), `$x$` is not LaTeX."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def show_error(error: BaseException) -> None:
    """Show a domain error as an st.error message (never a traceback); text from the data is shown literally."""
    st.error(t("common.error", error=plain(error)))
