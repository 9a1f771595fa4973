"""`Thresholds`: the one typed, validated object holding every tunable number of LoanFlow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TraceRule = Literal["fifo", "lifo", "pro-rata", "worst-case"]

DEFAULT_RESTRICTED_CATEGORIES: tuple[str, ...] = (
    "real_estate",
    "securities",
    "futures",
    "gambling",
    "crypto",
    "lending",
)


class Thresholds(BaseModel):
    """Every tunable parameter; persisted as JSON in SQLite, shown as widgets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trace_rule: TraceRule = Field(
        "fifo",
        description=(
            "How an outflow draws on the sender's money: fifo = oldest money first, "
            "lifo = newest first, pro-rata = the loan's share of the balance, "
            "worst-case = loan money first."
        ),
    )
    max_hops: int = Field(4, ge=1, le=30, description="Follow the money at most this many transfers away from the borrower.")
    window_days: int = Field(90, ge=1, le=3660, description="Follow the money for this many days after disbursement.")
    min_amount: float = Field(
        0.0,
        ge=0,
        description=(
            "Stop following a traced part smaller than this amount (currency units); it is counted as dropped. "
            "Under pro-rata, loan money spreads into every later transfer of a busy account; a minimum keeps "
            "such traces small and fast."
        ),
    )
    trace_all_loans: bool = Field(False, description="Trace every loan, not only the overdue ones.")
    restricted_categories: tuple[str, ...] = Field(
        DEFAULT_RESTRICTED_CATEGORIES,
        description="Counterparty categories/industries where loan money must not go (restricted_sector).",
    )
    max_graph_nodes: int = Field(150, ge=10, le=2000, description="Largest path graph drawn in the browser; bigger ones are cut to this many nodes.")

    @property
    def min_amount_cents(self) -> int:
        """`min_amount` in integer cents."""
        return int(round(self.min_amount * 100))
