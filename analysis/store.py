"""The SQLite store: the only module that talks to the database file.

One file (default ``data/loanflow.db``; env var ``LOANFLOW_DB`` overrides) holds every loaded
dataset version, trace runs, thresholds and mapping presets. Every call opens its own
connection (Streamlit runs sessions on different threads, and a sqlite3 connection must not
cross threads), enables WAL, and writes inside one transaction, so a failed load changes nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .errors import StoreError
from .schema import ID_COLUMNS, TABLES
from .thresholds import Thresholds

DEFAULT_DB_PATH = Path(__file__).resolve().parents[1] / "data" / "loanflow.db"

# Indexes on what tracing and the pages filter by; every data table is read per dataset.
_INDEXES: dict[str, list[tuple[str, ...]]] = {
    "customers": [("dataset_id", "customer_id")],
    "accounts": [("dataset_id", "account_id")],
    "loans": [("dataset_id", "loan_id"), ("dataset_id", "status")],
    # Only dataset_id: tracing reads a dataset's transactions whole, and account indexes would
    # triple the bulk-load time (random-key b-tree inserts; measured 6 s vs 10 s per 1M rows).
    "transactions": [("dataset_id",)],
    "repayments": [("dataset_id", "loan_id")],
    "relations": [("dataset_id", "src_id")],
    "standing_orders": [("dataset_id", "account_id")],
    "loan_snapshots": [("dataset_id", "loan_id")],
    "collection_events": [("dataset_id", "loan_id")],
}

TRACE_LOAN_COLUMNS: dict[str, str] = {
    "run_id": "TEXT",
    "loan_id": "TEXT",
    "account_id": "TEXT",
    "customer_id": "TEXT",
    "currency": "TEXT",
    "status": "TEXT",
    "principal_cents": "INTEGER",
    **{c: "INTEGER" for c in (
        "not_moved", "back_to_borrower", "other_borrower", "related_party", "other_loan_repayment",
        "restricted_sector", "cross_border", "cash_out", "left_dataset", "remaining", "dropped",
        "unconverted", "ever_back_to_borrower", "max_hop_reached", "n_edges",
    )},
}
TRACE_EDGE_COLUMNS: dict[str, str] = {
    "run_id": "TEXT",
    "loan_id": "TEXT",
    "hop": "INTEGER",
    "txn_id": "TEXT",
    "from_account": "TEXT",
    "to_account": "TEXT",
    "ts": "TEXT",
    "amount_cents": "INTEGER",
    "channel": "TEXT",
}

migrations = Migrations("loanflow")


def _create(db: Database, table: str, columns: Mapping[str, str], pk: str | None = None) -> None:
    # Explicit DDL: STRICT tables with declared types; never rely on type detection.
    cols = ", ".join(f"[{c}] {t}{' PRIMARY KEY' if c == pk else ''}" for c, t in columns.items())
    db.execute(f"CREATE TABLE [{table}] ({cols}) STRICT")


@migrations()
def m001_initial(db: Database) -> None:
    _create(
        db,
        "datasets",
        {
            "dataset_id": "TEXT", "name": "TEXT", "version": "INTEGER", "created_at": "TEXT",
            "status": "TEXT", "sources": "TEXT", "row_counts": "TEXT", "quality": "TEXT",
        },
        pk="dataset_id",
    )
    db.execute("CREATE INDEX idx_datasets_name ON datasets(name, version)")
    for table, columns in TABLES.items():
        _create(db, table, {"dataset_id": "TEXT", **columns})
        for i, cols in enumerate(_INDEXES.get(table, [])):
            db.execute(f"CREATE INDEX idx_{table}_{i} ON [{table}]({', '.join(cols)})")
    _create(
        db,
        "trace_runs",
        {"run_id": "TEXT", "dataset_id": "TEXT", "created_at": "TEXT", "params": "TEXT", "n_loans": "INTEGER",
         "skipped": "TEXT"},
        pk="run_id",
    )
    db.execute("CREATE INDEX idx_trace_runs_dataset ON trace_runs(dataset_id, created_at)")
    _create(db, "trace_loans", TRACE_LOAN_COLUMNS)
    db.execute("CREATE INDEX idx_trace_loans_run ON trace_loans(run_id, loan_id)")
    _create(db, "trace_edges", TRACE_EDGE_COLUMNS)
    db.execute("CREATE INDEX idx_trace_edges_run ON trace_edges(run_id, loan_id)")
    _create(db, "mapping_presets", {"name": "TEXT", "created_at": "TEXT", "spec": "TEXT"}, pk="name")
    _create(db, "thresholds", {"version": "INTEGER", "created_at": "TEXT", "params": "TEXT"}, pk="version")


def db_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the store file to use: the argument, else $LOANFLOW_DB, else data/loanflow.db."""
    chosen = path or os.environ.get("LOANFLOW_DB") or DEFAULT_DB_PATH
    return Path(chosen)


