"""Presets for the public real-data extracts: PKDD'99 Czech bank (`berka`) and IBM AMLworld (`amlworld`).

Each preset reads the files in place (never copies them) and returns canonical frames,
a quality report and the list of source files with their hashes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import IngestError
from .ingest import QualityReport, combine_reports, currency_code, statement_to_edges
from .schema import TABLES

PRESETS: dict[str, str] = {
    "berka": "PKDD'99 Czech bank (client/account/disp/loan/order/trans .asc, ';'-separated, YYMMDD dates)",
    "amlworld": "IBM AMLworld HI transactions.csv + loans.csv overlay (first sender of each attempt = borrower)",
}

# Where each preset's files usually live, relative to the real-data folder.
PRESET_FOLDERS: dict[str, str] = {"berka": "berka", "amlworld": "amlworld-hi"}

# Czech loan status codes → canonical status. B (finished, not paid) and D (running, in debt)
# are the overdue ones; B has reached contract end unpaid, so it is in collection.
BERKA_LOAN_STATUS = {"A": "closed", "B": "collection", "C": "current", "D": "overdue"}
# trans.asc k_symbol / operation → channel
BERKA_CHANNEL_BY_KSYMBOL = {"UVER": "repayment"}
BERKA_CHANNEL_BY_OPERATION = {
    "VYBER KARTOU": "card",
    "VKLAD": "cash",
    "VYBER": "cash",
    "PREVOD Z UCTU": "transfer",
    "PREVOD NA UCET": "transfer",
}
AMLWORLD_CHANNEL = {
    "ACH": "transfer", "Wire": "transfer", "Cheque": "transfer", "Reinvestment": "transfer",
    "Cash": "cash", "Credit Card": "card", "Bitcoin": "third_party",
}


def _read(path: Path, *, sep: str) -> pd.DataFrame:
    """Read one source file with every column as text (ids keep their leading zeros)."""
    if not path.exists():
        raise IngestError("file not found (is the real-data folder there?)", file=str(path))
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], quotechar='"')
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise IngestError(f"cannot parse: {exc}", file=path.name) from exc


def _yymmdd(values: pd.Series) -> pd.Series:
    """Return ISO timestamps from Czech YYMMDD dates (all 19xx in this data)."""
    return pd.to_datetime("19" + values.str.slice(0, 6), format="%Y%m%d").dt.strftime("%Y-%m-%dT%H:%M:%S")


def _cents(values: pd.Series) -> pd.Series:
    """Return integer cents from plain decimal text, rounded half away from zero."""
    as_float = pd.to_numeric(values, errors="raise").astype(float)
    return pd.Series(np.sign(as_float) * np.floor(np.abs(as_float) * 100 + 0.5), index=values.index).astype("Int64")


def _codes(values: pd.Series) -> pd.Series:
    """Return ISO currency codes for names such as 'US Dollar' (the same labels generic ingestion gives)."""
    return values.map({v: currency_code(v) for v in values.dropna().unique()})


def _canonical(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return `frame` with exactly the canonical columns of `table` (missing ones empty)."""
    out = frame.copy()
    for col in TABLES[table]:
        if col not in out.columns:
            out[col] = pd.NA
    return out[list(TABLES[table])]


def _report(counts: dict[str, int]) -> QualityReport:
    """Return the report of files read whole by a preset (every row loaded)."""
    total = sum(counts.values())
    return QualityReport(rows_read=total, rows_loaded=total,
                         notes=[f"{name}: {n:,} rows" for name, n in counts.items()])


