"""The SQLite store: typed round trips, atomic versioned loads, trace runs, thresholds, presets."""

from __future__ import annotations

import sqlite3
import threading

import pandas as pd
import pytest

from analysis import store
from analysis.errors import StoreError
from analysis.schema import TABLES
from analysis.thresholds import Thresholds


def _loans() -> pd.DataFrame:
    return pd.DataFrame({
        "loan_id": ["007", "L2"],
        "account_id": ["6222020200112233445", "0001"],
        "principal_cents": pd.array([10_000_00, 250_50], dtype="Int64"),
        "disbursed_at": ["2024-01-02T00:00:00", "2024-02-03T10:11:12"],
        "status": ["overdue", "current"],
        "dpd": pd.array([45, None], dtype="Int64"),
    })


def _txns(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "txn_id": [f"T{i}" for i in range(n)],
        "seq": list(range(n)),
        "ts": ["2024-01-03T09:00:00"] * n,
        "from_account": ["6222020200112233445"] * n,
        "to_account": ["0002"] * n,
        "amount_cents": [100 * (i + 1) for i in range(n)],
    })


def test_round_trip_keeps_text_ids_and_integer_cents(db_path):
    dataset_id = store.save_dataset({"loans": _loans(), "transactions": _txns()}, name="bank", path=db_path)
    loans = store.load_frame(dataset_id, "loans", path=db_path)
    assert list(loans.columns) == list(TABLES["loans"])
    assert loans["loan_id"].tolist() == ["007", "L2"]
    assert loans["account_id"].tolist() == ["6222020200112233445", "0001"]
    assert loans["principal_cents"].tolist() == [1_000_000, 25_050]
    assert loans["dpd"].isna().tolist() == [False, True]
    assert store.table_counts(dataset_id, path=db_path)["transactions"] == 3


def test_tables_are_strict(db_path):
    store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
    conn = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO loans (dataset_id, loan_id, principal_cents) VALUES ('x', 'y', 'not cents')")
    conn.close()


def test_versions_accumulate_and_resolve(db_path):
    first = store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
    second = store.save_dataset({"loans": _loans().head(1)}, name="bank", path=db_path)
    datasets = store.list_datasets(db_path)
    assert sorted(datasets["version"].tolist()) == [1, 2]
    assert store.resolve_dataset("bank", path=db_path) == second
    assert store.resolve_dataset("bank@v1", path=db_path) == first
    assert store.resolve_dataset(first, path=db_path) == first
    # the earlier version is untouched by the new one
    assert len(store.load_frame(first, "loans", path=db_path)) == 2
    with pytest.raises(StoreError, match="no dataset called 'nope'"):
        store.resolve_dataset("nope", path=db_path)


def test_failed_load_leaves_store_as_it_was(db_path):
    kept = store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
    bad_txns = _txns().astype({"amount_cents": object})
    bad_txns.loc[2, "amount_cents"] = "12,5"  # not an integer: the loans were written, then this table fails
    with pytest.raises((ValueError, TypeError)):
        store.save_dataset({"loans": _loans(), "transactions": bad_txns}, name="bank", path=db_path)
    datasets = store.list_datasets(db_path)
    assert datasets["dataset_id"].tolist() == [kept]
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM loans").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 0
    conn.close()


def test_rename_and_delete(db_path):
    a = store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
    b = store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
    other = store.save_dataset({"loans": _loans()}, name="other", path=db_path)
    assert store.rename_dataset("bank", "银行A", path=db_path) == 2
    with pytest.raises(StoreError, match="already exists"):
        store.rename_dataset("银行A", "other", path=db_path)
    store.delete_dataset(a, path=db_path)
    assert sorted(store.list_datasets(db_path)["dataset_id"]) == sorted([b, other])
    assert store.load_frame(a, "loans", path=db_path).empty
    assert len(store.load_frame(b, "loans", path=db_path)) == 2


def test_trace_run_round_trip(db_path):
    dataset_id = store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
    summary = pd.DataFrame({"loan_id": ["007"], "account_id": ["A"], "principal_cents": [1000], "not_moved": [400],
                            "remaining": [600], "ever_back_to_borrower": [0], "max_hop_reached": [1], "n_edges": [1]})
    edges = pd.DataFrame({"loan_id": ["007"], "hop": [1], "txn_id": ["T0"], "from_account": ["A"],
                          "to_account": ["B"], "ts": ["2024-01-03T09:00:00"], "amount_cents": [600],
                          "channel": ["transfer"]})
    run_id = store.save_trace_run(dataset_id, {"trace_rule": "fifo"}, summary, edges, path=db_path)
    params, got_summary, got_edges = store.load_trace_run(run_id, path=db_path)
    assert params["trace_rule"] == "fifo" and params["dataset_id"] == dataset_id
    assert got_summary.loc[0, "remaining"] == 600 and got_summary.loc[0, "not_moved"] == 400
    assert got_edges[["from_account", "to_account", "amount_cents"]].values.tolist() == [["A", "B", 600]]
    assert store.list_trace_runs(dataset_id, path=db_path)["run_id"].tolist() == [run_id]
    store.delete_dataset(dataset_id, path=db_path)
    with pytest.raises(StoreError):
        store.load_trace_run(run_id, path=db_path)


def test_thresholds_are_versioned(db_path):
    assert store.load_thresholds(path=db_path) == Thresholds()
    store.save_thresholds(Thresholds(max_hops=7), path=db_path)
    assert store.save_thresholds(Thresholds(max_hops=9, trace_rule="lifo"), path=db_path) == 2
    assert store.load_thresholds(path=db_path) == Thresholds(max_hops=9, trace_rule="lifo")


def test_mapping_presets(db_path):
    store.save_mapping_preset("工行流水", {"transactions": {"交易日期": "ts"}}, path=db_path)
    assert store.load_mapping_presets(path=db_path) == {"工行流水": {"transactions": {"交易日期": "ts"}}}


def test_connection_per_operation_works_across_threads(db_path):
    # Streamlit serves sessions on different threads; a shared connection would raise ProgrammingError.
    store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            store.save_dataset({"loans": _loans()}, name="bank", path=db_path)
            store.list_datasets(db_path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(store.list_datasets(db_path)["version"]) == [1, 2, 3, 4, 5]
