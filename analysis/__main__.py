"""`python -m analysis`: the command line over the same API the pages use."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from . import pipeline, presets, store, synth, tracing
from .errors import LoanFlowError, RejectedRowsError
from .schema import DESTINATION_CLASSES
from .thresholds import Thresholds

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="LoanFlow: overdue-loan fund-flow analysis")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="SQLite store file (default: $LOANFLOW_DB or data/loanflow.db)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("datasets", parents=[common], help="list the stored datasets")

    demo = sub.add_parser("demo", parents=[common], help="load the demo data as dataset 'demo'")
    demo.add_argument("--scale", type=int, help="generate this many transactions instead of the shipped demo")

    load = sub.add_parser("load", parents=[common], help="load files as a new dataset version")
    load.add_argument("paths", nargs="+", type=Path, help="files (CSV/TSV/XLSX) or, with --preset, the preset's folder")
    load.add_argument("--name", required=True, help="dataset name (a new version if it exists)")
    how = load.add_mutually_exclusive_group()
    how.add_argument("--preset", choices=sorted(presets.PRESETS), help="real-data preset")
    how.add_argument("--mapping", type=Path,
                     help='JSON file: {"file name": {"table": "transactions", "mapping": {"file column": "canonical"}}}')
    load.add_argument("--encoding", help="force the encoding of every file (e.g. gb18030)")
    load.add_argument("--strict", action="store_true", help="refuse the load if any row is rejected")

    rename = sub.add_parser("rename", parents=[common], help="rename a dataset (all versions)")
    rename.add_argument("old")
    rename.add_argument("new")
    delete = sub.add_parser("delete", parents=[common], help="delete one dataset version")
    delete.add_argument("dataset", help="dataset id, name (latest version) or name@vN")

    trace = sub.add_parser("trace", parents=[common], help="trace where each overdue loan's money went")
    trace.add_argument("--dataset", required=True, help="dataset id, name (latest version) or name@vN")
    trace.add_argument("--rule", choices=["fifo", "lifo", "pro-rata", "worst-case"], default="fifo")
    trace.add_argument("--max-hops", type=int, default=4)
    trace.add_argument("--window-days", type=int, default=90)
    trace.add_argument("--min-amount", type=float, default=0.0, help="in currency units")
    trace.add_argument("--all-loans", action="store_true", help="trace every loan, not only overdue ones")
    trace.add_argument("--rates", type=Path, help="CSV: currency, rate (to base) [, date]")
    trace.add_argument("--out", required=True, type=Path, help="folder for loans.csv and edges.csv")
    return parser


def _units(cents: pd.Series) -> pd.Series:
    """Return cents as currency-unit text with exactly two decimals (exact, no float rounding)."""
    values = cents.astype("Int64").fillna(0).astype(int)
    return pd.Series([f"{'-' if v < 0 else ''}{abs(v) // 100}.{abs(v) % 100:02d}" for v in values], index=cents.index)


def _read_rates(path: Path) -> pd.DataFrame:
    """Return a rates table (currency, rate[, date]) read from CSV, validated."""
    try:
        rates = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise LoanFlowError(f"{path}: cannot read the rates file: {exc}") from exc
    rates.columns = [c.strip().lower() for c in rates.columns]
    missing = {"currency", "rate"} - set(rates.columns)
    if missing:
        raise LoanFlowError(f"{path}: the rates file needs columns currency and rate (missing {sorted(missing)})")
    rate = pd.to_numeric(rates["rate"], errors="coerce")
    bad = rates.index[rate.isna() | (rate <= 0)]
    if len(bad):
        row = int(bad[0]) + 2  # header is row 1
        raise LoanFlowError(f"{path}: row {row}, column 'rate': {rates.loc[bad[0], 'rate']!r} is not a positive number")
    rates["rate"] = rate
    return rates


def _print_report(report) -> None:
    print(report.summary_text())
    for note in report.notes:
        print(f"note: {note}")
    rejected = report.rejected
    if len(rejected):
        print(f"\nRejected rows (first 20 of {len(rejected)}):")
        print(rejected.head(20).to_string(index=False))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ValidationError as exc:
        # pydantic's own text links to its website; say which option was wrong, in plain words
        problems = "; ".join(f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        print(f"error: {problems}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (LoanFlowError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - a user never gets a traceback; LOANFLOW_DEBUG=1 shows it
        if os.environ.get("LOANFLOW_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with LOANFLOW_DEBUG=1 for details)", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    db = args.db
    if args.command == "datasets":
        frame = store.list_datasets(db)
        if frame.empty:
            print("no datasets yet: `python -m analysis demo` loads the demo data")
            return 0
        frame["rows"] = [", ".join(f"{t}={n}" for t, n in c.items() if n) for c in frame["row_counts"]]
        print(frame[["dataset_id", "name", "version", "created_at", "rows"]].to_string(index=False))
    elif args.command == "demo":
        if args.scale:
            frames = synth.scaled(n_transactions=args.scale, n_overdue_loans=max(10, args.scale // 100))
            frames.pop("ground_truth", None)
            dataset_id = store.save_dataset(frames, name="demo", path=db, sources=[{"generator": "synth.scaled",
                                                                                     "scale": args.scale}])
        else:
            dataset_id, report = pipeline.load_into_store(pipeline.demo_files(), name="demo", path=db)
            _print_report(report)
        print(f"loaded dataset demo ({dataset_id})")
    elif args.command == "load":
        if args.preset:
            if len(args.paths) != 1:
                raise LoanFlowError("--preset takes exactly one folder")
            dataset_id, report = pipeline.load_preset_into_store(args.preset, args.paths[0], name=args.name, path=db)
            _print_report(report)
        else:
            for p in args.paths:
                if not p.is_file():
                    raise LoanFlowError(f"{p}: {'a folder, not a file' if p.is_dir() else 'file not found'}")
            # files are known by name; two different files called tx.csv (jan/, feb/) keep their paths
            distinct = {p.resolve() for p in args.paths}
            clash = {q.name for q in distinct if sum(r.name == q.name for r in distinct) > 1}
            files = [(str(p) if p.name in clash else p.name, p.read_bytes()) for p in args.paths]
            mappings = None
            if args.mapping:
                try:
                    spec = json.loads(args.mapping.read_text(encoding="utf-8"))
                    mappings = {f: (m["table"], m["mapping"]) for f, m in spec.items()}
                except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                    raise LoanFlowError(f"{args.mapping}: not a valid mapping file ({exc})") from exc
            encodings = {name: args.encoding for name, _ in files} if args.encoding else None
            try:
                dataset_id, report = pipeline.load_into_store(files, name=args.name, path=db, mappings=mappings,
                                                              encodings=encodings, strict=args.strict)
            except RejectedRowsError as exc:
                _print_report(exc.report)
                print("error: rows were rejected and --strict was given; nothing was loaded", file=sys.stderr)
                return EXIT_BAD_INPUT
            _print_report(report)
        info = store.dataset_info(dataset_id, path=db)
        print(f"loaded {info['name']} version {info['version']} ({dataset_id})")
    elif args.command == "rename":
        n = store.rename_dataset(args.old, args.new, path=db)
        if not n:
            raise LoanFlowError(f"no dataset called {args.old!r}")
        print(f"renamed {n} version(s)")
    elif args.command == "delete":
        dataset_id = store.resolve_dataset(args.dataset, path=db)
        store.delete_dataset(dataset_id, path=db)
        print(f"deleted {dataset_id}")
    elif args.command == "trace":
        thresholds = Thresholds(trace_rule=args.rule, max_hops=args.max_hops, window_days=args.window_days,
                                min_amount=args.min_amount, trace_all_loans=args.all_loans)
        rates = _read_rates(args.rates) if args.rates else None
        dataset_id = store.resolve_dataset(args.dataset, path=db)
        run_id = pipeline.run_trace(dataset_id, thresholds, path=db, rates=rates)
        _, summary, edges = store.load_trace_run(run_id, path=db)
        write_trace_csvs(summary, edges, args.out)
        by_currency = summary.groupby(summary["currency"].fillna(""))["principal_cents"].sum()
        totals = ", ".join(f"{_units(pd.Series([c]))[0]} {cur}".strip() for cur, c in by_currency.items())
        print(f"traced {len(summary)} loans ({totals}), run {run_id}; "
              f"wrote {args.out / 'loans.csv'} and {args.out / 'edges.csv'}")
        span = store.query_frame("SELECT MIN(ts) AS first, MAX(ts) AS last FROM transactions WHERE dataset_id = ?",
                                 [dataset_id], path=db).iloc[0]
        for line in trace_warnings(summary, first_ts=span["first"], last_ts=span["last"]):
            print(f"warning: {line}", file=sys.stderr)
    return 0


def trace_warnings(summary: pd.DataFrame, *, first_ts: str | None, last_ts: str | None) -> list[str]:
    """Return the plain-language warnings an analyst needs before trusting a trace's figures."""
    out = []
    unconverted = summary["unconverted"].fillna(0) > 0
    if unconverted.any():
        out.append(f"{int(unconverted.sum())} loans have money in transfers of another currency with no rate "
                   "(class unconverted); give --rates FILE (currency,rate[,date]) to follow it")
    gap = tracing.coverage_gap(summary)
    if gap and first_ts:
        out.append(f"{gap[0]} of {gap[1]} traced loans moved no money out of the borrower account in their window; "
                   f"the transactions cover {str(first_ts)[:10]} to {str(last_ts)[:10]}")
    return out


def write_trace_csvs(summary: pd.DataFrame, edges: pd.DataFrame, out: Path) -> None:
    """Write loans.csv (classes in currency units, summing to principal) and edges.csv into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    loans = pd.DataFrame({"loan_id": summary["loan_id"], "principal": _units(summary["principal_cents"])})
    for cls in (*DESTINATION_CLASSES, "ever_back_to_borrower"):
        loans[cls] = _units(summary[cls])
    loans.to_csv(out / "loans.csv", index=False)
    edge_out = edges[["loan_id", "hop", "txn_id", "from_account", "to_account", "ts"]].copy()
    edge_out["amount"] = _units(edges["amount_cents"])
    edge_out["channel"] = edges["channel"]
    edge_out.to_csv(out / "edges.csv", index=False)


if __name__ == "__main__":
    sys.exit(main())
