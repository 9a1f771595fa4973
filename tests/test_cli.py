"""`python -m analysis`: load → trace → CSVs, and exit code 2 with a clear message on bad input."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import store
from analysis.__main__ import main
from analysis.schema import DESTINATION_CLASSES

REPO = Path(__file__).resolve().parents[1]

LOANS_CSV = "loan_id,customer_id,account_id,principal,disbursed_at,status\nL1,C1,A,\"1,000.00\",2024-01-01,overdue\n"
TXNS_CSV = (
    "txn_id,ts,from_account,to_account,amount\n"
    "T1,2024-01-02 09:00,A,B,600.00\n"
    "T2,2024-01-03 09:00,B,C,600.00\n"
)


def _write(tmp_path: Path) -> tuple[Path, Path]:
    loans, txns = tmp_path / "loans.csv", tmp_path / "transactions.csv"
    loans.write_text(LOANS_CSV, encoding="utf-8")
    txns.write_text(TXNS_CSV, encoding="utf-8")
    return loans, txns


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_load_and_trace_writes_loans_and_edges(tmp_path, capsys):
    db = tmp_path / "cli.db"
    loans, txns = _write(tmp_path)
    assert main(["load", "--db", str(db), "--name", "bank", str(loans), str(txns)]) == 0
    out = tmp_path / "out"
    assert main(["trace", "--db", str(db), "--dataset", "bank", "--out", str(out)]) == 0
    rows = _read_csv(out / "loans.csv")
    # By hand: A gets 1,000.00 at disbursement; T1 moves 600.00 of it to B (hop 1), T2 on to C (hop 2);
    # C sends nothing in the data, so 600.00 left the dataset and 400.00 never moved.
    assert list(rows[0]) == ["loan_id", "principal", *DESTINATION_CLASSES, "ever_back_to_borrower"]
    expected = {c: "0.00" for c in DESTINATION_CLASSES}
    expected.update(loan_id="L1", principal="1000.00", not_moved="400.00", left_dataset="600.00",
                    ever_back_to_borrower="0.00")
    assert rows == [expected]
    edges = _read_csv(out / "edges.csv")
    assert [(e["hop"], e["txn_id"], e["from_account"], e["to_account"], e["amount"]) for e in edges] == [
        ("1", "T1", "A", "B", "600.00"), ("2", "T2", "B", "C", "600.00")]


def test_reloading_makes_a_new_version_and_keeps_the_old(tmp_path):
    db = tmp_path / "cli.db"
    loans, txns = _write(tmp_path)
    assert main(["load", "--db", str(db), "--name", "bank", str(loans), str(txns)]) == 0
    assert main(["load", "--db", str(db), "--name", "bank", str(loans)]) == 0
    datasets = store.list_datasets(db)
    assert sorted(datasets["version"]) == [1, 2]
    v1 = store.resolve_dataset("bank@v1", path=db)
    assert store.table_counts(v1, path=db)["transactions"] == 2


def test_unknown_dataset_exits_2(tmp_path, capsys):
    assert main(["trace", "--db", str(tmp_path / "x.db"), "--dataset", "nope", "--out", str(tmp_path)]) == 2
    assert "no dataset called 'nope'" in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["load", "--db", str(tmp_path / "x.db"), "--name", "b", str(tmp_path / "absent.csv")]) == 2
    assert "absent.csv" in capsys.readouterr().err


def test_unusable_file_exits_2_and_loads_nothing(tmp_path, capsys):
    db = tmp_path / "x.db"
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02 not a table \xff\xfe\x00")
    assert main(["load", "--db", str(db), "--name", "b", str(junk)]) == 2
    assert "junk.csv" in capsys.readouterr().err
    assert store.list_datasets(db).empty


def test_strict_refuses_rejected_rows(tmp_path, capsys):
    db = tmp_path / "x.db"
    txns = tmp_path / "transactions.csv"
    txns.write_text(TXNS_CSV + "T3,not a date,A,B,5.00\n", encoding="utf-8")
    assert main(["load", "--db", str(db), "--name", "b", "--strict", str(txns)]) == 2
    captured = capsys.readouterr()
    assert "4" in captured.out and "ts" in captured.out  # row 4 (header = row 1), column ts
    assert store.list_datasets(db).empty


def test_bad_rates_file_exits_2(tmp_path, capsys):
    db = tmp_path / "cli.db"
    loans, txns = _write(tmp_path)
    assert main(["load", "--db", str(db), "--name", "bank", str(loans), str(txns)]) == 0
    rates = tmp_path / "rates.csv"
    rates.write_text("currency,rate\nUSD,7.1\nEUR,abc\n", encoding="utf-8")
    assert main(["trace", "--db", str(db), "--dataset", "bank", "--rates", str(rates), "--out", str(tmp_path)]) == 2
    assert "row 3, column 'rate'" in capsys.readouterr().err


def test_module_entry_point_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "analysis", "datasets", "--db", str(tmp_path / "x.db")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no datasets yet" in done.stdout


@pytest.mark.parametrize("argv", [["trace", "--dataset", "x"], ["load", "--name", "x"]], ids=["no-out", "no-paths"])
def test_argument_errors_exit_2(argv, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--db", str(tmp_path / "x.db")])
    assert exc.value.code == 2


# --------------------------------------------------------------------------------------------- hostile input
def test_a_20_digit_amount_is_a_rejected_row_not_a_traceback(tmp_path, capsys):
    db = tmp_path / "x.db"
    txns = tmp_path / "transactions.csv"
    txns.write_text(TXNS_CSV + "T3,2024-01-04 09:00,C,D,12345678901234567890\n", encoding="utf-8")
    assert main(["load", "--db", str(db), "--name", "b", str(txns)]) == 0
    out = capsys.readouterr().out
    assert "loaded 2" in out and "not an amount" in out
    assert store.table_counts(store.resolve_dataset("b", path=db), path=db)["transactions"] == 2


def test_two_files_with_the_same_name_in_different_folders_both_load(tmp_path):
    db = tmp_path / "x.db"
    for month, txn in (("jan", "T1"), ("feb", "T2")):
        (tmp_path / month).mkdir()
        (tmp_path / month / "tx.csv").write_text(f"txn_id,ts,from_account,to_account,amount\n{txn},2024-01-02,A,B,1\n",
                                                 encoding="utf-8")
    assert main(["load", "--db", str(db), "--name", "b", str(tmp_path / "jan/tx.csv"), str(tmp_path / "feb/tx.csv")]) == 0
    frame = store.load_frame(store.resolve_dataset("b", path=db), "transactions", path=db)
    assert sorted(frame["txn_id"]) == ["T1", "T2"]


def test_the_same_path_twice_is_read_once(tmp_path, capsys):
    db = tmp_path / "x.db"
    _, txns = _write(tmp_path)
    assert main(["load", "--db", str(db), "--name", "b", str(txns), str(txns)]) == 0
    assert "note: transactions.csv was given more than once and was read once" in capsys.readouterr().out
    assert store.table_counts(store.resolve_dataset("b", path=db), path=db)["transactions"] == 2


def test_a_folder_instead_of_a_file_exits_2(tmp_path, capsys):
    assert main(["load", "--db", str(tmp_path / "x.db"), "--name", "b", str(tmp_path)]) == 2
    assert "a folder, not a file" in capsys.readouterr().err


def test_an_unexpected_failure_is_a_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    from analysis import pipeline

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "load_into_store", boom)
    monkeypatch.delenv("LOANFLOW_DEBUG", raising=False)
    _, txns = _write(tmp_path)
    assert main(["load", "--db", str(tmp_path / "x.db"), "--name", "b", str(txns)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unexpected RuntimeError: disk on fire")
    assert "Traceback" not in err


def test_invalid_option_value_is_named_in_plain_words(tmp_path, capsys):
    db = tmp_path / "cli.db"
    loans, txns = _write(tmp_path)
    assert main(["load", "--db", str(db), "--name", "bank", str(loans), str(txns)]) == 0
    assert main(["trace", "--db", str(db), "--dataset", "bank", "--max-hops", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--max-hops" in err and "http" not in err


def test_rates_file_converts_a_transfer_in_another_currency(tmp_path):
    # The extract says "US Dollar" and "Euro" (stored as USD, EUR); the rates file says USD 7.0, EUR 7.7.
    # 100.00 USD = 700 base = 90.91 EUR: the Euro transfer of 90.91 carries the whole loan on to B.
    db = tmp_path / "cli.db"
    (tmp_path / "loans.csv").write_text("loan_id,account_id,principal,currency,disbursed_at,status\n"
                                        "L1,A,100.00,US Dollar,2024-01-01,overdue\n", encoding="utf-8")
    (tmp_path / "transactions.csv").write_text("txn_id,ts,from_account,to_account,amount,currency\n"
                                               "T1,2024-01-02,A,B,90.91,Euro\n", encoding="utf-8")
    (tmp_path / "rates.csv").write_text("currency,rate\nUSD,7.0\nEUR,7.7\n", encoding="utf-8")
    assert main(["load", "--db", str(db), "--name", "fx", str(tmp_path / "loans.csv"),
                 str(tmp_path / "transactions.csv")]) == 0
    out = tmp_path / "out"
    assert main(["trace", "--db", str(db), "--dataset", "fx", "--rates", str(tmp_path / "rates.csv"),
                 "--out", str(out)]) == 0
    row = _read_csv(out / "loans.csv")[0]
    assert row["unconverted"] == "0.00"
    assert row["left_dataset"] == "100.00"


def test_align_rates_copies_a_rate_to_the_data_s_own_currency_label():
    from analysis.pipeline import align_rates

    rates = pd.DataFrame({"currency": ["USD", "EUR"], "rate": [7.0, 7.7]})
    aligned = align_rates(rates, ["US Dollar", "Euro", "USD", "Yuan"])
    assert sorted(zip(aligned["currency"], aligned["rate"])) == [
        ("EUR", 7.7), ("Euro", 7.7), ("US Dollar", 7.0), ("USD", 7.0)]
