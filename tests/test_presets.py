"""The real-data presets, read in place from ../shared/data/real (skipped only when that folder is absent)."""

from __future__ import annotations

import csv

import pytest

from analysis import pipeline, presets, store, tracing
from analysis.errors import IngestError
from analysis.schema import DESTINATION_CLASSES

pytestmark = pytest.mark.real_data


def test_berka_counts(real_data):
    frames, report, sources = presets.load_preset("berka", real_data / "berka")
    assert len(frames["loans"]) == 682
    assert frames["loans"]["status"].isin(["overdue", "collection"]).sum() == 76  # B (31) + D (45)
    assert len(frames["accounts"]) == 4500
    assert len(frames["customers"]) == 5369
    # DISPONENT dispositions become relations to the account owner
    assert (frames["relations"]["relation"] == "disponent").sum() == 869
    assert len(frames["standing_orders"]) == 6471
    assert {s["file"].rsplit("/", 1)[-1] for s in sources} >= {"loan.asc", "trans.asc", "client.asc"}


def test_berka_values(real_data):
    frames, _, _ = presets.load_preset("berka", real_data / "berka")
    loan = frames["loans"].set_index("loan_id").loc["5314"]
    # loan.asc: 5314;1787;930705;96396;12;8033.00;"B"
    assert loan["account_id"] == "1787"
    assert loan["principal_cents"] == 9_639_600
    assert loan["disbursed_at"] == "1993-07-05T00:00:00"
    assert loan["maturity"] == "1994-07-05T00:00:00"
    assert loan["status"] == "collection"
    # trans.asc: 695247;2378;930101;"PRIJEM";"VKLAD";700.00;700.00 — a cash deposit into 2378
    txn = frames["transactions"].set_index("txn_id").loc["695247"]
    assert (txn["from_account"], txn["to_account"], txn["amount_cents"]) == ("~cash", "2378", 70_000)
    # order.asc: 29401;1;"YZ";"87144583";2452.00;"SIPO" — the payee keyed bank + account
    order = frames["standing_orders"].set_index("order_id").loc["29401"]
    assert (order["to_account"], order["amount_cents"], order["purpose"]) == ("YZ:87144583", 245_200, "SIPO")


def test_amlworld_counts_and_keys(real_data):
    frames, _, _ = presets.load_preset("amlworld", real_data / "amlworld-hi")
    txns = frames["transactions"]
    assert len(txns) == 22_743
    # first data row: 2022/09/01 00:08,024583,8061C1E10,0057138,81B11B9C0,90469674.17,US Dollar,...
    first = txns.iloc[0]
    assert (first["from_account"], first["to_account"]) == ("024583:8061C1E10", "0057138:81B11B9C0")
    assert first["amount_cents"] == 9_046_967_417
    assert first["ts"] == "2022-09-01T00:08:00"
    assert len(frames["loans"]) == 2370


def test_preset_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="folder not found"):
        presets.load_preset("berka", tmp_path / "nope")
    (tmp_path / "berka").mkdir()
    with pytest.raises(IngestError, match="client.asc"):
        presets.load_preset("berka", tmp_path / "berka")


def test_berka_preset_into_store(real_data, db_path):
    dataset_id, _ = pipeline.load_preset_into_store("berka", real_data / "berka", path=db_path)
    counts = store.table_counts(dataset_id, path=db_path)
    assert (counts["loans"], counts["accounts"], counts["customers"]) == (682, 4500, 5369)


def _single_currency_cycle_loans(folder) -> set[str]:
    """CYCLE loans whose attempt's transactions all pay and receive in the loan's currency (read from the raw files)."""
    with open(folder / "transactions.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    attempt_rows: dict[str, list[int]] = {}
    with open(folder / "attempt_transactions.csv", newline="") as f:
        for rec in csv.DictReader(f):
            attempt_rows.setdefault(rec["attempt_id"], []).append(int(rec["row_number"]))
    chosen = set()
    with open(folder / "loans.csv", newline="") as f:
        for loan in csv.DictReader(f):
            if loan["typology"] != "CYCLE":
                continue
            currencies = {c for r in attempt_rows.get(loan["attempt_id"], []) for c in (rows[r - 1][6], rows[r - 1][8])}
            if currencies == {loan["currency"]}:
                chosen.add(loan["loan_id"])
    return chosen


@pytest.fixture(scope="module")
def amlworld_frames(real_data):
    frames, _, _ = presets.load_preset("amlworld", real_data / "amlworld-hi")
    return frames


@pytest.mark.parametrize("rule", ["fifo", "lifo", "pro-rata", "worst-case"])
def test_amlworld_trace_conserves_every_loan(amlworld_frames, rule):
    result = tracing.trace_loans(amlworld_frames["loans"], amlworld_frames["transactions"], rule=rule,
                                 max_hops=15, window_days=30, all_loans=True)
    summary = result.summary
    assert len(summary) + len(result.skipped) == 2370
    assert len(summary) == 2370
    classes = summary[list(DESTINATION_CLASSES)].astype("int64")
    assert (classes >= 0).all().all()
    assert (classes.sum(axis=1) == summary["principal_cents"].astype("int64")).all()


@pytest.mark.parametrize("rule, share", [("pro-rata", 0.97), ("worst-case", 0.90)])
def test_amlworld_cycles_come_back(amlworld_frames, real_data, rule, share):
    cycle_loans = _single_currency_cycle_loans(real_data / "amlworld-hi")
    assert len(cycle_loans) > 100  # the test means something only on many loans
    result = tracing.trace_loans(amlworld_frames["loans"], amlworld_frames["transactions"], rule=rule,
                                 max_hops=15, window_days=30, all_loans=True)
    summary = result.summary.set_index("loan_id")
    back = summary.loc[sorted(cycle_loans), "ever_back_to_borrower"].astype("int64")
    assert (back > 0).mean() >= share, (back > 0).mean()
