"""End-to-end steps shared by the CLI, the pages and the notebooks: load → store, store → trace → store."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from . import ingest, presets, store, tracing
from .errors import RejectedRowsError, StoreError
from .thresholds import Thresholds

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"
DEMO_FILES = ("customers.csv", "accounts.csv", "loans.csv", "transactions.csv", "repayments.csv", "relations.csv")

PathLike = str | os.PathLike[str] | None


def load_into_store(
    files: list[tuple[str, bytes]],
    *,
    name: str,
    path: PathLike = None,
    mappings: dict[str, tuple[str, dict[str, str]]] | None = None,
    encodings: dict[str, str] | None = None,
    strict: bool = False,
) -> tuple[str, ingest.QualityReport]:
    """Parse uploaded files and store them as a new version of dataset `name`; return (dataset_id, report).

    With `strict`, any rejected row stops the load (RejectedRowsError carries the report) and nothing is stored.
    """
    result = ingest.load_files(files, mappings=mappings, encodings=encodings)
    if strict and len(result.report.rejected):
        raise RejectedRowsError(result.report)
    sources = [{"file": f, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()} for f, b in files]
    dataset_id = store.save_dataset(result.frames, name=name, path=path, sources=sources,
                                    quality=result.report.to_dict())
    return dataset_id, result.report


def load_preset_into_store(preset: str, directory: str | os.PathLike[str], *, name: str | None = None,
                           path: PathLike = None) -> tuple[str, ingest.QualityReport]:
    """Load a real-data preset (berka, amlworld) from `directory` as a new dataset version."""
    frames, report, sources = presets.load_preset(preset, Path(directory))
    dataset_id = store.save_dataset(frames, name=name or preset, path=path, sources=sources,
                                    quality=report.to_dict())
    return dataset_id, report


def demo_files(directory: Path = DEMO_DIR) -> list[tuple[str, bytes]]:
    """Return the shipped demo CSVs as (name, bytes) pairs."""
    return [(f, (directory / f).read_bytes()) for f in DEMO_FILES if (directory / f).exists()]


def ensure_demo(*, path: PathLike = None) -> str | None:
    """Load (and trace, with the saved thresholds) the demo dataset when the store is empty; return its id."""
    if not store.list_datasets(path).empty:
        return None
    dataset_id, _ = load_into_store(demo_files(), name="demo", path=path)
    # A first-time user should see where the demo loans' money went without pressing anything.
    run_trace(dataset_id, store.load_thresholds(path=path), path=path)
    return dataset_id


def trace_dataset(
    dataset_id: str,
    thresholds: Thresholds,
    *,
    path: PathLike = None,
    rates: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tracing.TraceResult:
    """Trace a stored dataset's loans with the given thresholds (nothing is saved)."""
    frames = {t: store.load_frame(dataset_id, t, path=path)
              for t in ("loans", "transactions", "accounts", "customers", "relations")}
    if frames["loans"].empty:
        raise StoreError("this dataset has no loans to trace; load a loans table (loan_id, account_id, principal, "
                         "disbursed_at, status) into it first")
    if rates is not None:
        labels = pd.concat([frames["loans"]["currency"], frames["transactions"]["currency"],
                            frames["transactions"]["received_currency"]]).dropna().unique()
        rates = align_rates(rates, labels)
    return tracing.trace_loans(
        frames["loans"], frames["transactions"], accounts=frames["accounts"], customers=frames["customers"],
        relations=frames["relations"], rates=rates, rule=thresholds.trace_rule, max_hops=thresholds.max_hops,
        window_days=thresholds.window_days, min_amount_cents=thresholds.min_amount_cents,
        all_loans=thresholds.trace_all_loans, restricted_categories=thresholds.restricted_categories,
        progress=progress,
    )


def align_rates(rates: pd.DataFrame, labels) -> pd.DataFrame:
    """Return `rates` plus a copy of each rate under every currency label of the data that means the same
    currency ('USD' in the rates file, 'US Dollar' in the extract)."""
    codes = rates["currency"].map(ingest.currency_code)
    named = set(rates["currency"].astype(str).str.strip().str.upper())
    extra = []
    for label in labels:
        if str(label).strip().upper() in named:
            continue
        match = rates[codes == ingest.currency_code(label)]
        if len(match):
            extra.append(match.assign(currency=str(label)))
    return pd.concat([rates, *extra], ignore_index=True) if extra else rates


def run_trace(
    dataset_id: str,
    thresholds: Thresholds,
    *,
    path: PathLike = None,
    rates: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Trace a stored dataset and store the run; return its run_id."""
    result = trace_dataset(dataset_id, thresholds, path=path, rates=rates, progress=progress)
    params: dict[str, Any] = thresholds.model_dump(mode="json")
    params["rates"] = rates is not None
    return store.save_trace_run(dataset_id, params, result.summary, result.edges, skipped=result.skipped, path=path)


def latest_run_id(dataset_id: str, *, path: PathLike = None) -> str | None:
    """Return the newest trace run of a dataset, or None."""
    runs = store.list_trace_runs(dataset_id, path=path)
    return None if runs.empty else str(runs.iloc[0]["run_id"])

