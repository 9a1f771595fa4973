"""Money-conserving fund tracing of loans (issue 2 §5, DESIGN.md §5.1).

``SEMANTICS`` below is the contract; the Fund Flow page shows it as help. In short: each loan is
traced on its own, its principal is "tagged" money, every other cent is the accounts' own money,
outflows draw on an account's money by a rule, and at the end of the window every tagged cent is in
exactly one destination class; the classes add up to the principal to the cent.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import TraceError
from analysis.ingest import CASH_ACCOUNT, UNKNOWN_ACCOUNT
from analysis.schema import DESTINATION_CLASSES, OVERDUE_STATUSES
from analysis.thresholds import DEFAULT_RESTRICTED_CATEGORIES

RULES: tuple[str, ...] = ("fifo", "lifo", "pro-rata", "worst-case")

SEMANTICS = """\
How a loan's money is traced (every figure can be re-derived by hand from these rules):

1. Money is integer cents. The loan is booked as a credit of its principal into the borrower's
   account at `disbursed_at` (from the lender); that credit is the tagged money, at hop 0. A
   'disbursement' transaction of the same amount into that account within 1 day of `disbursed_at`
   is that same booking and is not booked twice. Every loan in the data is booked, traced or not.
2. Transactions are processed in time order from `disbursed_at` to `disbursed_at + window_days`.
   At an equal timestamp an account's inflows are booked before its outflows (the same-time group
   is ordered so a transfer into X precedes a transfer out of X; where that is impossible - a cycle
   inside one timestamp - and otherwise, file order is kept). Transfers from an account to itself
   are ignored. A reversal (冲正, is_reversal = 1) and the booking it cancels (reverses_txn_id, or
   else the latest earlier transfer between the same two accounts of the same amount) are removed
   before tracing.
3. Each account's balance is known from the data: an account that sends more than it was seen
   receiving has an implied opening balance (the smallest that keeps its ledger non-negative over
   the whole file, loan bookings included), or the one its statement balance implies where one is
   given (balance_after_cents on an outflow). The opening balance is the account's oldest own money.
   Where a later statement balance is higher than the ledger's, the difference is own money that
   arrived unseen (newest money at that moment); where an outflow would take the ledger below
   zero, the missing own money is likewise added just before it. A statement balance lower than
   the ledger's is not used to remove money (the data does not say which money left unseen).
