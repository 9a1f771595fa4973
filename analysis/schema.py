"""The canonical data model (DESIGN.md §3): table names, columns and their storage types.

Every module agrees on these names. In-memory frames use the same columns as the SQLite
tables, minus ``dataset_id`` (the store adds it). IDs are text, money is integer cents
(columns ending in ``_cents``), times are ISO-8601 text (``YYYY-MM-DDTHH:MM:SS``).
"""

from __future__ import annotations

from typing import Final

# column name -> SQLite type (STRICT tables accept TEXT, INTEGER, REAL, ANY)
TABLES: Final[dict[str, dict[str, str]]] = {
    "customers": {
        "customer_id": "TEXT",
        "name": "TEXT",
        "customer_type": "TEXT",  # individual / enterprise
        "industry": "TEXT",
        "region": "TEXT",
        "id_number": "TEXT",
        "phone": "TEXT",
        "address": "TEXT",
        "email": "TEXT",
        "legal_rep": "TEXT",
        "registered_at": "TEXT",
    },
    "accounts": {
        "account_id": "TEXT",
        "customer_id": "TEXT",  # NULL = outside the bank / unknown owner
        "bank": "TEXT",
        "account_number": "TEXT",
        "account_name": "TEXT",
        "account_type": "TEXT",  # deposit/settlement/loan/payment_platform/external
        "country": "TEXT",
        "currency": "TEXT",
        "opened_at": "TEXT",
    },
    "loans": {
        "loan_id": "TEXT",
        "customer_id": "TEXT",
        "account_id": "TEXT",  # borrower account the principal is paid into
        "principal_cents": "INTEGER",
        "currency": "TEXT",
        "disbursed_at": "TEXT",
        "maturity": "TEXT",
        "product": "TEXT",
        "declared_purpose": "TEXT",
        "status": "TEXT",  # LOAN_STATUSES
        "dpd": "INTEGER",
        "overdue_cents": "INTEGER",
        "outstanding_cents": "INTEGER",
    },
    "transactions": {
        "txn_id": "TEXT",
        "seq": "INTEGER",  # file order; breaks ties between equal timestamps
        "ts": "TEXT",
        "from_account": "TEXT",
        "to_account": "TEXT",
        "amount_cents": "INTEGER",  # as debited from the sender, in `currency`
        "currency": "TEXT",
        "received_cents": "INTEGER",  # as credited to the receiver when it differs (FX)
        "received_currency": "TEXT",
        "channel": "TEXT",  # CHANNELS
        "counterparty_name": "TEXT",
        "counterparty_country": "TEXT",
        "merchant_category": "TEXT",
        "memo": "TEXT",
        "balance_after_cents": "INTEGER",  # sender's statement balance after the posting, when known
        "is_reversal": "INTEGER",  # 1 = 冲正 booking
        "reverses_txn_id": "TEXT",  # the booking a reversal cancels, when the data says
    },
    "repayments": {
        "loan_id": "TEXT",
        "due_date": "TEXT",
        "paid_at": "TEXT",
        "amount_due_cents": "INTEGER",
        "amount_paid_cents": "INTEGER",
        "payer_account": "TEXT",
    },
    "relations": {
        "src_id": "TEXT",
        "dst_id": "TEXT",
        "relation": "TEXT",  # shareholder/legal_rep/guarantor/family/employee/disponent/...
        "share": "REAL",
    },
    "standing_orders": {  # standing payment orders (berka's order.asc): recurring debits to a payee
        "order_id": "TEXT",
        "account_id": "TEXT",
        "to_account": "TEXT",
        "amount_cents": "INTEGER",
        "purpose": "TEXT",  # e.g. UVER loan repayment, SIPO household, POJISTNE insurance, LEASING
    },
    "loan_snapshots": {
        "loan_id": "TEXT",
        "as_of": "TEXT",
        "dpd": "INTEGER",
        "balance_cents": "INTEGER",
    },
    "collection_events": {
        "loan_id": "TEXT",
        "ts": "TEXT",
        "stage": "TEXT",
        "amount_cents": "INTEGER",
        "owner": "TEXT",
        "note": "TEXT",
    },
}

# The columns a table cannot be loaded without.
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "customers": ("customer_id",),
    "accounts": ("account_id",),
    "loans": ("loan_id", "account_id", "principal_cents", "disbursed_at"),
    "transactions": ("ts", "from_account", "to_account", "amount_cents"),
    "repayments": ("loan_id",),
    "relations": ("src_id", "dst_id"),
    "standing_orders": ("account_id", "to_account"),
    "loan_snapshots": ("loan_id", "as_of"),
    "collection_events": ("loan_id", "ts"),
}

# Columns holding identifiers: always text, trimmed, leading zeros kept.
ID_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "customer_id", "account_id", "loan_id", "txn_id", "from_account", "to_account",
        "payer_account", "src_id", "dst_id", "reverses_txn_id", "id_number", "phone",
        "account_number",
    }
)

LOAN_STATUSES: Final[tuple[str, ...]] = (
    "current", "overdue", "collection", "recovered", "transferred", "written_off", "closed",
)
# Statuses whose loans are traced by default ("overdue loans").
OVERDUE_STATUSES: Final[frozenset[str]] = frozenset(
    {"overdue", "collection", "transferred", "written_off"}
)

CHANNELS: Final[tuple[str, ...]] = (
    "transfer", "cash", "card", "third_party", "cross_border", "disbursement", "repayment",
)

# Where a loan's traced money is at the end of the window (DESIGN.md §5.1); order = display order.
DESTINATION_CLASSES: Final[tuple[str, ...]] = (
    "not_moved",
    "back_to_borrower",
    "other_borrower",
    "related_party",
    "other_loan_repayment",
    "restricted_sector",
    "cross_border",
    "cash_out",
    "left_dataset",
    "remaining",
    "dropped",
    "unconverted",
)
