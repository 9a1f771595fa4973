"""Domain errors: every failure a user can cause is one of these, never a bare traceback."""

from __future__ import annotations


class LoanFlowError(Exception):
    """Base class of every error LoanFlow reports to a user."""


class IngestError(LoanFlowError):
    """A file cannot be loaded; names the file, row, column and reason."""

    def __init__(self, reason: str, *, file: str | None = None, row: int | None = None, column: str | None = None):
        self.file, self.row, self.column, self.reason = file, row, column, reason
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {reason}" if where else reason)


class StoreError(LoanFlowError):
    """The SQLite store refused an operation (unknown dataset, bad name, ...)."""


class TraceError(LoanFlowError):
    """Tracing cannot run on the given data or parameters."""


class RejectedRowsError(LoanFlowError):
    """A strict load found rejected rows and stored nothing; `report` says which."""

    def __init__(self, report: object):
        self.report = report
        super().__init__("rows were rejected and a strict load was asked for; nothing was loaded")