4. An outflow draws on the sender's money by the rule: `fifo` oldest money first (the opening
   balance is oldest); `lifo` newest first; `pro-rata` the tagged share of the balance at that
   moment (out x tagged / balance, rounded to whole cents by largest remainder, ties to the
   account's own money, so no cent is created or lost); `worst-case` tagged money first. Within
   one credit the tagged part counts as older than the untagged part. The tagged part arrives at
   the receiver one hop further on (hop 1 = the first transfer out of the borrower; transfers
   between the borrower's own accounts - the loan's account and any account of the same
   customer - do not count as leaving and keep hop 0 until the money has left once).
   Money never leaves before it arrived; each transaction is processed once, in time order, so
   cycles terminate and nothing counts twice.
5. The tag stops - the cents still move as the ledger says, only untagged - when: the transfer is
   in another currency than the loan and no rate is given (`unconverted`; with a rates table -
   currency, rate to base, optional date: the latest rate on or before the day, else the earliest -
   the ledger works in base-currency cents and the tag is converted instead); the tagged part of
   one transfer is below `min_amount` (`dropped`); the part arrives at hop `max_hops` (it stays
   where it is and is classified by that account); the part arrives at the placeholder counterparty
   `~cash` or `~unknown` (one name for many unseen parties: what such a placeholder pays out later is
   other people's money, so the part stays there and is classified there). No flow edge is written
   for an unconverted or dropped part; a part stopped at hop `max_hops` or at a placeholder has its edge.
6. At the end of the window every tagged cent is in one class, the first that matches for the
   account X holding it and the transfer T that brought it there: `not_moved` (X is the
   borrower's and the money never left), `back_to_borrower` (X is the borrower's, the money left
   and came back), `other_loan_repayment` (T is a repayment or X is a loan account - 以贷还贷),
   `cash_out` (T is cash or X is the cash counterparty), `cross_border` (T is cross-border, or
   T's counterparty country or X's country differs from the home country), `restricted_sector`
   (T's merchant category or X's owner's industry is a restricted category), `other_borrower`
   (X belongs to another loan or its owner is another loan's customer), `related_party` (X or its
   owner is linked by a relation to the borrower or the borrower's accounts), `left_dataset`
   (X sends nothing in the data, or is unknown), `remaining` (any other account), plus `dropped`
   and `unconverted` of rule 5. The classes sum to the principal to the cent, for every loan.
7. Besides the end position, `ever_back_to_borrower` is the tagged cents that entered a
   borrower account from a non-borrower account at any time in the window (money that returned
   and left again is still 资金回流), capped at the principal.
"""

_SUMMARY_HEAD = ("loan_id", "account_id", "customer_id", "currency", "status", "principal_cents")
SUMMARY_COLUMNS: tuple[str, ...] = (
    *_SUMMARY_HEAD, *DESTINATION_CLASSES, "ever_back_to_borrower", "max_hop_reached", "n_edges",
)
EDGE_COLUMNS: tuple[str, ...] = (
    "loan_id", "hop", "txn_id", "from_account", "to_account", "ts", "amount_cents", "channel",
)
_REQUIRED_LOANS = ("loan_id", "account_id", "principal_cents", "disbursed_at")
_REQUIRED_TXNS = ("ts", "from_account", "to_account", "amount_cents")
_DAY = 86_400
# one amount's bound: far above any real amount (ingest caps at 1e17), and sums of a few still fit int64
_MAX_CENTS = 2**62
# placeholders ingest writes for a missing counterparty; each pools many real parties
_POOLED = frozenset({CASH_ACCOUNT, UNKNOWN_ACCOUNT})

# channel codes used by classification
_CH_OTHER, _CH_REPAY, _CH_CASH, _CH_XB = 0, 1, 2, 3


@dataclass(frozen=True)
class TraceResult:
    """Per-loan summary, flow edges, and the loans that could not be traced."""

    summary: pd.DataFrame  # one row per traced loan, SUMMARY_COLUMNS
    edges: pd.DataFrame  # one row per (loan, hop, txn) piece of traced money, EDGE_COLUMNS
    skipped: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"loan_id": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object)})
    )


# ----------------------------------------------------------------------------------------------
# input helpers


def _col(df: pd.DataFrame | None, name: str) -> pd.Series | None:
    """The column if present and not all-null, else None."""
    if df is None or name not in df.columns:
        return None
    s = df[name]
    if s.isna().all():
        return None
    return s


def _text(s: pd.Series | None, n: int, case: str | None = None) -> pd.Series:
    """Normalised text column (string dtype, trimmed, blank -> NA, optional case), NA-filled when absent."""
    if s is None:
        return pd.Series(np.full(n, np.nan, dtype=object), dtype="str")
    if s.dtype.kind == "f":  # ids read as numbers: 12.0 -> "12"
        v = s.dropna()
        if (v == np.floor(v)).all():
            s = s.astype("Int64")
    # pandas' default "str" dtype: no conversion when the column already has it
    t = s.astype("str").str.strip()
    if case == "lower":
        t = t.str.lower()
    elif case == "upper":
        t = t.str.upper()
    return t.mask(t == "").reset_index(drop=True)


def _obj(s: pd.Series) -> np.ndarray:
    """A text column as an object array with None for missing."""
    return s.astype(object).where(s.notna(), None).to_numpy()


def _lower_text(s: pd.Series | None, n: int) -> np.ndarray:
    return _obj(_text(s, n, "lower"))


def _upper_text(s: pd.Series | None, n: int) -> np.ndarray:
    return _obj(_text(s, n, "upper"))


def _seconds(s: pd.Series) -> np.ndarray:
    """ISO text times -> int64 seconds since epoch; unparseable -> INT64 min sentinel via mask."""
    t = pd.to_datetime(s if s.dtype.kind == "M" else s.astype("str"), errors="coerce", format="ISO8601")
    vals = t.to_numpy(dtype="datetime64[s]", na_value=np.datetime64("NaT")).astype("datetime64[s]")
    return vals


def _int_cents(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values, valid mask) of a money column; a value beyond +-2**62 cents (or not finite) is not valid."""
    v = pd.to_numeric(s, errors="coerce")
    if v.dtype == object:  # Python ints past int64
        v = pd.to_numeric(v.map(lambda x: x if isinstance(x, int) and abs(x) < _MAX_CENTS else np.nan), errors="coerce")
    ok = v.notna().to_numpy()
    if v.dtype.kind in "fiu":
        ok = ok & (np.abs(v.to_numpy(dtype="float64", na_value=0.0)) < _MAX_CENTS)
    arr = np.zeros(len(v), dtype=np.int64)
    arr[ok] = np.rint(v.to_numpy(dtype="float64", na_value=0.0)[ok]).astype(np.int64) if v.dtype.kind == "f" else v.to_numpy(dtype="int64", na_value=0)[ok]
    return arr, ok


def _truthy(s: pd.Series | None, n: int) -> np.ndarray:
    if s is None:
        return np.zeros(n, dtype=bool)
    num = pd.to_numeric(s, errors="coerce")
    txt = s.astype("str").str.strip().str.lower()
    return ((num == 1) | txt.isin(["true", "yes", "y", "t"])).fillna(False).to_numpy(dtype=bool)


# ----------------------------------------------------------------------------------------------
# rates


class _Rates:
    """Rate lookup: currency -> sorted (day, rate) arrays."""

    def __init__(self, rates: pd.DataFrame):
        if "currency" not in rates.columns or "rate" not in rates.columns:
            raise TraceError("the rates table needs the columns currency and rate")
        cur = _upper_text(rates["currency"], len(rates))
        rate = pd.to_numeric(rates["rate"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        dates = _col(rates, "date")
        if dates is not None:
            d = _seconds(dates).astype("int64")
            dnull = pd.isna(_seconds(dates))
        else:
            d = np.zeros(len(rates), dtype=np.int64)
            dnull = np.ones(len(rates), dtype=bool)
        self.table: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        frame = pd.DataFrame({"c": cur, "d": np.where(dnull, np.iinfo(np.int64).min, d), "r": rate})
        frame = frame[frame.c.notna() & np.isfinite(frame.r) & (frame.r > 0)]
        for c, g in frame.groupby("c", sort=False):
            g = g.sort_values("d", kind="stable")
            self.table[str(c)] = (g.d.to_numpy(), g.r.to_numpy())

    def has(self, cur: str | None) -> bool:
        return cur is not None and cur in self.table

    def lookup(self, cur: np.ndarray, when: np.ndarray) -> np.ndarray:
        """Rate per element (nan where the currency has none)."""
        out = np.full(len(cur), np.nan)
        s = pd.Series(cur)
        for c, (d, r) in self.table.items():
            idx = np.flatnonzero((s == c).to_numpy(dtype=bool, na_value=False))
            if len(idx) == 0:
                continue
            j = np.searchsorted(d, when[idx], side="right") - 1
            out[idx] = r[np.clip(j, 0, len(r) - 1)]
        return out


# ----------------------------------------------------------------------------------------------
# ordering


def _fix_same_time_groups(order: np.ndarray, ts: np.ndarray, frm: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Reorder equal-timestamp groups so a transfer into X precedes a transfer out of X."""
    n = len(order)
    if n < 2:
        return order
    ts_s, f_s, t_s = ts[order], frm[order], to[order]
    same = ts_s[1:] == ts_s[:-1]
    if not same.any():
        return order
    grp = np.concatenate([[0], np.cumsum(~same)])
    sizes = np.bincount(grp)
    idx = np.flatnonzero(sizes[grp] > 1)
    g = grp[idx]
    outs = pd.DataFrame({"g": g, "a": f_s[idx], "p": idx})
    outs = outs[outs.a >= 0]
    ins = pd.DataFrame({"g": g, "a": t_s[idx], "p": idx})
    mo = outs.groupby(["g", "a"]).p.min().rename("mo")
    mi = ins.groupby(["g", "a"]).p.max().rename("mi")
    both = pd.concat([mo, mi], axis=1, join="inner")
    bad = np.unique(both.index.get_level_values(0).to_numpy()[both.mi.to_numpy() > both.mo.to_numpy()])
    if len(bad) == 0:
        return order
    order = order.copy()
    starts = np.searchsorted(grp, bad, side="left")
    ends = np.searchsorted(grp, bad, side="right")
    for s, e in zip(starts.tolist(), ends.tolist()):
        fl = f_s[s:e].tolist()
        tl = t_s[s:e].tolist()
        m = e - s
        pending: dict[int, int] = defaultdict(int)
        by_from: dict[int, list[int]] = defaultdict(list)
        for i in range(m):
            pending[tl[i]] += 1
            by_from[fl[i]].append(i)
        ready = [i for i in range(m) if fl[i] < 0 or pending.get(fl[i], 0) == 0]
        heapq.heapify(ready)
        done = [False] * m
        result: list[int] = []
        ptr = 0
        while len(result) < m:
            if ready:
                i = heapq.heappop(ready)
                if done[i]:
                    continue
            else:  # a cycle inside one timestamp: break it in file order
                while done[ptr]:
                    ptr += 1
                i = ptr
            done[i] = True
            result.append(i)
            b = tl[i]
            pending[b] -= 1
            if pending[b] == 0:
                for j in by_from.get(b, ()):
                    if not done[j]:
                        heapq.heappush(ready, j)
        order[s:e] = order[s:e][np.asarray(result, dtype=np.int64)]
    return order


# ----------------------------------------------------------------------------------------------
# the prepared ledger


@dataclass
class _Ledger:
    n_acct: int
    acct_ids: np.ndarray  # code -> id
    # per event (global position)
    send: list
    recv: list
    r_idx: list
    debit: list
    credit: list
    ev_row: np.ndarray  # txn row in the cleaned frame, -1 for bookings
    ev_ts: np.ndarray  # int64 seconds
    ev_cur: np.ndarray  # currency code per event (-1 null)
    ev_rcur: np.ndarray
    ev_convertible: np.ndarray  # bool, both currencies have a rate
    # per account-event (CSR order)
    csr_pos: list
    acct_end: list
    co_after: list | None
    ci_before: list | None
    bal_before: list | None
    bal_after: list | None
    bal_after_np: np.ndarray | None
    next_debit: list | None
    senders: np.ndarray  # bool per account: sends something


def _build_ledger(
    *, ts: np.ndarray, seqkey: np.ndarray, frm: np.ndarray, to: np.ndarray, debit: np.ndarray, credit: np.ndarray,
    stmt: np.ndarray, stmt_ok: np.ndarray, row: np.ndarray, cur: np.ndarray, rcur: np.ndarray, conv: np.ndarray,
    n_acct: int, acct_ids: np.ndarray, rule: str,
) -> tuple[_Ledger, np.ndarray]:
    """Global order, per-account CSR event arrays and running balances; also returns the event position of each input event."""
    order = np.lexsort((seqkey, ts))
    order = _fix_same_time_groups(order, ts, frm, to)
    n = len(order)
    pos_of = np.empty(n, dtype=np.int64)
    pos_of[order] = np.arange(n)
    frm_o, to_o, deb_o, cre_o = frm[order], to[order], debit[order], credit[order]
    stmt_o, stmt_ok_o = stmt[order], stmt_ok[order]

    has_s = frm_o >= 0
    spos = np.flatnonzero(has_s)
    ae_acct = np.concatenate([frm_o[spos], to_o])
    ae_pos = np.concatenate([spos, np.arange(n)])
    ae_deb = np.concatenate([deb_o[spos], np.zeros(n, dtype=np.int64)])
    ae_cre = np.concatenate([np.zeros(len(spos), dtype=np.int64), cre_o])
    ae_stmt = np.concatenate([stmt_o[spos], np.zeros(n, dtype=np.int64)])
    ae_stmt_ok = np.concatenate([stmt_ok_o[spos], np.zeros(n, dtype=bool)])
    ae_is_send = np.concatenate([np.ones(len(spos), dtype=bool), np.zeros(n, dtype=bool)])
    o = np.lexsort((ae_pos, ae_acct))
    ae_acct, ae_pos, ae_deb, ae_cre = ae_acct[o], ae_pos[o], ae_deb[o], ae_cre[o]
    ae_stmt, ae_stmt_ok, ae_is_send = ae_stmt[o], ae_stmt_ok[o], ae_is_send[o]
    m = len(ae_acct)
    vol = np.bincount(ae_acct, weights=ae_deb.astype("float64") + ae_cre.astype("float64"), minlength=n_acct)
    if len(vol) and vol.max() >= _MAX_CENTS:
        # an account whose running totals pass int64 (a hub over years in a small-unit currency): Python ints
        ae_deb, ae_cre, ae_stmt = ae_deb.astype(object), ae_cre.astype(object), ae_stmt.astype(object)
    starts = np.searchsorted(ae_acct, np.arange(n_acct), side="left")
    ends = np.searchsorted(ae_acct, np.arange(n_acct), side="right")

    r_idx = np.empty(n, dtype=np.int64)
    ci = np.arange(m)
    r_idx[ae_pos[~ae_is_send]] = ci[~ae_is_send]

    # vectorised running balances for accounts without statements
    def grouped_cumsum(x: np.ndarray) -> np.ndarray:
        c = np.cumsum(x)
        base = np.zeros(n_acct, dtype=x.dtype)
        nz = starts < ends
        base[nz] = c[starts[nz]] - x[starts[nz]]
        return c - base[ae_acct]

    cum_deb = grouped_cumsum(ae_deb)  # after
    cum_cre = grouped_cumsum(ae_cre)  # after
    c_after = cum_cre - cum_deb
    minc = np.zeros(n_acct, dtype=c_after.dtype)
    np.minimum.at(minc, ae_acct, c_after)
    opening = -minc  # >= 0 because minc starts at 0
    co_before = cum_deb - ae_deb
    ci_before = opening[ae_acct] + cum_cre - ae_cre
    bal_before = ci_before - co_before

    stmt_accts = np.unique(ae_acct[ae_stmt_ok])
    if len(stmt_accts):
        co_before = co_before.copy()
        for a in stmt_accts.tolist():
            s, e = int(starts[a]), int(ends[a])
            deb = ae_deb[s:e].tolist()
            cre = ae_cre[s:e].tolist()
            st = ae_stmt[s:e].tolist()
            sok = ae_stmt_ok[s:e].tolist()
            isd = ae_is_send[s:e].tolist()
            c = 0
            need = 0
            for i in range(e - s):
                if isd[i] and sok[i]:
                    need = max(need, max(st[i] + deb[i], deb[i]) - c)
                    break
                c += cre[i] - deb[i]
                need = max(need, -c)
            b = need
            ci_ = need
            co_ = 0
            out_ci, out_co = [], []
            for i in range(e - s):
                if isd[i]:
                    target = max(st[i] + deb[i], deb[i]) if sok[i] else deb[i]
                    if b < target:
                        ci_ += target - b
                        b = target
                out_ci.append(ci_)
                out_co.append(co_)
                if isd[i]:
                    b -= deb[i]
                    co_ += deb[i]
                else:
                    b += cre[i]
                    ci_ += cre[i]
            ci_before[s:e] = out_ci
            co_before[s:e] = out_co
        bal_before = ci_before - co_before

    senders = np.zeros(n_acct, dtype=bool)
    senders[frm_o[has_s]] = True

    led = _Ledger(
        n_acct=n_acct, acct_ids=acct_ids,
        send=frm_o.tolist(), recv=to_o.tolist(), r_idx=r_idx.tolist(),
        debit=deb_o.tolist(), credit=cre_o.tolist(), ev_row=row[order], ev_ts=ts[order],
        ev_cur=cur[order], ev_rcur=rcur[order], ev_convertible=conv[order],
        csr_pos=ae_pos.tolist(), acct_end=ends.tolist(),
        co_after=None, ci_before=None, bal_before=None, bal_after=None, bal_after_np=None, next_debit=None,
        senders=senders,
    )
    if rule == "fifo":
        led.co_after = (co_before + ae_deb).tolist()
        led.ci_before = ci_before.tolist()
    elif rule == "lifo":
        ba = bal_before - ae_deb + ae_cre
        led.bal_before = bal_before.tolist()
        led.bal_after = ba.tolist()
        led.bal_after_np = ba
    else:
        led.bal_before = bal_before.tolist()
        # next debit at or after each index within the same account, -1 if none
        dpos = np.flatnonzero(ae_is_send)
        j = np.searchsorted(dpos, np.arange(m), side="left")
        nd = np.full(m, -1, dtype=np.int64)
        okj = j < len(dpos)
        cand = np.full(m, -1, dtype=np.int64)
        cand[okj] = dpos[j[okj]]
        same = okj & (cand >= 0)
        same[same] = ae_acct[cand[same]] == ae_acct[same]
        nd[same] = cand[same]
        led.next_debit = nd.tolist()
    return led, pos_of


# ----------------------------------------------------------------------------------------------
# the tracer


def _validate(rule: str, max_hops: int, window_days: int, min_amount_cents: int) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")
    if not isinstance(max_hops, (int, np.integer)) or isinstance(max_hops, bool) or max_hops < 1:
        raise ValueError(f"max_hops must be an integer >= 1, got {max_hops!r}")
    if not isinstance(window_days, (int, np.integer)) or isinstance(window_days, bool) or window_days < 0:
        raise ValueError(f"window_days must be an integer >= 0, got {window_days!r}")
    if not isinstance(min_amount_cents, (int, np.integer)) or isinstance(min_amount_cents, bool) or min_amount_cents < 0:
        raise ValueError(f"min_amount_cents must be an integer >= 0, got {min_amount_cents!r}")


def _require(df: pd.DataFrame, cols: Iterable[str], table: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TraceError(f"{table} must be a DataFrame")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise TraceError(f"{table} lacks the required column(s): {', '.join(missing)}")


def _clean_transactions(tx: pd.DataFrame) -> pd.DataFrame:
    """Usable transfers: parsed, self-transfers dropped, reversals and what they cancel removed."""
    n = len(tx)
    frm = _text(tx["from_account"], n)
    to = _text(tx["to_account"], n)
    amt, amt_ok = _int_cents(tx["amount_cents"])
    ts = _seconds(tx["ts"]) if n else np.array([], dtype="datetime64[s]")
    seq = _col(tx, "seq")
    seqv = pd.to_numeric(seq, errors="coerce").to_numpy(dtype="float64", na_value=np.nan) if seq is not None else np.full(n, np.nan)
    rowpos = np.arange(n)
    seqv = np.where(np.isnan(seqv), rowpos.astype("float64"), seqv)
    out = pd.DataFrame({"row": rowpos, "frm": frm, "to": to, "amount": amt, "ts": ts, "seq": seqv})
    if _col(tx, "received_cents") is not None:
        rec, rec_ok = _int_cents(tx["received_cents"])
        out["received"] = np.where(rec_ok, rec, amt)
    else:
        out["received"] = amt
    out["cur"] = _text(_col(tx, "currency"), n, "upper")
    out["rcur"] = _text(_col(tx, "received_currency"), n, "upper").fillna(out["cur"])
    out["channel"] = _text(_col(tx, "channel"), n, "lower")
    out["cp_country"] = _text(_col(tx, "counterparty_country"), n, "upper")
    out["mcat"] = _text(_col(tx, "merchant_category"), n, "lower")
    ba = _col(tx, "balance_after_cents")
    if ba is not None:
        out["stmt"], out["stmt_ok"] = _int_cents(ba)
    else:
        out["stmt"], out["stmt_ok"] = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    out["is_rev"] = _truthy(_col(tx, "is_reversal"), n)

    keep = amt_ok & (amt > 0) & frm.notna().to_numpy() & to.notna().to_numpy() & ~pd.isna(ts)
    keep &= ~(frm == to).to_numpy(dtype=bool, na_value=False)

    if out["is_rev"].any():
        tid = _obj(_text(_col(tx, "txn_id"), n))
        rev_of = _obj(_text(_col(tx, "reverses_txn_id"), n))
        cand = out[keep].sort_values(["ts", "seq"], kind="stable")
        drop: set[int] = set()
        by_id: dict[str, list[int]] = defaultdict(list)
        by_key: dict[tuple, list[int]] = defaultdict(list)
        rows = cand["row"].tolist()
        fl, tl, al, rl = cand["frm"].tolist(), cand["to"].tolist(), cand["amount"].tolist(), cand["is_rev"].tolist()
        rank = {r: i for i, r in enumerate(rows)}  # time order
        for r, f, t, a, isrev in zip(rows, fl, tl, al, rl):
            if not isrev:
                if tid[r] is not None:
                    by_id[tid[r]].append(r)
                by_key[(min(f, t), max(f, t), a)].append(r)
        for r, f, t, a, isrev in zip(rows, fl, tl, al, rl):
            if not isrev:
                continue
            drop.add(r)
            target = None
            if rev_of[r] is not None:
                target = next((c for c in by_id.get(rev_of[r], ()) if c not in drop), None)
            else:
                # the latest earlier booking between the same two accounts with the same amount
                for c in reversed(by_key.get((min(f, t), max(f, t), a), ())):
                    if rank[c] < rank[r] and c not in drop:
                        target = c
                        break
            if target is not None:
                drop.add(target)
        keep &= ~np.isin(rowpos, np.fromiter(drop, dtype=np.int64, count=len(drop)))
    return out[keep].reset_index(drop=True)


def trace_loans(
    loans: pd.DataFrame,
    transactions: pd.DataFrame,
    *,
    accounts: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    relations: pd.DataFrame | None = None,
    rates: pd.DataFrame | None = None,
    rule: str = "fifo",
    max_hops: int = 4,
    window_days: int = 90,
    min_amount_cents: int = 0,
    all_loans: bool = False,
    restricted_categories: Iterable[str] = DEFAULT_RESTRICTED_CATEGORIES,
    home_country: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TraceResult:
    """Trace each (overdue, or every) loan's principal through time-ordered transfers; return summary, edges, skipped."""
    _validate(rule, max_hops, window_days, min_amount_cents)
    _require(loans, _REQUIRED_LOANS, "loans")
    _require(transactions, _REQUIRED_TXNS, "transactions")
    if not all_loans and _col(loans, "status") is None and len(loans):
        # an empty result would read as "no overdue loans"; say that the status is what is missing
        raise TraceError("loans have no status column (or every status is empty), so overdue loans cannot be picked; "
                         "trace all loans instead")
    for name, df, cols in (("accounts", accounts, ("account_id",)), ("customers", customers, ("customer_id",)),
                           ("relations", relations, ("src_id", "dst_id"))):
        if df is not None:
            _require(df, cols, name)
    max_hops, window_days, min_amount_cents = int(max_hops), int(window_days), int(min_amount_cents)
    restricted = {str(c).strip().lower() for c in restricted_categories}
    rate_tab = _Rates(rates) if rates is not None else None

    # ---- loans
    nl = len(loans)
    l_id = _obj(_text(loans["loan_id"], nl))
    l_acct_s = _text(loans["account_id"], nl)
    l_acct = _obj(l_acct_s)
    l_cust = _obj(_text(_col(loans, "customer_id"), nl))
    l_cur = _upper_text(_col(loans, "currency"), nl)
    l_status = _lower_text(_col(loans, "status"), nl)
    l_status_raw = loans["status"].astype(object).where(loans["status"].notna(), None).to_numpy() if "status" in loans.columns else np.full(nl, None, dtype=object)
    l_prin, l_prin_ok = _int_cents(loans["principal_cents"])
    big_prin = pd.to_numeric(loans["principal_cents"], errors="coerce").map(
        lambda x: not pd.isna(x) and abs(x) >= _MAX_CENTS).to_numpy(dtype=bool)
    l_ts = _seconds(loans["disbursed_at"]) if nl else np.array([], dtype="datetime64[s]")
    reasons: list[str | None] = []
    for i in range(nl):
        if l_id[i] is None:
            reasons.append("no loan id")
        elif l_acct[i] is None:
            reasons.append("no borrower account")
        elif l_acct[i] in _POOLED:
            reasons.append(f"borrower account is the placeholder {l_acct[i]!r} (many unseen parties), not an account")
        elif pd.isna(l_ts[i]):
            reasons.append("no valid disbursement time")
        elif not l_prin_ok[i] and big_prin[i]:
            reasons.append("principal too large to be an amount in cents")
        elif not l_prin_ok[i] or l_prin[i] <= 0:
            reasons.append("principal missing or not positive")
        else:
            reasons.append(None)
    valid = np.array([r is None for r in reasons], dtype=bool)
    overdue = {s.lower() for s in OVERDUE_STATUSES}
    wanted = np.ones(nl, dtype=bool) if all_loans else np.array([s in overdue for s in l_status], dtype=bool)
    skipped = pd.DataFrame({
        "loan_id": [l_id[i] for i in range(nl) if wanted[i] and not valid[i]],
        "reason": [reasons[i] for i in range(nl) if wanted[i] and not valid[i]],
    }, dtype=object)

    # ---- transactions
    tx = _clean_transactions(transactions)

    # drop 'disbursement' transfers that are the loans' bookings themselves
    vl = np.flatnonzero(valid)
    if len(tx) and len(vl) and (tx["channel"] == "disbursement").any():
        d = tx[tx["channel"] == "disbursement"][["row", "to", "amount", "ts"]]
        lf = pd.DataFrame({"li": vl, "to": l_acct_s[vl].to_numpy(), "amount": l_prin[vl], "lts": l_ts[vl]})
        lf["to"] = lf["to"].astype("str")
        mm = d.merge(lf, on=["to", "amount"])
        if len(mm):
            dt = (mm["ts"].to_numpy().astype("int64") - mm["lts"].to_numpy().astype("int64"))
            mm = mm.assign(dt=np.abs(dt))
            mm = mm[mm.dt <= _DAY].sort_values(["dt", "row"], kind="stable")
            used_rows: set[int] = set()
            used_loans: set[int] = set()
            for r, li in zip(mm["row"].tolist(), mm["li"].tolist()):
                if r in used_rows or li in used_loans:
                    continue
                used_rows.add(r)
                used_loans.add(li)
            tx = tx[~tx["row"].isin(used_rows)].reset_index(drop=True)

    # ---- account codes
    na = len(accounts) if accounts is not None else 0
    acc_ids_s = _text(accounts["account_id"], na) if accounts is not None else _text(None, 0)
    acc_ok = acc_ids_s.notna().to_numpy()
    all_ids = pd.concat([tx["frm"], tx["to"], l_acct_s[vl], acc_ids_s[acc_ok]], ignore_index=True)
    codes, uniq = pd.factorize(all_ids)
    n_acct = len(uniq)
    acct_ids = np.asarray(uniq, dtype=object)
    nt = len(tx)
    frm_c = codes[:nt].astype(np.int64)
    to_c = codes[nt:2 * nt].astype(np.int64)
    lacct_c = np.full(nl, -1, dtype=np.int64)
    lacct_c[vl] = codes[2 * nt:2 * nt + len(vl)]
    acc_codes = codes[2 * nt + len(vl):].astype(np.int64)

    # ---- currencies and ledger amounts
    cur_all = pd.concat([tx["cur"], tx["rcur"], _text(pd.Series(l_cur, dtype=object), nl)], ignore_index=True)
    ccodes, cuniq = pd.factorize(cur_all)  # -1 = null
    cuniq = list(cuniq)
    t_cur = ccodes[:nt].astype(np.int64)
    t_rcur = ccodes[nt:2 * nt].astype(np.int64)
    l_curc = ccodes[2 * nt:].astype(np.int64)
    t_ts = tx["ts"].to_numpy().astype("datetime64[s]").astype(np.int64)
    t_amt = tx["amount"].to_numpy(dtype=np.int64)
    t_rec = tx["received"].to_numpy(dtype=np.int64)
    t_stmt = tx["stmt"].to_numpy(dtype=np.int64)
    l_ts_i = np.where(pd.isna(l_ts), 0, l_ts.astype("datetime64[s]").astype(np.int64))
    if rate_tab is not None:
        r_deb = rate_tab.lookup(_obj(tx["cur"]), t_ts)
        r_cre = rate_tab.lookup(_obj(tx["rcur"]), t_ts)
        for amounts_, rates_, labels_ in ((t_amt, r_deb, tx["cur"]), (t_rec, r_cre, tx["rcur"]),
                                          (l_prin, rate_tab.lookup(l_cur, l_ts_i), pd.Series(l_cur))):
            conv_ = np.abs(amounts_ * np.nan_to_num(rates_, nan=1.0))
            if len(conv_) and conv_.max() >= _MAX_CENTS:
                k_ = int(np.argmax(conv_))
                raise TraceError(f"an amount of {amounts_[k_]} cents {labels_.iloc[k_]} at rate {rates_[k_]} is too large "
                                 "in the base currency (beyond 2**62 cents); check the rates table")
        deb = np.where(np.isnan(r_deb), t_amt, np.rint(t_amt * np.nan_to_num(r_deb, nan=1.0))).astype(np.int64)
        cre = np.where(np.isnan(r_cre), t_rec, np.rint(t_rec * np.nan_to_num(r_cre, nan=1.0))).astype(np.int64)
        stm = np.where(np.isnan(r_deb), t_stmt, np.rint(t_stmt * np.nan_to_num(r_deb, nan=1.0))).astype(np.int64)
        conv = ~np.isnan(r_deb) & ~np.isnan(r_cre)
        r_loan = rate_tab.lookup(l_cur, l_ts_i)
    else:
        deb, cre, stm = t_amt, t_rec, t_stmt
        conv = np.zeros(nt, dtype=bool)
        r_loan = np.full(nl, np.nan)
    l_ledger = np.where(np.isnan(r_loan), l_prin, np.rint(l_prin * np.nan_to_num(r_loan, nan=1.0))).astype(np.int64)

    # ---- events: transactions then bookings
    nb = len(vl)
    ev_ts = np.concatenate([t_ts, l_ts_i[vl]])
    seqkey = np.concatenate([tx["seq"].to_numpy(dtype="float64"), -1.0 - np.arange(nb, 0, -1, dtype="float64")])
    ev = dict(
        ts=ev_ts, seqkey=seqkey,
        frm=np.concatenate([frm_c, np.full(nb, -1, dtype=np.int64)]),
        to=np.concatenate([to_c, lacct_c[vl]]),
        debit=np.concatenate([deb, np.zeros(nb, dtype=np.int64)]),
        credit=np.concatenate([cre, l_ledger[vl]]),
        stmt=np.concatenate([stm, np.zeros(nb, dtype=np.int64)]),
        stmt_ok=np.concatenate([tx["stmt_ok"].to_numpy(dtype=bool), np.zeros(nb, dtype=bool)]),
        row=np.concatenate([np.arange(nt), np.full(nb, -1)]),
        cur=np.concatenate([t_cur, l_curc[vl]]),
        rcur=np.concatenate([t_rcur, l_curc[vl]]),
        conv=np.concatenate([conv, np.ones(nb, dtype=bool)]),
    )
    led, pos_of = _build_ledger(**ev, n_acct=n_acct, acct_ids=acct_ids, rule=rule)
    booking_pos = np.full(nl, -1, dtype=np.int64)
    booking_pos[vl] = pos_of[nt + np.arange(nb)]
    ev_ts_sorted = led.ev_ts

    # ---- account attributes for classification
    acct_cust = np.full(n_acct, None, dtype=object)
    acct_type_loan = np.zeros(n_acct, dtype=bool)
    acct_country = np.full(n_acct, None, dtype=object)
    if na:
        acct_cust[acc_codes] = _obj(_text(_col(accounts, "customer_id"), na))[acc_ok]
        acct_type_loan[acc_codes] = (_text(_col(accounts, "account_type"), na, "lower") == "loan").to_numpy(
            dtype=bool, na_value=False)[acc_ok]
        acct_country[acc_codes] = _upper_text(_col(accounts, "country"), na)[acc_ok]
    for i in vl.tolist():  # the loans table also says whose account a loan account is
        c = lacct_c[i]
        if acct_cust[c] is None and l_cust[i] is not None:
            acct_cust[c] = l_cust[i]
    country_s = pd.Series(acct_country, dtype=object)
    if home_country is None:
        cs = country_s.dropna()
        home = str(cs.value_counts().index[0]) if len(cs) else None
    else:
        home = str(home_country).strip().upper() or None
    acct_foreign = (country_s.notna() & (country_s != home)).to_numpy(dtype=bool) if home else np.zeros(n_acct, dtype=bool)
    cust_s = pd.Series(acct_cust, dtype=object)
    acct_restricted = np.zeros(n_acct, dtype=bool)
    if customers is not None and "industry" in customers.columns and len(customers):
        ind = pd.Series(_lower_text(customers["industry"], len(customers)),
                        index=_obj(_text(customers["customer_id"], len(customers))))
        restricted_custs = set(ind[ind.isin(list(restricted))].index.dropna().tolist())
        acct_restricted = cust_s.isin(list(restricted_custs)).to_numpy(dtype=bool)
    has_cust = cust_s.notna().to_numpy()
    # only the traced borrowers' customers are needed; a groupby over every account is far slower
    want_custs = [c for c in l_cust[valid & wanted].tolist() if c is not None]
    cust_accounts: dict[str, list[int]] = defaultdict(list)
    for a_ in np.flatnonzero(cust_s.isin(want_custs).to_numpy(dtype=bool)).tolist():
        if acct_ids[a_] not in _POOLED:  # an accounts file naming an owner for '~cash' must not make cash "own money"
            cust_accounts[acct_cust[a_]].append(a_)
    loan_custs = [c for c in l_cust[vl].tolist() if c is not None]
    acct_has_loan = np.zeros(n_acct, dtype=bool)
    acct_has_loan[lacct_c[vl]] = True
    acct_other_borrower = acct_has_loan | cust_s.isin(loan_custs).to_numpy(dtype=bool)
    rel_adj: dict[str, set[str]] = defaultdict(set)
    if relations is not None and len(relations):
        for a_, b_ in zip(_obj(_text(relations["src_id"], len(relations))), _obj(_text(relations["dst_id"], len(relations)))):
            if a_ is not None and b_ is not None:
                rel_adj[a_].add(b_)
                rel_adj[b_].add(a_)
    ch = tx["channel"]
    t_ch = np.select(
        [(ch == "repayment").to_numpy(dtype=bool, na_value=False), (ch == "cash").to_numpy(dtype=bool, na_value=False),
         (ch == "cross_border").to_numpy(dtype=bool, na_value=False)],
        [_CH_REPAY, _CH_CASH, _CH_XB], _CH_OTHER,
    )
    cp = tx["cp_country"]
    t_cp_foreign = (cp.notna() & (cp != home)).to_numpy(dtype=bool, na_value=False) if home else np.zeros(nt, dtype=bool)
    t_mc_restr = tx["mcat"].isin(list(restricted)).to_numpy(dtype=bool, na_value=False)
    ev_row = led.ev_row
    pooled = [a in _POOLED for a in acct_ids.tolist()]

    # ---- per-loan tracing
    traced = np.flatnonzero(valid & wanted)
    fifo, lifo, prorata = rule == "fifo", rule == "lifo", rule == "pro-rata"
    positional = fifo or lifo
    send, recv, r_idx = led.send, led.recv, led.r_idx
    debit_l, credit_l = led.debit, led.credit
    csr_pos, acct_end = led.csr_pos, led.acct_end
    co_after, ci_before, bal_before, bal_after = led.co_after, led.ci_before, led.bal_before, led.bal_after
    bal_after_np, next_debit = led.bal_after_np, led.next_debit
    multi_currency = bool((led.ev_cur >= 0).any() or (led.ev_rcur >= 0).any())
    moves_cache: dict[tuple[int, bool], list | None] = {}

    def moves_for(lc: int, fx: bool) -> list | None:
        key = (lc, fx)
        if key not in moves_cache:
            if not multi_currency or lc < 0:
                moves_cache[key] = None
            else:
                same = ((led.ev_cur < 0) | (led.ev_cur == lc)) & ((led.ev_rcur < 0) | (led.ev_rcur == lc))
                if fx:
                    same = same | led.ev_convertible
                moves_cache[key] = None if same.all() else same.tolist()
        return moves_cache[key]

    edge_loan: list[int] = []
    edge_hop: list[int] = []
    edge_ev: list[int] = []
    edge_amt: list[int] = []
    rows_out: list[list] = []
    heappush, heappop = heapq.heappush, heapq.heappop
    bisect_right = bisect.bisect_right
    total = len(traced)
    step = max(1, total // 200)
    cls_index = {c: i for i, c in enumerate(DESTINATION_CLASSES)}

    for done_n, li in enumerate(traced.tolist()):
        principal = int(l_prin[li])
        lc = int(l_curc[li])
        fx = rate_tab is not None and (lc < 0 or rate_tab.has(cuniq[lc]))
        moves = moves_for(lc, fx)
        borrower = {int(lacct_c[li])}
        if l_cust[li] is not None:
            borrower.update(cust_accounts.get(l_cust[li], ()))
        bpos = int(booking_pos[li])
        end_ts = int(ev_ts_sorted[bpos]) + window_days * _DAY
        pos_end = int(np.searchsorted(ev_ts_sorted, end_ts, side="right")) - 1
        unconverted = 0
        dropped = 0
        ever_back = 0
        final: list[tuple[int, int, bool, int]] = []  # (account, loan cents, left, arrival event)
        n_edges_before = len(edge_loan)
        # positional state
        lots: list = []
        heap: list = []
        acc_state: dict[int, list] = {}

        def place(y: int, kr: int, xy: int, p: int, hop: int, left: bool, g: int, off: int) -> None:
            """A tagged piece lands at account y (credit CSR index kr); schedule when it can next move."""
            if hop >= max_hops or xy <= 0 or pooled[y]:
                final.append((y, p, left, g))
                return
            if positional:
                if fifo:
                    a = ci_before[kr] + off
                    k = bisect_right(co_after, a, kr + 1, acct_end[y])
                else:
                    a = bal_before[kr] + off
                    k = _next_below(bal_after, bal_after_np, a + xy, kr + 1, acct_end[y], csr_pos, pos_end)
                lid = len(lots)
                lots.append([y, a, a + xy, p, hop, left, g])
                if k < acct_end[y]:
                    heappush(heap, (csr_pos[k], a, lid, k))
            else:
                st = acc_state.get(y)
                lot = [xy, p, hop, left, g]
                if st is not None:
                    st[0].append(lot)
                    st[1] += xy
                else:
                    acc_state[y] = [[lot], xy]
                    nk = kr + 1
                    if nk < acct_end[y]:
                        nd = next_debit[nk]
                        if nd >= 0:
                            heappush(heap, (csr_pos[nd], y, nd))

        def deliver(g: int, pieces: list) -> None:
            nonlocal unconverted, dropped, ever_back
            tot = 0
            for pc in pieces:
                tot += pc[0]
            if tot <= 0:
                return
            if moves is not None and not moves[g]:
                unconverted += tot
                return
            if tot < min_amount_cents:
                dropped += tot
                return
            y = recv[g]
            kr = r_idx[g]
            dg, cg = debit_l[g], credit_l[g]
            y_b = y in borrower
            from_b = send[g] in borrower
            cum_x = cum_y = off = 0
            by_hop: dict[int, int] = {}
            if not positional and len(pieces) > 1:
                # Under pro-rata/worst-case an account's lots are drawn together, so pieces that arrive by
                # the same transfer with the same hop and left-flag are one lot. Without this merge the
                # lots multiply at every hop (one piece per lot per outflow) and a 15-hop trace explodes.
                merged: dict[tuple[int, bool], list[int]] = {}
                for p, x, hop, left in pieces:
                    acc = merged.get((hop, left))
                    if acc is None:
                        merged[(hop, left)] = [p, x]
                    else:
                        acc[0] += p
                        acc[1] += x
                pieces = [(v[0], v[1], k[0], k[1]) for k, v in merged.items()]
            for p, x, hop, left in pieces:
                if p <= 0:
                    continue
                if dg == cg:
                    xy = x
                else:
                    cum_x += x
                    ny = cum_x * cg // dg if dg else 0
                    xy = ny - cum_y
                    cum_y = ny
                if y_b and not left:
                    nh, nl_ = 0, False
                else:
                    nh, nl_ = hop + 1, True
                if y_b and not from_b:
                    ever_back += p
                by_hop[nh] = by_hop.get(nh, 0) + p
                place(y, kr, xy, p, nh, nl_, g, off)
                off += xy
            for nh, amt in by_hop.items():
                edge_loan.append(li)
                edge_hop.append(nh)
                edge_ev.append(g)
                edge_amt.append(amt)

        # the booking: hop 0 tagged money in the borrower's account
        place(recv[bpos], r_idx[bpos], int(l_ledger[li]), principal, 0, False, bpos, 0)

        if positional:
            while heap:
                g = heap[0][0]
                if g > pos_end:
                    break
                batch = []
                while heap and heap[0][0] == g:
                    batch.append(heappop(heap))
                pieces = []
                for _, _, lid, k in batch:
                    lot = lots[lid]
                    y, a, b, p = lot[0], lot[1], lot[2], lot[3]
                    length = b - a
                    if fifo:
                        top = co_after[k]
                        x = (b if b < top else top) - a
                        a += x
                    else:
                        level = bal_after[k]
                        nb_ = level if level > a else a
                        x = b - nb_
                        b = nb_
                    if x <= 0:
                        continue
                    m = p if x >= length else p * x // length
                    p -= m
                    lot[1], lot[2], lot[3] = a, b, p
                    if p > 0 and b > a:
                        if fifo:
                            nk = bisect_right(co_after, a, k + 1, acct_end[y])
                        else:
                            nk = _next_below(bal_after, bal_after_np, b, k + 1, acct_end[y], csr_pos, pos_end)
                        if nk < acct_end[y]:
                            heappush(heap, (csr_pos[nk], a, lid, nk))
                    else:
                        lots[lid] = None
                        if p > 0:
                            final.append((y, p, lot[5], lot[6]))
                    if m:
                        pieces.append((m, x, lot[4], lot[5]))
                if pieces:
                    deliver(g, pieces)
            for lot in lots:
                if lot is not None and lot[3] > 0:
                    final.append((lot[0], lot[3], lot[5], lot[6]))
        else:
            while heap:
                g, y, k = heap[0]
                if g > pos_end:
                    break
                heappop(heap)
                st = acc_state[y]
                ylots, t_amt_ = st[0], st[1]
                s_amt = debit_l[g]
                pieces = []
                if prorata:
                    bal = bal_before[k]
                    if bal < t_amt_:
                        bal = t_amt_
                    q, r = divmod(s_amt * t_amt_, bal)
                    take = q + 1 if 2 * r > bal else q
                    if take:
                        cum = 0
                        prev = 0
                        for lot in ylots:
                            cum += lot[0]
                            c2 = take * cum // t_amt_
                            x = c2 - prev
                            prev = c2
                            if x:
                                m = lot[1] if x >= lot[0] else lot[1] * x // lot[0]
                                lot[0] -= x
                                lot[1] -= m
                                if m:
                                    pieces.append((m, x, lot[2], lot[3]))
                else:
                    take = s_amt if s_amt < t_amt_ else t_amt_
                    left_ = take
                    for lot in ylots:
                        if not left_:
                            break
                        x = lot[0] if lot[0] < left_ else left_
                        if x:
                            m = lot[1] if x >= lot[0] else lot[1] * x // lot[0]
                            lot[0] -= x
                            lot[1] -= m
                            left_ -= x
                            if m:
                                pieces.append((m, x, lot[2], lot[3]))
                t_amt_ -= take
                keep = []
                for lot in ylots:
                    if lot[1] <= 0:
                        continue
                    if lot[0] <= 0:
                        final.append((y, lot[1], lot[3], lot[4]))
                    else:
                        keep.append(lot)
                if keep:
                    st[0], st[1] = keep, t_amt_
                    nk = k + 1
                    if nk < acct_end[y]:
                        nd = next_debit[nk]
                        if nd >= 0:
                            heappush(heap, (csr_pos[nd], y, nd))
                else:
                    del acc_state[y]
                if pieces:
                    deliver(g, pieces)
            for y, st in acc_state.items():
                for lot in st[0]:
                    if lot[1] > 0:
                        final.append((y, lot[1], lot[3], lot[4]))

        # ---- classify the end positions
        amounts = [0] * len(DESTINATION_CLASSES)
        related: set[str] | None = None
        for y, p, left, g in final:
            if y in borrower:
                cls = "back_to_borrower" if left else "not_moved"
            else:
                row = int(ev_row[g])
                ch = int(t_ch[row]) if row >= 0 else _CH_OTHER
                yid = acct_ids[y]
                if ch == _CH_REPAY or acct_type_loan[y]:
                    cls = "other_loan_repayment"
                elif ch == _CH_CASH or yid == "~cash":
                    cls = "cash_out"
                elif ch == _CH_XB or (row >= 0 and t_cp_foreign[row]) or acct_foreign[y]:
                    cls = "cross_border"
                elif (row >= 0 and t_mc_restr[row]) or acct_restricted[y]:
                    cls = "restricted_sector"
                elif acct_other_borrower[y]:
                    cls = "other_borrower"
                else:
                    if related is None:
                        related = set()
                        for bid in [l_cust[li], *(acct_ids[b] for b in borrower)]:
                            if bid is not None:
                                related |= rel_adj.get(bid, set())
                    if yid in related or (acct_cust[y] is not None and acct_cust[y] in related):
                        cls = "related_party"
                    elif yid == "~unknown" or not led.senders[y]:
                        cls = "left_dataset"
                    else:
                        cls = "remaining"
            amounts[cls_index[cls]] += p
        amounts[cls_index["dropped"]] += dropped
        amounts[cls_index["unconverted"]] += unconverted
        if sum(amounts) != principal or min(amounts) < 0:
            raise AssertionError(f"loan {l_id[li]}: classes {amounts} do not sum to principal {principal}")
        n_e = len(edge_loan) - n_edges_before
        max_hop = max(edge_hop[n_edges_before:], default=0)
        # A cent can leave and return several times in one window (a cycle run twice); the
        # figure answers "how much of the loan came back", which cannot exceed what was lent.
        ever_back = min(ever_back, principal)
        rows_out.append([l_id[li], l_acct[li], l_cust[li], None if lc < 0 else cuniq[lc], l_status_raw[li], principal,
                         *amounts, ever_back, max_hop, n_e])
        if progress is not None and ((done_n + 1) % step == 0 or done_n + 1 == total):
            progress(done_n + 1, total)

    summary = pd.DataFrame(rows_out, columns=list(SUMMARY_COLUMNS))
    if not len(rows_out):
        summary = summary.astype({c: "int64" for c in SUMMARY_COLUMNS[5:]})
    for c in ("loan_id", "account_id", "customer_id", "currency", "status"):
        summary[c] = summary[c].astype(object)
    ev_idx = np.asarray(edge_ev, dtype=np.int64)
    rows = ev_row[ev_idx] if len(ev_idx) else np.array([], dtype=np.int64)
    orig_rows = tx["row"].to_numpy()
    tid_col = _col(transactions, "txn_id")
    if tid_col is not None:
        txn_ids = _obj(_text(tid_col, len(transactions)))[orig_rows]
    else:  # no ids in the data: name a transfer by its file position
        txn_ids = np.array([str(r) for r in orig_rows], dtype=object)
    ts_text = _obj(transactions["ts"].astype("str").reset_index(drop=True))[orig_rows]
    edges = pd.DataFrame({
        "loan_id": l_id[np.asarray(edge_loan, dtype=np.int64)] if edge_loan else np.array([], dtype=object),
        "hop": np.asarray(edge_hop, dtype=np.int64),
        "txn_id": txn_ids[rows] if len(rows) else np.array([], dtype=object),
        "from_account": acct_ids[np.asarray([send[g] for g in edge_ev], dtype=np.int64)] if edge_ev else np.array([], dtype=object),
        "to_account": acct_ids[np.asarray([recv[g] for g in edge_ev], dtype=np.int64)] if edge_ev else np.array([], dtype=object),
        "ts": ts_text[rows] if len(rows) else np.array([], dtype=object),
        "amount_cents": np.asarray(edge_amt, dtype=np.int64),
        "channel": _obj(tx["channel"])[rows] if len(rows) else np.array([], dtype=object),
    })
    if progress is not None and total == 0:
        progress(0, 0)
    return TraceResult(summary=summary, edges=edges, skipped=skipped.reset_index(drop=True))


def _next_below(bal_after: list, bal_np: np.ndarray, level: int, lo: int, hi: int, csr_pos: list, pos_end: int) -> int:
    """First index k in [lo, hi) whose balance after the event is below `level` (hi if none); LIFO's next draw."""
    k = lo
    stop = lo + 32 if lo + 32 < hi else hi
    while k < stop:
        if bal_after[k] < level:
            return k
        k += 1
    if k >= hi:
        return hi
    # long account histories (hubs): bound the scan by the window, then let numpy search
    w = bisect.bisect_right(csr_pos, pos_end, k, hi)
    if w <= k:
        return hi
    hit = np.flatnonzero(bal_np[k:w] < level)
    return k + int(hit[0]) if len(hit) else hi


def coverage_gap(summary: pd.DataFrame, *, min_share: float = 0.5) -> tuple[int, int] | None:
    """Return (loans whose money never left the borrower, loans traced) when that share is >= `min_share`, else None.

    A run where most loans' money never moved usually means the transactions do not cover the loans'
    windows (a sample extract, the wrong date range), not that nobody spent the money: say so.
    """
    total = len(summary)
    if not total:
        return None
    still = pd.to_numeric(summary["not_moved"], errors="coerce").fillna(0)
    idle = int((still == pd.to_numeric(summary["principal_cents"], errors="coerce").fillna(0)).sum())
    return (idle, total) if idle / total >= min_share else None
