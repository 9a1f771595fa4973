"""The whole path a user takes: demo CSVs → ingest → SQLite → trace → stored run, checked against ground truth."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import pipeline, store
from analysis.schema import DESTINATION_CLASSES
from analysis.thresholds import Thresholds

# The destination class each planted pattern must put most of the loan's money in (fifo, 4 hops, 90 days).
EXPECTED_CLASS = {
    "back_to_borrower": "back_to_borrower",
    "related_party": "related_party",
    "restricted_sector": "restricted_sector",
    "loan_repays_loan": "other_loan_repayment",
    "cross_border": "cross_border",
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("pipeline") / "loanflow.db"
    dataset_id = pipeline.ensure_demo(path=db)
    run_id = pipeline.latest_run_id(dataset_id, path=db)
    params, summary, edges = store.load_trace_run(run_id, path=db)
    truth = pd.read_csv(pipeline.DEMO_DIR / "ground_truth.csv", dtype=str)
    return db, dataset_id, params, summary, edges, truth


def test_ensure_demo_loads_and_traces_once(demo_run):
    db, dataset_id, params, summary, _, _ = demo_run
    assert params["trace_rule"] == "fifo" and params["max_hops"] == 4 and params["window_days"] == 90
    loans = store.load_frame(dataset_id, "loans", path=db)
    overdue = loans["status"].isin(["overdue", "collection", "transferred", "written_off"])
    assert sorted(summary["loan_id"]) == sorted(loans.loc[overdue, "loan_id"])
    assert pipeline.ensure_demo(path=db) is None  # a store with data is left alone
    assert len(store.list_datasets(db)) == 1


def test_every_loan_is_conserved_to_the_cent(demo_run):
    _, _, _, summary, _, _ = demo_run
    classes = summary[list(DESTINATION_CLASSES)].astype("int64")
    assert (classes.sum(axis=1) == summary["principal_cents"].astype("int64")).all()
    assert (classes >= 0).all().all()


@pytest.mark.parametrize("pattern", sorted(EXPECTED_CLASS))
def test_planted_patterns_are_found(demo_run, pattern):
    _, _, _, summary, _, truth = demo_run
    planted = set(truth.loc[truth["pattern"] == pattern, "loan_id"])
    traced = summary[summary["loan_id"].isin(planted)].set_index("loan_id")
    assert len(traced) >= 3, f"too few traced {pattern} loans for the check to mean anything"
    largest = traced[list(DESTINATION_CLASSES)].astype("int64").idxmax(axis=1)
    recall = (largest == EXPECTED_CLASS[pattern]).mean()
    assert recall >= 0.8, (pattern, recall, largest.to_dict())


def test_money_back_to_the_borrower_is_seen_even_when_it_leaves_again(demo_run):
    _, _, _, summary, _, truth = demo_run
    planted = set(truth.loc[truth["pattern"] == "back_to_borrower", "loan_id"])
    traced = summary[summary["loan_id"].isin(planted)]
    assert (traced["ever_back_to_borrower"] > 0).all()
    assert (traced["ever_back_to_borrower"] >= traced["back_to_borrower"]).all()


def test_a_new_trace_with_other_thresholds_is_stored_beside_the_first(demo_run):
    db, dataset_id, _, _, _, _ = demo_run
    run_id = pipeline.run_trace(dataset_id, Thresholds(trace_rule="pro-rata", max_hops=6), path=db)
    runs = store.list_trace_runs(dataset_id, path=db)
    assert runs["run_id"].tolist()[0] == run_id and len(runs) == 2
    params, summary, _ = store.load_trace_run(run_id, path=db, with_edges=False)
    assert params["trace_rule"] == "pro-rata" and params["max_hops"] == 6
    classes = summary[list(DESTINATION_CLASSES)].astype("int64")
    assert (classes.sum(axis=1) == summary["principal_cents"].astype("int64")).all()