@contextmanager
def open_db(path: str | os.PathLike[str] | None = None) -> Iterator[Database]:
    """Yield a migrated sqlite-utils Database on a fresh connection, closed afterwards."""
    file = db_path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(file, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-200000")  # 200 MB page cache: bulk loads touch many index pages
        db = Database(conn)
        if migrations.pending(db):
            migrations.apply(db)
        yield db
    finally:
        conn.close()


@contextmanager
def _write(db: Database) -> Iterator[sqlite3.Connection]:
    """One IMMEDIATE transaction: all of it lands, or (on any exception) none of it."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _column_values(series: pd.Series, sql_type: str) -> list[Any]:
    """Return a column as plain Python values sqlite3 accepts (None for missing)."""
    if sql_type == "INTEGER":
        numeric = pd.to_numeric(series, errors="raise").astype("Int64")
        return numeric.to_numpy(dtype=object, na_value=None).tolist()
    if sql_type == "REAL":
        return pd.to_numeric(series, errors="raise").astype("Float64").to_numpy(dtype=object, na_value=None).tolist()
    values = series.astype("string") if series.dtype != "string" else series
    return values.to_numpy(dtype=object, na_value=None).tolist()


def _sql_literal(value: Any) -> str:
    """Return a text or integer constant as an SQL literal."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _insert_frame(conn: sqlite3.Connection, table: str, frame: pd.DataFrame, columns: Mapping[str, str],
                  fixed: Mapping[str, Any]) -> int:
    """Bulk-insert a frame (plus constant columns) with executemany; return the row count."""
    n = len(frame)
    # Columns the frame lacks or leaves empty are not bound at all: they default to NULL, and
    # binding ten empty columns per row doubles the time of a million-row load.
    present = [c for c in columns if c in frame.columns and (n == 0 or frame[c].notna().any())]
    names = list(fixed) + present
    value_columns = [_column_values(frame[name], columns[name]) for name in present]
    # The constant columns (our own generated ids) are SQL literals, not a parameter bound a million times.
    literals = [_sql_literal(fixed[name]) for name in fixed]
    placeholders = ", ".join([*literals, *("?" for _ in present)])
    sql = f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in names)}) VALUES ({placeholders})"
    conn.executemany(sql, zip(*value_columns))
    return n


def save_dataset(
    frames: Mapping[str, pd.DataFrame],
    *,
    name: str,
    path: str | os.PathLike[str] | None = None,
    sources: list[dict[str, Any]] | None = None,
    quality: dict[str, Any] | None = None,
) -> str:
    """Write a whole new version of dataset `name` in one transaction; return its dataset_id."""
    name = (name or "").strip()
    if not name:
        raise StoreError("a dataset needs a name")
    unknown = set(frames) - set(TABLES)
    if unknown:
        raise StoreError(f"unknown tables: {sorted(unknown)}")
    dataset_id = uuid.uuid4().hex[:12]
    with open_db(path) as db, _write(db) as conn:
        version = conn.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM datasets WHERE name = ?", [name]
        ).fetchone()[0]
        counts = {
            table: _insert_frame(conn, table, frame, TABLES[table], {"dataset_id": dataset_id})
            for table, frame in frames.items()
        }
        conn.execute(
            "INSERT INTO datasets (dataset_id, name, version, created_at, status, sources, row_counts, quality) "
            "VALUES (?, ?, ?, ?, 'ready', ?, ?, ?)",
            [dataset_id, name, version, _now(), json.dumps(sources or [], ensure_ascii=False),
             json.dumps(counts), json.dumps(quality or {}, ensure_ascii=False, default=str)],
        )
    return dataset_id