def _sources(files: list[Path]) -> list[dict[str, Any]]:
    return [{"file": str(f), "bytes": f.stat().st_size, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
            for f in files]


def load_berka(directory: Path) -> tuple[dict[str, pd.DataFrame], QualityReport, list[dict[str, Any]]]:
    """Return canonical frames built from the PKDD'99 files in `directory`."""
    files = {n: directory / f"{n}.asc" for n in ("client", "account", "disp", "loan", "order", "trans", "district")}
    client, account, disp, loan = (_read(files[n], sep=";") for n in ("client", "account", "disp", "loan"))
    order, trans = _read(files["order"], sep=";"), _read(files["trans"], sep=";")
    district = _read(files["district"], sep=";") if files["district"].exists() else pd.DataFrame()

    region = dict(zip(district["A1"], district["A2"])) if not district.empty else {}
    customers = pd.DataFrame({
        "customer_id": client["client_id"],
        "customer_type": "individual",
        "region": client["district_id"].map(region).fillna(client["district_id"]),
        "id_number": client["birth_number"],
    })
    owners = disp[disp["type"] == "OWNER"].drop_duplicates("account_id").set_index("account_id")["client_id"]
    own_accounts = pd.DataFrame({
        "account_id": account["account_id"],
        "customer_id": account["account_id"].map(owners),
        "account_number": account["account_id"],
        "account_type": "deposit",
        "country": "CZ",
        "currency": "CZK",
        "opened_at": _yymmdd(account["date"]),
    })
    accounts = own_accounts
    # Standing orders pay accounts at other banks: keyed bank + number, as every account with a bank.
    standing_orders = pd.DataFrame({
        "order_id": order["order_id"],
        "account_id": order["account_id"],
        "to_account": order["bank_to"].str.strip() + ":" + order["account_to"].str.strip(),
        "amount_cents": _cents(order["amount"]),
        "purpose": order["k_symbol"].fillna("").str.strip().replace("", pd.NA),
    })

    disponents = disp[disp["type"] == "DISPONENT"]
    relations = pd.DataFrame({
        "src_id": disponents["client_id"].values,
        "dst_id": disponents["account_id"].map(owners).values,
        "relation": "disponent",
    })

    disbursed = _yymmdd(loan["date"])
    duration = pd.to_numeric(loan["duration"]).astype(int)
    maturity = [
        (pd.Timestamp(d) + pd.DateOffset(months=int(m))).strftime("%Y-%m-%dT%H:%M:%S")
        for d, m in zip(disbursed, duration)
    ]
    loans = pd.DataFrame({
        "loan_id": loan["loan_id"],
        "customer_id": loan["account_id"].map(owners),
        "account_id": loan["account_id"],
        "principal_cents": _cents(loan["amount"]),
        "currency": "CZK",
        "disbursed_at": disbursed,
        "maturity": maturity,
        "product": duration.astype(str) + "m",
        "status": loan["status"].map(BERKA_LOAN_STATUS),
    })

    # trans.asc is statement-shaped: one posting on `account_id`, PRIJEM = credit, VYDAJ/VYBER = debit.
    operation = trans["operation"].fillna("").str.strip()
    k_symbol = trans["k_symbol"].fillna("").str.strip()
    channel = k_symbol.map(BERKA_CHANNEL_BY_KSYMBOL).fillna(operation.map(BERKA_CHANNEL_BY_OPERATION)).fillna("transfer")
    postings = pd.DataFrame({
        "txn_id": trans["trans_id"],
        "row": np.arange(2, len(trans) + 2),
        "ts": _yymmdd(trans["date"]),
        "account": trans["account_id"],
        "direction": np.where(trans["type"].str.strip() == "PRIJEM", "C", "D"),
        "amount_cents": _cents(trans["amount"]),
        "balance_cents": _cents(trans["balance"]),
        "counterparty_account": (trans["bank"] + ":" + trans["account"]).where(
            trans["account"].notna() & trans["bank"].notna()),
        "currency": "CZK",
        "channel": channel,
        "memo": (operation + " " + k_symbol).str.strip(),
    })
    transactions, trans_report = statement_to_edges(postings, file=files["trans"].name)

    frames = {
        "customers": _canonical(customers, "customers"),
        "accounts": _canonical(accounts, "accounts"),
        "loans": _canonical(loans, "loans"),
        "transactions": _canonical(transactions, "transactions"),
        "relations": _canonical(relations, "relations"),
        "standing_orders": _canonical(standing_orders, "standing_orders"),
    }
    counts = {files[n].name: len(df) for n, df in
              (("client", client), ("account", account), ("disp", disp), ("loan", loan), ("order", order))}
    report = combine_reports(_report(counts), trans_report)
    return frames, report, _sources([f for f in files.values() if f.exists()])


def load_amlworld(directory: Path) -> tuple[dict[str, pd.DataFrame], QualityReport, list[dict[str, Any]]]:
    """Return canonical frames from AMLworld's transactions.csv (+ loans.csv overlay) in `directory`."""
    txn_file, loan_file = directory / "transactions.csv", directory / "loans.csv"
    raw = _read(txn_file, sep=",")
    # Trans.csv has two columns called `Account`: the first follows `From Bank`, the second `To Bank`.
    if len(raw.columns) < 11:
        raise IngestError(f"expected the 11 AMLworld columns, found {len(raw.columns)}", file=txn_file.name)
    raw.columns = ["ts", "from_bank", "from_acct", "to_bank", "to_acct", "received", "received_currency",
                   "paid", "currency", "format", "is_laundering"] + list(raw.columns[11:])
    ts = pd.to_datetime(raw["ts"], format="%Y/%m/%d %H:%M").dt.strftime("%Y-%m-%dT%H:%M:%S")
    transactions = pd.DataFrame({
        "txn_id": pd.Series(np.arange(1, len(raw) + 1)).astype(str).values,  # = attempt_transactions.row_number
        "seq": np.arange(len(raw)),
        "ts": ts,
        "from_account": raw["from_bank"].str.strip() + ":" + raw["from_acct"].str.strip(),
        "to_account": raw["to_bank"].str.strip() + ":" + raw["to_acct"].str.strip(),
        "amount_cents": _cents(raw["paid"]),
        "currency": _codes(raw["currency"]),
        "received_cents": _cents(raw["received"]),
        "received_currency": _codes(raw["received_currency"]),
        "channel": raw["format"].map(AMLWORLD_CHANNEL).fillna("transfer"),
        "memo": raw["format"],
    })
    frames = {"transactions": _canonical(transactions, "transactions")}
    counts = {txn_file.name: len(raw)}
    files = [txn_file]
    if loan_file.exists():
        lraw = _read(loan_file, sep=",")
        loans = pd.DataFrame({
            "loan_id": lraw["loan_id"],
            "account_id": lraw["borrower_bank"].str.strip() + ":" + lraw["borrower_account"].str.strip(),
            "principal_cents": _cents(lraw["principal"]),
            "currency": _codes(lraw["currency"]),
            "disbursed_at": pd.to_datetime(lraw["disbursed_at"], format="%Y/%m/%d %H:%M").dt.strftime(
                "%Y-%m-%dT%H:%M:%S"),
            "product": lraw.get("typology"),
            "status": lraw["status"].str.strip().str.lower(),
        })
        frames["loans"] = _canonical(loans, "loans")
        counts[loan_file.name] = len(lraw)
        files.append(loan_file)
    return frames, _report(counts), _sources(files)


def load_preset(name: str, directory: Path) -> tuple[dict[str, pd.DataFrame], QualityReport, list[dict[str, Any]]]:
    """Return (frames, report, sources) of preset `name` read from `directory`."""
    loaders = {"berka": load_berka, "amlworld": load_amlworld}
    if name not in loaders:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(loaders)}")
    if not Path(directory).is_dir():
        raise IngestError("folder not found", file=str(directory))
    return loaders[name](Path(directory))
