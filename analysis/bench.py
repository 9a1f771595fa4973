"""`python -m analysis.bench`: time LoanFlow's load and trace against plain baselines, in one run.

Generates N transactions / M overdue loans with the demo generator, writes them as CSV, then
times: raw read of the CSV bytes; the sqlite3 CLI's `.import` of the same file (validates
nothing); LoanFlow's load of it (parse, clean, validate, write); reading the dataset back; and
the trace (4 hops, 90 days, fifo). Figures are printed as seconds and as ratios to `.import`,
because the machines are shared and only ratios measured in one run compare.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import ingest, store, synth, tracing
from .thresholds import Thresholds


def _timed(label: str, fn: Callable[[], Any], rows: list[tuple[str, float]]) -> Any:
    start = time.perf_counter()
    value = fn()
    rows.append((label, time.perf_counter() - start))
    print(f"  {label:<44} {rows[-1][1]:8.2f} s", flush=True)
    return value


def _peak_rss_gb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return own / 1024 / 1024  # ru_maxrss is in KiB on Linux


def run(n_transactions: int, n_overdue_loans: int, workdir: Path) -> dict[str, float]:
    """Run the benchmark in `workdir`; return the timings by step."""
    rows: list[tuple[str, float]] = []
    print(f"LoanFlow benchmark: {n_transactions:,} transactions, {n_overdue_loans:,} overdue loans")
    frames = _timed("generate (synth.scaled)", lambda: synth.scaled(
        n_transactions=n_transactions, n_overdue_loans=n_overdue_loans), rows)
    csv_dir = workdir / "csv"
    _timed("write CSVs", lambda: synth.write_demo_csvs(frames, csv_dir), rows)
    frames.pop("ground_truth", None)
    txn_csv = csv_dir / "transactions.csv"
    print(f"  transactions.csv: {txn_csv.stat().st_size / 1e6:.0f} MB")

    data = _timed("raw read of the CSV bytes", txn_csv.read_bytes, rows)
    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli:
        cli_db = workdir / "cli.db"
        _timed("sqlite3 CLI .import", lambda: subprocess.run(
            [sqlite3_cli, str(cli_db), f".import --csv {txn_csv} transactions"], check=True), rows)
    else:
        print("  sqlite3 CLI not found: `apt-get install sqlite3` for the baseline")

    db = workdir / "loanflow.db"
    store.save_dataset({}, name="warm-up", path=db)  # create the schema outside the timing

    def load() -> str:
        result = ingest.load_files([("transactions.csv", data)])
        return store.save_dataset(result.frames, name="bench", path=db)

    dataset_id = _timed("LoanFlow load (parse, clean, validate, write)", load, rows)
    others = {t: f for t, f in frames.items() if t != "transactions"}
    store_id_others = store.save_dataset(others, name="bench-others", path=db)

    def read_back() -> dict[str, Any]:
        got = {"transactions": store.load_frame(dataset_id, "transactions", path=db)}
        for table in ("loans", "accounts", "customers", "relations"):
            got[table] = store.load_frame(store_id_others, table, path=db)
        return got

    stored = _timed("read dataset back from SQLite", read_back, rows)
    th = Thresholds()
    result = _timed("LoanFlow trace (4 hops, 90 days, fifo)", lambda: tracing.trace_loans(
        stored["loans"], stored["transactions"], accounts=stored["accounts"], customers=stored["customers"],
        relations=stored["relations"], rule=th.trace_rule, max_hops=th.max_hops, window_days=th.window_days), rows)
    print(f"  traced loans: {len(result.summary):,}; flow edges: {len(result.edges):,}")

    timings = dict(rows)
    base = timings.get("sqlite3 CLI .import")
    print("\nRatios (same run):")
    if base:
        load_ratio = timings["LoanFlow load (parse, clean, validate, write)"] / base
        print(f"  LoanFlow load / sqlite3 .import  = {load_ratio:5.2f}x   (target <= 3x)")
        print(f"  raw read / sqlite3 .import       = {timings['raw read of the CSV bytes'] / base:5.2f}x")
    print(f"  trace of {len(result.summary):,} loans          = {timings['LoanFlow trace (4 hops, 90 days, fifo)']:6.2f} s"
          f"   (target <= 20 s)")
    print(f"  peak memory (this process)       = {_peak_rss_gb():5.2f} GB  (target <= 4 GB)")
    return timings


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m analysis.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--overdue-loans", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, help="keep the generated files here (default: a temp folder)")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args.transactions, args.overdue_loans, args.workdir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(args.transactions, args.overdue_loans, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