def list_datasets(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Return every dataset version, newest first, with row counts parsed."""
    with open_db(path) as db:
        rows = list(db.query("SELECT * FROM datasets ORDER BY created_at DESC, name, version DESC"))
    frame = pd.DataFrame(rows, columns=["dataset_id", "name", "version", "created_at", "status", "sources",
                                        "row_counts", "quality"])
    for col in ("sources", "row_counts", "quality"):
        frame[col] = [json.loads(v) if v else {} for v in frame[col]]
    return frame


def resolve_dataset(ref: str, *, path: str | os.PathLike[str] | None = None) -> str:
    """Return the dataset_id for an id, a name (its latest version) or 'name@vN'."""
    with open_db(path) as db:
        row = next(iter(db.query("SELECT dataset_id FROM datasets WHERE dataset_id = ?", [ref])), None)
        if row:
            return row["dataset_id"]
        name, _, version = ref.rpartition("@v")
        if name and version.isdigit():
            row = next(iter(db.query("SELECT dataset_id FROM datasets WHERE name = ? AND version = ?",
                                     [name, int(version)])), None)
        else:
            row = next(iter(db.query("SELECT dataset_id FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1",
                                     [ref])), None)
    if not row:
        raise StoreError(f"no dataset called {ref!r}; `python -m analysis datasets` lists them")
    return row["dataset_id"]


def dataset_info(dataset_id: str, *, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Return one dataset's row of `datasets` (JSON fields parsed)."""
    frame = list_datasets(path)
    match = frame[frame["dataset_id"] == dataset_id]
    if match.empty:
        raise StoreError(f"no dataset with id {dataset_id!r}")
    return match.iloc[0].to_dict()


def rename_dataset(old_name: str, new_name: str, *, path: str | os.PathLike[str] | None = None) -> int:
    """Rename every version of a dataset; return how many versions were renamed."""
    new_name = new_name.strip()
    if not new_name:
        raise StoreError("a dataset needs a name")
    with open_db(path) as db, _write(db) as conn:
        if old_name != new_name and conn.execute("SELECT 1 FROM datasets WHERE name = ?", [new_name]).fetchone():
            raise StoreError(f"a dataset called {new_name!r} already exists")
        return conn.execute("UPDATE datasets SET name = ? WHERE name = ?", [new_name, old_name]).rowcount


def delete_dataset(dataset_id: str, *, path: str | os.PathLike[str] | None = None) -> None:
    """Delete one dataset version with its rows and trace runs."""
    with open_db(path) as db, _write(db) as conn:
        if not conn.execute("SELECT 1 FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone():
            raise StoreError(f"no dataset with id {dataset_id!r}")
        runs = [r[0] for r in conn.execute("SELECT run_id FROM trace_runs WHERE dataset_id = ?", [dataset_id])]
        for run_id in runs:
            conn.execute("DELETE FROM trace_loans WHERE run_id = ?", [run_id])
            conn.execute("DELETE FROM trace_edges WHERE run_id = ?", [run_id])
        conn.execute("DELETE FROM trace_runs WHERE dataset_id = ?", [dataset_id])
        for table in TABLES:
            conn.execute(f"DELETE FROM [{table}] WHERE dataset_id = ?", [dataset_id])
        conn.execute("DELETE FROM datasets WHERE dataset_id = ?", [dataset_id])


def _typed(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Give a frame read from SQLite the canonical dtypes (text ids, nullable ints)."""
    for col, sql_type in columns.items():
        if col not in frame.columns:
            frame[col] = pd.Series([None] * len(frame), dtype="object")
        if sql_type == "INTEGER":
            frame[col] = pd.to_numeric(frame[col]).astype("Int64")
        elif sql_type == "REAL":
            frame[col] = pd.to_numeric(frame[col]).astype("Float64")
        else:
            frame[col] = frame[col].astype("string")
    return frame[list(columns)]


def load_frame(dataset_id: str, table: str, *, path: str | os.PathLike[str] | None = None,
               where: str | None = None, params: list[Any] | None = None) -> pd.DataFrame:
    """Return one canonical table of a dataset (without dataset_id), optionally filtered by SQL `where`."""
    if table not in TABLES:
        raise StoreError(f"unknown table {table!r}")
    columns = TABLES[table]
    sql = f"SELECT {', '.join(f'[{c}]' for c in columns)} FROM [{table}] WHERE dataset_id = ?"
    if where:
        sql += f" AND ({where})"
    order = "seq" if table == "transactions" else "rowid"
    with open_db(path) as db:
        frame = pd.read_sql_query(f"{sql} ORDER BY {order}", db.conn, params=[dataset_id, *(params or [])],
                                  dtype={c: "string" for c, t in columns.items() if t == "TEXT" or c in ID_COLUMNS})
    return _typed(frame, columns)


def table_counts(dataset_id: str, *, path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """Return the row count of every canonical table of a dataset."""
    with open_db(path) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM [{t}] WHERE dataset_id = ?", [dataset_id]).fetchone()[0]
                for t in TABLES}


def query_frame(sql: str, params: list[Any] | None = None, *, path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Return the rows of a read-only SQL query (used for KPIs)."""
    with open_db(path) as db:
        return pd.read_sql_query(sql, db.conn, params=params or [])


# --- trace runs ------------------------------------------------------------------------------

def save_trace_run(dataset_id: str, params: Mapping[str, Any], summary: pd.DataFrame, edges: pd.DataFrame,
                   *, skipped: pd.DataFrame | None = None, path: str | os.PathLike[str] | None = None) -> str:
    """Store one trace run (parameters, per-loan summary, flow edges) atomically; return its run_id."""
    run_id = uuid.uuid4().hex[:12]
    skipped_rows = [] if skipped is None else skipped.astype(str).to_dict("records")
    with open_db(path) as db, _write(db) as conn:
        conn.execute(
            "INSERT INTO trace_runs (run_id, dataset_id, created_at, params, n_loans, skipped) VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, dataset_id, _now(), json.dumps(dict(params), default=list), len(summary),
             json.dumps(skipped_rows, ensure_ascii=False)],
        )
        cols = {c: t for c, t in TRACE_LOAN_COLUMNS.items() if c != "run_id"}
        _insert_frame(conn, "trace_loans", summary, cols, {"run_id": run_id})
        cols = {c: t for c, t in TRACE_EDGE_COLUMNS.items() if c != "run_id"}
        _insert_frame(conn, "trace_edges", edges, cols, {"run_id": run_id})
    return run_id


def list_trace_runs(dataset_id: str, *, path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Return the trace runs of a dataset, newest first, with parameters parsed."""
    with open_db(path) as db:
        rows = list(db.query("SELECT run_id, dataset_id, created_at, params, n_loans FROM trace_runs "
                             "WHERE dataset_id = ? ORDER BY created_at DESC, rowid DESC", [dataset_id]))
    frame = pd.DataFrame(rows, columns=["run_id", "dataset_id", "created_at", "params", "n_loans"])
    frame["params"] = [json.loads(p) for p in frame["params"]]
    return frame


def load_trace_run(run_id: str, *, path: str | os.PathLike[str] | None = None, loan_id: str | None = None,
                   with_edges: bool = True) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Return (params, per-loan summary, edges) of a stored run; edges of one loan if `loan_id` is given, none
    if `with_edges` is false (a big run has millions of edges and the summary pages never need them all)."""
    with open_db(path) as db:
        row = next(iter(db.query("SELECT * FROM trace_runs WHERE run_id = ?", [run_id])), None)
        if not row:
            raise StoreError(f"no trace run {run_id!r}")
        loan_cols = [c for c in TRACE_LOAN_COLUMNS if c != "run_id"]
        summary = pd.read_sql_query(
            f"SELECT {', '.join(loan_cols)} FROM trace_loans WHERE run_id = ? ORDER BY rowid", db.conn,
            params=[run_id], dtype={"loan_id": "string", "account_id": "string", "customer_id": "string"})
        edge_cols = [c for c in TRACE_EDGE_COLUMNS if c != "run_id"]
        where, args = ("run_id = ?", [run_id]) if loan_id is None else ("run_id = ? AND loan_id = ?", [run_id, loan_id])
        if not with_edges:
            where += " AND 0"
        edges = pd.read_sql_query(
            f"SELECT {', '.join(edge_cols)} FROM trace_edges WHERE {where} ORDER BY rowid", db.conn, params=args,
            dtype={"loan_id": "string", "txn_id": "string", "from_account": "string", "to_account": "string"})
    params = json.loads(row["params"])
    params["run_id"], params["created_at"], params["dataset_id"] = run_id, row["created_at"], row["dataset_id"]
    params["skipped"] = json.loads(row["skipped"] or "[]")
    return params, _typed(summary, {c: TRACE_LOAN_COLUMNS[c] for c in loan_cols}), \
        _typed(edges, {c: TRACE_EDGE_COLUMNS[c] for c in edge_cols})


# --- thresholds and mapping presets -----------------------------------------------------------

def save_thresholds(thresholds: Thresholds, *, path: str | os.PathLike[str] | None = None) -> int:
    """Persist a new version of the thresholds; return its version number."""
    with open_db(path) as db, _write(db) as conn:
        version = conn.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM thresholds").fetchone()[0]
        conn.execute("INSERT INTO thresholds (version, created_at, params) VALUES (?, ?, ?)",
                     [version, _now(), thresholds.model_dump_json()])
    return version


def load_thresholds(*, path: str | os.PathLike[str] | None = None) -> Thresholds:
    """Return the latest saved thresholds, or the defaults when none were saved."""
    with open_db(path) as db:
        row = next(iter(db.query("SELECT params FROM thresholds ORDER BY version DESC LIMIT 1")), None)
    return Thresholds.model_validate_json(row["params"]) if row else Thresholds()


def save_mapping_preset(name: str, spec: Mapping[str, Any], *, path: str | os.PathLike[str] | None = None) -> None:
    """Save (or replace) a named column-mapping preset: {file pattern or table: {source: canonical}}."""
    name = name.strip()
    if not name:
        raise StoreError("a preset needs a name")
    with open_db(path) as db, _write(db) as conn:
        conn.execute("INSERT OR REPLACE INTO mapping_presets (name, created_at, spec) VALUES (?, ?, ?)",
                     [name, _now(), json.dumps(dict(spec), ensure_ascii=False)])


def load_mapping_presets(*, path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Return every saved mapping preset by name."""
    with open_db(path) as db:
        return {r["name"]: json.loads(r["spec"]) for r in db.query("SELECT name, spec FROM mapping_presets ORDER BY name")}

