"""Tests of the seeded demo-data generator and its CSV writer (analysis/synth.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import schema, synth

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
TIME_COLUMNS = {"ts", "disbursed_at", "maturity", "due_date", "paid_at", "registered_at", "opened_at"}
DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"


@pytest.fixture(scope="module")
def small() -> dict[str, pd.DataFrame]:
    return synth.generate(seed=11, n_customers=200, n_loans=120)


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    a = synth.generate(seed=5, n_customers=80, n_loans=60, n_transactions=4000)
    b = synth.generate(seed=5, n_customers=80, n_loans=60, n_transactions=4000)
    c = synth.generate(seed=6, n_customers=80, n_loans=60, n_transactions=4000)
    assert set(a) == set(synth.DEMO_TABLES)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["transactions"].equals(c["transactions"])


def test_frames_have_exactly_the_canonical_columns_and_types(small):
    assert set(small) == set(synth.DEMO_TABLES)
    for table in synth.DEMO_TABLES[:-1]:
        frame = small[table]
        assert list(frame.columns) == list(schema.TABLES[table]), table
        assert len(frame) > 0, table
        for col, typ in schema.TABLES[table].items():
            s = frame[col]
            if typ == "TEXT":
                assert pd.api.types.is_string_dtype(s.dtype), (table, col)
                assert all(isinstance(v, str) for v in s.dropna()), (table, col)
            elif typ == "INTEGER":
                assert str(s.dtype) == "Int64", (table, col)
            else:
                assert s.dtype == "float64", (table, col)
            if col in TIME_COLUMNS:
                assert s.dropna().str.match(ISO).all(), (table, col)
    assert list(small["ground_truth"].columns) == ["loan_id", "pattern"]


def test_ids_are_unique_and_every_reference_resolves(small):
    c, a, loans, t = small["customers"], small["accounts"], small["loans"], small["transactions"]
    for frame, key in ((c, "customer_id"), (a, "account_id"), (loans, "loan_id"), (t, "txn_id")):
        assert frame[key].is_unique, key
    accounts = set(a.account_id)
    assert set(t.from_account) <= accounts and set(t.to_account) <= accounts
    assert set(loans.account_id) <= accounts
    assert set(small["repayments"].payer_account.dropna()) <= accounts
    assert set(a.customer_id.dropna()) <= set(c.customer_id)
    rel = small["relations"]
    assert set(rel.src_id) <= set(c.customer_id) and set(rel.dst_id) <= set(c.customer_id)
    assert (t.from_account != t.to_account).all()
    assert t.channel.isin(schema.CHANNELS).all()
    assert not (t.channel == "disbursement").any()  # the tracer books the principal itself
    assert t.seq.tolist() == list(range(len(t)))
    assert t.ts.is_monotonic_increasing


def test_customer_attributes_look_like_a_chinese_bank(small):
    c, a = small["customers"], small["accounts"]
    assert set(c.customer_type) == {"individual", "enterprise"}
    assert c.id_number.str.len().eq(18).all()
    assert c.phone.str.fullmatch(r"1\d{10}").all()
    # shared phone / address / legal representative for the network analysis to find
    assert c.phone.duplicated().any() and c.address.duplicated().any()
    assert c.legal_rep.dropna().duplicated().any()
    assert c.loc[c.customer_type == "enterprise", "legal_rep"].notna().all()
    own = a[a.account_type.isin(["deposit", "settlement"])]
    assert own.account_id.str.fullmatch(r"\d{19}").all()
    assert own.account_id.str.startswith("0").any()  # leading zeros must survive
    assert set(a.account_type) == {"deposit", "settlement", "loan", "payment_platform", "external"}
    assert (a.country != "CN").any() and a.loc[a.country != "CN", "customer_id"].isna().all()
    loan_accts = a[a.account_type == "loan"]
    assert sorted(loan_accts.account_id) == sorted("LN" + small["loans"].loan_id)


def test_every_pattern_is_planted_on_existing_loans(small):
    gt, loans = small["ground_truth"], small["loans"]
    assert set(gt.pattern) == set(synth.PATTERNS)
    assert set(gt.loan_id) <= set(loans.loan_id)
    assert not gt.duplicated().any()
    planted = loans[loans.loan_id.isin(gt.loan_id)]
    assert planted.status.isin(schema.OVERDUE_STATUSES).mean() > 0.7  # mostly overdue loans


def test_overdue_loans_have_days_past_due_and_the_others_none(small):
    loans = small["loans"]
    overdue = loans.status.isin(schema.OVERDUE_STATUSES)
    assert overdue.sum() == 42  # round(120 * 0.35)
    assert (loans.loc[overdue, "dpd"] > 0).all()
    assert (loans.loc[overdue, "overdue_cents"] > 0).all()
    assert (loans.loc[~overdue, "dpd"] == 0).all()
    assert set(loans.status) <= set(schema.LOAN_STATUSES)
    assert loans.principal_cents.between(50_000_00, 5_000_000_00).all()
    assert (loans.outstanding_cents <= loans.principal_cents).all()


def _time_respecting_cycles(txns: pd.DataFrame, start: str, account: str, max_len: int = 5) -> list[list[pd.Series]]:
    """Paths that leave `account` after `start` and come back to it, each transfer later than the one before."""
    out = txns[txns.ts > start]
    found, frontier = [], [[row] for _, row in out[out.from_account == account].iterrows()]
    for _ in range(max_len - 1):
        nxt = []
        for path in frontier:
            last = path[-1]
            for _, row in out[(out.from_account == last.to_account) & (out.ts > last.ts)].iterrows():
                (found if row.to_account == account else nxt).append(path + [row])
        frontier = nxt
    return found


def test_back_to_borrower_money_really_returns(small):
    gt, loans, t = small["ground_truth"], small["loans"].set_index("loan_id"), small["transactions"]
    ids = gt.loc[gt.pattern == "back_to_borrower", "loan_id"]
    assert len(ids) >= 3
    for loan_id in ids:
        loan = loans.loc[loan_id]
        window = t[t.ts <= (pd.Timestamp(loan.disbursed_at) + pd.Timedelta(days=90)).isoformat()]
        cycles = _time_respecting_cycles(window[window.channel != "repayment"], loan.disbursed_at, loan.account_id)
        # at least half the principal goes round a chain of 2-4 transfers and lands back in the borrower account
        big = [c for c in cycles if 2 <= len(c) <= 4 and min(r.amount_cents for r in c) >= loan.principal_cents // 2]
        assert big, loan_id


def test_planted_borrower_accounts_hold_nothing_but_the_loan(small):
    """Fifo can only follow the loan if the account never spends money it was not seen receiving."""
    gt, loans, t = small["ground_truth"], small["loans"], small["transactions"]
    for loan in loans[loans.loan_id.isin(gt.loan_id)].itertuples():
        inflow = t[t.to_account == loan.account_id][["ts", "amount_cents"]]
        outflow = t[t.from_account == loan.account_id][["ts", "amount_cents"]].assign(amount_cents=lambda d: -d.amount_cents)
        ledger = pd.concat([pd.DataFrame({"ts": [loan.disbursed_at], "amount_cents": [loan.principal_cents]}),
                            inflow, outflow]).sort_values("ts", kind="stable")
        assert ledger.ts.iloc[0] == loan.disbursed_at, loan.loan_id  # nothing before the disbursement
        assert (ledger.amount_cents.cumsum() >= 0).all(), loan.loan_id


def test_split_transfers_stay_just_below_fifty_thousand(small):
    gt, loans, t = small["ground_truth"], small["loans"].set_index("loan_id"), small["transactions"]
    for loan_id in gt.loc[gt.pattern == "split_transfers", "loan_id"]:
        out = t[t.from_account == loans.loc[loan_id, "account_id"]]
        below = out[out.amount_cents.between(49_000_00, 49_999_99)]
        # >= 92% of a principal of >= 800,000 is split; the last part below 50,000 is left over: >= 85% in splits
        assert len(below) >= 10 and below.amount_cents.sum() >= loans.loc[loan_id, "principal_cents"] * 0.85


def test_other_patterns_leave_their_mark_in_the_data(small):
    gt, loans, t, rep = small["ground_truth"], small["loans"].set_index("loan_id"), small["transactions"], small["repayments"]
    accounts = small["accounts"].set_index("account_id")

    def out_of(pattern):
        for loan_id in gt.loc[gt.pattern == pattern, "loan_id"]:
            yield loan_id, t[t.from_account == loans.loc[loan_id, "account_id"]]

    for loan_id, out in out_of("restricted_sector"):
        # directly or through one pass-through account
        hop2 = t[t.from_account.isin(out.to_account)]
        assert pd.concat([out, hop2]).merchant_category.isin(["real_estate", "securities"]).any(), loan_id
    for loan_id, out in out_of("loan_repays_loan"):
        into = out[(out.channel == "repayment") & (out.to_account != "LN" + loan_id)]
        assert accounts.loc[into.to_account, "account_type"].eq("loan").all() and len(into) == 1, loan_id
    for loan_id, out in out_of("cross_border"):
        assert pd.concat([out, t[t.from_account.isin(out.to_account)]]).channel.eq("cross_border").any(), loan_id
    for loan_id in gt.loc[gt.pattern == "multi_account_repayment", "loan_id"]:
        assert rep.loc[rep.loan_id == loan_id, "payer_account"].nunique() >= 3, loan_id
    payees = pd.concat([o.assign(loan=lid) for lid, o in out_of("common_payee")])
    assert payees.groupby("to_account").loan.nunique().max() >= 3


def test_money_is_written_in_units_with_two_decimals(tmp_path):
    frames = synth.generate(seed=2, n_customers=60, n_loans=40, n_transactions=3000)
    tiny = frames["transactions"].head(4).copy()
    tiny["amount_cents"] = pd.array([123456, 5, -250, 100], dtype="Int64")
    tiny["balance_after_cents"] = pd.array([None, 7, None, 1000000], dtype="Int64")
    tiny["counterparty_name"] = pd.Series(['Pacific, "Rim" Ltd', "王伟", None, "x"], dtype="str")
    frames = {**frames, "transactions": tiny}
    paths = synth.write_demo_csvs(frames, tmp_path / "out")
    assert [p.name for p in paths] == [f"{t}.csv" for t in synth.DEMO_TABLES]
    raw = pd.read_csv(tmp_path / "out" / "transactions.csv", dtype=str, keep_default_na=False)
    assert "amount" in raw.columns and "amount_cents" not in raw.columns
    assert raw.amount.tolist() == ["1234.56", "0.05", "-2.50", "1.00"]
    assert raw.balance_after.tolist() == ["", "0.07", "", "10000.00"]
    assert raw.counterparty_name.tolist() == ['Pacific, "Rim" Ltd', "王伟", "", "x"]  # quoted where needed
    loans = pd.read_csv(tmp_path / "out" / "loans.csv", dtype=str, keep_default_na=False)
    assert {"principal", "overdue_amount", "outstanding"} <= set(loans.columns)
    assert loans.principal.str.fullmatch(r"\d+\.\d{2}").all()
    first = frames["loans"].iloc[0]
    assert loans.principal.iloc[0] == f"{first.principal_cents // 100}.{first.principal_cents % 100:02d}"
    accounts = pd.read_csv(tmp_path / "out" / "accounts.csv", dtype=str, keep_default_na=False)
    assert accounts.account_id.tolist() == frames["accounts"].account_id.tolist()  # leading zeros kept
    assert (tmp_path / "out" / "customers.csv").read_bytes().decode("utf-8").startswith("customer_id,name,")


def test_csv_round_trip_is_exact_to_the_cent(tmp_path, small):
    synth.write_demo_csvs(small, tmp_path)
    back = synth.read_demo_csvs(tmp_path)
    for table in synth.DEMO_TABLES:
        pd.testing.assert_frame_equal(back[table], small[table], check_dtype=True)


def test_scaled_gives_the_requested_counts():
    frames = synth.scaled(n_transactions=20_000, n_overdue_loans=200, seed=3)
    assert len(frames["transactions"]) == 20_000
    assert frames["loans"].status.isin(schema.OVERDUE_STATUSES).sum() == 200
    assert set(frames["ground_truth"].pattern) == set(synth.PATTERNS)


def test_too_few_transactions_is_a_clear_error():
    with pytest.raises(ValueError, match="too small"):
        synth.generate(n_customers=100, n_loans=60, n_transactions=500)


def test_cli_writes_the_csvs(tmp_path, capsys):
    assert synth.main(["--out", str(tmp_path), "--scale", "20000", "--seed", "4"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.csv" for t in synth.DEMO_TABLES)
    assert "transactions.csv  20000 rows" in capsys.readouterr().out


def test_committed_demo_csvs_are_what_the_generator_makes():
    if not DEMO_DIR.joinpath("transactions.csv").exists():
        pytest.fail("data/demo/*.csv are missing: run `python -m analysis.synth --out data/demo`")
    committed = synth.read_demo_csvs(DEMO_DIR)
    fresh = synth.generate()
    for table in synth.DEMO_TABLES:
        pd.testing.assert_frame_equal(committed[table], fresh[table])
    assert sum(p.stat().st_size for p in DEMO_DIR.glob("*.csv")) < 5_000_000
