"""Generic ingestion (issue 2 §3): bytes of CSV/TSV/XLSX files -> canonical frames + a quality report.

Pure functions: nothing here touches SQLite (that is `analysis.store`) or knows a named dataset (that is
`analysis.presets`). The flow is

    read_table(bytes)            -> RawTable   (text cells, encoding/delimiter detected, row numbers kept)
    guess_table / suggest_mapping -> which table, file column -> canonical column
    normalise(raw, table, mapping) -> canonical frame + QualityReport
    statement_to_edges(statement frame) -> transactions edges (bank-statement shape)
    load_files([...])            -> all of the above for several files, merged per table

Row numbers are the ones a user sees in Excel or an editor: the header line is row 1 (or the line it is
on when the file starts with title lines). Frames returned by `read_table` and `normalise` carry those
row numbers as their index.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .errors import IngestError
from .schema import ID_COLUMNS, LOAN_STATUSES, REQUIRED, TABLES

__all__ = [
    "RawTable",
    "QualityReport",
    "FilePlan",
    "LoadResult",
    "STATEMENT_COLUMNS",
    "detect_encoding",
    "read_table",
    "guess_table",
    "suggest_mapping",
    "mapping_targets",
    "normalise",
    "statement_to_edges",
    "combine_reports",
    "load_files",
    "plan_file",
    "parse_money",
    "parse_dates",
    "currency_code",
]

ISSUE_COLUMNS = ["file", "row", "column", "value", "reason"]
MISSING_COLUMNS = ["file", "column", "missing"]

# The statement shape (one posting per row on one account) before it becomes edges. Not a stored table:
# `normalise(raw, table="statements", ...)` returns it and `statement_to_edges` turns it into transactions.
STATEMENT_COLUMNS: tuple[str, ...] = (
    "file", "row", "txn_id", "ts", "account", "account_name", "direction", "amount_cents", "debit_cents",
    "credit_cents", "balance_cents", "counterparty_account", "counterparty_name", "counterparty_country",
    "merchant_category", "currency", "channel", "memo", "is_reversal",
)

CASH_ACCOUNT = "~cash"
UNKNOWN_ACCOUNT = "~unknown"

_NULL_TOKENS = ["", "null", "NULL", "Null", "none", "None", "NONE", "nan", "NaN", "NAN", "N/A", "n/a", "#N/A", "-", "--", "—"]


# --------------------------------------------------------------------------------------------- reports
def _issues(rows: list[tuple] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(rows or [], columns=ISSUE_COLUMNS)
    frame["row"] = frame["row"].astype("Int64")
    for col in ("file", "column", "value", "reason"):
        frame[col] = frame[col].astype(object)
    return frame


def _issues_from_mask(file: str, index: pd.Index, mask: np.ndarray, column: str, values: pd.Series, reason: Any) -> pd.DataFrame:
    """Issue rows for every True in `mask`; `reason` is a string or a Series aligned with `values`."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return _issues()
    sel = np.flatnonzero(mask)
    vals = values.iloc[sel].to_numpy(dtype=object)
    reasons = reason.iloc[sel].to_numpy(dtype=object) if isinstance(reason, pd.Series) else [reason] * len(sel)
    frame = pd.DataFrame(
        {
            "file": file,
            "row": pd.array(np.asarray(index)[mask], dtype="Int64"),
            "column": column,
            "value": [None if _isna(v) else _short(str(v)) for v in vals],
            "reason": list(reasons),
        }
    )
    frame["file"] = frame["file"].astype(object)
    frame["column"] = frame["column"].astype(object)
    return frame


def _short(text: str, limit: int = 200) -> str:
    """The text cut to `limit` characters (a 1 MB cell must not flood a report or a terminal)."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def _null_text(n: int, index: pd.Index | None = None) -> pd.Series:
    """An all-missing text column."""
    return pd.Series(pa.nulls(n, pa.large_string()).to_pandas().array, index=index)


def _null_int(n: int, index: pd.Index | None = None) -> pd.Series:
    """An all-missing Int64 column."""
    return pd.Series(pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)), index=index)


def _isna(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _concat_issues(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return _issues()
    out = pd.concat(frames, ignore_index=True)
    out["row"] = out["row"].astype("Int64")
    return out


@dataclass(eq=False)
class QualityReport:
    """What a load did to the rows of its files: read, loaded, rejected, de-duplicated, missing, suspicious."""

    rows_read: int = 0
    rows_loaded: int = 0
    rejected: pd.DataFrame = field(default_factory=_issues)
    duplicates_removed: int = 0
    missing: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MISSING_COLUMNS))
    warnings: pd.DataFrame = field(default_factory=_issues)
    encoding: dict[str, str] = field(default_factory=dict)
    delimiter: dict[str, str | None] = field(default_factory=dict)
    # statement postings whose other side was also in the data and became the same edge
    pairs_merged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        """Number of distinct rows rejected (a row can fail in several columns)."""
        if not len(self.rejected):
            return 0
        return int(self.rejected[["file", "row"]].drop_duplicates().shape[0])

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able Python values."""

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            out = []
            for rec in frame.astype(object).to_dict("records"):
                out.append({k: (None if _isna(v) else (int(v) if isinstance(v, (np.integer,)) else v)) for k, v in rec.items()})
            return out

        return {
            "rows_read": int(self.rows_read),
            "rows_loaded": int(self.rows_loaded),
            "rows_rejected": self.rows_rejected,
            "duplicates_removed": int(self.duplicates_removed),
            "pairs_merged": int(self.pairs_merged),
            "rejected": records(self.rejected),
            "missing": records(self.missing),
            "warnings": records(self.warnings),
            "encoding": dict(self.encoding),
            "delimiter": dict(self.delimiter),
            "notes": list(self.notes),
        }

    def summary_text(self) -> str:
        """One paragraph for humans: counts, the commonest rejection and warning reasons."""
        files = len(set(self.encoding) | set(self.delimiter)) or None
        parts = [f"Read {self.rows_read:,} rows" + (f" from {files} file{'s' if files != 1 else ''}" if files else "")]
        parts.append(f"loaded {self.rows_loaded:,}")
        if self.rows_rejected:
            top = self.rejected["reason"].str.split(r" \(", n=1, regex=True).str[0].value_counts().head(2)
            why = "; ".join(f"{reason} ×{count:,}" for reason, count in top.items())
            parts.append(f"rejected {self.rows_rejected:,} ({why})")
        else:
            parts.append("rejected none")
        if self.duplicates_removed:
            parts.append(f"removed {self.duplicates_removed:,} exact duplicate rows")
        if self.pairs_merged:
            parts.append(f"kept {self.pairs_merged:,} transfers seen on both statements once")
        text = ", ".join(parts) + "."
        if len(self.warnings):
            top = self.warnings["reason"].str.split(r" \(", n=1, regex=True).str[0].value_counts().head(3)
            text += " Warnings: " + "; ".join(f"{reason} ×{count:,}" for reason, count in top.items()) + "."
        if len(self.missing):
            gaps = self.missing[self.missing["missing"] > 0]
            if len(gaps):
                text += " Missing values: " + ", ".join(f"{c} {int(m):,}" for c, m in zip(gaps["column"], gaps["missing"])) + "."
        if self.encoding:
            text += " Encodings: " + ", ".join(f"{f} {e}" for f, e in self.encoding.items()) + "."
        return text


def combine_reports(*reports: QualityReport) -> QualityReport:
    """One report adding up several (counts summed, tables concatenated)."""
    out = QualityReport()
    for rep in reports:
        out.rows_read += rep.rows_read
        out.rows_loaded += rep.rows_loaded
        out.duplicates_removed += rep.duplicates_removed
        out.pairs_merged += rep.pairs_merged
        out.encoding.update(rep.encoding)
        out.delimiter.update(rep.delimiter)
        out.notes.extend(rep.notes)
    out.rejected = _concat_issues(r.rejected for r in reports)
    out.warnings = _concat_issues(r.warnings for r in reports)
    missing = [r.missing for r in reports if len(r.missing)]
    out.missing = pd.concat(missing, ignore_index=True) if missing else pd.DataFrame(columns=MISSING_COLUMNS)
    return out


# --------------------------------------------------------------------------------------------- encoding
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_CANDIDATES = ("utf-8", "gb18030", "gbk", "big5", "cp1252", "latin-1")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def detect_encoding(data: bytes) -> tuple[str, list[str]]:
    """(chosen encoding, other encodings that also decode the file) for a text file's bytes.

    The choice is made on the whole file; the alternatives are checked on its first megabyte only (an
    override that then fails further on raises IngestError naming the byte offset).
    """
    chosen, others, _ = _detect(data)
    return chosen, others


def _detect(data: bytes) -> tuple[str, list[str], str | None]:
    """(encoding, alternatives, the decoded text when decoding was needed to decide)."""
    sample = data[:1_000_000]
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(name)
            except UnicodeDecodeError:
                continue
            return name, [c for c in _CANDIDATES if c != "utf-8" and _decodes(sample[len(bom):], c)], text
    utf16 = _utf16_without_bom(sample)
    if utf16 and (text := _try_decode(data, utf16)) is not None:
        return utf16, [], text
    if data.isascii():
        return "utf-8", [c for c in _CANDIDATES if c != "utf-8"], None
    text = None
    chosen = "utf-8" if _valid_utf8(data) else ""
    if chosen:
        pass
    elif (text := _try_decode(data, "gbk")) is not None:
        chosen = "gbk"  # the name Chinese tools show; only a character outside GBK makes it GB18030
    elif (text := _try_decode(data, "gb18030")) is not None:
        chosen = "gb18030"
    else:
        chosen = ""
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[:2_000_000]).best()
            if best is not None and _decodes(data, best.encoding):
                chosen = best.encoding
        except Exception:  # noqa: BLE001 - a detector crash must not stop a load; latin-1 always decodes
            chosen = ""
        chosen = chosen or "latin-1"
    others = [c for c in _CANDIDATES if c != chosen and _decodes(sample, c)]
    return chosen, others, text


