"""Fund tracing: hand-computed cases per rule, and conservation on random graphs."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import TraceError
from analysis.schema import DESTINATION_CLASSES
from analysis.tracing import EDGE_COLUMNS, RULES, SEMANTICS, SUMMARY_COLUMNS, coverage_gap, trace_loans

D1 = "2024-01-01T00:00:00"


def day(d: int, hh: str = "00:00:00") -> str:
    return f"2024-01-{d:02d}T{hh}"


def loans_frame(*rows: dict) -> pd.DataFrame:
    base = {"loan_id": "L1", "customer_id": "C1", "account_id": "A", "principal_cents": 1000, "currency": "CNY",
            "disbursed_at": D1, "status": "overdue"}
    return pd.DataFrame([{**base, **r} for r in (rows or ({},))])


def txns(*rows: tuple) -> pd.DataFrame:
    """rows: (txn_id, ts, from, to, amount[, extra dict]); seq = file order."""
    out = []
    for i, r in enumerate(rows):
        tid, ts, f, t, a = r[:5]
        extra = r[5] if len(r) > 5 else {}
        out.append({"txn_id": tid, "seq": i + 1, "ts": ts, "from_account": f, "to_account": t, "amount_cents": a,
                    "currency": "CNY", "channel": "transfer", **extra})
    return pd.DataFrame(out)


def classes(res, loan: str = "L1") -> dict[str, int]:
    row = res.summary.set_index("loan_id").loc[loan]
    return {c: int(row[c]) for c in DESTINATION_CLASSES if int(row[c]) != 0}


def edges(res, loan: str = "L1") -> list[tuple]:
    e = res.edges[res.edges.loan_id == loan]
    return sorted((int(r.hop), r.txn_id, r.from_account, r.to_account, int(r.amount_cents)) for r in e.itertuples())


# ------------------------------------------------------------------ chain, diamond, cycle


@pytest.mark.parametrize("rule", RULES)
def test_chain_a_b_c(rule):
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", day(3), "B", "C", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule)
    # C never sends anything: the money left the data set
    assert classes(res) == {"left_dataset": 1000}
    assert edges(res) == [(1, "t1", "A", "B", 1000), (2, "t2", "B", "C", 1000)]
    s = res.summary.iloc[0]
    assert (s.max_hop_reached, s.n_edges, s.ever_back_to_borrower) == (2, 2, 0)
    assert list(res.summary.columns) == list(SUMMARY_COLUMNS)
    assert list(res.edges.columns) == list(EDGE_COLUMNS)
    assert res.edges.ts.tolist() == [day(2), day(3)]


@pytest.mark.parametrize("rule", RULES)
def test_diamond_split_and_merge_counts_once(rule):
    tx = txns(
        ("t1", day(2), "A", "B", 600), ("t2", day(3), "A", "C", 400),
        ("t3", day(4), "B", "D", 600), ("t4", day(5), "C", "D", 400),
    )
    accounts = pd.DataFrame({"account_id": ["A", "B", "C", "D"], "customer_id": ["C1", "CB", "CC", "CD"]})
    customers = pd.DataFrame({"customer_id": ["CD"], "industry": ["Real_Estate"]})  # case differs on purpose
    res = trace_loans(loans_frame(), tx, accounts=accounts, customers=customers, rule=rule)
    assert classes(res) == {"restricted_sector": 1000}
    assert edges(res) == [(1, "t1", "A", "B", 600), (1, "t2", "A", "C", 400),
                          (2, "t3", "B", "D", 600), (2, "t4", "C", "D", 400)]


@pytest.mark.parametrize("rule", RULES)
def test_cycle_back_to_borrower(rule):
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", day(3), "B", "A", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule)
    assert classes(res) == {"back_to_borrower": 1000}
    assert res.summary.ever_back_to_borrower.tolist() == [1000]
    assert edges(res) == [(1, "t1", "A", "B", 1000), (2, "t2", "B", "A", 1000)]


@pytest.mark.parametrize("rule", RULES)
def test_cycle_back_then_leaving_again_is_still_ever_back(rule):
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", day(3), "B", "A", 1000), ("t3", day(4), "A", "C", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule)
    assert classes(res) == {"left_dataset": 1000}
    assert res.summary.ever_back_to_borrower.tolist() == [1000]
    assert edges(res) == [(1, "t1", "A", "B", 1000), (2, "t2", "B", "A", 1000), (3, "t3", "A", "C", 1000)]


@pytest.mark.parametrize("rule", RULES)
def test_cycle_twice_ever_back_capped_and_max_hops_stops_in_borrower(rule):
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", day(3), "B", "A", 1000),
              ("t3", day(4), "A", "B", 1000), ("t4", day(5), "B", "A", 1000), ("t5", day(6), "A", "C", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule, max_hops=4)
    # the money arrives back in A at hop 4 = max_hops: it stays there, so t5 carries no tagged money
    assert classes(res) == {"back_to_borrower": 1000}
    # it came back twice (2000 cents of arrivals) but only 1000 were lent
    assert res.summary.ever_back_to_borrower.tolist() == [1000]
    assert [e[:2] for e in edges(res)] == [(1, "t1"), (2, "t2"), (3, "t3"), (4, "t4")]


@pytest.mark.parametrize("rule", RULES)
def test_transfers_between_borrower_accounts_do_not_leave(rule):
    accounts = pd.DataFrame({"account_id": ["A", "A2", "B"], "customer_id": ["C1", "C1", "CB"]})
    only_internal = trace_loans(loans_frame(), txns(("t1", day(2), "A", "A2", 1000)), accounts=accounts, rule=rule)
    assert classes(only_internal) == {"not_moved": 1000}
    assert edges(only_internal) == [(0, "t1", "A", "A2", 1000)]
    out = trace_loans(loans_frame(), txns(("t1", day(2), "A", "A2", 1000), ("t2", day(3), "A2", "B", 1000)),
                      accounts=accounts, rule=rule)
    assert classes(out) == {"left_dataset": 1000}
    assert edges(out) == [(0, "t1", "A", "A2", 1000), (1, "t2", "A2", "B", 1000)]
    assert out.summary.ever_back_to_borrower.tolist() == [0]


# ------------------------------------------------------------------ time order


@pytest.mark.parametrize("rule", RULES)
def test_same_minute_inflow_booked_before_outflow(rule):
    # file order puts B's outflow first; at an equal timestamp B's inflow must come first
    tx = txns(("tb", day(2, "10:00:00"), "B", "C", 1000), ("ta", day(2, "10:00:00"), "A", "B", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule)
    assert classes(res) == {"left_dataset": 1000}
    assert edges(res) == [(1, "ta", "A", "B", 1000), (2, "tb", "B", "C", 1000)]


@pytest.mark.parametrize("rule", RULES)
def test_outflow_before_the_loan_arrived_draws_own_money(rule):
    loans = loans_frame({"disbursed_at": day(1, "12:00:00")})
    tx = txns(("t0", day(1, "08:00:00"), "A", "B", 500), ("t1", day(2), "A", "C", 300))
    res = trace_loans(loans, tx, rule=rule)
    # t0 is paid from A's implied opening balance of 500; only t1 can carry loan money:
    # A holds just the 1000 of the loan at that point, so every rule moves 300 tagged cents.
    assert classes(res) == {"not_moved": 700, "left_dataset": 300}
    assert edges(res) == [(1, "t1", "A", "C", 300)]


# ------------------------------------------------------------------ implied opening balance, per rule

# A: opening 200 (implied: +1000 loan, +400, -900, -700 bottoms at -200), loan 1000, then 400 own from X.
# t2 (900) and t3 (700) empty A.  B sends before the loan (so it is "remaining"), C is a loan account.
OPENING_EXPECTED = {
    # fifo: t2 takes own 200 + tagged 700; t3 takes tagged 300 + own 400
    "fifo": (700, 300),
    # lifo: t2 takes own 400 + tagged 500; t3 takes tagged 500 + own 200
    "lifo": (500, 500),
    # pro-rata: t2 900*1000/1600 = 562.5 -> tie goes to own money -> 562; t3 700*438/700 = 438
    "pro-rata": (562, 438),
    # worst-case: t2 takes tagged 900; t3 takes the last tagged 100
    "worst-case": (900, 100),
}


@pytest.mark.parametrize("rule", RULES)
def test_implied_opening_balance_per_rule(rule):
    tx = txns(
        ("t0", "2023-12-31T00:00:00", "B", "Z", 50),
        ("t1", day(2), "X", "A", 400),
        ("t2", day(3), "A", "B", 900),
        ("t3", day(4), "A", "C", 700),
    )
    accounts = pd.DataFrame({"account_id": ["A", "B", "C"], "customer_id": ["C1", "CB", None],
                             "account_type": ["deposit", "deposit", "loan"]})
    res = trace_loans(loans_frame(), tx, accounts=accounts, rule=rule)
    to_b, to_c = OPENING_EXPECTED[rule]
    assert classes(res) == {"remaining": to_b, "other_loan_repayment": to_c}
    assert edges(res) == [(1, "t2", "A", "B", to_b), (1, "t3", "A", "C", to_c)]


@pytest.mark.parametrize(("rule", "expected"), [
    # B's first statement (balance 1500 after sending 500) implies 1000 own money, its oldest.
    ("fifo", {"remaining": 1000}),  # t2 is paid from the older own money
    ("lifo", {"remaining": 500, "left_dataset": 500}),  # the loan money is on top
    ("worst-case", {"remaining": 500, "left_dataset": 500}),
    ("pro-rata", {"remaining": 750, "left_dataset": 250}),  # 500 * 1000 / 2000
])
def test_statement_balance_sets_the_opening(rule, expected):
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", day(3), "B", "C", 500, {"balance_after_cents": 1500}))
    res = trace_loans(loans_frame(), tx, rule=rule)
    assert classes(res) == expected


# ------------------------------------------------------------------ stop conditions


def test_missing_fx_rate_is_unconverted_and_a_rate_converts():
    tx = txns(
        ("t1", day(2), "A", "B", 1000, {"received_cents": 140, "received_currency": "USD"}),
        ("t2", day(3), "B", "C", 70, {"currency": "USD"}),
    )
    res = trace_loans(loans_frame(), tx, rule="fifo")
    assert classes(res) == {"unconverted": 1000}
    assert edges(res) == []
    rates = pd.DataFrame({"currency": ["CNY", "USD"], "rate": [1.0, 7.0]})
    # ledger in CNY cents: t1 debits 1000, credits 140*7 = 980 to B; t2 debits 70*7 = 490 of B's 980,
    # i.e. half of the loan's 1000 cents; B now sends, so the other half is "remaining" there.
    res = trace_loans(loans_frame(), tx, rates=rates, rule="fifo")
    assert classes(res) == {"remaining": 500, "left_dataset": 500}
    assert edges(res) == [(1, "t1", "A", "B", 1000), (2, "t2", "B", "C", 500)]


def test_dated_rates_use_latest_on_or_before_else_earliest():
    tx = txns(("t1", day(2), "A", "B", 1000, {"received_cents": 100, "received_currency": "USD"}),
              ("t2", day(3), "B", "C", 50, {"currency": "USD"}))
    rates = pd.DataFrame({"currency": ["CNY", "USD", "USD"], "rate": [1.0, 10.0, 5.0],
                          "date": ["2024-01-05", "2024-01-01", "2024-01-03"]})
    # CNY's only rate is later than both days -> earliest (1.0); USD: 10.0 on Jan 2, 5.0 on Jan 3.
    # B gets 1000 ledger cents, t2 takes 50*5 = 250 of them -> 250 loan cents.
    res = trace_loans(loans_frame(), tx, rates=rates, rule="fifo")
    assert classes(res) == {"remaining": 750, "left_dataset": 250}


@pytest.mark.parametrize("rule", RULES)
def test_min_amount_drops_small_parts(rule):
    tx = txns(("t1", day(2), "A", "B", 30), ("t2", day(3), "A", "C", 970))
    res = trace_loans(loans_frame(), tx, rule=rule, min_amount_cents=50)
    assert classes(res) == {"dropped": 30, "left_dataset": 970}
    assert edges(res) == [(1, "t2", "A", "C", 970)]


@pytest.mark.parametrize("rule", RULES)
def test_max_hops_stops_where_the_money_is(rule):
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", day(3), "B", "C", 1000), ("t3", day(4), "C", "D", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule, max_hops=2)
    assert classes(res) == {"remaining": 1000}  # C sends (t3), so it is not "left_dataset"
    assert edges(res) == [(1, "t1", "A", "B", 1000), (2, "t2", "B", "C", 1000)]


@pytest.mark.parametrize("rule", RULES)
def test_window_end(rule):
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", "2024-02-15T00:00:00", "B", "C", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule, window_days=30)
    assert classes(res) == {"remaining": 1000}
    assert edges(res) == [(1, "t1", "A", "B", 1000)]


# ------------------------------------------------------------------ every destination class


@pytest.mark.parametrize("rule", RULES)
def test_every_destination_class(rule):
    loans = loans_frame(
        {"principal_cents": 1200},
        {"loan_id": "L2", "customer_id": "C2", "account_id": "P2", "principal_cents": 5000,
         "disbursed_at": "2023-12-01T00:00:00", "status": "current"},
    )
    tx = txns(
        ("r0", "2023-12-31T00:00:00", "R", "Z", 10),
        ("k0", "2023-12-31T00:00:00", "K", "Z", 10),
        ("t1", day(2), "A", "P2", 100),
        ("t2", day(3), "A", "R", 100),
        ("t3", day(4), "A", "LN", 100, {"channel": "repayment"}),
        ("t4", day(5), "A", "M", 100, {"merchant_category": "Real_Estate"}),
        ("t5", day(6), "A", "F", 100, {"channel": "cross_border"}),
        ("t6", day(7), "A", "~cash", 100, {"channel": "cash"}),
        ("t7", day(8), "A", "~unknown", 100),
        ("t8", day(9), "A", "K", 100),
        ("t9", day(10), "A", "S", 40),
        ("t10", day(11), "A", "V", 60, {"currency": "USD"}),
        ("t11", day(12), "A", "B", 100),
        ("t12", day(13), "B", "A", 100),
    )
    accounts = pd.DataFrame({"account_id": ["A", "R", "K", "B", "P2"], "customer_id": ["C1", "CR", "CK", "CB", "C2"],
                             "country": ["CN"] * 5})
    relations = pd.DataFrame({"src_id": ["C1"], "dst_id": ["CR"], "relation": ["shareholder"]})
    res = trace_loans(loans, tx, accounts=accounts, relations=relations, rule=rule, min_amount_cents=50)
    assert list(res.summary.loan_id) == ["L1"]  # L2 is current: not traced by default
    assert classes(res) == {
        "not_moved": 200, "back_to_borrower": 100, "other_borrower": 100, "related_party": 100,
        "other_loan_repayment": 100, "restricted_sector": 100, "cross_border": 100, "cash_out": 100,
        "left_dataset": 100, "remaining": 100, "dropped": 40, "unconverted": 60,
    }
    assert edges(res) == sorted(
        [(1, t, "A", to, 100) for t, to in [("t1", "P2"), ("t2", "R"), ("t3", "LN"), ("t4", "M"), ("t5", "F"),
                                            ("t6", "~cash"), ("t7", "~unknown"), ("t8", "K"), ("t11", "B")]]
        + [(2, "t12", "B", "A", 100)]
    )
    s = res.summary.iloc[0]
    assert (s.ever_back_to_borrower, s.max_hop_reached, s.n_edges) == (100, 2, 10)


def test_cross_border_by_country_and_home_country():
    tx = txns(("t1", day(2), "A", "G", 600), ("t2", day(3), "A", "H", 400, {"counterparty_country": "US"}))
    accounts = pd.DataFrame({"account_id": ["A", "B", "G", "H"], "customer_id": ["C1", "CB", "CG", "CH"],
                             "country": ["CN", "CN", "HK", None]})
    res = trace_loans(loans_frame(), tx, accounts=accounts)  # home = CN, the most common country
    assert classes(res) == {"cross_border": 1000}
    res = trace_loans(loans_frame(), tx, accounts=accounts, home_country="HK")
    assert classes(res) == {"left_dataset": 600, "cross_border": 400}


def test_all_loans_and_skipped():
    loans = loans_frame(
        {},
        {"loan_id": "L2", "status": "current"},
        {"loan_id": "L3", "account_id": None},
        {"loan_id": "L4", "principal_cents": 0},
    )
    res = trace_loans(loans, txns(("t1", day(2), "A", "B", 10)), rule="fifo")
    assert list(res.summary.loan_id) == ["L1"]
    assert res.skipped.values.tolist() == [["L3", "no borrower account"], ["L4", "principal missing or not positive"]]
    res = trace_loans(loans, txns(("t1", day(2), "A", "B", 10)), rule="fifo", all_loans=True)
    # both loans of A are booked: 2000 in A; fifo sends 10 of L1 (booked first in file order at the same time)
    assert classes(res, "L1") == {"not_moved": 990, "left_dataset": 10}
    assert classes(res, "L2") == {"not_moved": 1000}


# ------------------------------------------------------------------ data cleaning


@pytest.mark.parametrize("with_id", [True, False])
def test_reversal_and_its_booking_are_removed(with_id):
    extra = {"is_reversal": 1, "reverses_txn_id": "t1" if with_id else None}
    tx = txns(("t1", day(2), "A", "B", 1000), ("t2", day(3), "B", "A", 1000, extra))
    res = trace_loans(loans_frame(), tx)
    assert classes(res) == {"not_moved": 1000}
    assert edges(res) == []


def test_disbursement_transfer_is_not_booked_twice():
    tx = txns(("d1", day(1, "00:05:00"), "BANK", "A", 1000, {"channel": "disbursement"}),
              ("t1", day(2), "A", "B", 1000))
    # booked twice, lifo would send the newer untagged 1000 first and B would get nothing
    res = trace_loans(loans_frame(), tx, rule="lifo")
    assert classes(res) == {"left_dataset": 1000}


def test_self_transfers_ignored():
    tx = txns(("t0", day(2), "A", "A", 1000), ("t1", day(3), "A", "B", 400))
    res = trace_loans(loans_frame(), tx, rule="fifo")
    assert classes(res) == {"not_moved": 600, "left_dataset": 400}
    assert edges(res) == [(1, "t1", "A", "B", 400)]


# ------------------------------------------------------------------ arguments and inputs


def test_bad_arguments():
    with pytest.raises(ValueError):
        trace_loans(loans_frame(), txns(), rule="random")
    with pytest.raises(ValueError):
        trace_loans(loans_frame(), txns(), max_hops=0)
    with pytest.raises(TraceError):
        trace_loans(loans_frame().drop(columns=["principal_cents"]), txns())
    with pytest.raises(TraceError):
        trace_loans(loans_frame(), txns(("t1", day(2), "A", "B", 1)).drop(columns=["ts"]))


def test_optional_columns_may_be_absent_and_progress_reported():
    tx = pd.DataFrame({"ts": [day(2)], "from_account": ["A"], "to_account": ["B"], "amount_cents": [250]})
    loans = pd.DataFrame({"loan_id": ["L1"], "account_id": ["A"], "principal_cents": [1000], "disbursed_at": [D1]})
    seen = []
    res = trace_loans(loans, tx, all_loans=True, progress=lambda d, t: seen.append((d, t)))
    assert classes(res) == {"not_moved": 750, "left_dataset": 250}
    assert res.edges.txn_id.tolist() == ["0"]  # no ids: named by file position
    assert seen[-1] == (1, 1)


def test_inputs_not_mutated():
    loans = loans_frame()
    tx = txns(("t1", day(2), "A", "B", 600, {"is_reversal": 0}), ("t2", day(2), "B", "C", 500))
    accounts = pd.DataFrame({"account_id": ["A"], "customer_id": ["C1"], "country": ["CN"]})
    copies = [f.copy(deep=True) for f in (loans, tx, accounts)]
    for rule in RULES:
        trace_loans(loans, tx, accounts=accounts, rule=rule)
    for orig, copy in zip((loans, tx, accounts), copies):
        pd.testing.assert_frame_equal(orig, copy)


def test_semantics_text_is_the_contract():
    for word in ("not_moved", "ever_back_to_borrower", "worst-case", "max_hops", "unconverted"):
        assert word in SEMANTICS


# ------------------------------------------------------------------ unusual data (regressions)


@pytest.mark.parametrize("rule", RULES)
def test_cash_placeholder_is_a_sink(rule):
    # '~cash' pools every cash desk: the later deposit into B is someone else's cash, not the loan's
    tx = txns(("t1", day(2), "A", "~cash", 1000, {"channel": "cash"}),
              ("t2", day(3), "~cash", "B", 1000, {"channel": "cash"}), ("t3", day(4), "B", "X", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule)
    assert classes(res) == {"cash_out": 1000}
    assert edges(res) == [(1, "t1", "A", "~cash", 1000)]


@pytest.mark.parametrize("rule", RULES)
def test_unknown_placeholder_is_a_sink_and_no_false_return(rule):
    # a credit "from an unknown counterparty" is not the loan coming back
    tx = txns(("t1", day(2), "A", "~unknown", 1000), ("t2", day(3), "~unknown", "A", 1000))
    res = trace_loans(loans_frame(), tx, rule=rule)
    assert classes(res) == {"left_dataset": 1000}
    assert int(res.summary.ever_back_to_borrower.iloc[0]) == 0


def test_placeholder_borrower_account_is_skipped():
    loans = loans_frame({}, {"loan_id": "L2", "account_id": "~cash"})
    res = trace_loans(loans, txns(("t1", day(2), "~cash", "B", 5)))
    assert list(res.summary.loan_id) == ["L1"]
    assert res.skipped.loan_id.tolist() == ["L2"]
    assert "placeholder" in res.skipped.reason.iloc[0]


def test_every_status_empty_is_an_error_unless_all_loans():
    loans = loans_frame({"status": None})
    with pytest.raises(TraceError, match="status"):
        trace_loans(loans, txns(("t1", day(2), "A", "B", 10)))
    res = trace_loans(loans, txns(("t1", day(2), "A", "B", 10)), all_loans=True)
    assert classes(res) == {"not_moved": 990, "left_dataset": 10}


@pytest.mark.parametrize("rule", RULES)
def test_null_fields_in_transactions_are_ignored(rule):
    tx = pd.DataFrame({
        "txn_id": ["t1", "t2", "t3", "t4", "t5"],
        "ts": [day(2), None, day(3), day(3), day(4)],
        "from_account": ["A", "A", None, "A", "B"],
        "to_account": ["B", "B", "B", None, "C"],
        "amount_cents": pd.array([300, 100, 100, 100, None], dtype="Int64"),
        "currency": ["CNY", "", None, " ", "cny"],
    })
    res = trace_loans(loans_frame(), tx, rule=rule)
    # only t1 is a usable transfer; B then sends nothing
    assert classes(res) == {"not_moved": 700, "left_dataset": 300}


@pytest.mark.parametrize("rule", RULES)
def test_one_cent_loan(rule):
    res = trace_loans(loans_frame({"principal_cents": 1}), txns(("t1", day(2), "A", "B", 1)), rule=rule)
    assert classes(res) == {"left_dataset": 1}


@pytest.mark.parametrize("rule, expected", [
    ("fifo", {"left_dataset": 1000}),  # B's oldest money is the loan's 1000
    ("lifo", {"remaining": 1000}),  # the newest 10**17 leaves first
    ("pro-rata", {"left_dataset": 10, "remaining": 990}),  # round(10**17 * 1000 / (10**19 + 1000)) = 10
    ("worst-case", {"left_dataset": 1000}),
])
def test_account_totals_beyond_int64(rule, expected):
    big = 10**17  # the largest amount ingest accepts; 100 of them pass int64 in B's running totals
    rows = [("t0", day(2), "A", "B", 1000)]
    rows += [(f"x{i}", day(3, f"00:{i // 60:02d}:{i % 60:02d}"), f"X{i}", "B", big) for i in range(100)]
    rows += [("t9", day(4), "B", "C", big)]
    res = trace_loans(loans_frame(), txns(*rows), rule=rule)
    assert classes(res) == expected


def test_too_large_amounts_are_clear():
    res = trace_loans(loans_frame({"principal_cents": 2**63 + 5}), txns(("t1", day(2), "A", "B", 1)))
    assert res.skipped.values.tolist() == [["L1", "principal too large to be an amount in cents"]]
    rates = pd.DataFrame({"currency": ["USD", "VND"], "rate": [25_000.0, 1.0]})
    loans = loans_frame({"principal_cents": 10**17, "currency": "USD"})
    with pytest.raises(TraceError, match="too large"):
        trace_loans(loans, txns(("t1", day(2), "A", "B", 10**17, {"currency": "USD"})), rates=rates)


@pytest.mark.parametrize("rule", RULES)
def test_ping_pong_ten_thousand_times_in_one_minute(rule):
    n = 10_000
    tx = pd.DataFrame({
        "txn_id": [f"p{i}" for i in range(n)],
        "ts": [f"2024-01-02T00:00:{i * 60 // n:02d}" for i in range(n)],
        "from_account": ["A" if i % 2 == 0 else "B" for i in range(n)],
        "to_account": ["B" if i % 2 == 0 else "A" for i in range(n)],
        "amount_cents": 1000,
    })
    res = trace_loans(loans_frame(), tx, rule=rule, max_hops=30)
    # hop 30 is even, so the money stops in A after its 30th transfer
    assert classes(res) == {"back_to_borrower": 1000}
    s = res.summary.iloc[0]
    assert (int(s.max_hop_reached), int(s.n_edges), int(s.ever_back_to_borrower)) == (30, 30, 1000)


# ------------------------------------------------------------------ property: conservation


@st.composite
def random_case(draw):
    accts = [f"A{i}" for i in range(draw(st.integers(2, 6)))]
    times = [f"2024-01-0{d}T00:00:00" for d in range(1, 6)]  # few values: many equal timestamps
    n = draw(st.integers(0, 18))
    rows = []
    for i in range(n):
        rows.append({
            "txn_id": f"t{i}", "seq": i, "ts": draw(st.sampled_from(times)),
            "from_account": draw(st.sampled_from(accts)), "to_account": draw(st.sampled_from(accts)),
            "amount_cents": draw(st.integers(1, 3000)),
            "currency": draw(st.sampled_from(["CNY", "CNY", "CNY", "USD"])),
            "channel": draw(st.sampled_from(["transfer", "transfer", "cash", "repayment"])),
            "balance_after_cents": draw(st.one_of(st.none(), st.integers(-500, 3000))),
        })
    tx = pd.DataFrame(rows, columns=["txn_id", "seq", "ts", "from_account", "to_account", "amount_cents",
                                     "currency", "channel", "balance_after_cents"])
    nl = draw(st.integers(1, 3))
    loans = pd.DataFrame({
        "loan_id": [f"L{i}" for i in range(nl)],
        "customer_id": [f"C{i}" for i in range(nl)],
        "account_id": [draw(st.sampled_from(accts)) for _ in range(nl)],
        "principal_cents": [draw(st.integers(1, 5000)) for _ in range(nl)],
        "currency": "CNY",
        "disbursed_at": [draw(st.sampled_from(times)) for _ in range(nl)],
        "status": "overdue",
    })
    return loans, tx, draw(st.integers(1, 5)), draw(st.sampled_from([0, 0, 100])), draw(st.booleans())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_case())
def test_conservation_on_random_graphs(case):
    loans, tx, max_hops, min_amount, with_rates = case
    rates = pd.DataFrame({"currency": ["CNY", "USD"], "rate": [1.0, 7.3]}) if with_rates else None
    for rule in RULES:
        res = trace_loans(loans, tx, rule=rule, max_hops=max_hops, min_amount_cents=min_amount, rates=rates)
        s = res.summary
        assert len(s) == len(loans)
        cls = s[list(DESTINATION_CLASSES)]
        assert (cls.sum(axis=1) == s.principal_cents).all()
        assert (cls >= 0).all().all()
        assert (s.ever_back_to_borrower <= s.principal_cents).all()
        if len(res.edges):
            assert (res.edges.amount_cents > 0).all()
            amount = tx.set_index("txn_id").amount_cents
            if not with_rates:  # same currency only: loan cents are the transfer's cents
                assert (res.edges.amount_cents.to_numpy() <= amount.loc[res.edges.txn_id].to_numpy()).all()
            per_txn = res.edges.groupby(["loan_id", "txn_id"]).amount_cents.sum()
            prin = s.set_index("loan_id").principal_cents
            assert (per_txn.to_numpy() <= prin.loc[per_txn.index.get_level_values(0)].to_numpy()).all()
            assert (res.edges.hop <= max_hops).all()


# ------------------------------------------------------------------ property: agrees with a naive ledger


def _naive(loans: pd.DataFrame, tx: pd.DataFrame, rule: str, max_hops: int) -> tuple[dict, dict]:
    """A plain lot-by-lot ledger (lists of [amount, tag]) for distinct timestamps and one currency."""
    events = [(r.ts, "tx", r.from_account, r.to_account, int(r.amount_cents), r.txn_id) for r in tx.itertuples()]
    events += [(r.disbursed_at, "loan", None, r.account_id, int(r.principal_cents), r.loan_id) for r in loans.itertuples()]
    events.sort(key=lambda e: e[0])
    bal: dict[str, int] = {}
    low: dict[str, int] = {}
    for _, _, f, t, a, _ in events:
        if f is not None:
            bal[f] = bal.get(f, 0) - a
            low[f] = min(low.get(f, 0), bal[f])
        bal[t] = bal.get(t, 0) + a
    senders = set(tx.from_account)
    out_cls, out_edges = {}, {}
    for ln in loans.itertuples():
        lots = {a: [[-m, None]] for a, m in low.items() if m < 0}  # opening balance: oldest own money
        final, edges_, back = [], {}, 0
        for ts, kind, f, t, a, ident in events:
            if ts > "2024-04-01":
                break
            if kind == "loan":
                lots.setdefault(t, []).append([a, (0, False) if ident == ln.loan_id else None])
                continue
            src = lots.setdefault(f, [])
            pieces = []  # (amount, tag)
            tagged = sum(x[0] for x in src if x[1] is not None)
            total = sum(x[0] for x in src)
            if rule == "pro-rata":
                q, r = divmod(a * tagged, total)
                take = q + 1 if 2 * r > total else q
                cum = prev = 0
                for lot in [x for x in src if x[1] is not None]:
                    cum += lot[0]
                    c2 = take * cum // tagged
                    pieces.append((c2 - prev, lot[1]))
                    lot[0] -= c2 - prev
                    prev = c2
                rest = a - take
                pieces.append((rest, None))
                for lot in [x for x in src if x[1] is None]:
                    y = min(rest, lot[0])
                    lot[0] -= y
                    rest -= y
            else:
                if rule == "fifo":
                    order = list(src)
                elif rule == "lifo":
                    order = list(reversed(src))
                else:
                    order = [x for x in src if x[1] is not None] + [x for x in src if x[1] is None]
                rest = a
                for lot in order:
                    y = min(rest, lot[0])
                    lot[0] -= y
                    rest -= y
                    pieces.append((y, lot[1]))
            if rule == "lifo":  # pieces of one credit keep the order they had at the sender
                pieces.reverse()
            if rule in ("pro-rata", "worst-case"):
                # the tracer keeps the loan's pieces that arrive by one transfer with the same hop as one lot
                merged: dict = {}
                for y, tag in pieces:
                    merged[tag] = merged.get(tag, 0) + y
                pieces = [(y, tag) for tag, y in merged.items()]
            lots[f] = [x for x in src if x[0] > 0]
            dst = lots.setdefault(t, [])
            for y, tag in sorted(pieces, key=lambda p: p[1] is None):  # tagged part counts as older
                if y <= 0:
                    continue
                if tag is None:
                    dst.append([y, None])
                    continue
                hop, left = tag
                nh, nl = (0, False) if (t == ln.account_id and not left) else (hop + 1, True)
                if t == ln.account_id and f != ln.account_id:
                    back += y
                edges_[(nh, ident)] = edges_.get((nh, ident), 0) + y
                if nh >= max_hops:
                    final.append((t, y, nl))
                    dst.append([y, None])
                else:
                    dst.append([y, (nh, nl)])
        for acct, ls in lots.items():
            for y, tag in ls:
                if tag is not None and y > 0:
                    final.append((acct, y, tag[1]))
        cls: dict[str, int] = {}
        for acct, y, left in final:
            c = ("back_to_borrower" if left else "not_moved") if acct == ln.account_id else (
                "remaining" if acct in senders else "left_dataset")
            cls[c] = cls.get(c, 0) + y
        out_cls[ln.loan_id] = (cls, min(back, ln.principal_cents))
        out_edges[ln.loan_id] = edges_
    return out_cls, out_edges


@st.composite
def distinct_time_case(draw):
    accts = [f"A{i}" for i in range(draw(st.integers(2, 5)))]
    n = draw(st.integers(0, 14))
    minutes = draw(st.lists(st.integers(0, 500), min_size=n + 3, max_size=n + 3, unique=True))
    ts = [f"2024-01-02T{m // 60:02d}:{m % 60:02d}:00" for m in minutes]
    rows = []
    for i in range(n):
        f = draw(st.sampled_from(accts))
        t = draw(st.sampled_from([a for a in accts if a != f]))
        rows.append({"txn_id": f"t{i}", "seq": i, "ts": ts[i], "from_account": f, "to_account": t,
                     "amount_cents": draw(st.integers(1, 2000))})
    tx = pd.DataFrame(rows, columns=["txn_id", "seq", "ts", "from_account", "to_account", "amount_cents"])
    nl = draw(st.integers(1, 3))
    loans = pd.DataFrame({
        "loan_id": [f"L{i}" for i in range(nl)], "customer_id": [f"C{i}" for i in range(nl)],
        "account_id": [draw(st.sampled_from(accts)) for _ in range(nl)],
        "principal_cents": [draw(st.integers(1, 3000)) for _ in range(nl)],
        "disbursed_at": ts[n:n + nl], "status": "overdue",
    })
    return loans, tx, draw(st.integers(1, 4))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(distinct_time_case())
def test_agrees_with_naive_ledger(case):
    loans, tx, max_hops = case
    # several loans on one account would make one another's customers "other borrowers"; keep classes simple
    loans = loans.drop_duplicates("account_id")
    accounts = pd.DataFrame({"account_id": sorted(set(tx.from_account) | set(tx.to_account) | set(loans.account_id))})
    for rule in RULES:
        res = trace_loans(loans, tx, rule=rule, max_hops=max_hops, accounts=accounts)
        exp_cls, exp_edges = _naive(loans, tx, rule, max_hops)
        for ln in loans.loan_id:
            got = classes(res, ln)
            got = {k: v for k, v in got.items() if k != "other_borrower"}
            ob = classes(res, ln).get("other_borrower", 0)
            exp, back = exp_cls[ln]
            # the naive ledger does not know other borrowers: fold them into remaining/left_dataset
            assert sum(got.values()) + ob == sum(exp.values())
            if ob == 0:
                assert got == {k: v for k, v in exp.items() if v}, rule
            assert int(res.summary.set_index("loan_id").loc[ln, "ever_back_to_borrower"]) == back
            e = res.edges[res.edges.loan_id == ln]
            assert {(int(r.hop), r.txn_id): int(r.amount_cents) for r in e.itertuples()} == exp_edges[ln], rule


def test_coverage_gap_counts_loans_whose_money_never_moved():
    summary = pd.DataFrame({"principal_cents": [100, 100, 100], "not_moved": [100, 100, 40]})
    assert coverage_gap(summary) == (2, 3)
    assert coverage_gap(summary, min_share=0.9) is None
    # money that moved but was dropped below min_amount did move: not counted
    assert coverage_gap(pd.DataFrame({"principal_cents": [100, 100], "not_moved": [0, 100]})) == (1, 2)
    assert coverage_gap(pd.DataFrame({"principal_cents": [], "not_moved": []})) is None