def _utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the bytes look like UTF-16 text without a BOM (a zero byte in every other place)."""
    head = sample[:4096]
    head = head[: len(head) // 2 * 2]
    if len(head) < 8 or b"\x00" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.02 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.02 * len(odd):
        return "utf-16-be"
    return None


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _valid_utf8(data: bytes) -> bool:
    """Strict UTF-8 check of the whole buffer (Arrow's validator: ~10x faster than bytes.decode)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    arr = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        arr.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _decode(data: bytes, encoding: str, file: str) -> str:
    try:
        return data.decode(encoding)
    except LookupError:
        raise IngestError(f"unknown text encoding {encoding!r}", file=file) from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1 if b"\n" in data[: exc.start + 1] else data[: exc.start].count(b"\r") + 1
        raise IngestError(
            f"the bytes are not valid {encoding} at byte offset {exc.start} (line {line}); choose another encoding",
            file=file,
            row=line,
        ) from None


# --------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True, eq=False)
class RawTable:
    """One file read as text: every cell a string (or missing), index = the file's row numbers."""

    file: str
    frame: pd.DataFrame
    encoding: str
    delimiter: str | None
    sheet: str | None
    encoding_candidates: list[str]
    first_data_row: int
    original_columns: list[str] = field(default_factory=list)
    # rows that could not be split into the header's columns (wrong field count, ...)
    rejected: pd.DataFrame = field(default_factory=_issues)

    @property
    def rows_read(self) -> int:
        """Data rows in the file, including the ones rejected while reading."""
        return len(self.frame) + len(self.rejected)


def _dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = (raw or "").strip().lstrip("\ufeff").strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            candidate = f"{name}_{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}_{seen[name]}"
            name = candidate
        seen[name] = seen.get(name, 1)
        out.append(name)
    return out


def _sniff(lines: list[str]) -> tuple[str, int, int]:
    """(delimiter, index of the header line, field count) from the first lines of a text file."""
    best: tuple[int, int, int, str, int] | None = None
    for order, delim in enumerate((",", "\t", ";", "|")):
        counts, filled = [], []
        for ln in lines:
            try:
                fields = next(csv.reader([ln], delimiter=delim)) if ln.strip() else []
            except (csv.Error, StopIteration):
                fields = []
            counts.append(len(fields))
            filled.append(sum(1 for f in fields if f.strip()))
        multi = [c for c in counts if c > 1]
        if not multi:
            continue
        mode = max(set(multi), key=lambda c: (multi.count(c), c))
        consistent = multi.count(mode)
        # Excel pads title lines to the table's width ('账户明细查询,,,,,,,'): the header is the first full-width
        # line that is mostly filled in
        header = next((i for i, c in enumerate(counts) if c == mode and filled[i] >= max(2, mode // 2)),
                      next(i for i, c in enumerate(counts) if c == mode))
        key = (consistent, mode, -order, delim, header)
        if best is None or key[:3] > best[:3]:
            best = key
    if best is None:
        first = next((i for i, ln in enumerate(lines) if ln.strip()), 0)
        return ",", first, 1
    return best[3], best[4], best[1]


_MARKUP = (b"<!doctype html", b"<html", b"<table", b"<?xml", b"<head", b"<body", b"<meta")
# the first filled cell of a bank export's total/subtotal line: 合计, 本页小计, 总计：, Total, Grand total, Sum
_TOTAL_RE = r"(?i)^(?:本页|本月|本日|本期)?(?:合计|总计|小计)|^(?:grand\s*|sub-?)?totals?\b|^sum\s*[:：]?$"


def _drop_total_lines(frame: pd.DataFrame, rejected: pd.DataFrame, *, file: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(frame without total/summary lines, rejected + those lines with the reason)."""
    if not len(frame) or not len(frame.columns):
        return frame, rejected
    first = frame.iloc[:, 0]
    for col in frame.columns[1:]:
        empty = first.isna()
        if not empty.any():
            break
        first = first.where(~empty, frame[col])
    first = first.astype(str)
    if not _contains(_arrow(first), "合计", "总计", "小计", "otal", "OTAL", "um", "UM"):
        return frame, rejected
    total = np.array(first.str.strip().str.contains(_TOTAL_RE, regex=True).fillna(False), dtype=bool)
    if total.any():
        # a total line is mostly empty ('合计,,,1250.00,,'); a customer called 'Total Oil' fills its row
        filled = frame.loc[total].notna().sum(axis=1).to_numpy()
        total[np.flatnonzero(total)] = filled <= max(2, len(frame.columns) // 2)
    if not total.any():
        return frame, rejected
    issues = _issues_from_mask(file, frame.index, total, None, first, "a total/summary line, not a data row")
    return frame.loc[~total], _concat_issues([rejected, issues])


def read_table(
    data: bytes,
    *,
    file: str,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> RawTable:
    """The file's cells as text with its encoding, delimiter and row numbers; IngestError if unusable."""
    if not data or (not data[:65536].strip() and not data.strip()):
        raise IngestError("the file is empty", file=file)
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, file=file, sheet=sheet)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise IngestError("old binary Excel (.xls) files are not supported; save it as .xlsx or CSV", file=file)
    if data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_MARKUP):
        raise IngestError(
            "this is a web page or XML file with a spreadsheet name (some bank systems export HTML tables as .xls), "
            "not CSV/TSV or XLSX; open it in Excel and save it as .xlsx or CSV",
            file=file,
        )
    if data.startswith(b"\xef\xbb\xbf") and not _valid_utf8(data[3:]):
        data = data[3:]  # a UTF-8 BOM some tool put in front of GBK (or other) text: decide on the text itself
    data = data.rstrip(b"\x1a")  # DOS end-of-file mark left by old exports
    text: str | None = None
    if encoding:
        detected, others, _ = _detect(data[:1_000_000])
        chosen, candidates = encoding, [c for c in [detected, *others] if c != encoding]
        if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and data.startswith(b"\xef\xbb\xbf"):
            chosen = "utf-8-sig"
    else:
        chosen, candidates, text = _detect(data)
    if not chosen.startswith("utf-16") and b"\x00" in data[:1_000_000]:
        raise IngestError("this is a binary file, not CSV/TSV text or XLSX", file=file)
    # everything below works on UTF-8 bytes with \n line ends; the original bytes already are that in the
    # common case, which saves decoding and re-encoding a large file
    if chosen in ("utf-8", "utf-8-sig") and b"\r" not in data and (encoding is None or _valid_utf8(data)):
        buf = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    else:
        if text is None:
            text = _decode(data, chosen, file)
        text = text.lstrip("\ufeff")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        buf = text.encode("utf-8")
    del text
    probe = buf[:65536].decode("utf-8", errors="ignore")
    if len(re.findall(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f]", probe)) > max(8, len(probe) // 100):
        # text files have (almost) no control characters; random bytes decoded as latin-1 have ~11%
        raise IngestError("this is a binary file, not CSV/TSV text or XLSX", file=file)
    sample = buf[:500_000].decode("utf-8", errors="ignore").split("\n")[:60]
    if len(sample) > 1 and len(buf) > 500_000:
        sample = sample[:-1]  # the last sampled line may be cut
    delim, header_idx, _ = _sniff(sample)
    if delimiter:
        delim = "\t" if delimiter in ("\\t", "tab") else delimiter
        header_idx = next((i for i, ln in enumerate(sample) if ln.count(delim) >= 1), header_idx)
    pos = 0
    for _ in range(header_idx):
        pos = buf.index(b"\n", pos) + 1
    end = buf.find(b"\n", pos)
    header_line = (buf[pos:] if end < 0 else buf[pos:end]).decode("utf-8")
    body = b"" if end < 0 else memoryview(buf)[end + 1 :]
    try:
        original = next(csv.reader([header_line], delimiter=delim))
    except csv.Error as exc:
        raise IngestError(f"cannot read the header line: {exc}", file=file, row=header_idx + 1) from None
    names = _dedupe_names(original)
    header_row = header_idx + 1
    frame, rejected = _parse_body(body, names, delim, file=file, header_row=header_row)
    frame, rejected = _drop_total_lines(frame, rejected, file=file)
    if not len(frame) and not len(rejected):
        raise IngestError("the file has a header but no data rows", file=file)
    return RawTable(
        file=file,
        frame=frame,
        encoding=chosen,
        delimiter=delim,
        sheet=None,
        encoding_candidates=candidates,
        first_data_row=header_row + 1,
        original_columns=[o.strip().lstrip("\ufeff") for o in original],
        rejected=rejected,
    )


def _parse_body(body: memoryview | bytes, names: list[str], delim: str, *, file: str, header_row: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Data rows of a delimited UTF-8 body: Arrow when rows map 1:1 to lines, else Python's csv with line tracking."""
    end = len(body)
    while end and body[end - 1] in (10, 13, 32):
        end -= 1
    stripped = body[:end]
    if not end:
        return pd.DataFrame({n: pd.Series([], dtype=str) for n in names}), _issues()
    raw_bytes = bytes(stripped) if isinstance(stripped, memoryview) and len(stripped) < 1_000_000 else stripped
    as_bytes = raw_bytes if isinstance(raw_bytes, bytes) else None
    if as_bytes is None:
        as_bytes = bytes(stripped)
    n_lines = as_bytes.count(b"\n") + 1
    blank = b"\n\n" in as_bytes
    if not blank and len(names) > 1:
        try:
            table = pacsv.read_csv(
                pa.BufferReader(pa.py_buffer(stripped)),
                read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True, newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.large_string() for n in names}, strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=True
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowException):
            table = None
        if table is not None and table.num_rows == n_lines:
            frame = table.to_pandas()
            frame.index = pd.RangeIndex(header_row + 1, header_row + 1 + n_lines, name="row")
            empty = pc.is_null(table.column(0))
            for column in table.columns[1:]:
                empty = pc.and_(empty, pc.is_null(column))
            if pc.any(empty).as_py():  # ',,,,' lines Excel writes for blank rows: skipped, as blank lines are
                frame = frame.loc[~np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)]
            return frame, _issues()
    return _parse_body_python(bytes(body).decode("utf-8"), names, delim, file=file, header_row=header_row)


class _Lines:
    """The lines of a text as an iterator whose position can be moved back (to resume after a broken quote)."""

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.pos = 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1] + "\n"


def _parse_body_python(body: str, names: list[str], delim: str, *, file: str, header_row: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    width = len(names)
    lines = _Lines(body)
    reader = csv.reader(lines, delimiter=delim)
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[tuple] = []
    while True:
        start = lines.pos
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append((file, header_row + start + 1, None, _short(lines.lines[start]), f"unreadable line: {exc}"))
            continue
        row_no = header_row + start + 1
        spanned = lines.pos - start
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) > width and all(not f.strip() for f in fields[width:]):
            fields = fields[:width]  # a trailing delimiter on data lines
        if spanned > 1 and (len(fields) != width or (lines.pos >= len(lines.lines) and any("\n" in f for f in fields))):
            # a quote opened on this line and never closed swallowed the lines after it: reject this line
            # only and read on from the next one
            bad.append((file, row_no, None, _short(lines.lines[start]),
                        'a field opens a quote that is never closed on this line'))
            lines.pos = start + 1
            continue
        if len(fields) != width:
            bad.append(
                (file, row_no, None, _short(delim.join(fields)), f"row has {len(fields)} fields but the header has {width}")
            )
            continue
        rows.append([v if v != "" else None for v in fields])
        numbers.append(row_no)
    frame = pd.DataFrame(rows, columns=names, dtype=object) if rows else pd.DataFrame(columns=names, dtype=object)
    frame = frame.astype(str)
    frame.index = pd.Index(numbers, name="row", dtype="int64")
    return frame, _issues(bad)


def _excel_text(value: Any) -> str | None:
    """A cell value as the text the user sees; int-valued numbers without '.0', dates as ISO."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer():
            # beyond 2**53 the digits are already wrong: show it the way Excel does so ids get rejected
            return str(int(value)) if abs(value) < 2**53 else format(value, ".15G")
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat()
    text = str(value)
    return text if text.strip() else None


def _read_xlsx(data: bytes, *, file: str, sheet: str | None) -> RawTable:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any zip/xml failure means the same to the user
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if not any(n.startswith("xl/") for n in archive.namelist()):
                    raise IngestError(
                        "this is a ZIP archive (or another zipped format such as .ods), not an .xlsx workbook; "
                        "unzip it, or save the sheet as .xlsx or CSV",
                        file=file,
                    ) from None
        raise IngestError(f"cannot open as an Excel workbook (damaged, or not really .xlsx): {exc}", file=file) from None
    try:
        if sheet is not None:
            if sheet not in book.sheetnames:
                raise IngestError(f"no sheet named {sheet!r}; sheets are {book.sheetnames}", file=file)
            sheets = [sheet]
        else:
            sheets = list(book.sheetnames)
        for name in sheets:
            rows = [[_excel_text(v) for v in r] for r in book[name].iter_rows(min_row=1, values_only=True)]
            numbered = [(i + 1, r) for i, r in enumerate(rows) if any(v is not None for v in r)]
            if len(numbered) < 2:
                continue
            counts = [sum(v is not None for v in r) for _, r in numbered[:60]]
            widest = max(counts)
            # title rows above the header have fewer filled cells than the header itself
            h = next(i for i, c in enumerate(counts) if c >= max(2, widest * 0.5)) if widest > 1 else 0
            header_row, header = numbered[h]
            keep = [j for j, v in enumerate(header) if v is not None or any(j < len(r) and r[j] is not None for _, r in numbered[h + 1 :])]
            original = [str(header[j]).strip() if j < len(header) and header[j] is not None else "" for j in keep]
            names = _dedupe_names(original)
            body = [(n, [r[j] if j < len(r) else None for j in keep]) for n, r in numbered[h + 1 :]]
            frame = pd.DataFrame([r for _, r in body], columns=names, dtype=object)
            frame = frame.astype(str) if len(frame) else pd.DataFrame({n: pd.Series([], dtype=str) for n in names})
            frame.index = pd.Index([n for n, _ in body], name="row", dtype="int64")
            if not len(frame):
                continue
            frame, rejected = _drop_total_lines(frame, _issues(), file=file)
            return RawTable(
                file=file,
                frame=frame,
                encoding="xlsx",
                delimiter=None,
                sheet=name,
                encoding_candidates=[],
                first_data_row=int(frame.index[0]),
                original_columns=original,
                rejected=rejected,
            )
        raise IngestError("the workbook has no sheet with a header and data rows", file=file)
    finally:
        book.close()


# --------------------------------------------------------------------------------------------- aliases
def _key(name: str) -> str:
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    text = re.sub(r"[(\[【][^)\]】]*[)\]】]", "", text)  # unit suffixes such as (元) or [CNY]
    return re.sub(r"[\s._\-/:：、]+", "", text)


_ACCOUNT = [
    "account", "account_id", "account_no", "account_number", "acct", "acct_no", "acct_id", "acc_no", "card_no",
    "card_number", "iban", "账号", "卡号", "本方账号", "账户", "账户号", "账户号码", "客户账号", "交易账号", "交易卡号",
    "本方卡号", "银行账号", "帐号", "本方帐号", "查询账号", "主账号",
]
_BANK = ["bank", "bank_id", "bank_code", "bank_name", "branch", "银行", "开户行", "开户银行", "本方行名", "开户机构", "本方开户行", "行号"]
_TS = [
    "ts", "timestamp", "datetime", "date_time", "date", "time", "txn_date", "txn_time", "transaction_date",
    "transaction_time", "trans_date", "trans_time", "trade_date", "posting_date", "posted_at", "booking_date",
    "value_date", "created_at", "交易日期", "交易时间", "记账日期", "记账时间", "日期", "时间", "交易日", "入账日期", "入账时间",
    "交易发生时间", "发生日期", "交易时间戳",
]
_TXN_ID = [
    "txn_id", "transaction_id", "trans_id", "trx_id", "tx_id", "tran_id", "transaction_no", "txn_no", "serial_no",
    "journal_no", "reference_no", "ref_no", "流水号", "交易流水号", "交易序号", "凭证号", "交易编号", "流水编号", "交易参考号", "业务流水号",
]
_CURRENCY = ["currency", "ccy", "cur", "currency_code", "币种", "货币", "币别", "交易币种"]
_CHANNEL = [
    "channel", "txn_channel", "payment_format", "payment_type", "payment_method", "method", "mode", "operation",
    "交易渠道", "渠道", "交易方式", "支付方式", "交易类型", "业务类型",
]
_MEMO = [
    "memo", "note", "notes", "remark", "remarks", "description", "narrative", "details", "reference", "purpose",
    "k_symbol", "摘要", "用途", "附言", "备注", "交易摘要", "交易附言", "交易用途", "交易备注", "摘要说明",
]
_CP_NAME = [
    "counterparty_name", "counterparty", "cp_name", "other_name", "partner_name", "opposite_name", "payee",
    "payee_name", "beneficiary", "beneficiary_name", "对方户名", "对手户名", "对方名称", "对方姓名", "交易对手", "对手方名称",
    "交易对手名称", "对方账户名", "对方账户名称", "对手名称", "对方户名称",
]
_CP_COUNTRY = ["counterparty_country", "cp_country", "country", "对方国家", "对方国家地区", "国家", "国家地区"]
_MCC = ["merchant_category", "mcc", "counterparty_industry", "merchant_type", "商户类别", "商户类型", "对方行业", "商户行业"]
_REVERSAL = ["is_reversal", "reversal", "reversal_flag", "reversed", "冲正标志", "冲正标识", "冲正", "撤销标志", "冲正标记"]
_CUSTOMER = [
    "customer_id", "client_id", "cust_id", "customer_no", "customer_number", "customer", "client", "cif", "cif_no",
    "borrower_id", "客户号", "客户编号", "客户id", "客户代码", "借款人编号", "客户代码号",
]
_LOAN = [
    "loan_id", "loan", "loan_no", "loan_number", "contract_no", "contract_id", "iou_no", "note_no", "借据号", "贷款编号",
    "借据编号", "合同号", "贷款合同号", "借款合同号", "借据号码", "贷款号",
]

_TX_AMOUNT = [
    "amount", "amt", "txn_amount", "transaction_amount", "trans_amount", "value", "sum", "amount_paid", "paid_amount",
    "payment_amount", "交易金额", "金额", "发生额", "交易额", "转账金额", "交易发生额",
]

_ALIASES: dict[str, dict[str, list[str]]] = {
    "transactions": {
        "txn_id": _TXN_ID + ["id"],
        "seq": ["seq", "sequence", "序号"],
        "ts": _TS,
        "from_account": [
            "from_account", "from", "sender_account", "sender", "payer_account", "source_account", "debit_account",
            "src_account", "originator_account", "from_acct", "account_from", "orig_account", "付款账号", "付款人账号",
            "转出账号", "汇款账号", "付款方账号", "付款卡号", "转出卡号",
        ],
        "to_account": [
            "to_account", "to", "receiver_account", "receiver", "payee_account", "beneficiary_account", "destination_account",
            "credit_account", "dest_account", "to_acct", "account_to", "recipient_account", "收款账号", "收款人账号", "转入账号",
            "收款方账号", "收款卡号", "转入卡号",
        ],
        "from_bank": ["from_bank", "sender_bank", "payer_bank", "source_bank", "bank_from", "付款行", "付款银行", "付款行名", "转出行", "付款方开户行"],
        "to_bank": ["to_bank", "receiver_bank", "payee_bank", "beneficiary_bank", "bank_to", "收款行", "收款银行", "收款行名", "转入行", "收款方开户行"],
        "amount": _TX_AMOUNT,
        "currency": _CURRENCY + ["payment_currency"],
        "received": ["received", "amount_received", "received_amount", "到账金额"],
        "received_currency": ["received_currency", "receiving_currency", "receive_currency", "到账币种"],
        "channel": _CHANNEL,
        "counterparty_name": _CP_NAME,
        "counterparty_country": _CP_COUNTRY,
        "merchant_category": _MCC,
        "memo": _MEMO,
        "balance_after": ["balance_after", "balance", "sender_balance", "余额", "付款后余额", "交易后余额", "账户余额"],
        "is_reversal": _REVERSAL,
        "reverses_txn_id": ["reverses_txn_id", "original_txn_id", "orig_txn_id", "reversed_txn_id", "原交易流水号", "原流水号"],
        "_account": _ACCOUNT,  # ambiguous: takes the side of the bank column before it
    },
    "statements": {
        "txn_id": _TXN_ID,
        "ts": _TS,
        "account": _ACCOUNT,
        "bank": _BANK,
        "account_name": ["account_name", "account_holder", "holder_name", "holder", "户名", "账户名称", "账户名", "本方户名", "持卡人", "本方名称", "客户名称"],
        "direction": [
            "direction", "dc", "d_c", "dr_cr", "debit_credit", "dc_flag", "cd", "type", "txn_type", "transaction_type",
            "sign", "借贷标志", "借贷方向", "借贷", "收支", "收付标志", "收支标志", "借贷标识", "出入账标志", "交易方向", "收支方向", "借贷类型",
        ],
        "amount": _TX_AMOUNT,
        "debit": [
            "debit", "debit_amount", "debits", "withdrawal", "withdrawals", "withdrawal_amount", "dr", "outflow", "paid_out",
            "money_out", "借方发生额", "借方金额", "支出", "支出金额", "借方", "付款金额", "转出金额", "借方发生金额",
        ],
        "credit": [
            "credit", "credit_amount", "credits", "deposit", "deposits", "deposit_amount", "cr", "inflow", "paid_in", "money_in",
            "贷方发生额", "贷方金额", "收入", "收入金额", "贷方", "收款金额", "转入金额", "贷方发生金额",
        ],
        "balance": ["balance", "balance_after", "running_balance", "bal", "余额", "账户余额", "交易后余额", "当前余额", "联机余额"],
        "counterparty_account": [
            "counterparty_account", "counterparty_account_no", "cp_account", "other_account", "opposite_account",
            "partner_account", "account_to", "对方账号", "对手账号", "对方卡号", "对方账户", "交易对手账号", "对手方账号",
            "对方帐号", "对手卡号", "对方账号卡号", "交易对手账卡号",
        ],
        "counterparty_bank": [
            "counterparty_bank", "cp_bank", "other_bank", "partner_bank", "bank_to", "对方行名", "对方银行", "对方开户行",
            "对手行名", "对方开户行名", "对手开户行", "对方开户银行", "对方行号",
        ],
        "counterparty_name": _CP_NAME,
        "counterparty_country": _CP_COUNTRY,
        "merchant_category": _MCC,
        "currency": _CURRENCY,
        "channel": _CHANNEL,
        "memo": _MEMO,
        "is_reversal": _REVERSAL,
    },
    "loans": {
        "loan_id": _LOAN,
        "customer_id": _CUSTOMER,
        "account_id": _ACCOUNT + [
            "borrower_account", "repayment_account", "disbursement_account", "放款账号", "还款账号", "借款人账号", "入账账号", "贷款入账账号",
        ],
        "bank": _BANK + ["borrower_bank"],
        "principal": [
            "principal", "amount", "loan_amount", "principal_amount", "disbursed_amount", "loan_principal", "放款金额",
            "贷款金额", "本金", "借款金额", "发放金额", "合同金额", "贷款本金",
        ],
        "currency": _CURRENCY,
        "disbursed_at": [
            "disbursed_at", "disbursement_date", "disbursed_date", "date", "loan_date", "start_date", "issue_date",
            "value_date", "open_date", "放款日期", "发放日期", "放款时间", "借款日期", "起息日", "发放时间", "贷款发放日",
        ],
        "maturity": ["maturity", "maturity_date", "end_date", "expiry_date", "到期日", "到期日期", "贷款到期日", "合同到期日"],
        "product": ["product", "product_name", "product_type", "loan_type", "产品", "产品名称", "贷款品种", "贷款产品", "产品类型", "贷款种类"],
        "declared_purpose": ["declared_purpose", "purpose", "loan_purpose", "use", "用途", "贷款用途", "借款用途"],
        "status": ["status", "loan_status", "state", "贷款状态", "状态", "借据状态"],
        "dpd": ["dpd", "days_past_due", "overdue_days", "days_overdue", "days_late", "逾期天数"],
        "overdue": ["overdue", "overdue_amount", "past_due_amount", "amount_overdue", "arrears", "逾期金额", "逾期本金"],
        "outstanding": [
            "outstanding", "outstanding_balance", "balance", "remaining_principal", "loan_balance", "贷款余额", "余额",
            "剩余本金", "未还本金",
        ],
    },
    "customers": {
        "customer_id": _CUSTOMER,
        "name": [
            "name", "customer_name", "client_name", "full_name", "客户名称", "客户姓名", "姓名", "名称", "企业名称", "借款人",
            "借款人名称", "户名",
        ],
        "customer_type": ["customer_type", "client_type", "type", "party_type", "客户类型", "客户类别"],
        "industry": ["industry", "sector", "industry_code", "行业", "所属行业", "行业类别"],
        "region": ["region", "district", "district_id", "area", "province", "city", "地区", "区域", "所属地区", "省份", "城市"],
        "id_number": [
            "id_number", "id_no", "id_card", "national_id", "ssn", "tax_id", "certificate_no", "document_no", "证件号码",
            "身份证号", "身份证号码", "证件号", "统一社会信用代码", "营业执照号",
        ],
        "phone": ["phone", "mobile", "phone_number", "mobile_number", "tel", "telephone", "cellphone", "手机号", "手机号码", "联系电话", "电话", "电话号码"],
        "address": ["address", "addr", "home_address", "registered_address", "地址", "住址", "联系地址", "注册地址", "家庭住址"],
        "email": ["email", "e_mail", "mail", "email_address", "邮箱", "电子邮箱", "电子邮件"],
        "legal_rep": ["legal_rep", "legal_representative", "legal_person", "法人", "法定代表人", "法人代表"],
        "registered_at": ["registered_at", "registration_date", "onboarded_at", "created_at", "注册日期", "成立日期", "建档日期"],
    },
    "accounts": {
        "account_id": _ACCOUNT,
        "customer_id": _CUSTOMER,
        "bank": _BANK,
        "account_number": ["account_number_raw"],
        "account_name": ["account_name", "account_holder", "holder_name", "户名", "账户名称", "账户名"],
        "account_type": ["account_type", "acct_type", "type", "账户类型", "账户性质", "账户类别"],
        "country": ["country", "country_code", "国家", "国家地区"],
        "currency": _CURRENCY,
        "opened_at": ["opened_at", "open_date", "opening_date", "date", "created_at", "开户日期", "开户时间"],
    },
    "repayments": {
        "loan_id": _LOAN,
        "due_date": ["due_date", "due", "scheduled_date", "installment_date", "应还日期", "应还款日", "到期日"],
        "paid_at": ["paid_at", "payment_date", "paid_date", "repayment_date", "actual_date", "实还日期", "还款日期", "实际还款日", "还款时间"],
        "amount_due": ["amount_due", "due_amount", "scheduled_amount", "installment", "installment_amount", "应还金额", "应还本息", "应还款额"],
        "amount_paid": ["amount_paid", "paid_amount", "payment_amount", "repaid_amount", "repayment_amount", "实还金额", "还款金额", "实还本息"],
        "payer_account": ["payer_account", "from_account", "payment_account", "repayment_account", "还款账号", "付款账号"],
    },
    "relations": {
        "src_id": ["src_id", "source", "src", "from", "from_id", "party_a", "source_id", "person_id", "主体", "主体编号"],
        "dst_id": ["dst_id", "target", "dst", "to", "to_id", "party_b", "target_id", "related_id", "related_party", "关联方", "关联方编号", "关联人"],
        "relation": ["relation", "relationship", "relation_type", "type", "role", "关系", "关联关系", "关系类型"],
        "share": ["share", "ratio", "stake", "share_ratio", "shareholding", "持股比例", "占比", "比例"],
    },
    "loan_snapshots": {
        "loan_id": _LOAN,
        "as_of": ["as_of", "snapshot_date", "month", "report_date", "date", "period", "统计日期", "数据日期", "月份", "报告日期"],
        "dpd": ["dpd", "days_past_due", "overdue_days", "逾期天数"],
        "balance": ["balance", "outstanding", "loan_balance", "余额", "贷款余额"],
    },
    "collection_events": {
        "loan_id": _LOAN,
        "ts": _TS,
        "stage": ["stage", "event", "action", "status", "阶段", "催收阶段", "处置阶段", "事件"],
        "amount": _TX_AMOUNT + ["recovered_amount", "回收金额", "收回金额"],
        "owner": ["owner", "agent", "collector", "assignee", "handler", "负责人", "催收员", "经办人"],
        "note": ["note", "notes", "remark", "comment", "备注", "说明", "催收记录"],
    },
}

# money columns per table: unit-name -> cents column
_MONEY: dict[str, dict[str, str]] = {
    table: {col[: -len("_cents")]: col for col in cols if col.endswith("_cents")} for table, cols in TABLES.items()
}
_MONEY["transactions"]["received"] = "received_cents"
_MONEY["statements"] = {"amount": "amount_cents", "debit": "debit_cents", "credit": "credit_cents", "balance": "balance_cents"}

_DATE_TARGETS = {"registered_at", "opened_at", "disbursed_at", "maturity", "ts", "due_date", "paid_at", "as_of"}
_BANK_TARGETS = {"bank", "from_bank", "to_bank", "counterparty_bank"}
_ACCOUNT_TARGETS = {"account_id", "from_account", "to_account", "payer_account", "account", "counterparty_account", "account_number"}
_EXTRA_TARGETS: dict[str, set[str]] = {
    "transactions": {"ts_time", "from_bank", "to_bank"},
    "statements": {"ts_time", "bank", "counterparty_bank"},
    "loans": {"bank"},
    "accounts": set(),
    "collection_events": {"ts_time"},
}

_REQUIRED_GROUPS: dict[str, list[tuple[str, ...]]] = {
    "statements": [("account",), ("ts",), ("amount", "amount_cents", "debit", "debit_cents", "credit", "credit_cents")],
}
for _table, _cols in REQUIRED.items():
    _REQUIRED_GROUPS[_table] = [
        (c, c[: -len("_cents")]) if c.endswith("_cents") else (c,) for c in _cols
    ]

_GUESS_ORDER = (
    "transactions", "statements", "loans", "repayments", "customers", "accounts", "relations", "loan_snapshots",
    "collection_events",
)


def _table_columns(table: str) -> tuple[str, ...]:
    if table == "statements":
        return STATEMENT_COLUMNS
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(TABLES) + ['statements']}")
    return tuple(TABLES[table])


def mapping_targets(table: str) -> list[str]:
    """Every value a mapping for `table` may use: canonical columns, their unit names, and extra roles."""
    cols = [c for c in _table_columns(table) if c not in ("file", "row")]
    out: list[str] = []
    for col in cols:
        if col.endswith("_cents"):
            out.append(col[: -len("_cents")])
        out.append(col)
    for extra in sorted(_EXTRA_TARGETS.get(table, set())):
        if extra not in out:
            out.append(extra)
    return out


def _alias_index(table: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for target in mapping_targets(table):
        index.setdefault(_key(target), target)
    for target, names in _ALIASES.get(table, {}).items():
        for name in names:
            index.setdefault(_key(name), target)
    for unit, cents in _MONEY.get(table, {}).items():
        index[_key(cents)] = cents
        index.setdefault(_key(unit), unit)
    return index


_ALIAS_INDEX = {table: _alias_index(table) for table in list(TABLES) + ["statements"]}
_TIMEISH = re.compile(r"time|时间|时刻")
_DATEISH = re.compile(r"date|日期|日$")


def suggest_mapping(columns: list[str], table: str) -> dict[str, str]:
    """file column -> target (canonical column, its unit name, or a role such as from_bank) by header aliases."""
    _table_columns(table)
    index = _ALIAS_INDEX[table]
    names = set(columns)
    out: dict[str, str] = {}
    used: dict[str, str] = {}
    prev: str | None = None
    for col in columns:
        key = _key(col)
        target = index.get(key)
        if target is None:
            m = re.fullmatch(r"(.+)_(\d+)", col)
            if m and m.group(1) in names:  # de-duplicated header such as Account_2
                target = index.get(_key(m.group(1)))
        if target is None:
            prev = None
            continue
        prev_target = out.get(prev) if prev else None
        if target == "_account":
            # only a bank column right before says which side a bare "Account" is; never guess from order
            target = {"from_bank": "from_account", "to_bank": "to_account"}.get(prev_target or "")
        elif table == "statements" and target == "account" and "account" in used:
            # a second account column after the own one is the counterparty's (berka: bank, account)
            target = "counterparty_account"
            if prev_target == "bank":
                out[prev] = "counterparty_bank"
                used.pop("bank", None)
                used["counterparty_bank"] = prev
        if target == "ts" and "ts" in used:
            first = used["ts"]
            if _TIMEISH.search(_key(col)) and not _TIMEISH.search(_key(first)):
                target = "ts_time"
            elif _TIMEISH.search(_key(first)) and _DATEISH.search(_key(col)):
                out[first] = "ts_time"
                used["ts_time"] = first
                used.pop("ts")
        if target is None or target in used or (target.endswith("_cents") and target[:-6] in used) or (target + "_cents") in used:
            prev = col
            continue
        out[col] = target
        used[target] = col
        prev = col
    return out


def _satisfies(table: str, targets: set[str]) -> int:
    groups = _REQUIRED_GROUPS[table]
    if all(any(t in targets for t in g) for g in groups):
        return len(groups)
    return -1


def guess_table(columns: list[str]) -> str | None:
    """The table a file with these headers most likely holds ('statements' = bank-statement transactions), or None."""
    best: tuple[int, int, int] | None = None
    choice = None
    near: tuple[int, int] | None = None  # (columns mapped, -rank) of a table missing one required column
    near_choice = None
    for rank, table in enumerate(_GUESS_ORDER):
        mapping = suggest_mapping(columns, table)
        targets = set(mapping.values())
        req = _satisfies(table, targets)
        if req < 0:
            groups = _REQUIRED_GROUPS[table]
            missing = sum(not any(t in targets for t in g) for g in groups)
            if missing == 1 and len(groups) > 1 and len(mapping) >= 2 and (near is None or (len(mapping), -rank) > near):
                near, near_choice = (len(mapping), -rank), table
            continue
        if table == "statements" and {"from_account", "to_account"} <= set(suggest_mapping(columns, "transactions").values()):
            continue
        score = (req, len(mapping), -rank)
        if best is None or score > best:
            best, choice = score, table
    # a loans file without its principal column is a loans file with a gap to report, not an accounts file
    # that happens to have account_id and customer_id
    if near is not None and (best is None or near[0] > best[1]):
        return near_choice
    return choice


# --------------------------------------------------------------------------------------------- values
def _arrow(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """The Arrow large_string data behind a text Series (no copy when it already is Arrow-backed)."""
    if s.dtype != "str":
        s = s.astype(object).where(s.notna(), None).astype(str)
    arr = getattr(s.array, "_pa_array", None)  # pandas' ArrowStringArray keeps its ChunkedArray here
    if arr is None:
        arr = pa.array(s, from_pandas=True)
    return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr


_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas 3's default "str" dtype


def _flat(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _series(arr: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """A text Series over Arrow string data, on `index`."""
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(arr, dtype=_STR), index=index)


def _ascii(arr: pa.Array | pa.ChunkedArray) -> bool:
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        buf = chunk.buffers()[2]
        if buf is not None and not memoryview(buf).tobytes().isascii():
            return False
    return True


def _contains(arr: pa.Array | pa.ChunkedArray, *needles: str) -> bool:
    """Whether any value might contain one of the needles (scans the raw bytes: fast, may over-report)."""
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        buf = chunk.buffers()[2]
        if buf is None:
            continue
        raw = memoryview(buf).tobytes()
        if any(n.encode("utf-8") in raw for n in needles):
            return True
    return False


_NULL_SET = pa.array(_NULL_TOKENS, pa.large_string())


def _clean_text(s: pd.Series) -> pd.Series:
    """Trimmed text with empty/null-looking cells as missing."""
    arr = _arrow(s)
    # the ASCII trim is ten times faster; full-width spaces (U+3000) need the Unicode one
    arr = pc.ascii_trim_whitespace(arr) if _ascii(arr) else pc.utf8_trim_whitespace(arr)
    nulls = pc.is_in(arr, value_set=_NULL_SET)
    if pc.any(nulls).as_py():
        arr = pc.if_else(nulls, pa.scalar(None, pa.large_string()), arr)
    return _series(arr, s.index)


def _nfkc_non_ascii(s: pd.Series) -> pd.Series:
    if _ascii(_arrow(s)):
        return s
    mask = (s.notna() & ~s.str.isascii().fillna(True).astype(bool)).to_numpy()
    if mask.any():
        s = s.copy()
        s[mask] = [unicodedata.normalize("NFKC", v).strip() for v in s[mask]]
    return s


# Excel's General format: one digit, optional decimals, and always a signed exponent (6.22E+18). Hex-like
# ids such as 812E50 (AMLworld) have no sign and must not be caught.
_SCI = r"[+-]?\d(?:\.\d+)?[eE][+-]\d{1,3}"


def _clean_ids(s: pd.Series, *, accounts: bool, cleaned: bool = False) -> tuple[pd.Series, np.ndarray]:
    """(trimmed ids, mask of ids Excel turned into scientific notation)."""
    s = _nfkc_non_ascii(s if cleaned else _clean_text(s))
    arr = _arrow(s)
    if not _contains(arr, "'", '="', "+", "-", *((" ",) if accounts else ())):
        return s, np.zeros(len(s), dtype=bool)  # the common case: nothing to fix, no 6.2E+18
    starts = s.str.startswith("'").fillna(False) | s.str.startswith('="').fillna(False)
    if starts.any():
        # Excel's ways of forcing text: '0123 and ="0123"
        fixed = s[starts].str.replace(r'^="(.*)"$', r"\1", regex=True).str.replace(r"^'", "", regex=True).str.strip()
        s = s.copy()
        s[starts] = fixed
    if accounts:
        spaced = s.str.fullmatch(r"\d[\d ]*\d").fillna(False) & s.str.contains(" ", regex=False).fillna(False)
        if spaced.any():
            s = s.copy()
            s[spaced] = s[spaced].str.replace(" ", "", regex=False)
    bad = s.str.fullmatch(_SCI).fillna(False).to_numpy(dtype=bool)
    return s, bad


def _sci_reason(column: str, value: str, accounts: bool) -> str:
    what = "account number" if accounts else "ID"
    return f"looks like Excel turned the {what} into scientific notation ({value}); export the column as text"


_PLAIN_MONEY = r"[+-]?\d{1,12}(?:\.\d{1,2})?"
_MAX_CENTS = 10**17  # a thousand trillion currency units: far above any real amount, far below int64
_CURRENCY_RE = re.compile(
    r"(?i)(?:人民币|美元|欧元|港币|港元|英镑|日元|元|rmb|cny|usd|eur|hkd|gbp|jpy|czk|kč|us\$|hk\$|[¥$€£₩₹])"
)


def _money_shape(text: str) -> tuple[str, int, bool] | None:
    """(digits-and-separators, multiplier exponent, negative) for one amount text, or None."""
    t = unicodedata.normalize("NFKC", text).strip().replace("\u2212", "-")
    neg = False
    if t.startswith("(") and t.endswith(")"):
        neg, t = True, t[1:-1].strip()
    t = _CURRENCY_RE.sub("", t).strip()
    if t.endswith("-"):
        neg, t = not neg, t[:-1].strip()
    if t.startswith("-"):
        neg, t = not neg, t[1:].strip()
    elif t.startswith("+"):
        t = t[1:].strip()
    t = _CURRENCY_RE.sub("", t).strip()
    exp = 0
    if t.endswith("万"):
        exp, t = 4, t[:-1]
    elif t.endswith("亿"):
        exp, t = 8, t[:-1]
    t = t.replace(" ", "").replace("'", "").replace("\u00a0", "").replace("_", "")
    if not t or not re.fullmatch(r"[\d.,]+(?:[eE][+-]?\d+)?", t) or not re.search(r"\d", t):
        return None
    return t, exp, neg


def _comma_decimal(t: str) -> bool:
    return bool(re.search(r",\d{1,2}$", t)) and "." not in t.rsplit(",", 1)[1]


def _dot_decimal(t: str) -> bool:
    return bool(re.search(r"\.\d{1,2}$", t) or re.search(r",\d{3}\.\d", t))


def _money_cents(shape: tuple[str, int, bool], decimal_comma: bool) -> int | None:
    t, exp, neg = shape
    if decimal_comma:
        if _dot_decimal(t) and "," not in t:
            return None  # '12.50' in a comma-decimal column: refuse to guess
        t = t.replace(".", "").replace(",", ".")
    else:
        if _comma_decimal(t):
            return None
        t = t.replace(",", "")
    if t.count(".") > 1:
        return None
    try:
        value = Decimal(t).scaleb(exp + 2)
    except InvalidOperation:
        return None
    cents = int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if cents >= _MAX_CENTS:
        return None  # a 20-digit 'amount' is an id in the wrong column; it would also overflow int64
    return -cents if neg else cents


_CURRENCY_RE2 = (
    r"(?i)人民币|美元|欧元|港币|港元|英镑|日元|元|rmb|cny|usd|eur|hkd|gbp|jpy|czk|kč|us\$|hk\$|[¥￥$€£₩₹]|\s"
)


def _floats_to_cents(arr: pa.Array) -> np.ndarray:
    # exact: at most 12 integer digits and 2 decimals, so value*100 is within 0.01 cent of an integer
    return np.rint(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False) * 100).astype(np.int64)


def _match(arr: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(arr, pattern), False).to_numpy(zero_copy_only=False)


def parse_money(
    s: pd.Series, *, decimal_comma: bool | None = None, cleaned: bool = False
) -> tuple[pd.Series, np.ndarray, bool]:
    """(Int64 cents, mask of unparseable non-missing cells, whether the column uses comma decimals).

    Exact to the cent (half-up rounding beyond two decimals). Vectorised for plain decimals, thousands
    separators and currency signs/codes; per distinct value for the rest (万/亿, parentheses, trailing minus).
    """
    s = s if cleaned else _clean_text(s)
    n = len(s)
    cents = np.zeros(n, dtype=np.int64)
    known = np.zeros(n, dtype=bool)
    present = s.notna().to_numpy()
    arr = _flat(_arrow(s))
    plain = _match(arr, "^" + _PLAIN_MONEY + "$")
    if plain.any():
        cents[plain] = _floats_to_cents(pc.filter(arr, pa.array(plain)))
        known |= plain
    rest = present & ~plain
    if not rest.any():
        return pd.Series(pd.arrays.IntegerArray(cents, ~known), index=s.index), present & ~known, False

    idx = np.flatnonzero(rest)
    work = pc.replace_substring_regex(pc.take(arr, pa.array(idx)), _CURRENCY_RE2, "")
    if decimal_comma is None:
        dot = bool(plain.any() and _match(pc.filter(arr, pa.array(plain)), r"\.\d{1,2}$").any())
        dot = dot or bool(_match(work, r"\.\d{1,2}\D*$").any() or _match(work, r",\d{3}\.\d").any())
        comma = bool(_match(work, r",\d{1,2}[^\d.,]*$").any())
        decimal_comma = comma and not dot
    if decimal_comma:
        shaped = _match(work, r"^[+-]?\d{1,3}(?:\.\d{3})*(?:,\d{1,2})?$") | _match(work, r"^[+-]?\d+(?:,\d{1,2})?$")
        flat = pc.replace_substring(pc.replace_substring(work, ".", ""), ",", ".")
    else:
        shaped = _match(work, r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?$") | _match(work, "^" + _PLAIN_MONEY + "$")
        flat = pc.replace_substring(work, ",", "")
    vec = shaped & _match(flat, "^" + _PLAIN_MONEY + "$")
    if vec.any():
        cents[idx[vec]] = _floats_to_cents(pc.filter(flat, pa.array(vec)))
        known[idx[vec]] = True
    left = idx[~vec]
    if len(left):
        texts = pc.take(arr, pa.array(left))
        uniques = pc.unique(texts)
        codes = pc.index_in(texts, value_set=uniques).to_numpy(zero_copy_only=False)
        parsed = []
        for u in uniques.to_pylist():
            shape = _money_shape(u)
            parsed.append(_money_cents(shape, bool(decimal_comma)) if shape else None)
        values = [parsed[c] for c in codes]
        ok = np.array([v is not None for v in values], dtype=bool)
        if ok.any():
            cents[left[ok]] = np.array([v for v in values if v is not None], dtype=np.int64)
            known[left[ok]] = True
    out = pd.Series(pd.arrays.IntegerArray(cents, ~known), index=s.index)
    return out, present & ~known, bool(decimal_comma)


# dates -----------------------------------------------------------------------------------------------
_TIME_RE = (
    r"(?:\s*T?\s*(?P<H>\d{1,2})[:：时](?P<M>\d{1,2})(?:[:：分](?P<S>\d{1,2})(?:[.,]\d+)?秒?)?\s*(?P<ap>[AaPp][Mm])?)?"
    r"\s*(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)?"
)
_YMD_RE = r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?" + _TIME_RE + "$"
_COMPACT_RE = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:[ T]?(?P<H>\d{2}):?(?P<M>\d{2}):?(?P<S>\d{2}))?$"
_YYMMDD_RE = r"^(?P<y>\d{2})(?P<m>\d{2})(?P<d>\d{2})$"
_XMY_RE = r"^(?P<a>\d{1,2})\s*[-/.]\s*(?P<b>\d{1,2})\s*[-/.]\s*(?P<y>\d{4})" + _TIME_RE + "$"
_SERIAL_RE = r"^(?P<n>\d{5})(?:\.(?P<f>\d+))?$"
# Fixed-width layouts rewritten to ISO by slice edits (start, stop, replacement), applied in order.
_SEPS = ((4, 5, "-"), (7, 8, "-"), (10, 11, "T"))
_FAST_DATES: tuple[tuple[str, tuple[tuple[int, int, str], ...]], ...] = (
    (r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", ()),
    (r"^\d{4}[-/.]\d{2}[-/.]\d{2}[ T]\d{2}:\d{2}:\d{2}$", _SEPS),
    (r"^\d{4}[-/.]\d{2}[-/.]\d{2}[ T]\d{2}:\d{2}$", (*_SEPS, (16, 16, ":00"))),
    (r"^\d{4}[-/.]\d{2}[-/.]\d{2}$", (*_SEPS[:2], (10, 10, "T00:00:00"))),
    (r"^\d{8}$", ((4, 4, "-"), (7, 7, "-"), (10, 10, "T00:00:00"))),
)
_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "s")


def _ls(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _pad(arr: pa.Array, width: int, default: str = "00") -> pa.Array:
    arr = pc.if_else(pc.equal(pc.fill_null(arr, ""), ""), _ls(default), arr)
    return pc.utf8_lpad(arr, width=width, padding="0")


def _assemble(y: pa.Array, m: pa.Array, d: pa.Array, hh: pa.Array, mm: pa.Array, ss: pa.Array) -> pa.Array:
    """ISO 'YYYY-MM-DDTHH:MM:SS' strings, null where the parts are not a real date/time."""
    date_part = pc.binary_join_element_wise(pc.utf8_lpad(y, width=4, padding="0"), _pad(m, 2), _pad(d, 2), _ls("-"))
    time_part = pc.binary_join_element_wise(_pad(hh, 2), _pad(mm, 2), _pad(ss, 2), _ls(":"))
    iso = pc.binary_join_element_wise(date_part, time_part, _ls("T"))
    return pc.if_else(_valid_iso(iso), iso, pa.scalar(None, pa.large_string()))


def _valid_iso(iso: pa.Array | pa.ChunkedArray) -> pa.Array:
    """True where the 'YYYY-MM-DDTHH:MM:SS' text is a real moment (no 30 February, no hour 25)."""
    try:
        iso.cast(pa.timestamp("s"))  # strict and fast; raises on the first bad value
        return pc.and_(pc.is_valid(iso), pc.equal(pc.utf8_length(iso), 19))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # strptime rolls 30 February over to 2 March: compare the day back
    ts = pc.strptime(iso, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    day = pc.cast(pc.utf8_slice_codeunits(iso, 8, 10), pa.int64(), safe=False)
    ok = pc.and_(pc.is_valid(ts), pc.equal(pc.day(ts), day))
    return pc.fill_null(pc.and_(ok, pc.equal(pc.utf8_length(iso), 19)), False)


def _ampm(hh: pa.Array, ap: pa.Array) -> pa.Array:
    apv = pc.fill_null(pc.utf8_lower(ap), "").to_numpy(zero_copy_only=False)
    if not (apv != "").any():
        return hh
    hours = np.array([int(h) if h else -1 for h in pc.fill_null(hh, "").to_numpy(zero_copy_only=False)])
    hours = np.where((apv == "pm") & (hours >= 0) & (hours < 12), hours + 12, hours)
    hours = np.where((apv == "am") & (hours == 12), 0, hours)
    return pa.array([("" if h < 0 else str(h)) for h in hours], pa.large_string())


def parse_dates(
    s: pd.Series, *, dayfirst: bool | None = None, yy_pivot: int = 69, cleaned: bool = False
) -> tuple[pd.Series, np.ndarray, str | None]:
    """(ISO 'YYYY-MM-DDTHH:MM:SS' text, mask of unparseable cells, note on the day/month order when it was guessed).

    Forms: ISO with T/space/Z/offset (the offset is dropped: the wall-clock time is kept), 2023/5/1, 2023.5.1,
    2023年5月1日, 20230501, YYMMDD (yy < `yy_pivot` is 20yy), D/M/YYYY or M/D/YYYY (decided per column),
    Excel serial day numbers (20000-80000), and month names as a last resort.
    """
    s = s if cleaned else _clean_text(s)
    present = s.notna().to_numpy()
    out = np.full(len(s), None, dtype=object)
    note = None
    if not present.any():
        return pd.Series(out, index=s.index, dtype=str), np.zeros(len(s), dtype=bool), None
    arr = _arrow(s)
    # whole-column rewrites for the zero-padded layouts exports use most: no per-value work at all
    for pattern, edits in _FAST_DATES:
        fits = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
        if pc.all(pc.or_(fits, pc.is_null(arr))).as_py():
            iso = arr
            for start, stop, text in edits:
                iso = pc.binary_replace_slice(iso, start=start, stop=stop, replacement=text)
            iso = pc.if_else(_valid_iso(iso), iso, pa.scalar(None, pa.large_string()))
            res = _series(iso, s.index)
            return res, present & res.isna().to_numpy(), None

    codes, uniques = pd.factorize(s)
    u = pd.Series(uniques, dtype=str)
    u = _nfkc_non_ascii(u)
    ua = _flat(_arrow(u))
    result = pa.nulls(len(ua), pa.large_string())

    def fill(where: pa.Array, values: pa.Array) -> None:
        nonlocal result
        take = pc.and_(pc.fill_null(where, False), pc.is_null(result))
        result = pc.if_else(take, values, result)

    ymd = pc.extract_regex(ua, _YMD_RE)
    hh = _ampm(ymd.field("H"), ymd.field("ap"))
    fill(pc.is_valid(ymd), _assemble(ymd.field("y"), ymd.field("m"), ymd.field("d"), hh, ymd.field("M"), ymd.field("S")))

    compact = pc.extract_regex(ua, _COMPACT_RE)
    fill(pc.is_valid(compact), _assemble(*(compact.field(k) for k in ("y", "m", "d", "H", "M", "S"))))

    yymmdd = pc.extract_regex(ua, _YYMMDD_RE)
    if pc.any(pc.is_valid(yymmdd)).as_py():
        yy = pc.cast(pc.fill_null(yymmdd.field("y"), "0"), pa.int32())
        century = pc.if_else(pc.less(yy, yy_pivot), 2000, 1900)
        year = pc.cast(pc.add(yy, century), pa.large_string())
        empty = pa.array([""] * len(ua), pa.large_string())
        fill(pc.is_valid(yymmdd), _assemble(year, yymmdd.field("m"), yymmdd.field("d"), empty, empty, empty))

    xmy = pc.extract_regex(ua, _XMY_RE)
    valid = pc.is_valid(xmy)
    if pc.any(valid).as_py():
        a = pc.cast(pc.fill_null(xmy.field("a"), "0"), pa.int32())
        b = pc.cast(pc.fill_null(xmy.field("b"), "0"), pa.int32())
        a_big = pc.any(pc.and_(valid, pc.greater(a, 12))).as_py()
        b_big = pc.any(pc.and_(valid, pc.greater(b, 12))).as_py()
        if dayfirst is None:
            if b_big and not a_big:
                dayfirst = False
            else:
                dayfirst = True
                if not a_big:
                    example = u.to_numpy(dtype=object)[valid.to_numpy(zero_copy_only=False)][0]
                    note = f"dates such as {example} were read as day/month/year (no value proves the order)"
        day, month = (xmy.field("a"), xmy.field("b")) if dayfirst else (xmy.field("b"), xmy.field("a"))
        hh = _ampm(xmy.field("H"), xmy.field("ap"))
        fill(valid, _assemble(xmy.field("y"), month, day, hh, xmy.field("M"), xmy.field("S")))

    serial = pc.extract_regex(ua, _SERIAL_RE)
    sv = pc.is_valid(serial)
    if pc.any(sv).as_py():
        mask = sv.to_numpy(zero_copy_only=False)
        nums = np.array([float(x) if x is not None else np.nan for x in pc.filter(ua, sv).to_pylist()])
        inrange = (nums >= 20000) & (nums <= 80000)
        secs = np.rint(nums[inrange] * 86400).astype(np.int64)
        iso = np.datetime_as_string(_EXCEL_EPOCH + secs.astype("timedelta64[s]"), unit="s")
        vals = np.full(len(ua), None, dtype=object)
        idx = np.flatnonzero(mask)[inrange]
        vals[idx] = iso
        fill(pa.array(np.isin(np.arange(len(ua)), idx)), pa.array(vals, pa.large_string()))

    res_u = np.asarray(result.to_numpy(zero_copy_only=False), dtype=object)
    left = np.flatnonzero(pd.isna(res_u))
    if len(left):
        # month names ('01-May-2023', 'May 1, 2023'): pandas' own parser, value by value, letters required
        for i in left:
            text = u.iloc[i]
            if not isinstance(text, str) or not re.search(r"[A-Za-z]{3}", text):
                continue
            try:
                ts = pd.to_datetime(text, dayfirst=bool(dayfirst), format="mixed")
            except (ValueError, TypeError, OverflowError):
                continue
            if ts is not pd.NaT and 1000 < ts.year < 10000:
                res_u[i] = ts.tz_localize(None).strftime("%Y-%m-%dT%H:%M:%S") if ts.tzinfo else ts.strftime("%Y-%m-%dT%H:%M:%S")
    out_vals = np.where(codes >= 0, res_u[np.maximum(codes, 0)], None)
    res = pd.Series(out_vals, index=s.index, dtype=object)
    res = res.where(res.notna()).astype(str)
    bad = present & res.isna().to_numpy()
    return res, bad, note


_TIME_ONLY_RE = r"^(?P<H>\d{1,2})[:：时](?P<M>\d{2})(?:[:：分](?P<S>\d{2})(?:[.,]\d+)?秒?)?$"
_TIME_COMPACT_RE = r"^(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?$"


def _parse_times(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """('HH:MM:SS' text, mask of unparseable cells) for a time-of-day column."""
    s = _clean_text(s)
    present = s.notna().to_numpy()
    arr = _flat(_arrow(s))
    out = pa.nulls(len(arr), pa.large_string())
    for pattern in (_TIME_ONLY_RE, _TIME_COMPACT_RE):
        ex = pc.extract_regex(arr, pattern)
        text = pc.binary_join_element_wise(_pad(ex.field("H"), 2), _pad(ex.field("M"), 2), _pad(ex.field("S"), 2), _ls(":"))
        ok = _valid_iso(pc.binary_join_element_wise(_ls("2000-01-01"), text, _ls("T")))
        take = pc.and_(pc.and_(pc.fill_null(pc.is_valid(ex), False), pc.fill_null(ok, False)), pc.is_null(out))
        out = pc.if_else(take, text, out)
    res = _series(out, s.index)
    return res, present & res.isna().to_numpy()


# categorical values ----------------------------------------------------------------------------------
_STATUS = {
    "current": "current", "normal": "current", "performing": "current", "active": "current", "ok": "current",
    "正常": "current", "正常类": "current", "未到期": "current", "还款中": "current",
    "overdue": "overdue", "delinquent": "overdue", "past due": "overdue", "pastdue": "overdue", "late": "overdue",
    "in arrears": "overdue", "逾期": "overdue", "已逾期": "overdue", "逾期中": "overdue",
    "collection": "collection", "collections": "collection", "in collection": "collection", "催收": "collection", "催收中": "collection",
    "recovered": "recovered", "收回": "recovered", "已收回": "recovered", "清收": "recovered",
    "transferred": "transferred", "sold": "transferred", "转让": "transferred", "已转让": "transferred",
    "written_off": "written_off", "written off": "written_off", "write-off": "written_off", "write off": "written_off",
    "writeoff": "written_off", "charged off": "written_off", "charge-off": "written_off", "chargeoff": "written_off",
    "核销": "written_off", "已核销": "written_off",
    "closed": "closed", "paid off": "closed", "paid": "closed", "settled": "closed", "repaid": "closed",
    "已结清": "closed", "结清": "closed", "已还清": "closed", "正常结清": "closed",
}

_CHANNEL_RULES: tuple[tuple[str, str], ...] = (
    ("冲正", "reversal"), ("跨境", "cross_border"), ("境外", "cross_border"), ("cross", "cross_border"), ("swift", "cross_border"),
    ("放款", "disbursement"), ("发放", "disbursement"), ("disburse", "disbursement"),
    ("还款", "repayment"), ("repay", "repayment"), ("uver", "repayment"),
    ("支付宝", "third_party"), ("微信", "third_party"), ("财付通", "third_party"), ("第三方", "third_party"),
    ("third", "third_party"), ("alipay", "third_party"), ("wechat", "third_party"), ("paypal", "third_party"),
    ("现金", "cash"), ("取现", "cash"), ("存现", "cash"), ("atm", "cash"), ("cash", "cash"), ("vyber", "cash"), ("vklad", "cash"),
    ("pos", "card"), ("刷卡", "card"), ("card", "card"), ("消费", "card"), ("kartou", "card"),
    ("转账", "transfer"), ("汇款", "transfer"), ("网银", "transfer"), ("transfer", "transfer"), ("wire", "transfer"),
    ("ach", "transfer"), ("prevod", "transfer"),
)

_CURRENCIES = {
    "人民币": "CNY", "rmb": "CNY", "cny": "CNY", "元": "CNY", "yuan": "CNY", "renminbi": "CNY", "¥": "CNY", "￥": "CNY",
    "美元": "USD", "us dollar": "USD", "usd": "USD", "dollar": "USD", "$": "USD", "us$": "USD",
    "欧元": "EUR", "euro": "EUR", "eur": "EUR", "€": "EUR",
    "港币": "HKD", "港元": "HKD", "hkd": "HKD", "hong kong dollar": "HKD",
    "英镑": "GBP", "uk pound": "GBP", "pound": "GBP", "gbp": "GBP", "£": "GBP",
    "日元": "JPY", "yen": "JPY", "jpy": "JPY",
    "rupee": "INR", "inr": "INR", "brazil real": "BRL", "brl": "BRL", "australian dollar": "AUD", "aud": "AUD",
    "canadian dollar": "CAD", "cad": "CAD", "mexican peso": "MXN", "mxn": "MXN", "ruble": "RUB", "rub": "RUB",
    "shekel": "ILS", "ils": "ILS", "swiss franc": "CHF", "chf": "CHF", "saudi riyal": "SAR", "sar": "SAR",
    "bitcoin": "BTC", "btc": "BTC", "czk": "CZK", "kč": "CZK", "koruna": "CZK",
}

_DIRECTION = {
    "借": "D", "借方": "D", "借记": "D", "d": "D", "dr": "D", "debit": "D", "debet": "D", "支出": "D", "支": "D", "出": "D",
    "-": "D", "付": "D", "付款": "D", "转出": "D", "out": "D", "outflow": "D", "withdrawal": "D", "vydaj": "D", "vyber": "D",
    "贷": "C", "贷方": "C", "贷记": "C", "c": "C", "cr": "C", "credit": "C", "收入": "C", "收": "C", "入": "C", "+": "C",
    "收款": "C", "转入": "C", "in": "C", "inflow": "C", "deposit": "C", "prijem": "C",
}

_FLAG_TRUE = {"1", "y", "yes", "true", "t", "是", "冲正", "已冲正", "reversal", "reversed", "r"}
_FLAG_FALSE = {"0", "n", "no", "false", "f", "否", "正常", "", "normal"}


def currency_code(value: str | None) -> str | None:
    """ISO code for a currency written as a code, a symbol, or an English/Chinese name ('US Dollar', '人民币')."""
    if value is None or _isna(value):
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return None
    return _CURRENCIES.get(text.lower(), text.upper())


def _channel(value: str) -> str:
    low = unicodedata.normalize("NFKC", value).strip().lower()
    for needle, channel in _CHANNEL_RULES:
        if needle in low and channel != "reversal":
            return channel
    return low


def _map_unique(s: pd.Series, fn: Any) -> pd.Series:
    """fn applied once per distinct value; text results as an Arrow-backed Series, others as object."""
    codes, uniques = pd.factorize(s)
    results = [fn(u) for u in uniques] + [None]
    if all(r is None or isinstance(r, str) for r in results):
        take = np.where(codes < 0, len(uniques), codes)
        return _series(pc.take(pa.array(results, pa.large_string()), pa.array(take)), s.index)
    mapped = np.array(results, dtype=object)
    return pd.Series(mapped[codes], index=s.index, dtype=object)


# --------------------------------------------------------------------------------------------- normalise
def _kind(table: str, target: str) -> str:
    if target in _MONEY.get(table, {}):
        return "money"
    if target.endswith("_cents"):
        return "cents"
    if target in _DATE_TARGETS:
        return "date"
    if target == "ts_time":
        return "time"
    if target in _BANK_TARGETS or target in ID_COLUMNS or target in ("account", "counterparty_account"):
        return "id"
    if target in ("dpd", "seq"):
        return "int"
    if target == "share":
        return "real"
    if target == "status" and table == "loans":
        return "status"
    if target == "channel":
        return "channel"
    if target in ("currency", "received_currency"):
        return "currency"
    if target == "direction":
        return "direction"
    if target == "is_reversal":
        return "flag"
    return "text"


def _compose(bank: pd.Series | None, number: pd.Series) -> pd.Series:
    if bank is None:
        return number
    both = bank.notna() & number.notna()
    return number.where(~both, bank.astype(str) + ":" + number.astype(str))


def _future(iso: pd.Series, today: date) -> np.ndarray:
    limit = (today + timedelta(days=1)).isoformat()
    return (iso.notna() & (iso >= limit)).to_numpy(dtype=bool)


def _strictly_increasing(s: pd.Series) -> bool:
    """Whether a text column is sorted with no repeats (so it has no duplicates): cheap, unlike hashing."""
    if len(s) < 2 or s.isna().any():
        return len(s) < 2
    arr = _flat(_arrow(s))
    return bool(pc.all(pc.greater(arr.slice(1), arr.slice(0, len(arr) - 1))).as_py())


def _duplicate_mask(frame: pd.DataFrame, columns: list[str], probe: Iterable[str] = ()) -> np.ndarray:
    """True for rows equal (in `columns`) to an earlier row.

    Rows equal in every column are equal in the few `probe` columns, so those (factorized, which is fast on
    Arrow strings) pick the candidates and only the candidates are compared in full.
    """
    if not len(frame) or not columns:
        return np.zeros(len(frame), dtype=bool)
    probe = [c for c in probe if c in columns] or columns[:4]
    key = np.zeros(len(frame), dtype=np.int64)
    for c in probe:
        codes, uniques = pd.factorize(frame[c])
        key = key * (len(uniques) + 1) + (codes + 1)
        key = pd.factorize(key)[0].astype(np.int64)
    cand = pd.Series(key).duplicated(keep=False).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    if cand.any():
        sub = frame.loc[cand, columns].astype(object).where(frame.loc[cand, columns].notna(), None)
        out[np.flatnonzero(cand)] = sub.duplicated(keep="first").to_numpy()
    return out


def normalise(
    raw: RawTable,
    *,
    table: str,
    mapping: dict[str, str],
    today: date | None = None,
    defaults: dict[str, Any] | None = None,
    dayfirst: bool | None = None,
) -> tuple[pd.DataFrame, QualityReport]:
    """(canonical frame of `table`, quality report) from a RawTable and a file-column -> target mapping.

    The frame has exactly the columns of `schema.TABLES[table]` (or STATEMENT_COLUMNS for "statements"), its
    index is the file's row numbers; rejected rows are dropped and listed in the report. `defaults` gives
    values for targets no column maps (e.g. {"currency": "CNY"}).
    """
    today = today or date.today()
    file = raw.file
    columns = _table_columns(table)
    allowed = set(mapping_targets(table))
    frame = raw.frame
    mapping = {c: t for c, t in mapping.items() if t}
    for col, target in mapping.items():
        if col not in frame.columns:
            raise IngestError(f"the mapping names column {col!r}, which is not in the file", file=file, column=col)
        if target not in allowed:
            raise IngestError(f"{target!r} is not a column of {table}; choose one of {sorted(allowed)}", file=file, column=col)
    by_target: dict[str, str] = {}
    for col, target in mapping.items():
        if target in by_target:
            raise IngestError(f"two columns are mapped to {target!r}: {by_target[target]!r} and {col!r}", file=file, column=col)
        by_target[target] = col
    defaults = dict(defaults or {})
    present_targets = set(by_target) | set(defaults)
    for group in _REQUIRED_GROUPS.get(table, []):
        if not any(t in present_targets for t in group):
            need = group[0].removesuffix("_cents")
            raise IngestError(
                f"no column is mapped to {need!r}, which {table} needs; headers are {list(frame.columns)}",
                file=file,
                column=need,
            )

    index = frame.index
    n = len(frame)
    issues: list[pd.DataFrame] = [raw.rejected]
    warns: list[pd.DataFrame] = []
    notes: list[str] = []
    reject = np.zeros(n, dtype=bool)
    values: dict[str, pd.Series] = {}

    def source(target: str) -> tuple[pd.Series, str]:
        if target in by_target:
            col = by_target[target]
            return frame[col], col
        return pd.Series([defaults[target]] * n, index=index, dtype=object).astype(str), target

    def fail(mask: np.ndarray, column: str, series: pd.Series, reason: Any) -> None:
        # one reason per row: the first problem found (later checks would only echo it)
        nonlocal reject
        mask = np.asarray(mask, dtype=bool) & ~reject
        if mask.any():
            issues.append(_issues_from_mask(file, index, mask, column, series, reason))
            reject |= mask

    def warn(mask: np.ndarray, column: str, series: pd.Series, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool) & ~reject
        if mask.any():
            warns.append(_issues_from_mask(file, index, mask, column, series, reason))

    missing_rows = []
    raw_text: dict[str, pd.Series] = {}
    for target in sorted(present_targets, key=lambda t: list(allowed).index(t) if t in allowed else 0):
        series, col = source(target)
        kind = _kind(table, target)
        clean = _clean_text(series)
        raw_text[target] = clean
        if target in by_target:
            missing_rows.append((file, col, int(clean.isna().sum())))
        if kind == "id":
            accounts = target in _ACCOUNT_TARGETS
            ids, sci = _clean_ids(clean, accounts=accounts, cleaned=True)
            if sci.any():
                reasons = pd.Series([_sci_reason(col, v, accounts) if b else "" for v, b in zip(ids.to_numpy(dtype=object), sci)], index=index)
                fail(sci, col, ids, reasons)
            values[target] = ids
        elif kind in ("money", "cents"):
            cents, bad, comma = parse_money(clean, cleaned=True)
            if kind == "cents":
                whole = cents.notna() & (cents % 100 == 0)
                bad = bad | (cents.notna() & ~whole).to_numpy()
                cents = (cents // 100).where(whole)
            if comma:
                notes.append(f"{file}: column {col!r} read with comma as the decimal separator")
            fail(bad, col, clean, f"not an amount: {'cents must be whole numbers' if kind == 'cents' else 'cannot read the number'}")
            values[target if kind == "cents" else _MONEY[table][target]] = cents
        elif kind == "date":
            iso, bad, note = parse_dates(clean, dayfirst=dayfirst, cleaned=True)
            if note:
                warns.append(_issues([(file, None, col, None, note)]))
            fail(bad, col, clean, "not a date")
            values[target] = iso
        elif kind == "time":
            times, bad = _parse_times(clean)
            values[target] = times
            values["_time_bad"] = pd.Series(bad, index=index)
            values["_time_src"] = clean
            values["_time_col"] = pd.Series([col] * n, index=index, dtype=object)
        elif kind == "int":
            nums = pd.to_numeric(clean.str.replace(",", "", regex=False), errors="coerce").astype("float64")
            # beyond 2**53 a float has lost digits, and 1e20 or inf would overflow Int64
            whole = nums.notna() & (nums.abs() < 2**53) & (nums == np.floor(nums.fillna(0)))
            fail((clean.notna() & ~whole).to_numpy(), col, clean, "not a whole number (or too large)")
            values[target] = nums.where(whole).astype("Int64")
        elif kind == "real":
            pct = clean.str.endswith("%").fillna(False)
            nums = pd.to_numeric(clean.str.rstrip("%").str.replace(",", "", regex=False), errors="coerce")
            nums = nums.where(~pct, nums / 100).astype("float64")
            nums = nums.where(np.isfinite(nums))  # 'inf' and 1e400 are not numbers anyone meant
            fail((clean.notna() & nums.isna()).to_numpy(), col, clean, "not a number")
            values[target] = nums.astype("Float64")
        elif kind == "status":
            mapped = _map_unique(clean, lambda v: _STATUS.get(unicodedata.normalize("NFKC", v).strip().lower()) if isinstance(v, str) else None)
            unknown = (clean.notna() & mapped.isna()).to_numpy()
            warn(unknown, col, clean, f"unknown loan status (expected one of {', '.join(LOAN_STATUSES)} or 正常/逾期/催收/结清/核销/转让/收回)")
            values[target] = mapped.astype(str)
        elif kind == "channel":
            values[target] = _map_unique(clean, lambda v: _channel(v) if isinstance(v, str) else None).astype(str)
            values["_channel_raw"] = clean
        elif kind == "currency":
            values[target] = _map_unique(clean, currency_code).astype(str)
        elif kind == "direction":
            mapped = _map_unique(clean, lambda v: _DIRECTION.get(unicodedata.normalize("NFKC", v).strip().lower()) if isinstance(v, str) else None)
            fail((clean.notna() & mapped.isna()).to_numpy(), col, clean, "unknown debit/credit flag (expected 借/贷, D/C, debit/credit, 支出/收入, -/+)")
            values[target] = mapped.astype(str)
        elif kind == "flag":
            def flag(v: Any) -> int | None:
                if not isinstance(v, str):
                    return None
                low = unicodedata.normalize("NFKC", v).strip().lower()
                return 1 if low in _FLAG_TRUE else 0 if low in _FLAG_FALSE else -1

            mapped = _map_unique(clean, flag)
            fail((mapped == -1).to_numpy(dtype=bool), col, clean, "not a yes/no flag")
            values[target] = mapped.where(mapped != -1).astype("Int64")
        else:
            values[target] = clean

    # separate time-of-day column: combine with a date-only ts
    if "ts_time" in values and "ts" in values:
        ts, tm, tbad = values["ts"], values["ts_time"], values.pop("_time_bad").to_numpy()
        tsrc, tcol = values.pop("_time_src"), str(values.pop("_time_col").iloc[0]) if n else ""
        midnight = ts.str.endswith("T00:00:00").fillna(False)
        fail(tbad & midnight.to_numpy() & ts.notna().to_numpy(), tcol, tsrc, "not a time of day")
        combined = ts.str.slice(0, 10) + "T" + tm
        values["ts"] = ts.where(~(midnight & tm.notna()), combined)
        values.pop("ts_time")

    def id_col(target: str) -> pd.Series | None:
        return values.get(target)

    out = pd.DataFrame(index=index)
    if table == "transactions":
        values["from_account"] = _compose(id_col("from_bank"), values["from_account"])
        values["to_account"] = _compose(id_col("to_bank"), values["to_account"])
    elif table == "loans":
        values["account_id"] = _compose(id_col("bank"), values["account_id"])
    elif table == "accounts":
        number = values["account_id"]
        if "account_number" not in values:
            values["account_number"] = number
        values["account_id"] = _compose(id_col("bank"), number)
    elif table == "statements":
        values["account"] = _compose(id_col("bank"), values["account"])
        if "counterparty_account" in values:
            values["counterparty_account"] = _compose(id_col("counterparty_bank"), values["counterparty_account"])
        values["file"] = pd.Series([file] * n, index=index, dtype=str)
        values["row"] = pd.Series(np.asarray(index, dtype=np.int64), index=index)

    # required values present
    for group in _REQUIRED_GROUPS.get(table, []):
        cols = [(_MONEY[table][t] if t in _MONEY.get(table, {}) else t) for t in group]
        have = [values[c] for c in cols if c in values]
        if not have:
            continue
        empty = np.logical_and.reduce([h.isna().to_numpy() for h in have])
        src_target = next((t for t in group if t in by_target), group[0])
        col = by_target.get(src_target, src_target)
        fail(empty, col, _null_text(n, index), f"missing {group[0].removesuffix('_cents')} (required)")

    # impossible values
    if table == "loans":
        p = values["principal_cents"]
        ptarget = "principal" if "principal" in raw_text else "principal_cents"
        pcol, ptext = by_target.get(ptarget, ptarget), raw_text.get(ptarget, p)
        fail((p < 0).fillna(False).to_numpy(dtype=bool), pcol, ptext, "negative principal")
        warn((p == 0).fillna(False).to_numpy(dtype=bool), pcol, ptext, "zero principal")
        if "dpd" in values:
            warn((values["dpd"] < 0).fillna(False).to_numpy(dtype=bool), by_target["dpd"], values["dpd"], "negative days past due")
        if "status" not in values and "dpd" in values:
            values["status"] = pd.Series(np.where(values["dpd"].fillna(0) > 0, "overdue", "current"), index=index, dtype=str)
            notes.append(f"{file}: no status column; status derived from days past due (>0 = overdue)")
    if table == "transactions":
        a = values["amount_cents"]
        atarget = "amount" if "amount" in raw_text else "amount_cents"
        fail((a <= 0).fillna(False).to_numpy(dtype=bool), by_target.get(atarget, atarget), raw_text.get(atarget, a), "zero or negative transfer amount")
        same = (values["from_account"] == values["to_account"]).fillna(False).to_numpy(dtype=bool)
        warn(same, by_target.get("to_account", "to_account"), values["to_account"], "transfer to self")
        if "received_cents" in values:
            rc = values["received_cents"]
            cur = values.get("currency")
            rcur = values.get("received_currency")
            same_money = (rc == a).fillna(False)
            if cur is not None and rcur is not None:
                same_money &= (cur == rcur).fillna(False) | rcur.isna()
            values["received_cents"] = rc.where(~same_money)
            if rcur is not None:
                values["received_currency"] = rcur.where(~same_money)
    for target in _DATE_TARGETS & set(values):
        if target in ("maturity", "due_date"):
            continue  # future maturities and due dates are normal
        warn(_future(values[target], today), by_target.get(target, target), values[target], f"date in the future (after {today.isoformat()})")

    # assemble
    for col in columns:
        if col in values:
            out[col] = values[col]
        elif col == "seq":
            out[col] = pd.array(np.arange(n, dtype=np.int64), dtype="Int64")
        elif TABLES.get(table, {}).get(col) == "INTEGER" or col.endswith("_cents") or col == "is_reversal":
            out[col] = _null_int(n, index)
        elif TABLES.get(table, {}).get(col) == "REAL":
            out[col] = _null_int(n, index).astype("Float64")
        else:
            out[col] = _null_text(n, index)
    generated = np.zeros(n, dtype=bool)
    if "txn_id" in out.columns and table != "statements":  # statement_to_edges names the edges it makes
        missing_id = out["txn_id"].isna().to_numpy()
        if missing_id.any():
            out.loc[missing_id, "txn_id"] = [f"{file}#{r}" for r in np.asarray(index)[missing_id]]
        generated = missing_id
    if reject.any():
        out = out.loc[~reject]
        generated = generated[~reject]

    # exact duplicates (generated ids and file order are not part of the content)
    if "txn_id" in out.columns:
        generated = generated | out["txn_id"].isna().to_numpy()
    key = [c for c in out.columns if c not in ("seq", "row", "file")]
    # probe columns: few, selective, and equal in any two identical rows
    if "txn_id" in key and not generated.any() and _strictly_increasing(out["txn_id"]):
        dup = np.zeros(len(out), dtype=bool)  # ids in ascending order are all different: no duplicates
    elif "txn_id" in key and not generated.any():
        dup = _duplicate_mask(out, key, ["txn_id"])
    else:
        probe = [c for c in ("loan_id", "customer_id", "account_id", "src_id", "ts", "amount_cents") if c in key][:2]
        keyed = out.assign(txn_id=out["txn_id"].where(~generated)) if "txn_id" in key else out
        dup = _duplicate_mask(keyed, key, probe)
    duplicates = int(dup.sum())
    if duplicates:
        out = out.loc[~dup]
        generated = generated[~dup]
    # the same txn_id on different content: keep the first, reject the others
    if "txn_id" in out.columns and len(out) and not _strictly_increasing(out["txn_id"]):
        again = (out["txn_id"].duplicated(keep="first") & out["txn_id"].notna()).to_numpy() & ~generated
        if again.any():
            pos = pd.Series(np.asarray(out.index), index=out.index)
            first_row = pos.groupby(out["txn_id"].to_numpy(), sort=False).transform("first").to_numpy()
            reasons = pd.Series([f"txn_id already used by row {r} with different values" for r in first_row], index=out.index)
            issues.append(_issues_from_mask(file, out.index, again, by_target.get("txn_id", "txn_id"), out["txn_id"], reasons))
            out = out.loc[~again]

    if table != "statements" and "seq" in out.columns:
        out["seq"] = pd.array(np.arange(len(out), dtype=np.int64), dtype="Int64") if "seq" not in by_target else out["seq"]
    report = QualityReport(
        rows_read=raw.rows_read,
        rows_loaded=len(out),
        rejected=_concat_issues(issues).sort_values("row", kind="stable", ignore_index=True),
        duplicates_removed=duplicates,
        missing=pd.DataFrame(missing_rows, columns=MISSING_COLUMNS),
        warnings=_concat_issues(warns),
        encoding={file: raw.encoding},
        delimiter={file: raw.delimiter},
        notes=notes,
    )
    return out, report


# --------------------------------------------------------------------------------------------- statements
_CASH_PATTERN = "现金|取现|存现|atm|vyber|vklad|cash"


def statement_to_edges(
    frame: pd.DataFrame, *, file: str, columns: dict[str, dict[str, str]] | None = None
) -> tuple[pd.DataFrame, QualityReport]:
    """(transactions edges, report) from statement postings; a transfer present on both statements becomes one edge.

    `columns` ({file: {target: file column}}) lets rejected postings name the user's own column headers.

    Debit on A with counterparty B -> A->B (A's balance becomes balance_after_cents); credit -> B->A. No
    counterparty -> '~cash' when channel/memo says cash, else '~unknown'. A debit A->B and a credit on B from A
    with the same amount and currency within one day are the same transfer: the debit side is kept.
    """
    f = frame.reset_index(drop=True)
    n = len(f)

    def col(name: str, dtype: str = "object") -> pd.Series:
        if name in f.columns:
            return f[name]
        return _null_int(n) if dtype == "Int64" else _null_text(n)

    files = col("file").fillna(file).astype(object) if "file" in f.columns else pd.Series([file] * n, dtype=object)
    rows = col("row", "Int64")
    direction = col("direction").astype(object).where(col("direction").notna(), None)
    amount = col("amount_cents", "Int64").astype("Int64")
    debit = col("debit_cents", "Int64").astype("Int64").abs()
    credit = col("credit_cents", "Int64").astype("Int64").abs()

    side = pd.Series([None] * n, dtype=object)
    value = _null_int(n)
    flagged = direction.notna() & amount.notna()
    side[flagged] = direction[flagged]
    value[flagged] = amount[flagged].abs()
    d_ok = ~flagged & debit.fillna(0).gt(0)
    c_ok = ~flagged & credit.fillna(0).gt(0)
    both = (d_ok & c_ok).to_numpy(dtype=bool)
    side[d_ok & ~c_ok] = "D"
    value[d_ok & ~c_ok] = debit[d_ok & ~c_ok]
    side[c_ok & ~d_ok] = "C"
    value[c_ok & ~d_ok] = credit[c_ok & ~d_ok]
    signed = side.isna() & ~pd.Series(both) & amount.notna() & amount.fillna(0).ne(0)
    side[signed & (amount < 0).fillna(False)] = "D"
    side[signed & (amount > 0).fillna(False)] = "C"
    value[signed] = amount[signed].abs()

    index = pd.Index(rows.fillna(-1).astype(np.int64).to_numpy())
    issues: list[pd.DataFrame] = []
    bad_both = both
    no_amount = (side.isna() | value.isna()).to_numpy(dtype=bool) & ~bad_both
    zero = (value == 0).fillna(False).to_numpy(dtype=bool) & ~no_amount & ~bad_both
    def shown(mask: np.ndarray) -> pd.Series:
        # the amounts as the user wrote them (in units), only for the rejected postings
        out = np.full(n, None, dtype=object)
        for i in np.flatnonzero(mask):
            parts = [value.iat[i]] if not _isna(value.iat[i]) else [debit.iat[i], credit.iat[i]]
            if not all(_isna(x) for x in parts):
                out[i] = " / ".join("" if _isna(x) else f"{x / 100:.2f}" for x in parts)
        return pd.Series(out, dtype=object)

    for mask, reason, roles in (
        (bad_both, "both a debit and a credit amount on one posting", ("debit", "credit")),
        (no_amount, "no amount, or no debit/credit direction for it", ("amount", "direction", "debit", "credit")),
        (zero, "zero amount", ("amount", "debit", "credit")),
    ):
        if mask.any():
            for fname in pd.unique(files[mask]):
                m = mask & (files == fname).to_numpy()
                names = (columns or {}).get(str(fname), {})
                column = " / ".join(names[r] for r in roles if r in names) or "amount"
                issues.append(_issues_from_mask(str(fname), index, m, column, shown(m), reason))
    keep = ~(bad_both | no_amount | zero)

    def text(name: str) -> pa.Array | pa.ChunkedArray:
        series = col(name)
        return _arrow(series if series.dtype == "str" else series.astype(object).where(series.notna(), None).astype(str))

    own, cp = text("account"), text("counterparty_account")
    hints = pc.binary_join_element_wise(text("channel"), text("memo"), _ls(" "), null_handling="replace", null_replacement="")
    cash = pc.fill_null(pc.match_substring_regex(hints, _CASH_PATTERN, ignore_case=True), False)
    cp_filled = pc.if_else(pc.is_valid(cp), cp, pc.if_else(cash, _ls(CASH_ACCOUNT), _ls(UNKNOWN_ACCOUNT)))
    is_debit = (side == "D").to_numpy(dtype=bool)
    debit_mask = pa.array(is_debit)
    from_acc = pc.if_else(debit_mask, own, cp_filled)
    to_acc = pc.if_else(debit_mask, cp_filled, own)
    gen = pc.binary_join_element_wise(
        _arrow(files.astype(str)), pc.cast(pa.array(rows.fillna(-1).astype(np.int64).to_numpy()), pa.large_string()), _ls("#")
    )
    txn = pc.if_else(pc.is_valid(text("txn_id")), text("txn_id"), gen)
    balance = col("balance_cents", "Int64").astype("Int64")
    plain = pd.RangeIndex(n)

    edges = pd.DataFrame(
        {
            "txn_id": _series(txn, plain),
            "seq": pd.array(np.arange(n), dtype="Int64"),
            "ts": _series(text("ts"), plain),
            "from_account": _series(from_acc, plain),
            "to_account": _series(to_acc, plain),
            "amount_cents": value.astype("Int64"),
            "currency": _series(text("currency"), plain),
            "received_cents": _null_int(n),
            "received_currency": _null_text(n),
            "channel": _series(text("channel"), plain),
            "counterparty_name": _series(text("counterparty_name"), plain),
            "counterparty_country": _series(text("counterparty_country"), plain),
            "merchant_category": _series(text("merchant_category"), plain),
            "memo": _series(text("memo"), plain),
            "balance_after_cents": balance.where(pd.Series(is_debit)).astype("Int64"),
            "is_reversal": col("is_reversal", "Int64").astype("Int64"),
            "reverses_txn_id": _null_text(n),
        }
    )
    edges = edges.loc[keep]
    side_kept = side[keep]

    # both sides of one transfer: credit rows matched one-to-one with debit rows
    real = ~edges["from_account"].str.startswith("~").fillna(True) & ~edges["to_account"].str.startswith("~").fillna(True)
    deb = edges[(side_kept == "D") & real]
    cre = edges[(side_kept == "C") & real]
    merged_away: list[int] = []
    if len(deb) and len(cre):
        keys = ["from_account", "to_account", "amount_cents", "currency"]
        left = deb[keys + ["ts"]].assign(_d=deb.index).astype({"currency": object}).fillna({"currency": ""})
        right = cre[keys + ["ts"]].assign(_c=cre.index).astype({"currency": object}).fillna({"currency": ""})
        pairs = left.merge(right, on=keys, suffixes=("_d", "_c"))
        if len(pairs):
            gap = (pd.to_datetime(pairs["ts_d"], errors="coerce") - pd.to_datetime(pairs["ts_c"], errors="coerce")).abs()
            pairs = pairs.assign(_gap=gap)[gap <= pd.Timedelta(days=1)].sort_values(["_gap", "_d", "_c"], kind="stable")
            used_d: set[int] = set()
            used_c: set[int] = set()
            for d_i, c_i in zip(pairs["_d"].to_numpy(), pairs["_c"].to_numpy()):
                if d_i in used_d or c_i in used_c:
                    continue
                used_d.add(d_i)
                used_c.add(c_i)
                merged_away.append(c_i)
    if merged_away:
        edges = edges.drop(index=merged_away)
    edges["seq"] = pd.array(np.arange(len(edges)), dtype="Int64")
    edges = edges.reset_index(drop=True)
    notes = []
    if merged_away:
        notes.append(f"{len(merged_away)} transfers appeared on both statements (debit and credit) and were kept once")
    report = QualityReport(
        rows_read=n,
        rows_loaded=len(edges),
        rejected=_concat_issues(issues),
        pairs_merged=len(merged_away),
        notes=notes,
    )
    return edges, report


def _reconcile_account_keys(frames: dict[str, pd.DataFrame], notes: list[str]) -> None:
    """Make accounts' and loans' keys match the transactions' when one file named a bank and the others did not.

    An account's key is bank + number where the data has a bank column; but an accounts file often carries
    the bank's name while the transaction extract of the same bank does not. Keys built from the bank then
    match nothing, and every classification by owner (related party, other borrower) silently fails. So when
    the plain numbers match the transactions better than the composed keys, the plain numbers are used.
    """
    txns = frames.get("transactions")
    if txns is None or not len(txns):
        return

    def matches(ids: pd.Series, extra: pd.Series | None = None) -> int:
        # vectorised membership: a Python set of a million arrow strings costs seconds
        hit = ids.isin(txns["from_account"]) | ids.isin(txns["to_account"])
        if extra is not None:
            hit |= ids.isin(extra)
        return int(hit.sum())

    accounts = frames.get("accounts")
    if accounts is not None and len(accounts) and "account_number" in accounts:
        composed, plain = accounts["account_id"], accounts["account_number"]
        differs = (composed != plain).fillna(False)
        if differs.any() and matches(plain[differs]) > matches(composed[differs]):
            accounts["account_id"] = plain.where(differs, composed)
            notes.append(f"accounts: {int(differs.sum()):,} account ids were kept without their bank, because "
                         "the transactions name accounts by number only")
    loans = frames.get("loans")
    if loans is not None and len(loans):
        known = accounts["account_id"] if accounts is not None and len(accounts) else None
        ids = loans["account_id"]
        plain = ids.str.split(":", n=1).str[-1]
        differs = (ids != plain).fillna(False)
        if differs.any() and matches(plain[differs], known) > matches(ids[differs], known):
            loans["account_id"] = plain.where(differs, ids)
            notes.append(f"loans: {int(differs.sum()):,} borrower account ids were kept without their bank, because "
                         "the transactions name accounts by number only")


# --------------------------------------------------------------------------------------------- load_files
@dataclass(frozen=True)
class FilePlan:
    """How one file was (or will be) read: table, mapping and text format."""

    table: str
    mapping: dict[str, str]
    encoding: str
    delimiter: str | None
    sheet: str | None = None
    encoding_candidates: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()


@dataclass(eq=False)
class LoadResult:
    """Canonical frames per table, the combined quality report, and the per-file plan used."""

    frames: dict[str, pd.DataFrame]
    report: QualityReport
    plan: dict[str, FilePlan]


def plan_file(raw: RawTable, *, table: str | None = None, mapping: dict[str, str] | None = None) -> FilePlan:
    """The FilePlan for a RawTable: the given table/mapping, or guessed from its headers; IngestError if none fits."""
    columns = list(raw.frame.columns)
    if table is None:
        table = guess_table(columns)
        if table is None:
            raise IngestError(
                "cannot tell which table this file holds: its headers "
                f"{columns} match none of the known column names; map the columns by hand",
                file=raw.file,
            )
    if mapping is None:
        mapping = suggest_mapping(columns, table)
    return FilePlan(
        table=table,
        mapping=dict(mapping),
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        sheet=raw.sheet,
        encoding_candidates=tuple(raw.encoding_candidates),
        columns=tuple(columns),
    )


def load_files(
    files: list[tuple[str, bytes]],
    *,
    mappings: dict[str, tuple[str, dict[str, str]]] | None = None,
    encodings: dict[str, str] | None = None,
    today: date | None = None,
    defaults: dict[str, dict[str, Any]] | None = None,
    sheets: dict[str, str] | None = None,
) -> LoadResult:
    """Every file read, mapped (given or guessed), normalised and merged per table; statements become edges.

    Raises IngestError for a file that cannot be used at all; row-level problems are in the report.
    """
    mappings, encodings, defaults, sheets = mappings or {}, encodings or {}, defaults or {}, sheets or {}
    if not files:
        raise IngestError("no files were given")
    unique: dict[str, bytes] = {}
    repeated: list[str] = []
    for name, data in files:
        if name in unique:
            if unique[name] != data:
                raise IngestError("two different files have the same name; rename one", file=name)
            repeated.append(name)  # the same file given twice: read it once
            continue
        unique[name] = data
    files = list(unique.items())
    plan: dict[str, FilePlan] = {}
    parts: dict[str, list[pd.DataFrame]] = {}
    reports: list[QualityReport] = []
    for name, data in files:
        try:
            raw = read_table(data, file=name, encoding=encodings.get(name), sheet=sheets.get(name))
            table, mapping = mappings.get(name, (None, None))
            fp = plan_file(raw, table=table, mapping=mapping)
            frame, rep = normalise(raw, table=fp.table, mapping=fp.mapping, today=today, defaults=defaults.get(name))
        except IngestError:
            raise
        except Exception as exc:  # noqa: BLE001 - input we did not foresee must still name its file, not crash
            raise IngestError(f"cannot read this file ({type(exc).__name__}: {exc})", file=name) from exc
        plan[name] = fp
        reports.append(rep)
        parts.setdefault(fp.table, []).append(frame.assign(_file=name, _row=np.asarray(frame.index, dtype=np.int64)))

    statements = parts.pop("statements", None)
    if statements:
        st = pd.concat(statements, ignore_index=True).drop(columns=["_file", "_row"])
        if len(statements) > 1:
            # the same statement uploaded twice (or overlapping extracts): drop repeated postings first
            dup = _duplicate_mask(st, [c for c in STATEMENT_COLUMNS if c not in ("file", "row")], ["ts", "account", "amount_cents", "debit_cents"])
            duplicates_st = int(dup.sum())
            st = st.loc[~dup].reset_index(drop=True)
        else:
            duplicates_st = 0
        columns = {name: {t: c for c, t in fp.mapping.items()} for name, fp in plan.items() if fp.table == "statements"}
        edges, rep = statement_to_edges(st, file=str(st["file"].iloc[0]) if len(st) else "", columns=columns)
        rep.rows_read = 0  # already counted by the statements' own reports
        rep.duplicates_removed += duplicates_st
        reports.append(rep)
        # edge ids were made by statement_to_edges: treat them as the file's own ids when merging
        parts.setdefault("transactions", []).append(edges.assign(_file="", _row=-1))

    frames: dict[str, pd.DataFrame] = {}
    duplicates = 0
    extra_rejects: list[pd.DataFrame] = []
    for table, pieces in parts.items():
        merged = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0].reset_index(drop=True)
        if len(pieces) > 1:
            content = [c for c in TABLES[table] if c != "seq"]
            keyed = merged
            if "txn_id" in content:
                generated = merged["txn_id"] == (merged["_file"].astype(str) + "#" + merged["_row"].astype(str))
                keyed = merged.assign(txn_id=merged["txn_id"].where(~generated))
            dup = _duplicate_mask(keyed, content, [c for c in ("ts", "amount_cents", "loan_id", "customer_id", "account_id", "src_id") if c in content][:2])
            duplicates += int(dup.sum())
            merged = merged.loc[~dup].reset_index(drop=True)
            if "txn_id" in content:
                again = merged["txn_id"].duplicated(keep="first").to_numpy()
                if again.any():
                    extra_rejects.append(
                        pd.DataFrame(
                            {
                                "file": merged.loc[again, "_file"].astype(object).to_numpy(),
                                "row": pd.array(merged.loc[again, "_row"].to_numpy(), dtype="Int64"),
                                "column": "txn_id",
                                "value": merged.loc[again, "txn_id"].astype(object).to_numpy(),
                                "reason": "txn_id already loaded from another file with different values",
                            }
                        )
                    )
                    merged = merged.loc[~again].reset_index(drop=True)
        if "seq" in merged.columns:
            merged["seq"] = pd.array(np.arange(len(merged)), dtype="Int64")
        frames[table] = merged.drop(columns=["_file", "_row"])
    _reconcile_account_keys(frames, notes := [])
    report = combine_reports(*reports)
    report.notes.extend(notes)
    report.notes.extend(f"{name} was given more than once and was read once" for name in dict.fromkeys(repeated))
    report.duplicates_removed += duplicates
    if extra_rejects:
        report.rejected = _concat_issues([report.rejected, *extra_rejects])
    report.rows_loaded = sum(len(f) for f in frames.values())
    return LoadResult(frames=frames, report=report, plan=plan)
